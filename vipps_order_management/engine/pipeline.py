"""The drain: what is due goes to Vipps in batches, a constant number of queries per batch.

One batch, whatever its size::

    claim (lease)  ->  load the orders with the adapter's select/prefetch  ->  our rows
      ->  plan every order  ->  [threads] digests of images  ->  claim the images to upload
      ->  [threads] prepare and upload them  ->  [threads] each order's calls
      ->  one transaction: state, uploaded images, link ids, call log, outcomes  ->  signals

Database work happens in the calling thread; threads do HTTP and image work only, sharing one
pooled session and one token per sales unit (``concurrency`` of them, for shops where Vipps's
latency rather than the CPU is the limit). While they work, the calling thread renews the
lease, and each order's calls start only while the lease still holds, so a worker that stalls
leaves its orders to whoever takes them over.

Every call to Vipps is idempotent (a receipt answered 409 is compared, a v2 category PUT
replaces, v3 categories are reconciled, images are content-addressed), so a crash between the
calls and the write resends and never duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from .. import signals
from ..adapters import ImageSource, OrderAdapter, adapter_for
from ..client import OrderManagementClient
from ..conf import app_settings
from ..exceptions import (
    ImageValidationError,
    VippsAuthError,
    VippsConfigurationError,
    VippsError,
    VippsTransientError,
)
from ..images import PreparedImage
from ..models import (
    OrderKey,
    OrderLink,
    OutboxItem,
    SyncKind,
    VippsOrder,
    attach_rows,
    attached_rows,
)
from ..payloads import Category
from . import calllog, outbox, rows, uploads
from .calllog import CallLog, collecting
from .clients import get_client
from .links import sync_links
from .plan import Problem, Refused, SyncPlan, Target
from .receipts import Events, sync_receipt

__all__ = ["DrainResult", "Pipeline", "SyncResult", "default_worker_id", "drain"]

logger = logging.getLogger(__name__)

LINKS = SyncKind.LINKS.value
RECEIPT = SyncKind.RECEIPT.value
#: Order in which one order's kinds are sent: links (with images) before the receipt.
KINDS = (LINKS, RECEIPT)
#: Consecutive transient failures after which a drain stops early: Vipps is probably down,
#: and the rows still claimed are handed back rather than all spending an attempt.
CIRCUIT_BREAKER_THRESHOLD = 3
#: How long a batch waits for an image another worker is uploading, checking every so often;
#: its orders are handed back if the upload takes longer (a worker that died with the claim).
IMAGE_WAIT_SECONDS = 15.0
IMAGE_POLL_SECONDS = 0.1


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------- results


@dataclass
class SyncResult:
    """What happened to one outbox row."""

    kind: str
    #: "done", "retry", "dead", "changed" (sent, but changed meanwhile: sent again),
    #: "released" (handed back unprocessed), "deferred" (waits for another worker's upload)
    #: or "waiting" (the order has no Vipps payment yet; looked at again later).
    status: str
    message: str = ""
    calls: int = 0  # HTTP calls made to Vipps for the order

    @property
    def ok(self) -> bool:
        return self.status in ("done", "changed", "waiting")


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
        if result.status in ("released", "deferred"):
            self.released += 1
            return
        self.processed += 1
        if result.ok:
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


# ---------------------------------------------------------------------- one order of a batch


@dataclass
class _Outcome:
    status: str  # done | retry | dead | release | defer | lost
    message: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    error: BaseException | None = None
    due: Any = None  # when a retry is due, once decided


@dataclass
class _Work:
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
    outcomes: dict[str, _Outcome] = field(default_factory=dict)
    events: Events = field(default_factory=list)
    #: Image sets each planned link needs, by position: ``(msn, source hash)`` or None.
    image_keys: list[tuple[str, str] | None] = field(default_factory=list)

    def settle(self, kind: str, outcome: _Outcome) -> None:
        """Decide a kind before any call (nothing to send, a problem, waiting)."""
        if kind in self.rows:
            self.outcomes.setdefault(kind, outcome)

    def open_kinds(self) -> list[str]:
        return [kind for kind in KINDS if kind in self.rows and kind not in self.outcomes]


_STATE_FIELDS = [
    f.name
    for f in VippsOrder._meta.concrete_fields
    if f.name not in ("id", "content_type", "object_id", "created_at", "updated_at")
]


def _snapshot(state: VippsOrder) -> tuple[Any, ...]:
    return tuple(getattr(state, name) for name in _STATE_FIELDS)


@dataclass
class _Batch:
    """A claimed batch whose calls are in the threads' hands."""

    lease: outbox.Lease
    works: list[_Work]
    jobs: list[Future]


