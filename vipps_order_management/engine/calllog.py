"""The call log: every call to Vipps (and every local refusal) made while syncing an order.

The HTTP client reports each exchange to :func:`record_call`; the log of the order being worked
on in this thread collects it, and the pipeline writes all logs of a batch as ``SyncAttempt``
rows in one insert. Never headers, bodies, tokens or secrets: only method, endpoint, status,
duration and the error text the client already redacted.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone

from ..client import ApiCall
from ..models import OrderKey, SyncAttempt
from ..outcomes import Outcome, classify_status
from . import rows as bulk

__all__ = [
    "Attempt",
    "CallLog",
    "collecting",
    "observe_calls",
    "outcome_of",
    "record_call",
    "write",
]

logger = logging.getLogger(__name__)

_AS_LOGGED = {
    Outcome.DONE: SyncAttempt.Outcome.SUCCESS,
    Outcome.RETRY: SyncAttempt.Outcome.TRANSIENT,
    Outcome.DEAD: SyncAttempt.Outcome.PERMANENT,
}


def outcome_of(status: int | None, *, already_there: bool = False) -> str:
    """How a call reads in the log, by the one classifier: success, temporary or refused, and
    "already there" where the client found the answer says so (what the pipeline takes as
    already at Vipps: ``transport.answers.already_there``)."""
    if already_there:
        return SyncAttempt.Outcome.ALREADY_THERE
    return _AS_LOGGED[classify_status(status)]


class Attempt(NamedTuple):
    """One call (or refusal), as a ``SyncAttempt`` row will hold it."""

    kind: str
    method: str
    endpoint: str
    status_code: int | None
    outcome: str
    duration_ms: int
    error: str
    created_at: datetime
    merchant_serial_number: str = ""


@dataclass
class CallLog:
    """The calls made for one order (one or both of its kinds), to be written with the batch."""

    key: OrderKey
    worker: str
    kind: str = ""
    rows: list[Attempt] = field(default_factory=list)
    calls: int = 0
    #: Answers from Vipps (any status): it is up, whatever it said.
    answers: int = 0
    #: The order's sales unit, once its plan knows it: local refusals are filed under it too.
    merchant_serial_number: str = ""

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
        merchant_serial_number: str = "",
    ) -> None:
        self.rows.append(
            Attempt(
                kind or self.kind,
                method,
                endpoint[:200],
                status_code,
                outcome,
                round(duration * 1000),
                error,
                timezone.now(),
                (merchant_serial_number or self.merchant_serial_number)[:16],
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


#: Told of every call any configured client makes (the Prometheus metrics register here).
_observers: list[Callable[[ApiCall], None]] = []


def observe_calls(observer: Callable[[ApiCall], None]) -> None:
    """Have ``observer`` told of every call from now on; one that raises is ignored."""
    if observer not in _observers:
        _observers.append(observer)


def record_call(call: ApiCall) -> None:
    """The clients' ``on_call``: tell the observers, and add the exchange to the log of the
    current thread, if any."""
    for observer in _observers:
        try:
            observer(call)
        except Exception:  # metrics must never cost a send
            logger.debug("A call observer failed", exc_info=True)
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
        outcome=outcome_of(call.status_code, already_there=call.already_there),
        duration=call.duration,
        error=call.error or "",
        merchant_serial_number=call.merchant_serial_number,
    )


_COLUMNS = (
    "content_type_id",
    "object_id",
    "outbox_item_id",
    "kind",
    "method",
    "endpoint",
    "status_code",
    "outcome",
    "duration_ms",
    "error",
    "worker",
    "created_at",
    "merchant_serial_number",
)


def write(logs: Sequence[CallLog], row_ids: Mapping[tuple[int, str, str], int]) -> None:
    """Store the calls of a batch as ``SyncAttempt`` rows, in one statement.

    ``row_ids`` gives each (content type, order id, kind) its outbox row, which the attempt
    links to.
    """
    bulk.write(
        SyncAttempt,
        _COLUMNS,
        (
            (
                log.key[0],
                log.key[1],
                row_ids.get((*log.key, attempt.kind)),
                attempt.kind,
                attempt.method,
                attempt.endpoint,
                attempt.status_code,
                attempt.outcome,
                attempt.duration_ms,
                attempt.error,
                log.worker[:100],
                attempt.created_at,
                attempt.merchant_serial_number,
            )
            for log in logs
            for attempt in log.rows
        ),
    )
