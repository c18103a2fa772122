"""The only layer that touches both the database and Vipps.

Admin actions, management commands, API views, tasks and the worker call these functions;
none of them uses the HTTP client directly.

* :func:`enqueue` records that an order needs sending (in the caller's transaction).
* :func:`drain` sends what is due: for each order images, then links, then the receipt.
* :func:`sync_now` does both for one order, for staff who want it sent while they wait.
* :func:`receipt_for_epayment` / :func:`mark_receipt_sent` embed the receipt in an ePayment
  create-payment call instead, and remember that it was sent.
* :func:`compare_with_vipps` fetches what Vipps holds and sets it beside the order.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import django
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import IntegrityError, models, transaction
from django.dispatch import receiver
from django.utils import timezone

from . import outbox, signals
from .adapters import ImageSource, Link, OrderAdapter, adapter_for, get_adapter
from .client import ApiCall, CacheTokenStore, OrderManagementClient
from .conf import SETTINGS_NAME, app_settings
from .exceptions import (
    ImageValidationError,
    PayloadValidationError,
    ReceiptValidationError,
    VippsAPIError,
    VippsAuthError,
    VippsConfigurationError,
    VippsConflict,
    VippsError,
    VippsNotFound,
    VippsTransientError,
)
from .images import PreparedImage, make_collage, prepare_image
from .models import OrderLink, OutboxItem, SyncAttempt, SyncKind, UploadedImage, VippsOrder
from .payloads import Category, Difference, OrderView, PaymentType, Receipt

__all__ = [
    "DrainResult",
    "SyncResult",
    "build_receipt",
    "compare_with_vipps",
    "drain",
    "enqueue",
    "forget_images",
    "get_client",
    "mark_receipt_sent",
    "order_image",
    "receipt_for_epayment",
    "sync_now",
]

logger = logging.getLogger(__name__)

ALL_KINDS: tuple[str, ...] = (SyncKind.LINKS.value, SyncKind.RECEIPT.value)
#: Consecutive transient failures after which a drain stops early: Vipps is probably down,
#: and the rows still claimed are handed back rather than all spending an attempt.
CIRCUIT_BREAKER_THRESHOLD = 3


# ---------------------------------------------------------------------- client


_clients: dict[str, OrderManagementClient] = {}


def get_client(merchant_serial_number: str | None = None) -> OrderManagementClient:
    """The configured client (one per merchant serial number), built once per process."""
    msn = str(merchant_serial_number or app_settings.MERCHANT_SERIAL_NUMBER or "")
    client = _clients.get(msn)
    if client is None:
        client = OrderManagementClient(
            base_url=app_settings.BASE_URL,
            client_id=app_settings.CLIENT_ID,
            client_secret=app_settings.CLIENT_SECRET,
            subscription_key=app_settings.SUBSCRIPTION_KEY,
            merchant_serial_number=msn,
            system_name=app_settings.SYSTEM_NAME,
            system_version=app_settings.SYSTEM_VERSION or django.get_version(),
            timeout=app_settings.timeout,
            token_store=CacheTokenStore(caches[app_settings.TOKEN_CACHE]),
            on_call=_record_call,
            http_link_hosts=app_settings.DEVELOPMENT_LINK_HOSTS,
        )
        _clients[msn] = client
    return client


@receiver(setting_changed, dispatch_uid="vipps_order_management.services.reset_clients")
def _reset_clients(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTINGS_NAME, "CACHES"):
        for client in _clients.values():
            client.close()
        _clients.clear()


# ---------------------------------------------------------------------- attempt log


@dataclass
class _AttemptLog:
    """The calls made while one outbox row is processed; written as SyncAttempt rows."""

    content_type: ContentType
    object_id: str
    kind: str
    worker: str
    outbox_item: OutboxItem | None = None
    rows: list[SyncAttempt] = field(default_factory=list)
    calls: int = 0

    def add(
        self,
        *,
        endpoint: str,
        outcome: str,
        method: str = "",
        status_code: int | None = None,
        duration: float = 0.0,
        error: str = "",
    ) -> None:
        self.rows.append(
            SyncAttempt(
                content_type=self.content_type,
                object_id=self.object_id,
                outbox_item=self.outbox_item,
                kind=self.kind,
                method=method,
                endpoint=endpoint[:200],
                status_code=status_code,
                outcome=outcome,
                duration_ms=round(duration * 1000),
                error=error,
                worker=self.worker[:100],
            )
        )

    def save(self) -> None:
        if self.rows:
            SyncAttempt.objects.bulk_create(self.rows)
            self.rows.clear()


_current_log: contextvars.ContextVar[_AttemptLog | None] = contextvars.ContextVar(
    "vipps_order_management_attempt_log", default=None
)


def _outcome_of(status: int | None) -> str:
    if status is not None and status < 400:
        return SyncAttempt.Outcome.SUCCESS
    if status == 409:
        return SyncAttempt.Outcome.ALREADY_THERE
    if status is None or status >= 500 or status in (401, 408, 423, 425, 429):
        return SyncAttempt.Outcome.TRANSIENT
    return SyncAttempt.Outcome.PERMANENT


def _record_call(call: ApiCall) -> None:
    log = _current_log.get()
    if log is None:
        return
    log.calls += 1
    if call.endpoint == "/accesstoken/get" and call.status_code == 200:
        return
    log.add(
        method=call.method,
        endpoint=call.endpoint,
        status_code=call.status_code,
        outcome=_outcome_of(call.status_code),
        duration=call.duration,
        error=call.error or "",
    )


# ---------------------------------------------------------------------- enqueue


def _key(order: models.Model) -> tuple[ContentType, str]:
    if order.pk is None:
        raise ValueError("save the order before syncing it with Vipps")
    return ContentType.objects.get_for_model(order, for_concrete_model=False), str(order.pk)


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
    content_type, object_id = _key(order)
    chosen = _kinds(kinds)
    outbox.record(content_type, object_id, chosen, force=force, priority=priority)
    _schedule_kick((content_type.pk, object_id))


def _kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(ALL_KINDS if kinds is None else (str(kind) for kind in kinds))
    unknown = sorted(set(chosen) - set(ALL_KINDS))
    if unknown:
        raise ValueError(f"unknown sync kinds {unknown}; use {list(ALL_KINDS)}")
    return chosen


_kicks = threading.local()


def _schedule_kick(key: tuple[int, str]) -> None:
    """Kick the runner once per commit, however many orders the transaction enqueued."""
    pending: set[tuple[int, str]] = _kicks.__dict__.setdefault("pending", set())
    pending.add(key)
    # Every enqueue registers the callback; the first to run takes all keys, the rest find
    # none. (A rolled-back transaction leaves its keys for the next kick: only a wake-up.)
    transaction.on_commit(_flush_kicks, robust=True)


def _flush_kicks() -> None:
    pending: set[tuple[int, str]] = _kicks.__dict__.setdefault("pending", set())
    if not pending:
        return
    keys = sorted(pending)
    pending.clear()
    from . import dispatch

    dispatch.kick(keys)


# ---------------------------------------------------------------------- results


@dataclass
class SyncResult:
    """What happened to one outbox row."""

    kind: str
    status: str  # "done", "retry", "dead", "changed" (sent, but changed meanwhile), "released"
    message: str = ""
    calls: int = 0  # HTTP calls made to Vipps

    @property
    def ok(self) -> bool:
        return self.status in ("done", "changed")


@dataclass
class DrainResult:
    """Counts from one :func:`drain` call."""

    processed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    results: list[SyncResult] = field(default_factory=list)

    def add(self, result: SyncResult) -> None:
        self.results.append(result)
        if result.status == "released":
            self.released += 1
            return
        self.processed += 1
        if result.status in ("done", "changed"):
            self.done += 1
        elif result.status == "retry":
            self.retried += 1
        elif result.status == "dead":
            self.dead += 1

    def __str__(self) -> str:
        return (
            f"{self.processed} processed: {self.done} done, {self.retried} to retry, "
            f"{self.dead} failed" + (f", {self.released} handed back" if self.released else "")
        )


# ---------------------------------------------------------------------- drain


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def drain(
    limit: int | None = None,
    worker_id: str | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
    time_budget: float | None = None,
    only: models.Q | None = None,
) -> DrainResult:
    """Send what is due, up to ``limit`` rows, and return what happened.

    Every runner calls this: the ``vipps_om_worker`` loop, the django.tasks task, the Celery
    task and ``sync_now``. It is safe to run in many processes at once.
    """
    worker_id = worker_id or default_worker_id()
    batch_size = max(1, int(app_settings.BATCH_SIZE))
    deadline = time.monotonic() + time_budget if time_budget else None
    result = DrainResult()
    consecutive_transient = 0
    while limit is None or result.processed < limit:
        want = batch_size if limit is None else min(batch_size, limit - result.processed)
        batch = outbox.claim(limit=want, worker_id=worker_id, only=only)
        if not batch:
            break
        # An order's rows (links, receipt) come one after the other: load it once per batch.
        loaded_token, digests_token = _loaded_orders.set({}), _image_digests.set({})
        try:
            stopped = _drain_batch(
                batch, result, worker_id, should_stop, deadline, consecutive_transient
            )
        finally:
            _loaded_orders.reset(loaded_token)
            _image_digests.reset(digests_token)
        if stopped is None:
            return result
        consecutive_transient = stopped
    return result


def _drain_batch(
    batch: Sequence[outbox.Claimed],
    result: DrainResult,
    worker_id: str,
    should_stop: Callable[[], bool] | None,
    deadline: float | None,
    consecutive_transient: int,
) -> int | None:
    """Process one claimed batch; the count of transient failures in a row, or None to stop."""
    for position, claimed in enumerate(batch):
        stop = (
            (should_stop is not None and should_stop())
            or (deadline is not None and time.monotonic() > deadline)
            or consecutive_transient >= CIRCUIT_BREAKER_THRESHOLD
        )
        if stop:
            _hand_back(batch[position:], result)
            return None
        try:
            outcome = process(claimed, worker_id=worker_id)
        except BaseException:
            # Configuration errors, database errors, KeyboardInterrupt: the rows not
            # processed go back at once, without an attempt counted.
            _hand_back(batch[position + 1 :], result)
            raise
        result.add(outcome)
        if outcome.status == "retry":
            consecutive_transient += 1
        elif outcome.calls:  # only an answer from Vipps says Vipps is back
            consecutive_transient = 0
    return consecutive_transient


def _hand_back(rows: Sequence[outbox.Claimed], result: DrainResult) -> None:
    for rest in rows:
        outbox.release(rest)
        result.add(SyncResult(rest.item.kind, "released"))


def sync_now(
    order: models.Model, force: bool = False, *, kinds: Iterable[str] | None = None
) -> list[SyncResult]:
    """Send ``order`` now, in this process, and return a result per kind.

    Used by the admin's "Send to Vipps now" and by ``DISPATCH="immediate"``. A row another
    worker holds at this moment is left to that worker.
    """
    get_adapter(order)
    content_type, object_id = _key(order)
    chosen = _kinds(kinds)
    with transaction.atomic():
        outbox.record(content_type, object_id, chosen, force=force, due_now=True)
    only = models.Q(content_type=content_type, object_id=object_id, kind__in=chosen)
    return drain(only=only, worker_id=f"sync_now:{default_worker_id()}").results


# ---------------------------------------------------------------------- one row


class _Done(Exception):
    """Internal: the row is finished with this message (nothing more to send)."""


class _Unsendable(VippsError):
    """Internal: this row can never be sent as things are configured (its model lost its adapter)."""


@dataclass
class _Loaded:
    """An order loaded for the rows of one batch, with its state row once it is needed."""

    adapter: OrderAdapter
    order: models.Model | None
    state: VippsOrder | None = None


_loaded_orders: contextvars.ContextVar[dict[tuple[int, str], _Loaded] | None] = (
    contextvars.ContextVar("vipps_order_management_loaded_orders", default=None)
)


#: SHA-256 digests of image files by name, for one batch (files of a name do not change within it).
_image_digests: contextvars.ContextVar[dict[str, bytes] | None] = contextvars.ContextVar(
    "vipps_order_management_image_digests", default=None
)


def _load(content_type: ContentType, object_id: str) -> _Loaded:
    cache = _loaded_orders.get()
    key = (content_type.pk, object_id)
    if cache is not None and key in cache:
        return cache[key]
    try:
        adapter = adapter_for(content_type)
    except VippsConfigurationError as exc:
        raise _Unsendable(str(exc)) from exc
    loaded = _Loaded(adapter, adapter.get_queryset().filter(pk=object_id).first())
    if cache is not None:
        cache[key] = loaded
    return loaded


def process(claimed: outbox.Claimed, *, worker_id: str = "") -> SyncResult:
    """Process one claimed outbox row: send, then acknowledge, retry later or dead-letter."""
    item = claimed.item
    log = _AttemptLog(item.content_type, item.object_id, item.kind, worker_id, outbox_item=item)
    token = _current_log.set(log)
    order: models.Model | None = None
    try:
        loaded = _load(item.content_type, item.object_id)
        adapter, order = loaded.adapter, loaded.order
        if order is None:
            message = "The order no longer exists; nothing to send."
        elif item.kind == SyncKind.LINKS:
            message = _sync_links(order, adapter, force=item.force)
        else:
            message = _sync_receipt(order, adapter, force=item.force)
    except Exception as exc:
        _current_log.reset(token)
        log.save()
        return _handle_failure(claimed, order, exc, log)
    _current_log.reset(token)
    with transaction.atomic():  # one commit for the log and the acknowledgement
        log.save()
        acked = outbox.ack(claimed, message)
    if order is not None:
        signals.order_synced.send(type(order), order=order, kind=item.kind, result=message)
    return SyncResult(item.kind, "done" if acked else "changed", message, calls=log.calls)


def _is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PayloadValidationError | ImageValidationError | VippsConflict | _Unsendable):
        return True
    if isinstance(exc, VippsAuthError):
        return exc.status_code == 403
    if isinstance(exc, VippsTransientError):
        return False
    return isinstance(exc, VippsAPIError) and exc.status_code is not None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VippsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _handle_failure(
    claimed: outbox.Claimed, order: models.Model | None, exc: Exception, log: _AttemptLog
) -> SyncResult:
    item = claimed.item
    message = _describe(exc)
    status_code = getattr(exc, "status_code", None)
    if isinstance(exc, PayloadValidationError | ImageValidationError):
        log.add(endpoint="local validation", outcome=SyncAttempt.Outcome.PERMANENT, error=message)
        log.save()
    if isinstance(exc, VippsConfigurationError):
        # Nothing row-specific is wrong: leave it pending and let the caller see the problem.
        outbox.release(claimed)
        raise exc
    if _is_permanent(exc):
        logger.warning("Vipps sync of %s failed for good: %s", item, message)
        dead = outbox.fail(claimed, message, status_code=status_code)
        if not dead:
            return SyncResult(item.kind, "retry", f"changed meanwhile; retrying: {message}")
        return _dead_lettered(item, order, message)
    if not isinstance(exc, VippsError):
        logger.exception("Unexpected error while syncing %s with Vipps; will retry", item)
    else:
        logger.info("Vipps sync of %s will be retried: %s", item, message)
    due = outbox.retry_later(
        claimed, message, status_code=status_code, retry_after=getattr(exc, "retry_after", None)
    )
    if due is None:
        return _dead_lettered(item, order, message)
    if order is not None:
        signals.sync_failed.send(
            type(order), order=order, kind=item.kind, error=exc, next_attempt_at=due
        )
    return SyncResult(item.kind, "retry", message)


def _dead_lettered(item: OutboxItem, order: models.Model | None, message: str) -> SyncResult:
    """Record a row that failed for good on the order's state, and tell whoever listens."""
    _note_state_failure(item, message)
    signals.dead_lettered.send(
        type(order) if order is not None else OutboxItem,
        order=order,
        kind=item.kind,
        error=message,
        outbox_item=item,
    )
    return SyncResult(item.kind, "dead", message)