class _Breaker:
    """Counts transient failures in a row across threads; opens when Vipps seems down."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def record(self, outcome: _Outcome, *, answered: bool) -> None:
        with self._lock:
            if outcome.status == "retry":
                self.failures += 1
            elif answered:  # only an answer from Vipps says Vipps is back
                self.failures = 0


# ---------------------------------------------------------------------- the pipeline


class Pipeline:
    """Drains the outbox in batches with ``concurrency`` threads for the calls to Vipps.

    Reuse one for the life of a worker process (its threads are kept); :func:`drain` makes a
    short-lived one.
    """

    def __init__(
        self,
        *,
        worker_id: str | None = None,
        concurrency: int = 1,
        batch_size: int | None = None,
    ) -> None:
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = max(1, int(concurrency))
        self._batch_size = batch_size
        self._executor: ThreadPoolExecutor | None = None
        self._image_executor: ThreadPoolExecutor | None = None
        #: Leases of the batches being worked on (two at most), renewed while waiting.
        self._leases: list[outbox.Lease] = []

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for executor in (self._executor, self._image_executor):
            if executor is not None:
                executor.shutdown(wait=True)
        self._executor = self._image_executor = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The threads that send each order's calls."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="vipps-om"
            )
        return self._executor

    @property
    def image_executor(self) -> ThreadPoolExecutor:
        """Threads of their own for reading and uploading images, so that the next batch's
        images never queue behind the previous batch's calls."""
        if self._image_executor is None:
            self._image_executor = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="vipps-om-images"
            )
        return self._image_executor

    @property
    def batch_size(self) -> int:
        """Orders per claim: the setting (or the worker's own), and at least four per thread."""
        return max(1, int(self._batch_size or app_settings.BATCH_SIZE), 4 * self.concurrency)

    @property
    def first_batch_size(self) -> int:
        """The first claim of a drain: enough to occupy every thread twice, no more."""
        return min(self.batch_size, max(2, 2 * self.concurrency))

    def drain(
        self,
        limit: int | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
        time_budget: float | None = None,
        only: models.Q | None = None,
    ) -> DrainResult:
        """Send what is due, for up to ``limit`` orders, and return what happened."""
        deadline = time.monotonic() + time_budget if time_budget else None

        def stopping() -> bool:
            return (should_stop is not None and should_stop()) or (
                deadline is not None and time.monotonic() > deadline
            )

        result = DrainResult()
        breaker = _Breaker(CIRCUIT_BREAKER_THRESHOLD)  # counts across the batches of a drain
        claimed = 0
        in_flight: _Batch | None = None
        try:
            while True:
                # The next batch is claimed, loaded and planned while the threads send the
                # previous one: the database work hides behind the waits for Vipps.
                started = None
                if not (stopping() or breaker.open) and (limit is None or claimed < limit):
                    # A small first batch gets the threads sending at once; the full batches
                    # after it are loaded while they do.
                    size = self.batch_size if claimed else self.first_batch_size
                    want = size if limit is None else min(size, limit - claimed)
                    lease = outbox.claim(limit=want, worker_id=self.worker_id, only=only)
                    if lease is not None:
                        claimed += len({(r.content_type_id, r.object_id) for r in lease.rows})
                        started = self._start(lease, breaker, stopping)
                finished = in_flight is not None
                if in_flight is not None:
                    batch, in_flight = in_flight, None
                    self._finish(batch, result)
                in_flight = started
                if in_flight is None and not finished:
                    break  # claimed after the last write and found nothing: all is sent
        except BaseException:
            # Configuration or database errors, KeyboardInterrupt: nothing is lost, the rows
            # not yet written go back at once without an attempt counted.
            if in_flight is not None:
                wait(in_flight.jobs)
                outbox.release_all(in_flight.lease)
            raise
        return result

    # -- one batch ------------------------------------------------------------------------------

    def _start(
        self, lease: outbox.Lease, breaker: _Breaker, stopping: Callable[[], bool]
    ) -> _Batch:
        """Load and plan a claimed batch, settle its images, and hand its calls to the threads."""
        self._leases.append(lease)
        try:
            works = self._load(lease)
            clients = self._clients(works)
            self._images(works, clients, lease, breaker)
        except BaseException:
            self._leases.remove(lease)
            outbox.release_all(lease)
            raise
        jobs = [
            self.executor.submit(self._run, work, clients, lease, breaker, stopping)
            for work in works
            if work.open_kinds()
        ]
        return _Batch(lease, works, jobs)

    def _finish(self, batch: _Batch, result: DrainResult) -> None:
        """Wait for a batch's calls, write what they learnt, then tell the shop."""
        try:
            self._wait(batch.jobs)
            for job in batch.jobs:
                job.result()  # a bug in our own code must not pass silently
            changed = self._write(batch.works, batch.lease)
        except BaseException:
            outbox.release_all(batch.lease)
            raise
        finally:
            self._leases.remove(batch.lease)
        self._announce(batch.works, changed, result)

    def _load(self, lease: outbox.Lease) -> list[_Work]:
        """The batch's orders, our rows and their plans, in a constant number of queries."""
        by_key: dict[OrderKey, dict[str, OutboxItem]] = {}
        for row in lease.rows:
            by_key.setdefault((row.content_type_id, row.object_id), {})[row.kind] = row
        works = {
            key: _Work(key, rows, CallLog(key, self.worker_id)) for key, rows in by_key.items()
        }
        by_type: dict[int, list[_Work]] = {}
        for work in works.values():
            by_type.setdefault(work.key[0], []).append(work)
        loaded: list[models.Model] = []
        for content_type_id, group in by_type.items():
            try:
                adapter = adapter_for(ContentType.objects.get_for_id(content_type_id))
            except VippsConfigurationError as exc:
                for work in group:  # a model no longer configured: these rows can never go
                    for kind in work.rows:
                        work.settle(kind, _Outcome("dead", str(exc)))
                continue
            orders = _orders(adapter, [work.key[1] for work in group])
            for work in group:
                work.order = orders.get(work.key[1])
                if work.order is None:
                    for kind in work.rows:
                        work.settle(
                            kind, _Outcome("done", "The order no longer exists; nothing to send.")
                        )
                else:
                    work.plan = SyncPlan(work.order, adapter)
                    loaded.append(work.order)
        attach_rows(loaded, outbox=False)
        for work in works.values():
            if work.plan is not None:
                self._plan(work)
        return list(works.values())

    def _plan(self, work: _Work) -> None:
        """Ask the plan what to send; settle what needs no call (problems, waiting)."""
        plan = work.plan
        assert plan is not None
        assert work.order is not None
        work.target = plan.target
        if plan.target_problem is not None:
            for kind in work.rows:
                work.settle(kind, _refused(plan.target_problem))
        elif work.target is None:
            for kind, row in work.rows.items():
                work.settle(kind, _awaiting_payment(row))
            return
        state = attached_rows(plan.order).state  # loaded for the whole batch by attach_rows
        if state is None:
            state = VippsOrder(content_type_id=work.key[0], object_id=work.key[1])
        work.before = _snapshot(state)  # a new state's is its defaults
        work.state = state
        if work.target is not None:
            state.reference = work.target.reference
            state.payment_type = work.target.payment_type.value
            state.merchant_serial_number = work.target.merchant_serial_number
        if LINKS in work.rows and LINKS not in work.outcomes:
            if plan.links_problem is not None:
                work.settle(LINKS, _refused(plan.links_problem))
            elif not plan.links:
                work.settle(LINKS, _Outcome("done", "No links to send."))
        if RECEIPT in work.rows and RECEIPT not in work.outcomes:
            final = plan.is_final  # asked here: adapters may query, threads must not
            if plan.final_problem is not None:
                work.settle(RECEIPT, _refused(plan.final_problem))
            elif final and plan.receipt_problem is not None:
                # sync_receipt records it on the state (unless a receipt was already sent).
                work.log.refused("local validation", str(plan.receipt_problem), kind=RECEIPT)
        if LINKS in work.rows and plan.links_problem is not None:
            work.log.refused("local validation", str(plan.links_problem), kind=LINKS)

    def _clients(self, works: Sequence[_Work]) -> dict[str, OrderManagementClient]:
        """One client per sales unit of the batch; missing credentials stop the batch here."""
        units = {
            work.target.merchant_serial_number
            for work in works
            if work.target and work.open_kinds()
        }
        return {msn: get_client(msn) for msn in sorted(units)}

    # -- images ---------------------------------------------------------------------------------

    def _images(
        self,
        works: Sequence[_Work],
        clients: dict[str, OrderManagementClient],
        lease: outbox.Lease,
        breaker: _Breaker,
    ) -> None:
        """Find, claim, prepare and upload the batch's images; give each link its image id.

        Uploads are recorded at once, in a transaction of their own, so the next batch (or
        another worker) that needs the same picture finds it without waiting for this one.
        """
        needing = [w for w in works if LINKS in w.open_kinds() and w.plan is not None]
        sources: dict[object, ImageSource] = {}
        for work in needing:
            for link in work.plan.links:
                for source in link.sources:
                    sources.setdefault(uploads.source_identity(source), source)
        digests = self._digests(sources, lease)
        wanted: dict[tuple[str, str], tuple[_Work, tuple[ImageSource, ...]]] = {}
        for work in needing:
            assert work.target is not None
            assert work.plan is not None
            for link in work.plan.links:
                key = None
                if link.sources:
                    found = [digests[uploads.source_identity(s)] for s in link.sources]
                    failure = next((f for f in found if isinstance(f, BaseException)), None)
                    if isinstance(failure, ImageValidationError):
                        work.notes.append(f"Image left out: {failure}")
                        work.log.refused("image preparation", str(failure), kind=LINKS)
                    elif failure is not None:
                        work.settle(LINKS, _classify(_StorageTrouble(failure)))
                    else:
                        key = (work.target.merchant_serial_number, uploads.set_hash(found))
                        wanted.setdefault(key, (work, link.sources))
                work.image_keys.append(key)
        claims = uploads.claim(wanted, token=lease.token, seconds=lease.seconds)
        lease.images_claimed = bool(claims.mine)
        uploaded: dict[tuple[str, str], PreparedImage] = {}
        refused: dict[tuple[str, str], str] = dict(claims.refused)
        failed: dict[tuple[str, str], BaseException] = {}

        def prepare_and_upload(key: tuple[str, str]) -> None:
            work, image_sources = wanted[key]
            if breaker.open:
                failed[key] = _NotTried()
                return
            try:
                prepared = uploads.prepare(image_sources)
            except ImageValidationError as exc:
                refused[key] = str(exc)
                return
            except Exception as exc:  # storage trouble: maybe transient
                failed[key] = _StorageTrouble(exc)
                return
            with collecting(work.log, LINKS):
                answers = work.log.answers
                try:
                    fresh = uploads.upload(clients[key[0]], prepared)
                except Exception as exc:
                    failed[key] = exc
                    breaker.record(_classify(exc), answered=work.log.answers > answers)
                    return
            breaker.record(_Outcome("done"), answered=True)
            uploaded[key] = prepared
            if fresh:
                work.events.append(
                    (
                        signals.image_uploaded,
                        {"image_id": prepared.image_id, "merchant_serial_number": key[0]},
                    )
                )

        self._wait(
            [self.image_executor.submit(prepare_and_upload, key) for key in sorted(claims.mine)]
        )
        if claims.mine:
            with transaction.atomic():
                uploads.record(
                    token=lease.token,
                    uploaded=uploaded,
                    refused={key: reason for key, reason in refused.items() if key in claims.mine},
                )
            lease.images_claimed = False
        others = self._await_others(claims)
        refused.update(others.refused)
        ids = {
            **claims.known,
            **others.known,
            **{key: prepared.image_id for key, prepared in uploaded.items()},
        }
        for work in needing:
            if LINKS in work.outcomes:
                continue
            work.categories = []
            for link, key in zip(work.plan.links, work.image_keys, strict=True):
                image_id = None
                if key is not None:
                    if key in ids:
                        image_id = ids[key]
                    elif key in refused:
                        work.notes.append(f"Image left out: {refused[key]}")
                        work.log.refused("image preparation", refused[key], kind=LINKS)
                    elif key in failed:
                        work.settle(LINKS, _classify(failed[key]))  # _NotTried: handed back
                    else:  # another worker is uploading it right now
                        work.settle(
                            LINKS,
                            _Outcome("defer", "Waiting for another worker's upload of the image."),
                        )
                work.categories.append(link.category_payload(image_id))

    def _await_others(self, claims: uploads.Claims) -> uploads.Claims:
        """Wait a little for images other workers are uploading, rather than upload them too.

        An upload takes a second or so; the orders that need one wait for it here (renewing
        the lease meanwhile) instead of being handed back to wait for a later round.
        """
        waiting = set(claims.elsewhere)
        seconds = min((lease.seconds for lease in self._leases), default=IMAGE_WAIT_SECONDS)
        deadline = time.monotonic() + min(IMAGE_WAIT_SECONDS, seconds / 3)
        found = uploads.Claims()
        while waiting and time.monotonic() < deadline:
            time.sleep(IMAGE_POLL_SECONDS)
            self._renew()
            latest = uploads.lookup(waiting)
            found.known.update(latest.known)
            found.refused.update(latest.refused)
            waiting = latest.elsewhere
        return found

    def _digests(
        self, sources: dict[object, ImageSource], lease: outbox.Lease
    ) -> dict[object, Any]:
        """SHA-256 of each distinct source (read in threads), or the exception reading it."""
        found: dict[object, Any] = {}

        def read(identity: object, source: ImageSource) -> None:
            try:
                found[identity] = uploads.digest(source)
            except Exception as exc:
                found[identity] = exc

        self._wait([self.image_executor.submit(read, i, s) for i, s in sources.items()])
        return found

    # -- the calls ------------------------------------------------------------------------------

    def _run(
        self,
        work: _Work,
        clients: dict[str, OrderManagementClient],
        lease: outbox.Lease,
        breaker: _Breaker,
        stopping: Callable[[], bool],
    ) -> None:
        """One order's calls, kind by kind (in a worker thread: HTTP only)."""
        for kind in work.open_kinds():
            row = work.rows[kind]
            if not lease.holds(row):
                work.outcomes[kind] = _Outcome("lost", "The lease ran out; another worker has it.")
                continue
            if breaker.open or stopping():
                work.outcomes[kind] = _Outcome("release")
                continue
            assert work.target is not None
            assert work.state is not None
            assert work.plan is not None
            client = clients[work.target.merchant_serial_number]
            answers = work.log.answers
            with collecting(work.log, kind):
                try:
                    if kind == LINKS:
                        message = sync_links(
                            client,
                            work.target,
                            work.state,
                            api=work.plan.category_api,
                            categories=work.categories,
                            notes=work.notes,
                            force=row.force,
                            events=work.events,
                        )
                    else:
                        message = sync_receipt(
                            client,
                            work.target,
                            work.state,
                            receipt=work.plan.receipt if work.plan.is_final else None,
                            problem=work.plan.receipt_problem if work.plan.is_final else None,
                            is_final=work.plan.is_final,
                            force=row.force,
                            events=work.events,
                        )
                    outcome = _Outcome("done", message)
                except Exception as exc:
                    outcome = _classify(exc)
                    if not isinstance(exc, VippsError | Refused):
                        logger.exception(
                            "Unexpected error sending %s of %s to Vipps", kind, work.order
                        )
            work.outcomes[kind] = outcome
            breaker.record(outcome, answered=work.log.answers > answers)

    def _wait(self, futures: Sequence[Future]) -> None:
        """Wait for the threads, renewing the leases meanwhile."""
        pending = set(futures)
        seconds = min((lease.seconds for lease in self._leases), default=1.0)
        while pending:
            _done, pending = wait(pending, timeout=max(0.05, seconds / 6))
            self._renew()

    def _renew(self) -> None:
        """Renew each lease when a third of it has passed, with the image claims it holds."""
        for lease in self._leases:
            if lease.due_for_renewal() and lease.renew() and lease.images_claimed:
                uploads.renew(lease.token, lease.seconds)

    # -- the write ------------------------------------------------------------------------------

    def _write(self, works: Sequence[_Work], lease: outbox.Lease) -> set[int]:
        """Everything the batch learnt, in one transaction and a constant number of queries."""
        now = timezone.now()
        give_up = outbox.give_up_after()
        delays: dict[tuple[int, float | None], datetime] = {}
        outcomes: list[outbox.RowOutcome] = []
        for work in works:
            for kind, row in work.rows.items():
                outcome = work.outcomes.get(kind) or _Outcome("release")
                if outcome.status == "lost":
                    continue
                if outcome.status == "retry" and now - row.pending_since > give_up:
                    outcome = _Outcome(
                        "dead",
                        f"Gave up after {now - row.pending_since}: {outcome.message}",
                        outcome.status_code,
                    )
                    work.outcomes[kind] = outcome
                if outcome.status == "dead":
                    _note_failure(work, kind, outcome.message)
                if outcome.status == "retry":
                    # One jittered delay per (attempts, Retry-After) in a batch: the rows that
                    # fail together come back together, in one UPDATE and one later claim.
                    delay_key = (row.attempts, outcome.retry_after)
                    if delay_key not in delays:
                        seconds = outbox.backoff_seconds(row.attempts, outcome.retry_after)
                        delays[delay_key] = now + timedelta(seconds=seconds)
                    outcome.due = delays[delay_key]
                elif outcome.status == "wait":
                    outcome.due = now + timedelta(seconds=outbox.wait_seconds(row.attempts))
                elif outcome.status == "defer":
                    outcome.due = row.next_attempt_at  # keeps its turn, so --once still sends it
                status = "release" if outcome.status == "defer" else outcome.status
                outcomes.append(
                    outbox.RowOutcome(
                        row, status, outcome.message, outcome.status_code, outcome.due
                    )
                )
        link_rows = _v3_link_ids(works)
        with transaction.atomic():
            _save_states(works)
            if link_rows:
                OrderLink.objects.bulk_update(link_rows, ["category_id"])
            calllog.write(
                [work.log for work in works],
                {(r.content_type_id, r.object_id, r.kind): r.pk for r in lease.rows},
            )
            changed = outbox.finish(lease, outcomes)
        outbox.forget_recorded()  # a save after this drain, in the same transaction, writes again
        return changed

    def _announce(self, works: Sequence[_Work], changed: set[int], result: DrainResult) -> None:
        """Tell the shop (signals, after the commit) and the caller (results) what happened."""
        for work in works:
            order = work.order
            sender = type(order) if order is not None else OutboxItem
            if order is not None:
                for signal, arguments in work.events:
                    signal.send(sender, order=order, **arguments)
            for kind in KINDS:
                if kind not in work.rows:
                    continue
                row = work.rows[kind]
                outcome = work.outcomes.get(kind) or _Outcome("release")
                status = outcome.status
                if status == "lost":
                    continue
                if status == "done":
                    status = "changed" if row.pk in changed else "done"
                    if order is not None:
                        signals.order_synced.send(
                            sender, order=order, kind=kind, result=outcome.message
                        )
                elif status == "dead" and row.pk in changed:
                    status = "retry"
                    outcome.message = f"changed meanwhile; retrying: {outcome.message}"
                elif status == "dead":
                    logger.warning("Vipps sync of %s failed for good: %s", row, outcome.message)
                    signals.dead_lettered.send(
                        sender, order=order, kind=kind, error=outcome.message, outbox_item=row
                    )
                elif status == "retry" and order is not None:
                    signals.sync_failed.send(
                        sender,
                        order=order,
                        kind=kind,
                        error=outcome.error,
                        next_attempt_at=outcome.due,
                    )
                elif status == "release":
                    status = "released"
                elif status == "defer":
                    status = "deferred"
                elif status == "wait":
                    status = "waiting"
                result.add(SyncResult(kind, status, outcome.message, calls=work.log.calls))


