"""Send what the outbox holds, as a long-running worker (the embedded default runner).

    manage.py vipps_om_worker              # run until SIGTERM / Ctrl-C
    manage.py vipps_om_worker --once       # send everything due now, then exit (cron)

Several workers may run at once, on one machine or many: rows are leased, and a worker that
dies lets its lease run out for another worker to finish the job.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections
from django.db.models import Q
from django.utils import timezone

from vipps_order_management.conf import app_settings
from vipps_order_management.exceptions import VippsConfigurationError
from vipps_order_management.services import default_worker_id, drain


class Command(BaseCommand):
    help = "Send pending Vipps receipts, links and images from the outbox."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Send everything due now, then exit."
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows claimed per round (BATCH_SIZE)."
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="Seconds to sleep when nothing is due (WORKER_POLL_SECONDS).",
        )
        parser.add_argument(
            "--max-runtime",
            type=float,
            default=None,
            help="Exit cleanly after this many seconds (for process supervisors that restart).",
        )
        parser.add_argument("--worker-id", default=None, help="Name in logs and leases.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        worker_id = options["worker_id"] or default_worker_id()
        batch = options["batch_size"] or int(app_settings.BATCH_SIZE)
        poll = options["poll_interval"]
        poll = float(app_settings.WORKER_POLL_SECONDS if poll is None else poll)
        deadline = time.monotonic() + options["max_runtime"] if options["max_runtime"] else None

        def request_stop(signum: int, frame: Any) -> None:
            self.stderr.write(
                f"{signal.Signals(signum).name}: finishing the current send, then stopping"
            )
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        if options["verbosity"] >= 1:
            self.stdout.write(f"Vipps worker {worker_id} started (batch {batch}, poll {poll:g} s)")
        # --once is one pass: what is due now; what fails now waits for a later run.
        only = Q(next_attempt_at__lte=timezone.now()) if options["once"] else None
        total = 0
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                close_old_connections()
                try:
                    result = drain(
                        limit=batch, worker_id=worker_id, should_stop=stop.is_set, only=only
                    )
                except VippsConfigurationError as exc:
                    if options["once"]:
                        raise CommandError(
                            f"{exc}. Run manage.py vipps_om_check for details."
                        ) from None
                    self.stderr.write(f"Not sending: {exc}")
                    stop.wait(max(poll, 30))
                    continue
                except DatabaseError as exc:
                    if options["once"]:
                        raise
                    self.stderr.write(f"Database error, retrying: {exc}")
                    stop.wait(poll)
                    continue
                total += result.processed
                if result.processed and options["verbosity"] >= 1:
                    self.stdout.write(str(result))
                if result.processed == 0:
                    if options["once"]:
                        break
                    stop.wait(poll)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Vipps worker {worker_id} stopped after {total} sends")
