"""What a shop's code, the admin, the API and the commands call: thin, over the engine.

* :func:`enqueue` / :func:`enqueue_many` record that orders need sending (in the caller's
  transaction); a runner is woken once it commits.
* :func:`sync_now` sends one order while the caller waits; :func:`drain` sends what is due.
* :func:`requeue` makes failed (or any) outbox rows pending again and wakes the runner: the
  one entry point for the admin's action, the API and ``vipps_om_requeue``.
* :func:`payment_fields` / :func:`payment_created` (and the older :func:`receipt_for_epayment`
  / :func:`mark_receipt_sent`) embed the receipt in an ePayment create-payment call instead,
  and remember that it was sent: :mod:`.epayment`.
* :func:`accept_receipt` records that staff accept a receipt held for differing from what
  was paid, as it is.
* :func:`compare_with_vipps` fetches what Vipps holds and sets it beside the plan;
  :func:`prepared_image` and :func:`forget_images` (:func:`forget_images_many`) serve the
  admin's preview and re-upload.

What would be sent is always :func:`~.engine.plan.plan`'s answer; nothing here decides it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import models, transaction

from .adapters import ImageSource, OrderAdapter, get_adapter
from .engine import outbox, uploads
from .engine.clients import get_client
from .engine.pipeline import DrainResult, SyncResult, default_worker_id, drain
from .engine.plan import PaymentCheck, SyncPlan, plan, plans_for
from .engine.verify import Verdict, verify
from .epayment import mark_receipt_sent, payment_created, payment_fields, receipt_for_epayment
from .exceptions import ImageValidationError, VippsError
from .images import PreparedImage
from .models import OrderKey, OutboxItem, SyncAttempt, SyncKind, VippsOrder, order_key
from .outcomes import Outcome
from .payloads import Category, Difference, OrderView, Receipt
from .runners import dispatch

__all__ = [
    "ALL_KINDS",
    "Comparison",
    "DrainResult",
    "SyncResult",
    "accept_receipt",
    "build_receipt",
    "compare_with_vipps",
    "drain",
    "enqueue",
    "enqueue_many",
    "forget_images",
    "forget_images_many",
    "get_client",
    "mark_receipt_sent",
    "payment_created",
    "payment_fields",
    "prepared_image",
    "receipt_for_epayment",
    "requeue",
    "sync_now",
    "verify_with_vipps",
]

ALL_KINDS = outbox.ALL_KINDS

#: How a staff decision to send a held receipt as it is reads in the order's call log.
ACCEPTED_ENDPOINT = "receipt accepted by staff"

#: Seconds :func:`sync_now` waits for a worker that holds the order when it is called.
SYNC_NOW_WAIT = 10.0
_SYNC_NOW_POLL = 0.1


def _kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(ALL_KINDS if kinds is None else (str(kind) for kind in kinds))
    unknown = sorted(set(chosen) - set(ALL_KINDS))
    if unknown:
        raise ValueError(f"unknown sync kinds {unknown}; use {list(ALL_KINDS)}")
    return chosen


# ---------------------------------------------------------------------- queue


def enqueue(
    order: models.Model,
    kinds: Iterable[str] | None = None,
    force: bool = False,
    *,
    priority: int = 0,
) -> None:
    """Record that ``order`` must be (re)sent; the runner is kicked after the transaction commits.

    ``kinds`` defaults to everything ("links" and "receipt"). ``force`` sends links again even
    if they are unchanged, and checks the receipt against Vipps's copy.
    """
    get_adapter(order)  # refuse unconfigured models early, in the caller's code
    outbox.record_change(
        order_key(order), _kinds(kinds), force=force, priority=priority, coalesce=False
    )


def enqueue_many(
    keys: Iterable[OrderKey],
    kinds: Iterable[str] | None = None,
    force: bool = False,
    *,
    due_now: bool = False,
    chunk_size: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Record many orders at once, by key, in chunks: one statement and one commit per chunk.

    For ``vipps_om_sync`` over a whole shop and the admin's actions over many orders: no order
    is loaded, memory stays flat, and the runner is woken once per chunk. ``due_now`` makes
    rows backing off after a failure due now too (staff asking for a send now), as
    :func:`sync_now` does. ``progress`` is called with the count of each chunk.
    """
    chosen = _kinds(kinds)
    iterator: Iterator[OrderKey] = iter(keys)
    total = 0
    while chunk := list(islice(iterator, chunk_size)):
        with transaction.atomic():
            outbox.record(chunk, chosen, force=force, due_now=due_now)
            transaction.on_commit(dispatch.kick, robust=True)
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total


def requeue(rows: models.QuerySet[OutboxItem]) -> int:
    """Make these outbox rows pending again, due now, and wake the runner; returns how many."""
    with transaction.atomic():
        count = outbox.requeue(rows)
        if count:
            transaction.on_commit(dispatch.kick, robust=True)
    return count


