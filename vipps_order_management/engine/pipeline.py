"""The drain: what is due goes to Vipps in batches, a constant number of queries per batch.

One batch, whatever its size, passes through the stages in their own modules::

    claim (outbox)  ->  load (orders, our rows, plans)  ->  image stage  ->  send  ->  write

* :mod:`.load`: the orders through their adapters' querysets, planned; what needs no call is
  settled there, and whatever one order raises is confined to it;
* :mod:`.image_stage`: each distinct picture read, claimed, prepared and uploaded once;
* :mod:`.send`: each order's calls, in ``concurrency`` threads (HTTP only);
* :mod:`.write`: one transaction of state, call log and outcomes, then the shop's signals.

Database work happens in the calling thread; threads do HTTP and image work only, sharing one
pooled session and one token per sales unit. While they work, the calling thread renews the
lease, and each order's calls start only while the lease still holds, so a worker that stalls
leaves its orders to whoever takes them over. The next batch is claimed, loaded and planned
while the threads send the previous one.

Every call to Vipps is idempotent (a receipt answered 409 is compared, a v2 category PUT
replaces, v3 categories are reconciled, images are content-addressed), so a crash between the
calls and the write resends and never duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, models

from ..client import OrderManagementClient
from ..conf import app_settings
from ..exceptions import VippsConfigurationError
from ..outcomes import CircuitBreaker, classify
from . import leases, liveness, outbox, uploads
from .clients import SalesUnitMissing, get_client
from .image_stage import IMAGE_WAIT_SECONDS, ImageStage
from .load import load_batch
from .results import DrainResult, SyncResult
from .send import send_order
from .work import OrderWork
from .write import announce, write_batch

__all__ = ["DrainResult", "Pipeline", "SyncResult", "default_worker_id", "drain"]

logger = logging.getLogger(__name__)

#: Consecutive retryable failures after which a drain stops early: Vipps (or the storage) is
#: probably down, and the rows still claimed are handed back rather than all spending an attempt.
CIRCUIT_BREAKER_THRESHOLD = 3

#: Orders claimed per sending thread at the least, whatever ``BATCH_SIZE`` says: with fewer,
#: threads would sit idle while the next batch is claimed.
MIN_ORDERS_PER_THREAD = 4


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Batch:
    """A claimed batch whose calls are in the threads' hands."""

    lease: leases.Lease
    works: list[OrderWork]
    jobs: list[Future[Any]]


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
        if concurrency < 1:
            raise ValueError(f"concurrency is {concurrency!r}; at least one thread sends")
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        #: ``--batch-size``, parsed by ``BATCH_SIZE``'s parser; ``None``: the setting.
        self._batch_size = batch_size
        self._executor: ThreadPoolExecutor | None = None
        self._image_executor: ThreadPoolExecutor | None = None
        #: Leases of the batches being worked on (two at most), renewed while waiting.
        self._leases: list[leases.Lease] = []

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
        """Orders per claim: ``BATCH_SIZE`` (or the worker's ``--batch-size``), raised to
        :data:`MIN_ORDERS_PER_THREAD` per thread, as the setting's documentation says."""
        chosen = app_settings.BATCH_SIZE if self._batch_size is None else self._batch_size
        return max(chosen, MIN_ORDERS_PER_THREAD * self.concurrency)

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
        # Across the batches of a drain; its opening is told to other processes' summaries.
        breaker = CircuitBreaker(CIRCUIT_BREAKER_THRESHOLD, on_open=liveness.breaker_opened)
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
                    lease = leases.claim(limit=want, worker_id=self.worker_id, only=only)
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
        except BaseException as exc:
            # Nothing is lost: the rows not yet written go back (see _release).
            if in_flight is not None:
                wait(in_flight.jobs)
                _release(in_flight.lease, exc)
            raise
        return result

    # -- one batch ------------------------------------------------------------------------------

    def _start(
        self, lease: leases.Lease, breaker: CircuitBreaker, stopping: Callable[[], bool]
    ) -> _Batch:
        """Load and plan a claimed batch, settle its images, and hand its calls to the threads."""
        self._leases.append(lease)
        try:
            works = load_batch(lease, self.worker_id)
            clients = self._clients(works)
            ImageStage(
                executor=self.image_executor,
                clients=clients,
                lease=lease,
                breaker=breaker,
                wait=self._wait,
                renew=self._renew,
                wait_seconds=min(IMAGE_WAIT_SECONDS, self._lease_seconds() / 3),
            ).run(works)
        except BaseException as exc:
            self._leases.remove(lease)
            _release(lease, exc)
            raise
        jobs = [
            self.executor.submit(send_order, work, clients, lease, breaker, stopping)
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
            changed = write_batch(batch.works, batch.lease)
        except BaseException as exc:
            _release(batch.lease, exc)
            raise
        finally:
            self._leases.remove(batch.lease)
        announce(batch.works, changed, result)

    def _clients(self, works: Sequence[OrderWork]) -> dict[str, OrderManagementClient]:
        """One client per sales unit of the batch. The orders of a unit no keys act for wait
        for staff, naming its MSN; settings no client can be built from stop the batch."""
        units = {
            work.target.merchant_serial_number
            for work in works
            if work.target and work.open_kinds()
        }
        clients = {}
        for msn in sorted(units):
            try:
                clients[msn] = get_client(msn)
            except SalesUnitMissing as exc:
                verdict = classify(exc)
                for work in works:
                    if work.target and work.target.merchant_serial_number == msn:
                        work.log.refused("sales unit", verdict.message)
                        work.settle_all(verdict)
        return clients

    def _lease_seconds(self) -> float:
        return min((lease.seconds for lease in self._leases), default=IMAGE_WAIT_SECONDS * 3)

    def _wait(self, futures: Sequence[Future[Any]]) -> None:
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


def _release(lease: leases.Lease, exc: BaseException) -> None:
    """Hand a batch back after ``exc``: at once and uncounted when the cause is outside the
    batch (a stop, the database, the configuration); counted and after a backoff when it may
    be a bug that this very batch would meet again."""
    outside = isinstance(exc, DatabaseError | VippsConfigurationError) or not isinstance(
        exc, Exception
    )
    leases.release_all(lease, delay=None if outside else outbox.backoff_seconds(1))


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
