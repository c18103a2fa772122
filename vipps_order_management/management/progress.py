"""A progress bar for long management commands, with no dependency beyond the standard library.

It draws on one line of stderr with carriage returns, redraws at most ten times a second, and
can be cleared so that a command's own lines do not tangle with it::

    bar = ProgressBar(total, stream=self.stderr, enabled=wants_progress(self.stderr, options, total))
    for order in orders:
        ...
        bar.advance()
    bar.close()
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import OutputWrapper

__all__ = ["AUTO_THRESHOLD", "ProgressBar", "wants_progress"]

#: Below this many items a run is short: no bar unless ``--progress`` asks for one.
AUTO_THRESHOLD = 50


def wants_progress(stream: Any, forced: bool | None, total: int) -> bool:
    """``--progress`` (True) or ``--no-progress`` (False) decide; else a TTY and a long run."""
    if forced is not None:
        return forced
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and total >= AUTO_THRESHOLD


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressBar:
    """``label [#####.....] 120/300 40% 35.2/s ETA 0:05`` on one line of ``stream``."""

    def __init__(
        self,
        total: int,
        *,
        stream: Any,
        enabled: bool = True,
        label: str = "",
        width: int = 30,
        min_interval: float = 0.1,
    ) -> None:
        self.total = max(0, int(total))
        self.done = 0
        self.stream = stream
        self.enabled = enabled
        self.label = label
        self.width = width
        self.min_interval = min_interval
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn_length = 0

    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            # No styling (stderr is red) and no automatic newline: the bar redraws in place.
            self.stream.write(text, style_func=lambda message: message, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def render(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        fraction = self.done / self.total if self.total else 1.0
        filled = min(self.width, int(self.width * fraction))
        rate = self.done / elapsed
        parts = [
            f"[{'#' * filled}{'.' * (self.width - filled)}]",
            f"{self.done}/{self.total}",
            f"{int(fraction * 100):3d}%",
            f"{rate:.1f}/s",
        ]
        if 0 < self.done < self.total and rate > 0:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        return " ".join([self.label, *parts] if self.label else parts)

    def draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        line = self.render()
        padding = " " * max(0, self._drawn_length - len(line))
        self._write("\r" + line + padding)
        self._drawn_length = len(line)

    def advance(self, step: int = 1) -> None:
        self.done += step
        self.draw(force=self.done >= self.total)

    def clear(self) -> None:
        """Erase the bar, before the command prints a line of its own; the next draw restores it."""
        if self.enabled and self._drawn_length:
            self._write("\r" + " " * self._drawn_length + "\r")
            self._drawn_length = 0
            self._last_draw = 0.0

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self.draw(force=True)
        self._write("\n")
        self._drawn_length = 0

    def __enter__(self) -> ProgressBar:
        self.draw(force=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
