"""Row 3: does the worker hide Vipps's latency with concurrency?

The fake waits 20 ms before answering every Order Management call (not the token call, which
is fetched once and cached). With N calls in flight at most, an order that needs C calls can
never be sent faster than N / (C x 20 ms) orders per second: that limit is the issue's
baseline. C is counted from the fake's request log in every sample (2 here: category PUT and
receipt POST).

The limit ignores what the machine can do: with 20 ms per call, N = 16 means 800 HTTP
exchanges a second through Python's HTTP stack, on the client and in the fake, on the same
cores. So each ``drain(concurrency=N)`` alternates with a bare pooled ``requests`` loop in N
threads sending the same calls to the same fake, and a second row per N compares the two:
the limit row says how close the engine comes to the ideal, the loop row how much of the gap
is the engine's own.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from .django_setup import make_products
from .harness import Row, Target, alternate, log
from .worker import Sides

if TYPE_CHECKING:
    from .child import Context

TARGET = Target(">=", 0.8, ">= 0.8x")
LATENCY = 0.020
CONCURRENCY = (1, 4, 16)


def orders_for(concurrency: int, quick: bool) -> int:
    """Enough orders for a steady state: about 2 s of ideal sending, where starting and
    finishing a drain are a small part of it."""
    return 2 * concurrency + 10 if quick else 50 * concurrency


def run(context: Context) -> list[Row]:
    assert context.fake is not None
    products = make_products(1, prefix="L")
    context.fake.set_delay(LATENCY)
    try:
        rows: list[Row] = []
        for concurrency in CONCURRENCY:
            rows.extend(measure(context, products, concurrency))
        return rows
    finally:
        context.fake.set_delay(0)


def measure(context: Context, products: list[Any], concurrency: int) -> list[Row]:
    fake = context.fake
    assert fake is not None
    count = orders_for(concurrency, context.quick)
    sides = Sides(fake, count, products)
    try:
        ours, bare = alternate(
            lambda: sides.ours(concurrency),
            lambda: sides.bare(concurrency),
            pairs=context.pairs,
        )
    finally:
        sides.close()
    calls = sides.calls_per_order["ours"]
    limit = concurrency / (calls * LATENCY)
    bare_of_limit = statistics.median(value / limit for value in bare)
    cpu = {side: 1000 * statistics.median(v) for side, v in sides.cpu_per_order.items()}
    log(
        f"  latency {context.database} N={concurrency}: ours "
        + ", ".join(f"{value:.4g}" for value in ours)
        + "; bare loop "
        + ", ".join(f"{value:.4g}" for value in bare)
        + f" orders/s (limit {limit:.4g})"
    )
    facts: dict[str, Any] = {
        "orders_per_sample": count,
        "latency_ms": LATENCY * 1000,
        "calls_per_order": calls,
        "calls_per_order_bare_loop": sides.calls_per_order["baseline"],
        "bare_loop_of_limit": round(bare_of_limit, 3),
        "cpu_ms_per_order": round(cpu["ours"], 3),
        "cpu_ms_per_order_bare_loop": round(cpu["baseline"], 3),
    }
    ours_label = f"drain(concurrency={concurrency}) of {count} enqueued paid orders"
    return [
        Row(
            name=f"latency-c{concurrency}",
            title=f"20 ms latency, concurrency {concurrency}",
            database=context.database,
            unit="orders/s",
            ours_label=ours_label,
            baseline_label=f"latency limit N / (calls per order x 20 ms), N={concurrency}",
            ours=ours,
            baseline=[limit] * len(ours),
            target=TARGET,
            counts=facts,
            notes=[
                f"a bare pooled requests loop in {concurrency} threads reached "
                f"{bare_of_limit:.3g}x of this limit on this machine (median)",
                f"CPU per order in this process (median): ours {cpu['ours']:.2f} ms, "
                f"the bare loop {cpu['baseline']:.2f} ms; see the ceiling rows for what "
                "a process can spend and still keep up",
            ],
        ),
        Row(
            name=f"latency-c{concurrency}-loop",
            title=f"20 ms latency, concurrency {concurrency}, vs bare loop",
            database=context.database,
            unit="orders/s",
            ours_label=ours_label,
            baseline_label=(
                f"bare pooled requests.Session loop in {concurrency} threads, same 2 calls "
                "and bodies, 1 token"
            ),
            ours=ours,
            baseline=bare,
            target=TARGET,
            counts={"orders_per_sample": count},
        ),
    ]
