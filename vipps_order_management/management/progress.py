"""The progress bar of the long commands (``vipps_om_sync``): tqdm on stderr, when it helps.

A bar is drawn when stderr is a terminal and the run is long (``--progress`` / ``--no-progress``
decide otherwise), advances once per order, and is erased while the command writes a line of
its own, so lines and bar never garble each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.management.base import OutputWrapper
from django.utils.translation import gettext as _
from tqdm import tqdm

__all__ = ["PROGRESS_THRESHOLD", "ProgressBar", "bar_cleared", "progress_bar", "wants_progress"]

#: Below this many orders a run is short: no progress bar unless ``--progress`` asks for one.
PROGRESS_THRESHOLD = 50


def wants_progress(stream: Any, forced: bool | None, total: int) -> bool:
    """``--progress`` (True) or ``--no-progress`` (False) decide; else a TTY and a long run."""
    if forced is not None:
        return forced
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and total >= PROGRESS_THRESHOLD


if TYPE_CHECKING:
    _Bar = tqdm[Any]
else:
    _Bar = tqdm  # generic only in types-tqdm


class ProgressBar(_Bar):
    """tqdm without its monitor thread: the bar advances once per order, never stalls long."""

    monitor_interval = 0


class _Unstyled:
    """A command's stderr as tqdm writes to it: as given, without Django's style or newline."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=lambda message: message, ending="")

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding
        return getattr(self._wrapper, name)


def progress_bar(stderr: OutputWrapper, forced: bool | None, total: int) -> ProgressBar:
    """A bar of ``total`` orders on the command's stderr, disabled when it would not help."""
    return ProgressBar(
        total=total,
        desc=_("Orders"),
        unit=" " + _("order"),
        file=_Unstyled(stderr),
        disable=not wants_progress(stderr, forced, total),
        miniters=1,  # look at the clock every order: no monitor thread tunes this
        dynamic_ncols=True,
    )


@contextmanager
def bar_cleared(bar: tqdm[Any]) -> Iterator[None]:
    """Erase the bar while the command writes a line of its own, then draw it again below."""
    bar.clear()
    try:
        yield
    finally:
        bar.refresh()
