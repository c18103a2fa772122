"""The loop of ``manage.py vipps_om_worker``: drain, sleep when idle, stop cleanly on a signal.

Several workers may run at once, on one machine or many: rows are leased, and a worker that
dies lets its lease run out for another to finish the job. ``concurrency`` threads share one
pooled session and token per sales unit, for shops where Vipps's latency is the limit.

While it works, the loop says so: a heartbeat in the shared cache every few seconds (the
health summary's "worker seen"), and one INFO line a minute at most with what was sent,
what waits and what failed since the last line, and how deep the queue is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..engine import cleanup, liveness
from ..engine.pipeline import DrainResult, Pipeline, default_worker_id
from ..exceptions import VippsConfigurationError
from ..models import OutboxItem
from ..outcomes import Outcome

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

#: The longest pause after drains that keep failing with an unexpected error.
MAX_ERROR_PAUSE = 300.0
#: How often a long-running worker removes the rows of orders deleted behind Django's back.
SWEEP_INTERVAL = 3600.0
#: The most often the worker writes its heartbeat to the shared cache.
HEARTBEAT_INTERVAL = 5.0
#: The most often the worker logs its progress line.
PROGRESS_INTERVAL = 60.0


@dataclass
class Progress:
    """What the drains did since the last progress line: :class:`DrainResult`'s counts."""

    counts: Counter[str] = field(default_factory=Counter)
    since: float = field(default_factory=time.monotonic)

    def add(self, result: DrainResult) -> None:
        for name in ("done", "waiting", "retried", "dead"):
            self.counts[name] += getattr(result, name)

    def __bool__(self) -> bool:
        return any(self.counts.values())

    def line(self, worker_id: str, queued: int) -> str:
        done, waiting, retried, dead = (
            self.counts[name] for name in ("done", "waiting", "retried", "dead")
        )
        return (
            f"Vipps worker {worker_id}, last {time.monotonic() - self.since:.0f} s: "
            f"{done} sent, {waiting} waiting for a Vipps payment, {retried + dead} failed "
            f"({retried} to retry, {dead} waiting for staff); {queued} rows in the queue"
        )


@dataclass
class Worker:
    """A long-running drain. ``once``: one pass over what is due now, then return."""

    worker_id: str = ""
    concurrency: int = 1
    batch_size: int | None = None
    poll_seconds: float | None = None
    max_runtime: float | None = None
    once: bool = False
    #: Where progress and trouble are reported (a command's stdout/stderr writers).
    say: Callable[[str], None] = lambda message: None
    warn: Callable[[str], None] = lambda message: None
    #: Say what happened to every order, not only to those that failed.
    each: bool = False
    #: Whether every drain's result is said too, not only the progress line.
    each_drain: bool = True
    progress_seconds: float = PROGRESS_INTERVAL

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or default_worker_id()
        self.stop = threading.Event()
        self.progress = Progress()
        self._beat_at: float | None = None
        self._next_sweep = 0.0

    def run(self) -> int:
        """Drain until stopped (or, with ``once``, until nothing is due); returns rows sent.

        Nothing but a stop ends the loop: a configuration or database error, or a bug, is
        reported and the loop tries again after a pause. One order's trouble never gets this
        far: the pipeline keeps it to that order.
        """
        poll = float(
            app_settings.WORKER_POLL_SECONDS if self.poll_seconds is None else self.poll_seconds
        )
        deadline = time.monotonic() + self.max_runtime if self.max_runtime else None
        # --once is one pass: what is due now; what fails now waits for a later run.
        only = Q(next_attempt_at__lte=timezone.now()) if self.once else None
        total = failures = 0
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL
        pipeline = Pipeline(
            worker_id=self.worker_id, concurrency=self.concurrency, batch_size=self.batch_size
        )
        with pipeline:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                if not connection.in_atomic_block:  # a caller's transaction (a test) stays
                    close_old_connections()
                self._heartbeat()
                try:
                    budget = None if deadline is None else max(0.0, deadline - time.monotonic())
                    result = pipeline.drain(
                        should_stop=self.stop.is_set, time_budget=budget, only=only
                    )
                except Exception as exc:  # nothing but a stop ends the loop
                    if self.once:
                        raise
                    if not isinstance(exc, VippsConfigurationError | DatabaseError):
                        failures += 1
                    self.stop.wait(self._pause_after(exc, poll, failures))
                    continue
                failures = 0
                total += result.processed
                self._after_drain(result)
                if not _worked(result):
                    if self.once:
                        break
                    self.stop.wait(poll)
        self._report_progress(final=True)
        return total

    def _pause_after(self, exc: Exception, poll: float, failures: int) -> float:
        """Say why the drain failed; how long to wait before the next one."""
        if isinstance(exc, VippsConfigurationError):
            self.warn(f"Not sending: {exc}")
            return max(poll, 30)
        if isinstance(exc, DatabaseError):
            self.warn(f"Database error, retrying: {exc}")
            return poll
        # a bug of ours: logged with its traceback, and backed off the more it repeats
        pause = min(MAX_ERROR_PAUSE, poll * (1 << min(failures - 1, 10)))
        logger.exception("The Vipps worker's drain failed; trying again in %.0f s", pause)
        self.warn(f"Unexpected error, trying again in {pause:.0f} s: {type(exc).__name__}: {exc}")
        return pause

    def _after_drain(self, result: DrainResult) -> None:
        """Say what the drain did (each failed order always; every order with ``each``), count
        it towards the progress line, sweep once an hour."""
        for item in result.results:
            line = f"{item.order or item.kind}: {item.kind} {item.status}: {item.message}"
            if item.status in (Outcome.DEAD, Outcome.RETRY):
                self.warn(line)
            elif self.each and item.status.attempted:
                self.say(line)
        if result.processed and self._says_each_drain:
            self.say(str(result))
        self.progress.add(result)
        self._report_progress()
        if not self.once and time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_INTERVAL
            self._sweep()

    @property
    def _says_each_drain(self) -> bool:
        return self.each_drain or self.once  # --once is one pass: its result is its report

    def _heartbeat(self) -> None:
        """Tell the health summary this worker is at work, every few seconds at most."""
        now = time.monotonic()
        if self._beat_at is None or now - self._beat_at >= HEARTBEAT_INTERVAL:
            self._beat_at = now
            liveness.worker_seen(self.worker_id)

    def _report_progress(self, *, final: bool = False) -> None:
        """One line a minute at most, only while there is work: one count query per line."""
        due = time.monotonic() - self.progress.since >= self.progress_seconds
        if not self.progress or not (due or final):
            return
        try:
            queued = OutboxItem.objects.filter(status=OutboxItem.Status.PENDING).count()
        except DatabaseError:
            return  # said with the next line, once the database is back
        line = self.progress.line(self.worker_id, queued)
        self.progress = Progress()
        logger.info("%s", line)
        logged = logger.isEnabledFor(logging.INFO) and logger.hasHandlers()
        if not (logged or self._says_each_drain):  # said once: to the log if it takes it
            self.say(line)

    def _sweep(self) -> None:
        try:
            swept = cleanup.sweep()
        except Exception:  # the sweep is housekeeping: it never stops the worker
            logger.exception("The Vipps worker's sweep of deleted orders failed")
            return
        if swept.orders:
            self.say(f"Removed the rows of {swept.orders} deleted orders ({swept.rows} rows).")


def _worked(result: DrainResult) -> bool:
    return bool(result.processed or result.released)
