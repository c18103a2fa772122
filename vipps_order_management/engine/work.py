"""One order of a batch, as it travels through the pipeline's stages.

The loading stage fills it in (the order, its plan, where it goes, its state), the image stage
gives its links their image ids, the sending stage makes its calls in a worker thread, and the
writing stage stores what it learnt. A kind whose :class:`~..outcomes.Verdict` is settled early
(nothing to send, a problem, no payment yet) makes no call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from ..models import OrderKey, OutboxItem, SyncKind, VippsOrder
from ..outcomes import Verdict
from ..payloads import Category
from .calllog import CallLog
from .plan import SyncPlan, Target
from .receipts import Events

__all__ = ["KINDS", "LINKS", "RECEIPT", "OrderWork", "snapshot"]

LINKS = SyncKind.LINKS.value
RECEIPT = SyncKind.RECEIPT.value
#: Order in which one order's kinds are sent: links (with images) before the receipt.
KINDS = (LINKS, RECEIPT)

#: The state fields a batch may change; the rest are keys and timestamps.
STATE_FIELDS = [
    f.name
    for f in VippsOrder._meta.concrete_fields
    if f.name not in ("id", "content_type", "object_id", "created_at", "updated_at")
]


def snapshot(state: VippsOrder) -> tuple[Any, ...]:
    """The state's fields as they are now, to tell later what a batch changed."""
    return tuple(getattr(state, name) for name in STATE_FIELDS)


@dataclass
class OrderWork:
    """One order of a batch: what the threads need (never the database) and what they found."""

    key: OrderKey
    rows: dict[str, OutboxItem]
    log: CallLog
    order: models.Model | None = None
    plan: SyncPlan | None = None
    target: Target | None = None
    state: VippsOrder | None = None
    before: tuple[Any, ...] = ()
    categories: list[Category] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    events: Events = field(default_factory=list)
    #: Image sets each planned link needs, by position: ``(msn, source hash)`` or None.
    image_keys: list[tuple[str, str] | None] = field(default_factory=list)
    #: The order was deleted: our rows of it go with this batch's write.
    forget: bool = False

    @property
    def name(self) -> str:
        """The order as the shop knows it, with its key: for messages and logs."""
        label = f"{self.key[0]}:{self.key[1]}"
        if self.plan is not None:
            return f"{self.plan.display_name} ({self.plan.order._meta.label} {self.key[1]})"
        return label

    def settle(self, kind: str, verdict: Verdict) -> None:
        """Decide a kind before any call (nothing to send, a problem, waiting)."""
        if kind in self.rows:
            self.verdicts.setdefault(kind, verdict)

    def settle_all(self, verdict: Verdict) -> None:
        for kind in self.rows:
            self.settle(kind, verdict)

    def open_kinds(self) -> list[str]:
        return [kind for kind in KINDS if kind in self.rows and kind not in self.verdicts]

    def new_state(self) -> VippsOrder:
        """The order's state, made (with its defaults as what it was) when it has none yet."""
        if self.state is None:
            self.state = VippsOrder(content_type_id=self.key[0], object_id=self.key[1])
            self.before = snapshot(self.state)
        return self.state