def _note_state_failure(item: OutboxItem, message: str) -> None:
    rows = VippsOrder.objects.filter(content_type=item.content_type, object_id=item.object_id)
    if item.kind == SyncKind.RECEIPT:
        rows.update(receipt_error=message, updated_at=timezone.now())
        rows.exclude(
            receipt_state__in=[VippsOrder.ReceiptState.SENT, VippsOrder.ReceiptState.DRIFT]
        ).update(receipt_state=VippsOrder.ReceiptState.DEAD)
    else:
        rows.update(
            links_error=message, links_state=VippsOrder.LinkState.DEAD, updated_at=timezone.now()
        )


# ---------------------------------------------------------------------- per-order state


@dataclass
class _Target:
    """Where an order's data goes at Vipps."""

    reference: str
    payment_type: PaymentType
    merchant_serial_number: str
    state: VippsOrder

    @property
    def client(self) -> OrderManagementClient:
        return get_client(self.merchant_serial_number)


def _target(order: models.Model, adapter: OrderAdapter) -> _Target:
    reference = adapter.get_reference(order)
    payment_type = adapter.get_payment_type(order)
    if not reference or not payment_type:
        raise _Done("Waiting for the order to get a Vipps payment.")
    msn = str(
        adapter.get_merchant_serial_number(order) or app_settings.MERCHANT_SERIAL_NUMBER or ""
    )
    content_type, object_id = _key(order)
    cache = _loaded_orders.get()
    loaded = cache.get((content_type.pk, object_id)) if cache is not None else None
    if loaded is not None and loaded.state is not None:
        state = loaded.state
    else:
        state, _ = VippsOrder.objects.get_or_create(content_type=content_type, object_id=object_id)
        if loaded is not None:
            loaded.state = state
    payment_type = PaymentType.parse(payment_type)
    if (state.reference, state.payment_type, state.merchant_serial_number) != (
        reference,
        payment_type.value,
        msn,
    ):
        state.reference = str(reference)
        state.payment_type = payment_type.value
        state.merchant_serial_number = msn
        state.save(
            update_fields=["reference", "payment_type", "merchant_serial_number", "updated_at"]
        )
    return _Target(str(reference), payment_type, msn, state)


