"""The sending stage: one order's calls to Vipps, kind by kind, in a worker thread.

HTTP only: the order's plan, state snapshot and categories were prepared by the stages before,
and what the calls learn is written by the stage after. Each kind starts only while the lease
still holds and the circuit breaker is closed; whatever a call raises becomes the kind's
verdict through the one classifier, never an exception out of the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..client import OrderManagementClient
from ..exceptions import VippsError
from ..outcomes import CircuitBreaker, Outcome, Verdict, classify
from . import leases
from .calllog import collecting
from .links import sync_links
from .receipts import sync_receipt
from .work import LINKS, OrderWork

__all__ = ["send_order"]

logger = logging.getLogger(__name__)


def send_order(
    work: OrderWork,
    clients: dict[str, OrderManagementClient],
    lease: leases.Lease,
    breaker: CircuitBreaker,
    stopping: Callable[[], bool],
) -> None:
    """Send what is open of one order, links before the receipt."""
    for kind in work.open_kinds():
        if not lease.holds(work.rows[kind]):
            work.verdicts[kind] = Verdict(Outcome.LOST, "The lease ran out; another worker has it.")
            continue
        if breaker.open or stopping():
            work.verdicts[kind] = Verdict(Outcome.RELEASED)
            continue
        client = clients.get(work.target.merchant_serial_number) if work.target else None
        answers = work.log.answers
        with collecting(work.log, kind):
            try:
                assert client is not None, "a work with open kinds has a target and a client"
                message = _send_kind(work, kind, client)
                verdict = Verdict(Outcome.DONE, message)
            except Exception as exc:
                verdict = classify(exc)
                if not isinstance(exc, VippsError):
                    logger.exception("Unexpected error sending %s of %s to Vipps", kind, work.name)
        work.verdicts[kind] = verdict
        breaker.record(verdict.outcome, answered=work.log.answers > answers)


def _send_kind(work: OrderWork, kind: str, client: OrderManagementClient) -> str:
    plan, target, state = work.plan, work.target, work.state
    assert plan is not None
    assert target is not None
    assert state is not None
    row = work.rows[kind]
    if kind == LINKS:
        return sync_links(
            client,
            target,
            state,
            api=plan.category_api,
            categories=work.categories,
            notes=work.notes,
            force=row.force,
            events=work.events,
        )
    return sync_receipt(
        client,
        target,
        state,
        receipt=plan.receipt if plan.is_final else None,
        problem=plan.receipt_problem if plan.is_final else None,
        is_final=plan.is_final,
        force=row.force,
        events=work.events,
    )
