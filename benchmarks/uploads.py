"""Row 5: four workers, many orders, few images: is every image uploaded exactly once?

1,000 enqueued paid orders show 20 distinct product images between them. Four
``manage.py vipps_om_worker --once`` processes start together on the same database and fake;
the fake counts the successful ``POST /order-management/v1/images`` (the uploads) and the 409s
(a worker uploading what another already had: wasted work, harmless). The target is exactly
one upload per distinct image. A counted fact, so one run per database.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from .django_setup import ROOT, make_orders, make_products
from .harness import Row, Target
from .images import camera_jpeg

if TYPE_CHECKING:
    from .child import Context

TARGET = Target("==", 1.0, "exactly 20 uploads")
IMAGES = 20
WORKERS = 4


def cause(output: str) -> str:
    """The exception line of a worker's traceback (``OperationalError: deadlock detected``)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run(context: Context) -> list[Row]:
    fake = context.fake
    assert fake is not None
    count = 200 if context.quick else 1000
    pictures = [camera_jpeg((640, 480), noise=6.0) for _ in range(IMAGES)]
    products = make_products(IMAGES, images=pictures, prefix="U")
    make_orders(count, products)  # enqueued by the receivers, round-robin over the products
    fake.take()
    logs = []
    processes: list[subprocess.Popen[bytes]] = []
    started = time.perf_counter()
    try:
        for number in range(WORKERS):
            log_file = open(context.workdir / f"worker-{number}.log", "wb")  # noqa: SIM115
            logs.append(log_file)
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter
                    [
                        sys.executable,
                        "-m",
                        "django",
                        "vipps_om_worker",
                        "--once",
                        "--worker-id",
                        f"bench-uploads-{number}",
                    ],
                    env=context.env,
                    cwd=ROOT,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
        for process in processes:
            process.wait(timeout=900)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for log_file in logs:
            log_file.close()
    failed = [number for number, process in enumerate(processes) if process.returncode != 0]
    traffic = fake.take()
    uploads = traffic.count("image", ok=True)
    conflicts = traffic.count("image", status=409)
    receipts = traffic.count("receipt", ok=True)
    notes = [
        f"the {WORKERS} processes were done after {seconds:.1f} s: {receipts / seconds:.0f} "
        "orders/s with their start-up"
    ]
    problems = []
    for number in failed:
        output = (context.workdir / f"worker-{number}.log").read_text(errors="replace")
        problems.append(f"worker {number} exited {processes[number].returncode}: {cause(output)}")
    if receipts != count:
        problems.append(f"only {receipts} of {count} receipts reached the fake")
    return [
        Row(
            name="uploads",
            title=f"{WORKERS} workers, {count} orders, {IMAGES} images",
            database=context.database,
            unit="count",
            ours_label=f"successful image uploads at the fake ({WORKERS} x vipps_om_worker --once)",
            baseline_label="distinct product images",
            ours=[float(uploads)],
            baseline=[float(IMAGES)],
            target=TARGET,
            counts={
                "uploads": uploads,
                "conflicts_409": conflicts,
                "distinct_images": IMAGES,
                "orders": count,
                "receipts_sent": receipts,
                "workers": WORKERS,
                "worker_failures": len(failed),
            },
            notes=notes,
            # The counts stay in the report, but a crashed worker or a lost order is a failure.
            error="; ".join(problems) or None,
        )
    ]
