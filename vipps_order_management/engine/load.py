"""The loading stage: a claimed batch's orders, our rows and their plans, in constant queries.

Each order is loaded through its adapter's queryset (its ``select_related``/``prefetch_related``)
and planned; what needs no call to Vipps is settled here (nothing to send, a problem the shop
must fix, no Vipps payment yet). Whatever the shop's code or its data raises while one order is
planned is confined to that order: it waits for staff with the exception's type, message and
field, and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models
from django.utils import timezone

from ..adapters import OrderAdapter, adapter_for
from ..models import OrderKey, OutboxItem
from ..order_rows import attach_rows, attached_rows
from ..outcomes import Outcome, Verdict, classify
from . import cleanup, leases, outbox
from .calllog import CallLog
from .plan import Problem, SyncPlan
from .references import claim_references
from .work import LINKS, RECEIPT, OrderWork, snapshot

__all__ = ["load_batch"]

logger = logging.getLogger(__name__)


def load_batch(lease: leases.Lease, worker_id: str) -> list[OrderWork]:
    """The batch's orders, our rows and their plans, in a constant number of queries."""
    by_key: dict[OrderKey, dict[str, OutboxItem]] = {}
    for row in lease.rows:
        by_key.setdefault((row.content_type_id, row.object_id), {})[row.kind] = row
    works = {key: OrderWork(key, rows, CallLog(key, worker_id)) for key, rows in by_key.items()}
    by_type: dict[int, list[OrderWork]] = {}
    for work in works.values():
        by_type.setdefault(work.key[0], []).append(work)
    loaded: list[models.Model] = []
    for content_type_id, group in by_type.items():
        loaded += _load_group(content_type_id, group)
    attach_rows(loaded, outbox=False)
    for work in works.values():
        if work.plan is not None:
            _plan_confined(work)
    claim_references(list(works.values()))
    return list(works.values())


def _load_group(content_type_id: int, group: list[OrderWork]) -> list[models.Model]:
    """The orders of one model; a model no longer configured, or an adapter whose queryset
    fails, settles its own orders and no others."""
    try:
        adapter = adapter_for(ContentType.objects.get_for_id(content_type_id))
        orders = _orders(adapter, [work.key[1] for work in group])
    except DatabaseError:
        raise
    except Exception as exc:  # the shop's adapter or settings: these rows cannot go now
        verdict = classify(exc)
        for work in group:
            work.settle_all(verdict)
        return []
    loaded = []
    absent = [work for work in group if work.key[1] not in orders]
    gone = set(
        cleanup.missing_orders(content_type_id, [w.key[1] for w in absent]) if absent else ()
    )
    for work in group:
        work.order = orders.get(work.key[1])
        if work.order is not None:
            work.plan = SyncPlan(work.order, adapter)
            loaded.append(work.order)
        elif work.key[1] in gone:
            work.forget = True
            work.settle_all(
                Verdict(Outcome.DONE, "The order no longer exists; its rows are removed.")
            )
        else:
            work.settle_all(
                Verdict(
                    Outcome.DONE,
                    f"The order is not among those {type(adapter).__name__}.get_queryset() "
                    "returns; nothing was sent.",
                )
            )
    return loaded


def _orders(adapter: OrderAdapter, object_ids: Iterable[str]) -> dict[str, models.Model]:
    """The batch's orders of one model, through the adapter's queryset (its prefetches)."""
    field = adapter.model._meta.pk
    valid = []
    for object_id in object_ids:
        try:
            valid.append(field.to_python(object_id))
        except (ValidationError, ValueError, TypeError):
            continue  # a key no order can have: treated as deleted
    if not valid:
        return {}
    return {str(order.pk): order for order in adapter.get_queryset().filter(pk__in=valid)}


def _plan_confined(work: OrderWork) -> None:
    """:func:`_plan`, with anything it raises kept to this order (the database aside)."""
    try:
        _plan(work)
    except DatabaseError:
        raise
    except Exception as exc:
        verdict = classify(exc)
        logger.warning("Vipps sync of %s cannot be planned: %s", work.name, verdict.message)
        work.log.refused("planning", verdict.message)
        work.settle_all(verdict)


def _plan(work: OrderWork) -> None:
    """Ask the plan what to send; settle what needs no call (problems, waiting)."""
    plan = work.plan
    assert plan is not None
    work.target = plan.target
    if plan.target_problem is not None:
        work.settle_all(_refused(plan.target_problem))
    elif work.target is None:
        for kind, row in work.rows.items():
            work.settle(kind, _awaiting_payment(row))
        return
    work.state = attached_rows(plan.order).state  # loaded for the whole batch by attach_rows
    work.before = snapshot(work.state) if work.state is not None else ()
    state = work.new_state()
    if work.target is not None:
        work.log.merchant_serial_number = work.target.merchant_serial_number
        state.reference = work.target.reference
        state.payment_type = work.target.payment_type.value
        state.merchant_serial_number = work.target.merchant_serial_number
    if LINKS in work.rows and LINKS not in work.verdicts:
        if plan.links_problem is not None:
            work.settle(LINKS, _refused(plan.links_problem))
        elif not plan.links:
            work.settle(LINKS, Verdict(Outcome.DONE, "No links to send."))
    if RECEIPT in work.rows and RECEIPT not in work.verdicts:
        final = plan.is_final  # asked here: adapters may query, threads must not
        if plan.final_problem is not None:
            work.settle(RECEIPT, _refused(plan.final_problem))
        elif final and plan.receipt_problem is not None:
            # sync_receipt records it on the state (unless a receipt was already sent).
            work.log.refused("local validation", str(plan.receipt_problem), kind=RECEIPT)
    if LINKS in work.rows and plan.links_problem is not None:
        work.log.refused("local validation", str(plan.links_problem), kind=LINKS)


def _awaiting_payment(row: OutboxItem) -> Verdict:
    """An order without a Vipps payment is looked at again for ``PAYMENT_WAIT``, then left.

    Its payment may be saved just after it (Oscar saves the payment source after the order's
    transaction) by code the adapter's ``sync_on`` does not watch; most such orders are simply
    paid some other way, and are not an error.
    """
    waited = timezone.now() - row.pending_since
    if waited < outbox.payment_wait():
        return Verdict(Outcome.WAITING, outbox.AWAITING_PAYMENT)
    return Verdict(
        Outcome.DONE,
        f"No Vipps payment after {waited}; nothing was sent. If the order has one, have the "
        "adapter's sync_on watch the model that holds it.",
    )


def _refused(problem: Problem) -> Verdict:
    return Verdict(Outcome.DEAD, str(problem), error=problem.exception)
