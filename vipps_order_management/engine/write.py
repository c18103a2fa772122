"""The writing stage: everything a batch learnt, stored at once, then told to the shop.

One transaction and a constant number of statements: each order's state (only the fields this
batch changed), the v3 category ids of stored links, the call log, and every row's outcome
(done, retried at a jittered time, waiting for staff, handed back). After the commit, the
shop's signal receivers hear what happened, and the caller gets a result per row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..exceptions import ImageMissingAtVipps
from ..link_policy import normalise
from ..models import OrderLink, OutboxItem, VippsOrder
from ..order_rows import attached_rows
from ..outcomes import GAVE_UP_PREFIX, Outcome, Verdict
from . import calllog, cleanup, leases, outbox, rows, uploads
from .results import DrainResult, SyncResult
from .work import KINDS, RECEIPT, STATE_FIELDS, OrderWork, snapshot

__all__ = ["announce", "write_batch"]

logger = logging.getLogger(__name__)


def write_batch(works: Sequence[OrderWork], lease: leases.Lease) -> set[int]:
    """Store what the batch learnt; returns the ids of rows that changed during the send."""
    outcomes = _row_outcomes(works)
    link_rows = _v3_link_ids(works)
    with transaction.atomic():
        _save_states(works)
        if link_rows:
            OrderLink.objects.bulk_update(link_rows, ["category_id"])
        calllog.write(
            [work.log for work in works],
            {(r.content_type_id, r.object_id, r.kind): r.pk for r in lease.rows},
        )
        changed = leases.finish(lease, outcomes)
        cleanup.forget_orders(work.key for work in works if work.forget)
        lost = [
            (verdict.error.merchant_serial_number, verdict.error.image_id)
            for work in works
            for verdict in work.verdicts.values()
            if isinstance(verdict.error, ImageMissingAtVipps)
        ]
        if lost:
            uploads.forget_lost(lost)
    outbox.forget_recorded()  # a save after this drain, in the same transaction, writes again
    return changed


def _row_outcomes(works: Sequence[OrderWork]) -> list[leases.RowOutcome]:
    """Each row's outcome as the outbox writes it, with when it is due again."""
    now = timezone.now()
    give_up = outbox.give_up_after()
    delays: dict[tuple[int, float | None], datetime] = {}
    found: list[leases.RowOutcome] = []
    for work in works:
        for kind, row in work.rows.items():
            verdict = work.verdicts.setdefault(kind, Verdict(Outcome.RELEASED))
            if verdict.outcome is Outcome.LOST:
                continue
            if verdict.outcome is Outcome.RETRY and now - row.pending_since > give_up:
                verdict = work.verdicts[kind] = Verdict(
                    Outcome.DEAD,
                    f"{GAVE_UP_PREFIX}{now - row.pending_since}: {verdict.message}",
                    verdict.status_code,
                    error=verdict.error,
                )
            if verdict.outcome is Outcome.DEAD:
                _note_failure(work, kind, verdict.message)
            elif verdict.outcome is Outcome.RETRY:
                # One jittered delay per (attempts, Retry-After) in a batch: the rows that
                # fail together come back together, in one UPDATE and one later claim.
                delay_key = (row.attempts, verdict.retry_after)
                if delay_key not in delays:
                    seconds = outbox.backoff_seconds(row.attempts, verdict.retry_after)
                    delays[delay_key] = now + timedelta(seconds=seconds)
                verdict.due = delays[delay_key]
            elif verdict.outcome is Outcome.WAITING:
                verdict.due = now + timedelta(seconds=outbox.wait_seconds(row.attempts))
            elif verdict.outcome is Outcome.DEFERRED:
                verdict.due = row.next_attempt_at  # keeps its turn, so --once still sends it
            status = Outcome.RELEASED if verdict.outcome is Outcome.DEFERRED else verdict.outcome
            found.append(
                leases.RowOutcome(row, status, verdict.message, verdict.status_code, verdict.due)
            )
    return found