# ---------------------------------------------------------------------- send


def sync_now(
    order: models.Model,
    force: bool = False,
    *,
    kinds: Iterable[str] | None = None,
    wait: float = SYNC_NOW_WAIT,
) -> list[SyncResult]:
    """Send ``order`` now, in this process, and return a result per kind.

    Used by the admin's "Send to Vipps now", the API and ``vipps_om_sync --now``. A kind that
    a worker is sending at this very moment is waited for, up to ``wait`` seconds, and then
    looked at again here (the order may have changed since that worker read it); if it is
    still held after that, its result is "released" and says so.
    """
    get_adapter(order)
    key = order_key(order)
    chosen = _kinds(kinds)
    with transaction.atomic():
        outbox.record([key], chosen, force=force, due_now=True)
    only = models.Q(content_type_id=key[0], object_id=key[1], kind__in=chosen)
    worker_id = f"sync_now:{default_worker_id()}"
    deadline = time.monotonic() + wait
    results: dict[str, SyncResult] = {}
    while True:
        for result in drain(only=only, worker_id=worker_id).results:
            results[result.kind] = result
        unsent = [
            kind for kind in chosen if kind not in results or results[kind].status == "released"
        ]
        busy = outbox.held_elsewhere(key, unsent)
        if not busy or time.monotonic() >= deadline:
            break
        time.sleep(_SYNC_NOW_POLL)
    for kind in busy:
        results[kind] = SyncResult(
            kind, Outcome.RELEASED, "Another worker is sending it right now."
        )
    missing = [kind for kind in chosen if kind not in results]
    if missing:
        # A worker finished these between the drain and the look: what it left due (the
        # order changed while it sent) goes now; the rest is reported as that worker left it.
        for result in drain(only=only, worker_id=worker_id).results:
            results.setdefault(result.kind, result)
        for row in outbox.rows_of([key], [kind for kind in missing if kind not in results]):
            results[row.kind] = _as_left_elsewhere(row)
    return [results[kind] for kind in chosen if kind in results]


def _as_left_elsewhere(row: OutboxItem) -> SyncResult:
    """The result of a kind another worker took care of, from its outbox row."""
    if row.status == OutboxItem.Status.DONE:
        return SyncResult(row.kind, Outcome.DONE, row.result or "Sent by another worker.")
    if row.status == OutboxItem.Status.DEAD:
        return SyncResult(row.kind, Outcome.DEAD, row.last_error, status_code=row.last_status_code)
    return SyncResult(
        row.kind, Outcome.RETRY, row.last_error or "Another worker will send it again."
    )


# ---------------------------------------------------------------------- the receipt elsewhere


def build_receipt(order: models.Model, adapter: Any = None) -> Receipt:
    """The order's receipt from its adapter, validated.

    Raises :class:`~.exceptions.ReceiptValidationError` listing the fields, or the shop's
    own exception when its adapter fails.
    """
    return plan(order, adapter).require_receipt()


def accept_receipt(order: models.Model, receipt_hash: str, *, by: str = "") -> PaymentCheck:
    """Staff accept the order's held receipt as it is; :func:`sync_now` then sends it.

    A receipt whose total differs from what was paid is held
    (:attr:`~.engine.plan.SyncPlan.payment_check`). Staff who saw both figures may take the
    shop's lines as the proof of purchase: the decision is kept on the order's state for the
    receipt of ``receipt_hash`` only (a later change holds it again), and written to the order's
    call log naming ``by``. Raises ``ValueError`` when no receipt of the order is held, or the
    one held is not ``receipt_hash`` (the order changed since staff looked at it).
    """
    check = plan(order).payment_check
    if check is None or not check.held:
        raise ValueError("the order's receipt is not held")
    if check.receipt_hash != receipt_hash:
        raise ValueError("the order's receipt changed since it was shown")
    content_type_id, object_id = order_key(order)
    note = (
        f"{by or 'staff'} accepted the receipt as it is: its lines add up to "
        f"{check.money(check.total)}, {check.money(check.paid)} was paid "
        f"(a difference of {check.money(check.difference)})"
    )
    with transaction.atomic():
        state, _ = VippsOrder.objects.get_or_create(
            content_type_id=content_type_id, object_id=object_id
        )
        state.receipt_accepted_hash = receipt_hash
        state.save(update_fields=["receipt_accepted_hash", "updated_at"])
        SyncAttempt.objects.create(
            content_type_id=content_type_id,
            object_id=object_id,
            kind=SyncKind.RECEIPT,
            endpoint=ACCEPTED_ENDPOINT,
            outcome=SyncAttempt.Outcome.SUCCESS,
            error=note,
            worker=by[:100],
        )
    return check


# ---------------------------------------------------------------------- compare, preview