def _save_state(state: VippsOrder, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(state, name, value)
    state.last_synced_at = timezone.now()
    state.save(update_fields=[*changes, "last_synced_at", "updated_at"])


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------- images


def _ensure_image(
    sources: Sequence[ImageSource], target: _Target, order: models.Model
) -> str | None:
    """The Vipps imageId for these images (a collage when several), uploading it at most once."""
    if not sources:
        return None
    source_hash = _digest_hash([_digest(source) for source in sources])
    msn = target.merchant_serial_number
    known = UploadedImage.objects.filter(
        merchant_serial_number=msn, source_hash=source_hash
    ).first()
    if known is not None:
        return known.image_id
    prepared = _prepare(sources, [source.read() for source in sources])
    try:
        target.client.upload_image(prepared.image_id, prepared.data)
    except VippsConflict:
        pass  # images can never be overwritten: Vipps has these very bytes already
    else:
        signals.image_uploaded.send(
            type(order), order=order, image_id=prepared.image_id, merchant_serial_number=msn
        )
    # Another worker may have recorded it first.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        UploadedImage.objects.create(
            merchant_serial_number=msn,
            source_hash=source_hash,
            image_id=prepared.image_id,
            width=prepared.width,
            height=prepared.height,
            size=len(prepared.data),
        )
    return prepared.image_id