# ---------------------------------------------------------------------- helpers


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


def _awaiting_payment(row: OutboxItem) -> _Outcome:
    """An order without a Vipps payment is looked at again for ``PAYMENT_WAIT``, then left.

    Its payment may be saved just after it (Oscar saves the payment source after the order's
    transaction) by code the adapter's ``sync_on`` does not watch; most such orders are simply
    paid some other way, and are not an error.
    """
    waited = timezone.now() - row.pending_since
    if waited < outbox.payment_wait():
        return _Outcome("wait", "Waiting for the order to get a Vipps payment.")
    return _Outcome(
        "done",
        f"No Vipps payment after {waited}; nothing was sent. If the order has one, have the "
        "adapter's sync_on watch the model that holds it.",
    )


def _refused(problem: Problem) -> _Outcome:
    return _Outcome("dead", str(problem))


class _StorageTrouble(Exception):
    """Reading an image failed in the storage backend (S3, a disk): it may pass.

    Any backend's failure to read is retried with backoff, whatever its type (each backend
    has its own: botocore's are no OSError); the age limit still ends a storage that never
    heals.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"could not read the image: {type(error).__name__}: {error}")
        self.error = error


class _NotTried(Exception):
    """Vipps seemed down (the circuit breaker), so this was not attempted: hand it back."""


def _classify(exc: BaseException) -> _Outcome:
    """Only transient network and Vipps errors are retried; everything else waits for staff."""
    if isinstance(exc, _NotTried):
        return _Outcome("release")
    if isinstance(exc, _StorageTrouble):
        return _Outcome("retry", str(exc), error=exc.error)  # the backend's own, for signals
    status = getattr(exc, "status_code", None)
    if isinstance(exc, VippsTransientError) or (isinstance(exc, VippsAuthError) and status == 401):
        return _Outcome("retry", str(exc), status, getattr(exc, "retry_after", None), exc)
    if isinstance(exc, OSError):  # storage trouble outside the client: may pass
        return _Outcome("retry", f"{type(exc).__name__}: {exc}", error=exc)
    if isinstance(exc, VippsError | Refused):  # refusals, validation, 4xx from Vipps
        return _Outcome("dead", str(exc), status, error=exc)
    return _Outcome("dead", f"{type(exc).__name__}: {exc}", error=exc)


def _note_failure(work: _Work, kind: str, message: str) -> None:
    """A kind that waits for staff shows on the order's state with the reason."""
    state = work.state
    if state is None:
        state = work.state = VippsOrder(content_type_id=work.key[0], object_id=work.key[1])
        work.before = _snapshot(state)
    if kind == RECEIPT:
        state.receipt_error = message
        if state.receipt_state not in (VippsOrder.ReceiptState.SENT, VippsOrder.ReceiptState.DRIFT):
            state.receipt_state = VippsOrder.ReceiptState.DEAD
    else:
        state.links_error = message
        state.links_state = VippsOrder.LinkState.DEAD


