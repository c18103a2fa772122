"""Fault injection: the outages, rate limits and lost answers a client must survive.

Tests arm faults on ``server.faults`` and the server's handler threads consume them, so
everything here is guarded by one lock. A fault decides what happens to a request before the
fake looks at it; the server carries the decision out (see ``server.FakeVippsServer``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Decision", "FaultInjector"]


def _path_matches(filter_: str | None, path: str, *, token_endpoint: bool) -> bool:
    # An unfiltered fault never hits the token call: a test that says "fail the next request"
    # means the API call, not the token fetch a fresh client makes first.
    if filter_ is None:
        return not token_endpoint
    return filter_.lower() in path.lower()


@dataclass(slots=True)
class _Shot:
    kind: str  # "fail" or "drop"
    remaining: int
    path: str | None
    status: int | None = None
    retry_after: float | None = None
    after_processing: bool = False

    @property
    def name(self) -> str:
        if self.kind == "fail":
            return f"fail:{self.status}"
        return "drop:after_processing" if self.after_processing else "drop"


@dataclass(slots=True)
class _RandomRule:
    rate: float
    kinds: tuple[str, ...]
    rng: random.Random
    retry_after: float | None
    path: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one request: sleep ``delay``, then answer ``status`` or drop, or neither."""

    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    drop: bool = False
    after_processing: bool = False
    name: str | None = None


class FaultInjector:
    """Arms faults for the next matching requests; thread-safe (tests arm, handler threads consume).

    ``path`` filters by a case-insensitive substring of the request path. Without ``path`` a fault
    applies to every request except ``/accesstoken/get``; pass ``path="accesstoken"`` to fault the
    token call itself. One-shot faults (``fail_next``, ``drop_next``) are consumed in the order
    they were armed; ``delay`` and ``random`` stay until :meth:`clear`.
    """

    RANDOM_KINDS = ("5xx", "429", "drop", "lost")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shots: list[_Shot] = []
        self._delays: list[tuple[float, str | None]] = []
        self._randoms: list[_RandomRule] = []

    @staticmethod
    def _check_count(count: int) -> None:
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` without processing them.

        429 gets an Azure-style body and a ``Retry-After`` header (1 s unless given); other
        statuses get a problem body, with ``Retry-After`` only when ``retry_after`` is given.
        """
        self._check_count(count)
        if not 400 <= int(status) <= 599:
            raise ValueError(f"status must be a 4xx or 5xx code, not {status!r}")
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._shots.append(_Shot("fail", count, path, int(status), retry_after))

    def drop_next(
        self, count: int = 1, *, path: str | None = None, after_processing: bool = False
    ) -> None:
        """Close the connection of the next ``count`` matching requests without any response.

        With ``after_processing`` the request is handled first, so its effect (a stored receipt,
        an uploaded image) persists although the client never hears about it.
        """
        self._check_count(count)
        with self._lock:
            self._shots.append(_Shot("drop", count, path, after_processing=after_processing))

    def delay(self, seconds: float, *, path: str | None = None) -> None:
        """Sleep ``seconds`` before handling every matching request (until :meth:`clear`)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._delays.append((float(seconds), path))

    def random(
        self,
        rate: float,
        *,
        kinds: Sequence[str] = ("5xx", "429", "drop"),
        seed: int | None = None,
        retry_after: float | None = 1,
        path: str | None = None,
    ) -> None:
        """Fail each matching request with probability ``rate``, as one of ``kinds``.

        ``"5xx"`` answers 500, 502 or 503; ``"429"`` answers 429 with ``Retry-After:
        retry_after``; ``"drop"`` closes the connection before processing; ``"lost"`` processes
        the request and then closes the connection, so the effect stays but the answer is lost.
        ``seed`` makes the sequence reproducible.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        kinds = tuple(kinds)
        unknown = set(kinds) - set(self.RANDOM_KINDS)
        if not kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {self.RANDOM_KINDS}")
        with self._lock:
            self._randoms.append(
                _RandomRule(float(rate), kinds, random.Random(seed), retry_after, path)
            )

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._shots.clear()
            self._delays.clear()
            self._randoms.clear()

    @property
    def pending(self) -> int:
        """How many one-shot faults are still armed."""
        with self._lock:
            return sum(shot.remaining for shot in self._shots)

    def decide(self, path: str, *, token_endpoint: bool) -> Decision:
        """The fault for a request to ``path``, consuming the one-shot fault it uses (if any)."""
        with self._lock:
            delay = sum(
                seconds
                for seconds, filter_ in self._delays
                if _path_matches(filter_, path, token_endpoint=token_endpoint)
            )
            names = [f"delay:{delay:g}"] if delay else []
            for shot in self._shots:
                if not _path_matches(shot.path, path, token_endpoint=token_endpoint):
                    continue
                shot.remaining -= 1
                if shot.remaining <= 0:
                    self._shots.remove(shot)
                names.append(shot.name)
                return Decision(
                    delay=delay,
                    status=shot.status,
                    retry_after=shot.retry_after,
                    drop=shot.kind == "drop",
                    after_processing=shot.after_processing,
                    name="+".join(names),
                )
            for rule in self._randoms:
                if not _path_matches(rule.path, path, token_endpoint=token_endpoint):
                    continue
                if rule.rng.random() >= rule.rate:
                    continue
                kind = rule.rng.choice(rule.kinds)
                if kind in ("drop", "lost"):
                    names.append(f"random:{kind}")
                    return Decision(
                        delay=delay,
                        drop=True,
                        after_processing=kind == "lost",
                        name="+".join(names),
                    )
                if kind == "429":
                    names.append("random:429")
                    return Decision(
                        delay=delay, status=429, retry_after=rule.retry_after, name="+".join(names)
                    )
                status = rule.rng.choice((500, 502, 503))
                names.append(f"random:{status}")
                return Decision(delay=delay, status=status, name="+".join(names))
            return Decision(delay=delay, name="+".join(names) or None)