def _prepare(sources: Sequence[ImageSource], blobs: Sequence[bytes]) -> PreparedImage:
    """One image as Vipps takes it: the image itself, or a collage of several."""
    if len(blobs) == 1:
        return prepare_image(blobs[0], source=sources[0].name)
    return make_collage(blobs, source=", ".join(source.name for source in sources))


def order_image(order: models.Model) -> PreparedImage | None:
    """The image the order's primary link carries, prepared as it is (or would be) uploaded.

    For previews; ``None`` when the order has no image or it cannot be made valid.
    """
    adapter = get_adapter(order)
    primary = adapter.get_primary_link(order, adapter.get_links(order))
    sources = (
        [primary.image] if primary is not None and primary.image else adapter.get_images(order)
    )
    if not sources:
        return None
    try:
        return _prepare(sources, [source.read() for source in sources])
    except ImageValidationError:
        return None


def _digest(source: ImageSource) -> bytes:
    """SHA-256 of the source's bytes; a product image on many orders of a batch is read once."""
    cache = _image_digests.get()
    if cache is not None and source.name in cache:
        return cache[source.name]
    digest = hashlib.sha256(source.read()).digest()
    if cache is not None and source.name:
        cache[source.name] = digest
    return digest


def _digest_hash(digests: Sequence[bytes]) -> str:
    """What identifies a set of source images (one, or a collage) before any preparing."""
    return hashlib.sha256(b"".join(digests)).hexdigest()


