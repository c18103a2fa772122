"""The call log: every call to Vipps (and every local refusal) made while syncing an order.

The HTTP client reports each exchange to :func:`record_call`; the log of the order being worked
on in this thread collects it, and the pipeline writes all logs of a batch as ``SyncAttempt``
rows in one insert. Never headers, bodies, tokens or secrets: only method, endpoint, status,
duration and the error text the client already redacted.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..client import ApiCall
from ..models import OrderKey, SyncAttempt

__all__ = ["CallLog", "collecting", "outcome_of", "record_call"]

_TRANSIENT_STATUSES = frozenset({401, 408, 423, 425, 429})


def outcome_of(status: int | None) -> str:
    """How a status code reads in the log: success, already there, temporary or refused."""
    if status is not None and status < 400:
        return SyncAttempt.Outcome.SUCCESS
    if status == 409:
        return SyncAttempt.Outcome.ALREADY_THERE
    if status is None or status >= 500 or status in _TRANSIENT_STATUSES:
        return SyncAttempt.Outcome.TRANSIENT
    return SyncAttempt.Outcome.PERMANENT


@dataclass
class CallLog:
    """The calls made for one order (one or both of its kinds), as unsaved ``SyncAttempt`` rows."""

    key: OrderKey
    worker: str
    kind: str = ""
    rows: list[SyncAttempt] = field(default_factory=list)
    calls: int = 0
    #: Answers from Vipps (any status): it is up, whatever it said.
    answers: int = 0

    def add(
        self,
        *,
        endpoint: str,
        outcome: str,
        method: str = "",
        status_code: int | None = None,
        duration: float = 0.0,
        error: str = "",
        kind: str | None = None,
    ) -> None:
        content_type_id, object_id = self.key
        self.rows.append(
            SyncAttempt(
                content_type_id=content_type_id,
                object_id=object_id,
                kind=kind or self.kind,
                method=method,
                endpoint=endpoint[:200],
                status_code=status_code,
                outcome=outcome,
                duration_ms=round(duration * 1000),
                error=error,
                worker=self.worker[:100],
            )
        )

    def refused(self, reason: str, error: str, *, kind: str | None = None) -> None:
        """A local refusal: nothing was sent (invalid payload, bad image, adapter error)."""
        self.add(endpoint=reason, outcome=SyncAttempt.Outcome.PERMANENT, error=error, kind=kind)


_current: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "vipps_order_management_call_log", default=None
)


@contextmanager
def collecting(log: CallLog, kind: str) -> Iterator[CallLog]:
    """Send this thread's calls to ``log``, marked as made for ``kind``."""
    log.kind = kind
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def record_call(call: ApiCall) -> None:
    """The clients' ``on_call``: add the exchange to the log of the current thread, if any."""
    log = _current.get()
    if log is None:
        return
    log.calls += 1
    if call.status_code is not None:
        log.answers += 1
    if call.endpoint == "/accesstoken/get" and call.status_code == 200:
        return
    log.add(
        method=call.method,
        endpoint=call.endpoint,
        status_code=call.status_code,
        outcome=outcome_of(call.status_code),
        duration=call.duration,
        error=call.error or "",
    )
