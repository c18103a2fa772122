"""What became of an attempt, in one vocabulary, and the one rule that decides it.

Every layer speaks :class:`Outcome`: the HTTP client picks its exception by :func:`classify_status`,
the call log files each call by it, the pipeline and the outbox write each row's outcome, and the
results staff see (``sync_now``, the admin, the API, the commands) carry it. :func:`classify`
turns any exception raised while sending one order into a :class:`Verdict`: retry later, or wait
for staff, so no rule about what is retried lives anywhere else. The :class:`CircuitBreaker`
beside it counts the verdicts that say Vipps (or the image storage) is failing right now.

Pure Python: no Django, no HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .exceptions import (
    ImageSourceError,
    StorageUnavailable,
    VippsAuthError,
    VippsConfigurationError,
    VippsError,
    VippsTransientError,
)

__all__ = [
    "CONFIGURATION_PREFIX",
    "GAVE_UP_PREFIX",
    "IMAGE_SOURCE_PREFIX",
    "RETRYABLE_STATUSES",
    "CircuitBreaker",
    "NotAttempted",
    "Outcome",
    "Verdict",
    "classify",
    "classify_status",
]


class Outcome(StrEnum):
    """Where one outbox row (one kind of one order) stands after an attempt."""

    #: Sent, or nothing to send.
    DONE = "done"
    #: Sent, but the order changed meanwhile: it is sent again.
    CHANGED = "changed"
    #: May pass by waiting (Vipps down, a timeout, a storage hiccup): tried again later.
    RETRY = "retry"
    #: Waiting cannot mend it (refused by Vipps or by the checks): it waits for staff.
    DEAD = "dead"
    #: Nothing to send yet (the order has no Vipps payment): looked at again later.
    WAITING = "waiting"
    #: Handed back unprocessed (stopping, or Vipps seemed down): no attempt counted.
    RELEASED = "released"
    #: Waits for another worker's upload of its image; keeps its turn.
    DEFERRED = "deferred"
    #: The lease ran out: another worker has the row, and says what became of it.
    LOST = "lost"

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong: sent, or rightly waiting."""
        return self in (Outcome.DONE, Outcome.CHANGED, Outcome.WAITING)

    @property
    def attempted(self) -> bool:
        """Whether an attempt was made (and counted) for the row."""
        return self not in (Outcome.RELEASED, Outcome.DEFERRED, Outcome.LOST)


#: HTTP statuses that may pass by waiting: timeouts, locks, rate limits, and any 5xx. A 401
#: counts too: the client has already fetched a fresh token once, so the next try may pass.
RETRYABLE_STATUSES = frozenset({401, 408, 423, 425, 429})


def classify_status(status: int | None) -> Outcome:
    """``DONE`` for an answer below 400, ``RETRY`` for no answer or a status that may pass,
    ``DEAD`` for the rest (400, 403, 404, 409, 422...: sending it again gets the same answer)."""
    if status is None:
        return Outcome.RETRY
    if status < 400:
        return Outcome.DONE
    if status >= 500 or status in RETRYABLE_STATUSES:
        return Outcome.RETRY
    return Outcome.DEAD


#: How the reasons of rows that wait for staff begin, by where they come from. Written here and
#: by the pipeline; the health summary's reason classes (``engine.health.REASONS``) read them.
CONFIGURATION_PREFIX = "Configuration: "
IMAGE_SOURCE_PREFIX = "Image source: "
GAVE_UP_PREFIX = "Gave up after "


class NotAttempted(Exception):
    """Not tried (the circuit breaker is open, or the worker is stopping): hand the row back."""


@dataclass
class Verdict:
    """What an attempt came to: the outcome, its reason, and what the retry needs."""

    outcome: Outcome
    message: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    error: BaseException | None = None
    #: When the row is looked at again (a retry, a wait), once the write decides it.
    due: datetime | None = None


def classify(exc: BaseException) -> Verdict:
    """The verdict on an exception raised while planning, preparing or sending one order.

    Retried: Vipps unreachable or failing (5xx, 429, timeouts, a 401 after a fresh token) and
    image storage that could not be read now. Everything else waits for staff with the
    exception's type and message: Vipps's refusals, the payload checks, the shop's own code,
    images that cannot be used, and configuration that this order needs and cannot have.
    """
    if isinstance(exc, NotAttempted):
        return Verdict(Outcome.RELEASED, str(exc))
    status = getattr(exc, "status_code", None)
    if isinstance(exc, VippsTransientError | StorageUnavailable) or (
        isinstance(exc, VippsAuthError) and classify_status(status) is Outcome.RETRY
    ):
        retry_after = getattr(exc, "retry_after", None)
        return Verdict(Outcome.RETRY, str(exc), status, retry_after, _cause(exc))
    if isinstance(exc, VippsConfigurationError):
        return Verdict(Outcome.DEAD, f"{CONFIGURATION_PREFIX}{exc}", status, error=exc)
    if isinstance(exc, ImageSourceError):
        return Verdict(Outcome.DEAD, f"{IMAGE_SOURCE_PREFIX}{exc}", status, error=exc)
    if isinstance(exc, VippsError):
        return Verdict(Outcome.DEAD, str(exc), status, error=exc)
    return Verdict(Outcome.DEAD, f"{type(exc).__name__}: {exc}", error=exc)


def _cause(exc: BaseException) -> BaseException:
    """For the ``sync_failed`` signal: a storage backend's own error rather than our wrapper."""
    if isinstance(exc, StorageUnavailable) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


class CircuitBreaker:
    """Opens after ``threshold`` retryable failures in a row, across the threads of a drain.

    Vipps (or the storage) is then probably down: the rows still claimed are handed back
    rather than each spending an attempt. Only an answer from Vipps closes it again.
    ``on_open`` is called (outside the lock) each time it opens: the health summary of other
    processes learns from it that Vipps is failing right now.
    """

    def __init__(self, threshold: int, *, on_open: Callable[[], None] | None = None) -> None:
        self.threshold = threshold
        self.failures = 0
        self.on_open = on_open
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def record(self, outcome: Outcome, *, answered: bool) -> None:
        opened = False
        with self._lock:
            if outcome is Outcome.RETRY:
                self.failures += 1
                opened = self.failures == self.threshold
            elif answered:
                self.failures = 0
        if opened and self.on_open is not None:
            self.on_open()