def forget_images(order: models.Model) -> int:
    """Forget that the order's images are at Vipps, so its next send uploads them again.

    Returns how many remembered uploads were dropped. Images with the same content keep their
    id, so Vipps answers a re-upload of an image it still has with a harmless conflict.
    """
    adapter = get_adapter(order)
    msn = str(adapter.get_merchant_serial_number(order) or app_settings.MERCHANT_SERIAL_NUMBER)
    source_sets = [[link.image] for link in adapter.get_links(order) if link.image is not None]
    source_sets.append(adapter.get_images(order))
    hashes = set()
    for sources in source_sets:
        with contextlib.suppress(ImageValidationError):
            if sources:
                hashes.add(_digest_hash([_digest(source) for source in sources]))
    deleted, _ = UploadedImage.objects.filter(
        merchant_serial_number=msn, source_hash__in=hashes
    ).delete()
    return deleted


def _image_for_link(
    link: Link, order: models.Model, adapter: OrderAdapter, target: _Target, problems: list[str]
) -> str | None:
    """The link's own image, else the order's image(s); a bad image drops only the image."""
    sources = [link.image] if link.image is not None else adapter.get_images(order)
    try:
        return _ensure_image(sources, target, order)
    except ImageValidationError as exc:
        log = _current_log.get()
        if log is not None:
            log.add(
                endpoint="image preparation", outcome=SyncAttempt.Outcome.PERMANENT, error=str(exc)
            )
        problems.append(f"Image left out: {exc}")
        return None


