"""Row 6: ``manage.py vipps_om_sync --all`` (queue mode) over a shop's existing orders.

What a shop runs once after installing the app: queue every order it already has. The orders
(one line each) are bulk-created with the app's receivers disconnected, in two databases: a
small one (10,000 orders) and a large one (100,000). Each run gets a fresh copy of one of them
(a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so every run queues
into an empty outbox; the command runs in its own process, whose wall time gives orders/s and
whose peak RSS (``wait4``'s ``ru_maxrss``) shows whether memory stays flat as the shop grows.
Small and large runs alternate. ``--quick`` uses 2,000 and 10,000 orders.

    python -m benchmarks.enqueue --seed N    # (internal) seed the database the env points at
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import django_setup
from .harness import Row, Target, log

if TYPE_CHECKING:
    from .child import Context

RATE_TARGET = 3000.0
RATE = Target(">=", 1.0, ">= 3,000 orders/s")
MEMORY = Target("<=", 1.2, "<= 1.2x (flat)")
SIZES = (10_000, 100_000)
QUICK_SIZES = (2_000, 10_000)
#: Runs of each size: at most this many (``--pairs`` lowers it), and no new pair once the
#: runs so far took BUDGET seconds: while the engine is slow a large run takes minutes.
RUNS = 3
BUDGET = 300.0


def seed(count: int) -> None:
    """Migrate the database the environment names and bulk-create ``count`` paid orders."""
    django_setup.setup_django(os.environ)
    from tests.shop.models import Order, OrderItem, Product

    receivers = django_setup.receivers_module()
    receivers.disconnect()
    try:
        product = Product.objects.create(name="Wool socks", sku="SEED-1", price=Decimal("129.00"))
        batch = 5000
        for start in range(0, count, batch):
            orders = Order.objects.bulk_create(
                Order(number=f"S{number}", status="paid", vipps_reference=f"seed-{number}")
                for number in range(start, min(count, start + batch))
            )
            OrderItem.objects.bulk_create(
                OrderItem(order=order, product=product, unit_price=product.price, quantity=1)
                for order in orders
            )
    finally:
        receivers.connect()


def seeded_database(context: Context, count: int) -> str:
    """A database holding ``count`` orders, to be copied for every run."""
    name = django_setup.create_database(
        context.database, f"bench_seed{count}_{os.getpid()}", context.workdir
    )
    env = {**context.env, "VIPPS_OM_TEST_DB_NAME": name}
    subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "benchmarks.enqueue", "--seed", str(count)],
        env=env,
        cwd=django_setup.ROOT,
        check=True,
        timeout=1800,
    )
    return name


def sync_all(context: Context, template: str, count: int) -> tuple[float, int]:
    """One ``vipps_om_sync --all`` on a fresh copy of ``template``: (orders/s, peak RSS bytes)."""
    name = django_setup.create_database(
        context.database, f"bench_run_{os.getpid()}", context.workdir, template=template
    )
    env = {**context.env, "VIPPS_OM_TEST_DB_NAME": name}
    output = context.workdir / "sync.out"
    try:
        with open(output, "wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "django", "vipps_om_sync", "--all", "--no-progress"],
                env=env,
                cwd=django_setup.ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:
                process.kill()
                process.wait(10)
                raise
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        django_setup.drop_database(context.database, name)
    text = output.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"vipps_om_sync --all failed ({process.returncode}): {text[-2000:]}")
    queued = re.search(r"Queued (\d+) orders?", text)
    if not queued or int(queued.group(1)) != count:
        raise RuntimeError(f"vipps_om_sync --all did not queue {count} orders: {text[-500:]}")
    return count / seconds, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def run(context: Context) -> list[Row]:
    small, large = QUICK_SIZES if context.quick else SIZES
    runs = 1 if context.quick else min(RUNS, context.pairs)
    templates: dict[int, str] = {}
    rates: dict[int, list[float]] = {small: [], large: []}
    memory: dict[int, list[float]] = {small: [], large: []}
    try:
        for count in (small, large):
            templates[count] = seeded_database(context, count)
        started = time.perf_counter()
        for number in range(1, runs + 1):
            if number > 1 and time.perf_counter() - started > BUDGET:
                log(f"  enqueue {context.database}: {number - 1} runs used the time budget")
                break
            for count in (small, large):
                rate, rss = sync_all(context, templates[count], count)
                rates[count].append(rate)
                memory[count].append(float(rss))
                log(
                    f"  enqueue {context.database} run {number}/{runs}: {count} orders at "
                    f"{rate:,.0f} orders/s, peak RSS {rss / 1e6:.0f} MB"
                )
    finally:
        for name in templates.values():
            django_setup.drop_database(context.database, name)
    seconds = {count: [count / rate for rate in rates[count]] for count in rates}
    marginal = [
        (large - small) / (big - little)
        for little, big in zip(seconds[small], seconds[large], strict=True)
        if big > little
    ]
    runs = len(rates[large])
    facts: dict[str, Any] = {"small": small, "large": large, "runs": runs}
    notes = [
        f"at {small} orders: {statistics.median(rates[small]):,.0f} orders/s "
        "(process start-up included in every rate)",
    ]
    if marginal:
        notes.append(
            f"marginal rate between the sizes (start-up excluded): "
            f"{statistics.median(marginal):,.0f} orders/s"
        )
    return [
        Row(
            name="enqueue-rate",
            title=f"vipps_om_sync --all, {large:,} orders",
            database=context.database,
            unit="orders/s",
            ours_label=f"orders queued per second of the command's process, {large} orders",
            baseline_label="the target rate, 3,000 orders/s",
            ours=rates[large],
            baseline=[RATE_TARGET] * runs,
            target=RATE,
            counts=facts,
            notes=notes,
        ),
        Row(
            name="enqueue-memory",
            title=f"vipps_om_sync --all peak RSS, {large:,} vs {small:,}",
            database=context.database,
            unit="bytes",
            ours_label=f"peak RSS of the command at {large} orders",
            baseline_label=f"peak RSS of the command at {small} orders",
            ours=memory[large],
            baseline=memory[small],
            target=MEMORY,
            counts=facts,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed orders for the vipps_om_sync benchmark.")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    seed(args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
