"""Row 3: does the worker hide Vipps's latency with concurrency?

The fake waits 20 ms before answering every Order Management call (not the token call, which
is fetched once and cached). With N calls in flight at most, an order that needs C calls can
never be sent faster than N / (C x 20 ms) orders per second: that limit is the baseline. C is
counted from the fake's request log in every sample (2 here: category PUT and receipt POST).
There is nothing to alternate with, so the drain is simply repeated and the ratio's spread is
the drain's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .django_setup import drain, make_orders, make_products
from .harness import Row, Stopwatch, Target, log, repeat

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
        return [measure(context, products, concurrency) for concurrency in CONCURRENCY]
    finally:
        context.fake.set_delay(0)


def measure(context: Context, products: list[Any], concurrency: int) -> Row:
    fake = context.fake
    assert fake is not None
    count = orders_for(concurrency, context.quick)
    facts: dict[str, Any] = {"orders_per_sample": count, "latency_ms": LATENCY * 1000}
    notes: list[str] = []
    limits: list[float] = []

    def sample() -> float:
        make_orders(count, products)
        fake.take()
        with Stopwatch() as clock:
            supported = drain(f"bench-latency-{concurrency}", concurrency=concurrency)
        traffic = fake.take()
        receipts = traffic.count("receipt", ok=True)
        if receipts != count:
            raise RuntimeError(f"sent {receipts} of {count} receipts: {traffic.summary()}")
        calls = traffic.api_calls / count
        facts["calls_per_order"] = calls
        limits.append(concurrency / (calls * LATENCY))
        if not supported and not notes:
            notes.append(
                "drain() has no concurrency keyword yet: called without it, so this ran with "
                "whatever concurrency the engine has"
            )
        return count / clock.seconds

    samples = repeat(sample, times=context.pairs)
    del limits[: len(limits) - len(samples)]  # the warm-up's limit belongs to no sample
    log(
        f"  latency {context.database} N={concurrency}: "
        + ", ".join(f"{value:.4g}" for value in samples)
        + f" orders/s (limit {limits[-1]:.4g})"
    )
    return Row(
        name=f"latency-c{concurrency}",
        title=f"20 ms latency, concurrency {concurrency}",
        database=context.database,
        unit="orders/s",
        ours_label=f"drain(concurrency={concurrency}) of {count} enqueued paid orders",
        baseline_label=f"latency limit N / (calls per order x 20 ms), N={concurrency}",
        ours=samples,
        baseline=limits,
        target=TARGET,
        counts=facts,
        notes=notes,
    )
