"""Send what the outbox holds, as a long-running worker (the embedded default runner).

    manage.py vipps_om_worker                     # run until SIGTERM / Ctrl-C
    manage.py vipps_om_worker --once              # send everything due now, then exit (cron)
    manage.py vipps_om_worker --concurrency 8     # 8 calls to Vipps in flight at once
    manage.py vipps_om_worker --once -v 2         # a line for every order, by the shop's name
    manage.py vipps_om_worker --metrics-port 9464 # its calls for Prometheus ([prometheus] extra)

Several workers may run at once, on one machine or many: rows are leased, and a worker that
dies lets its lease run out for another worker to finish the job.
"""

from __future__ import annotations

import math
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from vipps_order_management.conf import app_settings
from vipps_order_management.exceptions import VippsConfigurationError
from vipps_order_management.runners.worker import Worker


class Command(BaseCommand):
    help = "Send pending Vipps receipts, links and images from the outbox."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Send everything due now, then exit."
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=1,
            help="Calls to Vipps in flight at once (threads sharing one connection pool and "
            "token). Raise it when Vipps's latency, not the CPU, is the limit.",
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
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="Serve this worker's calls to Vipps as Prometheus metrics on this port "
            "(needs the [prometheus] extra).",
        )
        parser.add_argument(
            "--metrics-address",
            default="127.0.0.1",
            help="The address --metrics-port listens on (default 127.0.0.1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        runtime = options["max_runtime"]
        if runtime is not None and not (math.isfinite(runtime) and runtime > 0):
            raise CommandError(f"--max-runtime is {runtime}; give a number of seconds above 0.")
        port = options["metrics_port"]
        if port is not None and not 1 <= port <= 65535:
            raise CommandError(f"--metrics-port is {port}; give a port from 1 to 65535.")
        # An option overrides its setting, so the setting's own parser says what it may be.
        for option, key in (("batch_size", "BATCH_SIZE"), ("poll_interval", "WORKER_POLL_SECONDS")):
            if options[option] is not None:
                flag = "--" + option.replace("_", "-")
                try:
                    options[option] = app_settings.parse(key, options[option], given_as=flag)
                except VippsConfigurationError as exc:
                    raise CommandError(str(exc)) from None
        verbose = options["verbosity"] >= 1
        if options["metrics_port"] is not None:
            self._serve_metrics(options["metrics_port"], options["metrics_address"])
        worker = Worker(
            worker_id=options["worker_id"] or "",
            concurrency=options["concurrency"],
            batch_size=options["batch_size"],
            poll_seconds=options["poll_interval"],
            max_runtime=options["max_runtime"],
            once=options["once"],
            say=self.stdout.write if verbose else (lambda message: None),
            each=options["verbosity"] >= 2,
            warn=self.stderr.write,
            # A line a minute (also logged at INFO); every drain's with -v 2.
            each_drain=options["verbosity"] >= 2,
        )

        def request_stop(signum: int, frame: Any) -> None:
            self.stderr.write(
                f"{signal.Signals(signum).name}: finishing the current send, then stopping"
            )
            worker.stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        if verbose:
            self.stdout.write(
                f"Vipps worker {worker.worker_id} started (concurrency {worker.concurrency})"
            )
        try:
            total = worker.run()
        except VippsConfigurationError as exc:
            raise CommandError(f"{exc}. Run manage.py vipps_om_check for details.") from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if verbose:
            self.stdout.write(f"Vipps worker {worker.worker_id} stopped after {total} sends")

    def _serve_metrics(self, port: int, address: str) -> None:
        try:
            from vipps_order_management.contrib.prometheus import serve
        except ImportError:
            raise CommandError(
                "--metrics-port needs prometheus_client: pip install "
                "'vipps-order-management[prometheus]'."
            ) from None
        try:
            serve(port, address)
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on {address}:{port}: {exc}") from None
        self.stdout.write(f"Prometheus metrics of this worker on http://{address}:{port}/")
