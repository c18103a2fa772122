"""An order's status with Vipps, as one word: the rule, evaluated in Python and in SQL.

Staff see the worst first: a failure outranks a difference from Vipps, which outranks work
still waiting, which outranks what was sent. The precedence is written once, as data
(:data:`PRECEDENCE`), and read both by :func:`status_of` for rows already loaded and by
:func:`status_expression` for a queryset of orders (the admin's column and filter), so the two
can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db import models
from django.db.models import Case, Exists, Q, Value, When

from ..models import CustomerStatus, OutboxItem, SyncStatus, VippsOrder, matching_outer_order

__all__ = ["PRECEDENCE", "Fact", "customer_status_of", "status_expression", "status_of"]


@dataclass(frozen=True)
class Fact:
    """Holds when any outbox row or the state row has one of these values."""

    outbox: frozenset[str] = frozenset()
    receipt: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()

    def holds(self, state: VippsOrder | None, rows: Iterable[OutboxItem]) -> bool:
        if any(row.status in self.outbox for row in rows):
            return True
        return state is not None and (
            state.receipt_state in self.receipt or state.links_state in self.links
        )

    def exists(self, model: type[models.Model]) -> Any:
        """The same test as :meth:`holds`, as a condition on a queryset of ``model``."""
        parts = []
        if self.outbox:
            rows = matching_outer_order(OutboxItem.objects.all(), model)
            parts.append(Exists(rows.filter(status__in=self.outbox)))
        if self.receipt or self.links:
            states = matching_outer_order(VippsOrder.objects.all(), model)
            parts.append(
                Exists(
                    states.filter(Q(receipt_state__in=self.receipt) | Q(links_state__in=self.links))
                )
            )
        return reduce(or_, parts)


States = VippsOrder.ReceiptState
LinkStates = VippsOrder.LinkState

#: The first status whose fact holds is the order's status; none holding is NOT_SENT.
PRECEDENCE: tuple[tuple[SyncStatus, Fact], ...] = (
    (
        SyncStatus.FAILED,
        Fact(
            outbox=frozenset({OutboxItem.Status.DEAD}),
            receipt=frozenset({States.DEAD}),
            links=frozenset({LinkStates.DEAD}),
        ),
    ),
    (SyncStatus.DRIFT, Fact(receipt=frozenset({States.DRIFT}))),
    (SyncStatus.PENDING, Fact(outbox=frozenset({OutboxItem.Status.PENDING}))),
    (
        SyncStatus.SYNCED,
        Fact(receipt=frozenset({States.SENT}), links=frozenset({LinkStates.SENT})),
    ),
)


def status_of(state: VippsOrder | None, rows: Iterable[OutboxItem]) -> SyncStatus:
    """The status from an order's state row and outbox rows, already loaded."""
    rows = list(rows)
    for status, fact in PRECEDENCE:
        if fact.holds(state, rows):
            return status
    return SyncStatus.NOT_SENT


def status_expression(model: type[models.Model]) -> Case:
    """An annotation giving each order of ``model`` its status value, in SQL."""
    return Case(
        *(When(fact.exists(model), then=Value(status.value)) for status, fact in PRECEDENCE),
        default=Value(SyncStatus.NOT_SENT.value),
        output_field=models.CharField(),
    )


def customer_status_of(
    state: VippsOrder | None, rows: Iterable[OutboxItem], *, has_payment: bool | None = None
) -> CustomerStatus:
    """What the order means to its customer: in their Vipps app, on its way there, or nothing
    to say (no Vipps payment, or a problem only staff can fix).

    In the app as soon as a receipt or link reached Vipps, even if the order changed since
    (the customer has it); on its way while a send is pending for an order that has a Vipps
    payment. ``has_payment`` is the plan's answer when the caller has it; without it, an order
    counts as paid through Vipps once a send found its reference.
    """
    if state is not None and (
        state.receipt_state in (States.SENT, States.DRIFT) or state.links_state == LinkStates.SENT
    ):
        return CustomerStatus.IN_APP
    paid = has_payment if has_payment is not None else bool(state is not None and state.reference)
    if paid and any(row.status == OutboxItem.Status.PENDING for row in rows):
        return CustomerStatus.ON_ITS_WAY
    return CustomerStatus.NONE
