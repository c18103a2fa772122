"""The loop of ``manage.py vipps_om_worker``: drain, sleep when idle, stop cleanly on a signal.

Several workers may run at once, on one machine or many: rows are leased, and a worker that
dies lets its lease run out for another to finish the job. ``concurrency`` threads share one
pooled session and token per sales unit, for shops where Vipps's latency is the limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..engine.pipeline import DrainResult, Pipeline, default_worker_id
from ..exceptions import VippsConfigurationError

__all__ = ["Worker"]


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

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or default_worker_id()
        self.stop = threading.Event()

    def run(self) -> int:
        """Drain until stopped (or, with ``once``, until nothing is due); returns rows sent."""
        poll = float(
            app_settings.WORKER_POLL_SECONDS if self.poll_seconds is None else self.poll_seconds
        )
        deadline = time.monotonic() + self.max_runtime if self.max_runtime else None
        # --once is one pass: what is due now; what fails now waits for a later run.
        only = Q(next_attempt_at__lte=timezone.now()) if self.once else None
        total = 0
        pipeline = Pipeline(
            worker_id=self.worker_id, concurrency=self.concurrency, batch_size=self.batch_size
        )
        with pipeline:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
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
                total += result.processed
                if result.processed:
                    self.say(str(result))
                if not _worked(result):
                    if self.once:
                        break
                    self.stop.wait(poll)
        return total


def _worked(result: DrainResult) -> bool:
    return bool(result.processed or result.released)