@dataclass
class Comparison:
    """The order as this shop would send it now, beside what Vipps holds."""

    local_receipt: Receipt | None
    local_category: Category | None
    remote: OrderView | None
    differences: list[Difference]
    local_error: str = ""
    plan: SyncPlan | None = None


def compare_with_vipps(order: models.Model, sync_plan: SyncPlan | None = None) -> Comparison:
    """Fetch the order from Vipps and compare it with what the shop would send now."""
    sync_plan = sync_plan or plan(order)
    target = sync_plan.target
    if target is None:
        problem = sync_plan.target_problem
        reason = str(problem) if problem else "The order has no Vipps payment yet."
        return Comparison(None, None, None, [], reason, sync_plan)
    local_receipt = sync_plan.receipt
    local_error = str(sync_plan.receipt_problem or "")
    links = sync_plan.links
    local_category = links[0].category_payload() if links else None
    remote = get_client(target.merchant_serial_number).get_order(
        target.payment_type, target.reference
    )
    differences: list[Difference] = []
    if local_receipt is not None and remote is not None and remote.receipt is not None:
        differences = local_receipt.diff(remote.receipt)
    return Comparison(local_receipt, local_category, remote, differences, local_error, sync_plan)


def prepared_image(order: models.Model, sync_plan: SyncPlan | None = None) -> PreparedImage | None:
    """The image the order's first link carries, prepared as it is (or would be) uploaded.

    For previews; ``None`` when the order has no image or it cannot be made valid.
    """
    sync_plan = sync_plan or plan(order)
    links = sync_plan.links
    sources = links[0].sources if links else tuple(sync_plan.images)
    if not sources:
        return None
    try:
        return uploads.prepare(sources)
    except (ImageValidationError, VippsError):
        return None


def forget_images(order: models.Model) -> int:
    """Forget that the order's images are at Vipps, so its next send uploads them again.

    Returns how many remembered uploads were dropped. Images with the same content keep their
    id, so Vipps answers a re-upload of an image it still has with a harmless conflict.
    """
    return _forget_images_of([plan(order)])


def forget_images_many(orders: Iterable[models.Model]) -> int:
    """:func:`forget_images` for many orders, in a constant number of queries.

    The orders are loaded again as the worker loads them (the adapter's ``get_queryset``), so
    their plans name the images the next send uploads; one delete per sales unit.
    """
    by_adapter: dict[int, tuple[OrderAdapter, list[Any]]] = {}
    for order in orders:
        adapter = get_adapter(order)
        by_adapter.setdefault(id(adapter), (adapter, []))[1].append(order.pk)
    loaded = [
        order
        for adapter, pks in by_adapter.values()
        for order in adapter.get_queryset().filter(pk__in=pks)
    ]
    return _forget_images_of(plans_for(loaded))


def _forget_images_of(plans: Iterable[SyncPlan]) -> int:
    image_sets: dict[str, list[tuple[ImageSource, ...]]] = {}
    for sync_plan in plans:
        target = sync_plan.target
        if target is not None:
            image_sets.setdefault(target.merchant_serial_number, []).extend(
                [*(tuple(link.sources) for link in sync_plan.links), tuple(sync_plan.images)]
            )
    return sum(uploads.forget(msn, sets) for msn, sets in image_sets.items())


# ---------------------------------------------------------------------- verify


@dataclass
class Verified:
    """One order checked against Vipps: the verdict, and what was sent or queued to repair it."""

    order: models.Model
    verdict: Verdict
    queued: list[str]
    results: list[SyncResult]
    display_name: str = ""


def verify_with_vipps(
    orders: Iterable[models.Model], kinds: Iterable[str] | None = None, *, now: bool = False
) -> Iterator[Verified]:
    """Ask Vipps what it holds for each order and resend what is missing or stale.

    For after Vipps lost data (a new fake, a changed merchant serial number): the outbox never
    sends again what it believes was sent. Repairs are queued (or, with ``now``, sent here)
    with ``force``, where every call is idempotent; a second run finds nothing to do. A
    receipt Vipps holds that differs cannot be replaced: it is reported, never resent.
    """
    chosen = _kinds(kinds)
    for order in orders:
        sync_plan = plan(order)
        verdict = verify(sync_plan)
        wanted = [kind for kind in verdict.resend if kind in chosen]
        results: list[SyncResult] = []
        if wanted:
            target = sync_plan.target
            if "links" in wanted and target is not None:
                # Vipps lost the links, and may have lost their images: upload them again.
                image_sets = [link.sources for link in sync_plan.links]
                uploads.forget(target.merchant_serial_number, image_sets)
            if now:
                results = sync_now(order, force=True, kinds=wanted)
            else:
                enqueue(order, kinds=wanted, force=True)
        yield Verified(order, verdict, wanted, results, sync_plan.display_name)
