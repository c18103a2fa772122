"""A Vipps reference belongs to one order per merchant: claimed before anything is sent.

Vipps keys everything by (merchant serial number, payment type, orderId). Two orders of the
shop with the same reference would write over each other at Vipps, and the first customer's
app would open the second customer's order. So before a batch calls Vipps, each order that does
not hold its reference yet claims it in our state table, under a unique constraint: an order
whose reference another order holds (or another order of the same batch, queued before it)
waits for staff, naming that order, and nothing is sent for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..models import VippsOrder
from ..outcomes import Outcome, Verdict
from . import rows
from .work import STATE_FIELDS, OrderWork

__all__ = ["REFERENCE_TAKEN_PREFIX", "claim_references"]

#: How the reason of an order whose reference another order holds begins (the health
#: summary's reason classes read it).
REFERENCE_TAKEN_PREFIX = "The Vipps reference "

Reference = tuple[str, str, str]  # (merchant serial number, payment type, orderId)
_NAMES = ["content_type_id", "object_id", *STATE_FIELDS, "created_at", "updated_at"]


def _reference(work: OrderWork) -> Reference | None:
    target = work.target
    if target is None:
        return None
    return (target.merchant_serial_number, target.payment_type.value, target.reference)


def claim_references(works: Sequence[OrderWork]) -> None:
    """Settle orders whose reference is taken; claim the others' (two queries, usually)."""
    wanting = {work.key: ref for work in works if (ref := _reference(work)) is not None}
    if not wanting:
        return
    holders = _holders(set(wanting.values()))
    first: dict[Reference, OrderWork] = {}
    claims = []
    for work in sorted(works, key=lambda w: min(row.pk for row in w.rows.values())):
        ref = wanting.get(work.key)
        if ref is None:
            continue
        holder = holders.get(ref)
        if holder is not None and holder != work.key:
            _refuse(work, ref, _named(holder))
        elif holder is None and ref in first:
            _refuse(work, ref, first[ref].name)
        elif holder is None:
            first[ref] = work
            claims.append(work)
    _claim(claims)


def _named(key: tuple[int, str]) -> str:
    """An order of our tables as staff can find it: its model and primary key."""
    model = ContentType.objects.get_for_id(key[0]).model_class()
    return f"{model._meta.label if model else 'order'} {key[1]}"


def _holders(references: set[Reference]) -> dict[Reference, tuple[int, str]]:
    condition = models.Q(pk__in=[])
    for msn, payment_type, reference in references:
        condition |= models.Q(
            merchant_serial_number=msn, payment_type=payment_type, reference=reference
        )
    found = VippsOrder.objects.filter(condition).values_list(
        "merchant_serial_number", "payment_type", "reference", "content_type_id", "object_id"
    )
    return {(msn, kind, ref): (ct, oid) for msn, kind, ref, ct, oid in found}


def _claim(works: list[OrderWork]) -> None:
    """Store each order's reference now, in one statement; one at a time if another worker
    claimed one of them meanwhile, so only that order is refused."""
    if not works:
        return
    try:
        with transaction.atomic():
            _write(works)
    except IntegrityError:
        for work in works:
            try:
                with transaction.atomic():
                    _write([work])
            except IntegrityError:
                ref = _reference(work)
                assert ref is not None
                holder = _holders({ref}).get(ref)
                _refuse(work, ref, _named(holder) if holder else "another order")


def _write(works: list[OrderWork]) -> None:
    now = timezone.now()
    values = []
    for work in works:
        state = work.new_state()
        values.append(
            [
                *(getattr(state, name) for name in _NAMES[: len(STATE_FIELDS) + 2]),
                state.created_at or now,
                now,
            ]
        )
    rows.write(
        VippsOrder,
        _NAMES,
        values,
        conflict=["content_type", "object_id"],
        update=["reference", "merchant_serial_number", "payment_type", "updated_at"],
    )


def _refuse(work: OrderWork, ref: Reference, other: str) -> None:
    """The order waits for staff; its state keeps no reference it does not own."""
    msn, payment_type, reference = ref
    work.settle_all(
        Verdict(
            Outcome.DEAD,
            f"{REFERENCE_TAKEN_PREFIX}{reference!r} ({payment_type}, merchant {msn}) is already used "
            f"by {other}; nothing was sent for this order, so that its customer's app keeps "
            "showing its own order. Give this order a reference of its own, then requeue it.",
        )
    )
    state = work.state
    if state is not None:
        held = dict(zip(STATE_FIELDS, work.before, strict=True)) if work.before else {}
        state.reference = held.get("reference", "")
        state.merchant_serial_number = held.get("merchant_serial_number", "")
        state.payment_type = held.get("payment_type", "")