# ---------------------------------------------------------------------- links


def _sync_links(order: models.Model, adapter: OrderAdapter, *, force: bool) -> str:
    try:
        target = _target(order, adapter)
    except _Done as done:
        return str(done)
    api = "v3" if app_settings.CATEGORY_API == "v3" else "v2"
    links = adapter.get_links(order)
    if api == "v2":  # one link per order: the adapter picks the most useful
        primary = adapter.get_primary_link(order, links)
        links = [primary] if primary is not None else []
    if not links:
        return "No links to send."
    problems: list[str] = []
    categories = [
        Category(link.category, link.url, _image_for_link(link, order, adapter, target, problems))
        for link in links
    ]
    for category in categories:
        category.validate(v3=api == "v3", http_hosts=app_settings.DEVELOPMENT_LINK_HOSTS)
    fingerprint = _fingerprint(
        [api, target.payment_type.value, target.reference, [c.to_api() for c in categories]]
    )
    state = target.state
    if (
        not force
        and state.links_state == VippsOrder.LinkState.SENT
        and state.links_hash == fingerprint
    ):
        return "Links unchanged."
    if api == "v3":
        message = _send_categories_v3(order, target, categories)
    else:
        target.client.put_category(target.payment_type, target.reference, categories[0])
        message = f"Sent the {categories[0].category} link."
    _save_state(
        state,
        links_state=VippsOrder.LinkState.SENT,
        links_hash=fingerprint,
        links_sent_at=timezone.now(),
        links_error="\n".join(dict.fromkeys(problems)),
    )
    signals.category_sent.send(type(order), order=order, categories=categories, api=api)
    return message