def _changed_fields(work: _Work) -> frozenset[str]:
    """The state fields this batch changed (for a new state: those that differ from defaults).

    Only these are written, so two workers that hold different kinds of one order at once
    (or create its state at the same moment) never undo each other.
    """
    state = work.state
    if state is None:
        return frozenset()
    before = work.before
    assert before is not None  # taken with the state, in _plan or _note_failure
    return frozenset(
        name
        for name, old, new in zip(_STATE_FIELDS, before, _snapshot(state), strict=True)
        if old != new
    )


def _save_states(works: Sequence[_Work]) -> None:
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
    names = ["content_type_id", "object_id", *_STATE_FIELDS, "created_at", "updated_at"]
    for changed, states in groups.items():
        rows.write(
            VippsOrder,
            names,
            ([getattr(state, name) for name in names] for state in states),
            conflict=["content_type", "object_id"],
            update=sorted({*changed, "last_synced_at", "updated_at"}),
        )


def _v3_link_ids(works: Sequence[_Work]) -> list[OrderLink]:
    """Stored link rows whose v3 category id changed, to save in one update."""
    changed = []
    for work in works:
        if not work.categories or work.order is None:
            continue
        attached = work.order.__dict__.get("_vipps_attached")
        for row in attached.links if attached is not None else ():
            match = next(
                (
                    c
                    for c in work.categories
                    if str(c.category) == row.category and c.url == row.url
                ),
                None,
            )
            if match is not None and match.category_id and row.category_id != match.category_id:
                row.category_id = match.category_id
                changed.append(row)
    return changed


def drain(
    limit: int | None = None,
    worker_id: str | None = None,
    *,
    concurrency: int = 1,
    should_stop: Callable[[], bool] | None = None,
    time_budget: float | None = None,
    only: models.Q | None = None,
) -> DrainResult:
    """Send what is due, for up to ``limit`` orders, and return what happened.

    Every runner ends here: the ``vipps_om_worker`` loop, the django.tasks and Celery tasks,
    ``DISPATCH="immediate"`` and ``sync_now``. Safe to run in many processes at once;
    ``concurrency`` threads send the calls (a short-lived :class:`Pipeline`).
    """
    with Pipeline(worker_id=worker_id, concurrency=concurrency) as pipeline:
        return pipeline.drain(limit, should_stop=should_stop, time_budget=time_budget, only=only)