def announce(works: Sequence[OrderWork], changed: set[int], result: DrainResult) -> None:
    """Tell the shop (signals, after the commit) and the caller (results) what happened."""
    for work in works:
        order = work.order
        sender = type(order) if order is not None else OutboxItem
        if order is not None:
            for signal, arguments in work.events:
                signal.send_robust(sender, order=order, **arguments)
        for kind in KINDS:
            if kind not in work.rows:
                continue
            row = work.rows[kind]
            verdict = work.verdicts.get(kind) or Verdict(Outcome.RELEASED)
            status = verdict.outcome
            if status is Outcome.LOST:
                continue
            if status is Outcome.DONE:
                status = Outcome.CHANGED if row.pk in changed else Outcome.DONE
                if order is not None:
                    signals.order_synced.send_robust(
                        sender, order=order, kind=kind, result=verdict.message
                    )
            elif status is Outcome.DEAD and row.pk in changed:
                status = Outcome.RETRY
                verdict.message = f"changed meanwhile; retrying: {verdict.message}"
            elif status is Outcome.DEAD:
                logger.warning(
                    "Vipps sync of %s (%s) failed for good: %s", work.name, kind, verdict.message
                )
                signals.dead_lettered.send_robust(
                    sender, order=order, kind=kind, error=verdict.message, outbox_item=row
                )
            elif status is Outcome.RETRY and order is not None:
                signals.sync_failed.send_robust(
                    sender, order=order, kind=kind, error=verdict.error, next_attempt_at=verdict.due
                )
            result.add(
                SyncResult(
                    kind, status, verdict.message, work.log.calls, work.name, verdict.status_code
                )
            )


def _note_failure(work: OrderWork, kind: str, message: str) -> None:
    """A kind that waits for staff shows on the order's state with the reason."""
    state = work.new_state()
    if kind == RECEIPT:
        state.receipt_error = message
        if state.receipt_state not in (VippsOrder.ReceiptState.SENT, VippsOrder.ReceiptState.DRIFT):
            state.receipt_state = VippsOrder.ReceiptState.DEAD
    else:
        state.links_error = message
        state.links_state = VippsOrder.LinkState.DEAD


def _changed_fields(work: OrderWork) -> frozenset[str]:
    """The state fields this batch changed (for a new state: those that differ from defaults).

    Only these are written, so two workers that hold different kinds of one order at once
    (or create its state at the same moment) never undo each other.
    """
    state = work.state
    if state is None:
        return frozenset()
    return frozenset(
        name
        for name, old, new in zip(STATE_FIELDS, work.before, snapshot(state), strict=True)
        if old != new
    )


#: A receipt that reached Vipps stays reached, and keeps how and when it first did:
#: ``epayment.payment_created`` may record it while a worker, which read the state before,
#: decides the receipt must wait, or finds it at Vipps.
RECEIPT_AT_VIPPS = rows.Forward(
    "receipt_state",
    (VippsOrder.ReceiptState.SENT.value, VippsOrder.ReceiptState.DRIFT.value),
    fields=("receipt_state", "receipt_error"),
    arrival=("receipt_sent_via", "receipt_sent_at"),
)


def _save_states(works: Sequence[OrderWork]) -> None:
    """Write only the fields each order's state changed, grouped: one statement per group.

    Two workers may hold different kinds of one order at once; each writes only what it
    learnt, so neither undoes the other. There are few groups (links, receipt, both). A state
    seen for the first time is inserted whole; if another worker inserted it meanwhile, only
    this batch's fields are set on it.
    """
    now = timezone.now()
    groups: dict[frozenset[str], list[VippsOrder]] = {}
    for work in works:
        changed = _changed_fields(work)
        if not changed:
            continue
        state = work.state
        assert state is not None
        state.last_synced_at = state.updated_at = now
        if not state.pk:
            state.created_at = now
        groups.setdefault(changed, []).append(state)
    names = ["content_type_id", "object_id", *STATE_FIELDS, "created_at", "updated_at"]
    for changed, states in groups.items():
        rows.write(
            VippsOrder,
            names,
            ([getattr(state, name) for name in names] for state in states),
            conflict=["content_type", "object_id"],
            update=sorted({*changed, "last_synced_at", "updated_at"}),
            forward=RECEIPT_AT_VIPPS,
        )


def _v3_link_ids(works: Sequence[OrderWork]) -> list[OrderLink]:
    """Stored link rows whose v3 category id changed, to save in one update."""
    changed = []
    for work in works:
        if not work.categories or work.order is None:
            continue
        for row in attached_rows(work.order).links:
            match = next(
                (
                    c
                    for c in work.categories
                    if str(c.category) == row.category and c.url == normalise(row.url)
                ),
                None,
            )
            if match is not None and match.category_id and row.category_id != match.category_id:
                row.category_id = match.category_id
                changed.append(row)
    return changed