def _send_categories_v3(order: models.Model, target: _Target, desired: Sequence[Category]) -> str:
    """Make Vipps's v3 categories for the order exactly ``desired``: create, delete, keep."""
    client = target.client
    # What Vipps holds is the truth: a create whose answer was lost is found here, not repeated.
    remote = [
        category
        for category in client.list_categories(target.reference)
        if category.payment_type is None
        or PaymentType.parse(category.payment_type) == target.payment_type
    ]
    created = deleted = 0
    for category in desired:
        match = next((r for r in remote if r.same_link(category)), None)
        if match is not None:
            remote.remove(match)
            category.category_id = match.category_id
    for stale in remote:
        if stale.category_id:
            with contextlib.suppress(VippsNotFound):  # already gone is what we wanted
                client.delete_category(stale.category_id)
            deleted += 1
    for category in desired:
        if category.category_id is None:
            category.category_id = client.create_category(
                target.payment_type, target.reference, category
            )
            created += 1
    rows = OrderLink.objects.for_order(order)
    for row in rows:
        match = next(
            (c for c in desired if str(c.category) == row.category and c.url == row.url), None
        )
        if match is not None and row.category_id != match.category_id:
            OrderLink.objects.filter(pk=row.pk).update(category_id=match.category_id or "")
    return f"Links in sync: {created} created, {deleted} removed, {len(desired)} in all."


# ---------------------------------------------------------------------- receipt


def _sync_receipt(order: models.Model, adapter: OrderAdapter, *, force: bool) -> str:
    try:
        target = _target(order, adapter)
    except _Done as done:
        return str(done)
    state = target.state
    States = VippsOrder.ReceiptState
    already = state.receipt_state in (States.SENT, States.DRIFT) and state.receipt_hash
    if not adapter.is_final(order):
        if not already:
            _save_state(state, receipt_state=States.WAITING)
        return "Waiting for the order to be final before sending the receipt."
    try:
        receipt = build_receipt(order, adapter)
    except PayloadValidationError as exc:
        if not already:
            _save_state(state, receipt_state=States.DEAD, receipt_error=str(exc))
        raise
    digest = receipt.content_hash()
    if already and digest == state.receipt_hash and not force:
        # receipt_hash is the hash of Vipps's copy: equal means the order matches it (again).
        if state.receipt_state == States.DRIFT:
            _save_state(state, receipt_state=States.SENT, drift=[], drift_detected_at=None)
            return "The receipt matches Vipps's copy again."
        return "Receipt unchanged."
    if already:
        # Vipps keeps the first receipt for ever; see whether ours still matches it.
        return _compare_and_record(order, receipt, target, reason="changed after it was sent")
    try:
        target.client.post_receipt(target.payment_type, target.reference, receipt)
    except VippsConflict:
        return _compare_and_record(order, receipt, target, reason="already at Vipps")
    _save_state(
        state,
        receipt_state=States.SENT,
        receipt_hash=digest,
        receipt_sent_at=timezone.now(),
        receipt_sent_via="api",
        drift=[],
        drift_detected_at=None,
        receipt_error="",
    )
    signals.receipt_sent.send(type(order), order=order, receipt=receipt, via="api")
    return "Sent the receipt."


def _compare_and_record(
    order: models.Model, receipt: Receipt, target: _Target, *, reason: str
) -> str:
    States = VippsOrder.ReceiptState
    state = target.state
    view = target.client.get_order(target.payment_type, target.reference)
    remote = view.receipt if view is not None else None
    if remote is None:
        if reason == "already at Vipps":
            raise VippsTransientError(
                "Vipps says a receipt exists but returned none; trying again later"
            )
        # We believed it was sent, but Vipps has none: send it now.
        target.client.post_receipt(target.payment_type, target.reference, receipt)
        _save_state(
            state,
            receipt_state=States.SENT,
            receipt_hash=receipt.content_hash(),
            receipt_sent_at=timezone.now(),
            receipt_sent_via="api",
            drift=[],
            drift_detected_at=None,
        )
        signals.receipt_sent.send(type(order), order=order, receipt=receipt, via="api")
        return "Vipps had no receipt; sent it."
    differences = receipt.diff(remote)
    drift = [{"path": d.path, "local": d.local, "remote": d.remote} for d in differences]
    first_time = state.receipt_state not in (States.SENT, States.DRIFT)
    new_drift = bool(drift) and (state.receipt_state != States.DRIFT or state.drift != drift)
    _save_state(
        state,
        receipt_state=States.DRIFT if drift else States.SENT,
        # The hash of Vipps's copy: an order that comes to match it again is "sent" again.
        receipt_hash=remote.content_hash(),
        receipt_sent_at=state.receipt_sent_at or timezone.now(),
        receipt_sent_via=state.receipt_sent_via or "remote",
        drift=drift,
        drift_detected_at=(timezone.now() if new_drift else state.drift_detected_at)
        if drift
        else None,
    )
    if first_time:
        signals.receipt_sent.send(type(order), order=order, receipt=remote, via="remote")
    if not drift:
        return f"Receipt {reason}; it matches what Vipps holds."
    if new_drift:
        logger.warning(
            "The receipt of %s differs from the one Vipps holds: %s",
            target.reference,
            "; ".join(str(d) for d in differences[:5]),
        )
        signals.receipt_drift.send(type(order), order=order, differences=differences)
    return f"Receipt {reason} and differs from Vipps's copy in {len(differences)} field(s)."


