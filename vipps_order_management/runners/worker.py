"""The loop of ``manage.py vipps_om_worker``: drain, sleep when idle, stop cleanly on a signal.

Several workers may run at once, on one machine or many: rows are leased, and a worker that
dies lets its lease run out for another to finish the job. ``concurrency`` threads share one
pooled session and token per sales unit, for shops where Vipps's latency is the limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..engine import cleanup
from ..engine.pipeline import DrainResult, Pipeline, default_worker_id
from ..exceptions import VippsConfigurationError
from ..outcomes import Outcome

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

#: The longest pause after drains that keep failing with an unexpected error.
MAX_ERROR_PAUSE = 300.0
#: How often a long-running worker removes the rows of orders deleted behind Django's back.
SWEEP_INTERVAL = 3600.0


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

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or default_worker_id()
        self.stop = threading.Event()

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
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        pipeline = Pipeline(
            worker_id=self.worker_id, concurrency=self.concurrency, batch_size=self.batch_size
        )
        with pipeline:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                if not connection.in_atomic_block:  # a caller's transaction (a test) stays
                    close_old_connections()
                try:
                    budget = None if deadline is None else max(0.0, deadline - time.monotonic())
                    result = pipeline.drain(
                        should_stop=self.stop.is_set, time_budget=budget, only=only
                    )
                except VippsConfigurationError as exc:
                    if self.once:
                        raise
                    self.warn(f"Not sending: {exc}")
                    self.stop.wait(max(poll, 30))
                    continue
                except DatabaseError as exc:
                    if self.once:
                        raise
                    self.warn(f"Database error, retrying: {exc}")
                    self.stop.wait(poll)
                    continue
                except Exception as exc:  # a bug of ours: logged, and the loop goes on
                    if self.once:
                        raise
                    failures += 1
                    pause = min(MAX_ERROR_PAUSE, poll * 2 ** min(failures - 1, 10))
                    logger.exception(
                        "The Vipps worker's drain failed; trying again in %.0f s", pause
                    )
                    self.warn(
                        f"Unexpected error, trying again in {pause:.0f} s: {type(exc).__name__}: {exc}"
                    )
                    self.stop.wait(pause)
                    continue
                failures = 0
                if not self.once and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_INTERVAL
                    self._sweep()
                total += result.processed
                self._report(result)
                if not _worked(result):
                    if self.once:
                        break
                    self.stop.wait(poll)
        return total

    def _report(self, result: DrainResult) -> None:
        """A line per order that failed (or, with ``each``, per order), then the summary."""
        for item in result.results:
            line = f"{item.order or item.kind}: {item.kind} {item.status}: {item.message}"
            if item.status in (Outcome.DEAD, Outcome.RETRY):
                self.warn(line)
            elif self.each and item.status.attempted:
                self.say(line)
        if result.processed:
            self.say(str(result))

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