# ---------------------------------------------------------------------- ePayment, compare


def build_receipt(order: models.Model, adapter: OrderAdapter | None = None) -> Receipt:
    """The order's receipt from its adapter, validated.

    A shop's numbers that cannot become a receipt (``from_gross`` refusing a discount larger
    than the line, say) raise :class:`ReceiptValidationError` like any other invalid receipt.
    """
    adapter = adapter or get_adapter(order)
    try:
        receipt = adapter.get_receipt(order)
    except PayloadValidationError:
        raise
    except (ValueError, TypeError) as exc:
        raise ReceiptValidationError([("orderLines", str(exc))]) from exc
    return receipt.validate(http_hosts=app_settings.DEVELOPMENT_LINK_HOSTS)


def receipt_for_epayment(order: models.Model) -> dict[str, Any]:
    """The ``receipt`` object to embed in an ePayment create-payment request (validated).

    Call :func:`mark_receipt_sent` once the payment is created, so it is never posted again.
    """
    return build_receipt(order).to_api()


def mark_receipt_sent(order: models.Model, via: str = "epayment") -> VippsOrder:
    """Remember that the order's receipt reached Vipps another way (ePayment, Checkout)."""
    adapter = get_adapter(order)
    receipt = build_receipt(order, adapter)
    content_type, object_id = _key(order)
    state, _ = VippsOrder.objects.get_or_create(content_type=content_type, object_id=object_id)
    reference = adapter.get_reference(order)
    payment_type = adapter.get_payment_type(order)
    _save_state(
        state,
        reference=str(reference or state.reference),
        payment_type=PaymentType.parse(payment_type).value if payment_type else state.payment_type,
        receipt_state=VippsOrder.ReceiptState.SENT,
        receipt_hash=receipt.content_hash(),
        receipt_sent_at=timezone.now(),
        receipt_sent_via=via,
        drift=[],
        drift_detected_at=None,
    )
    signals.receipt_sent.send(type(order), order=order, receipt=receipt, via=via)
    return state


@dataclass
class Comparison:
    """The order as this shop would send it now, beside what Vipps holds."""

    local_receipt: Receipt | None
    local_category: Category | None
    remote: OrderView | None
    differences: list[Difference]
    local_error: str = ""


def compare_with_vipps(order: models.Model) -> Comparison:
    """Fetch the order from Vipps and compare it with what the shop would send now."""
    adapter = get_adapter(order)
    reference = adapter.get_reference(order)
    payment_type = adapter.get_payment_type(order)
    if not reference or not payment_type:
        return Comparison(None, None, None, [], "The order has no Vipps payment yet.")
    local_receipt = local_category = None
    local_error = ""
    try:
        local_receipt = build_receipt(order, adapter)
    except (PayloadValidationError, NotImplementedError) as exc:
        local_error = str(exc)
    links = adapter.get_links(order)
    primary = adapter.get_primary_link(order, links)
    if primary is not None:
        local_category = Category(primary.category, primary.url)
    msn = str(adapter.get_merchant_serial_number(order) or app_settings.MERCHANT_SERIAL_NUMBER)
    remote = get_client(msn).get_order(payment_type, reference)
    differences: list[Difference] = []
    if local_receipt is not None and remote is not None and remote.receipt is not None:
        differences = local_receipt.diff(remote.receipt)
    return Comparison(local_receipt, local_category, remote, differences, local_error)
