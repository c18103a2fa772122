"""Rows 3b: how much CPU a sending process may spend per order and still reach the latency limit.

The latency rows compare the engine with the ideal N / (calls per order x 20 ms). On a small
machine the ideal is out of reach for any Python process once its threads spend enough CPU:
every answer waits for the one interpreter lock, and the wait grows with the share of it
already taken. This benchmark measures that ceiling directly, with no database and no engine.

A raw ``urllib3`` loop in 16 threads sends the two calls of an order (category PUT, receipt
POST) with the bodies the app's own payload code builds and the headers the app's client sends
(read from one call the client makes: token, subscription key, MSN, the four
``Vipps-System-*``), to the same out-of-process fake with 20 ms of latency. Each variant then
spends a fixed amount of extra CPU per order in its sending threads (a busy loop, half before
each call), standing for whatever else a sender does per order: reading the order, planning,
writing the outcome. The variants take turns, round after round, so drift hits them alike. Each
row compares one variant with the latency limit against the same target as the engine's rows;
the measured CPU per order of each variant is in its notes, to set beside the engine's
(``cpu_ms_per_order`` in the latency rows).
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .harness import Row, Stopwatch, log
from .latency import LATENCY, TARGET

if TYPE_CHECKING:
    from vipps_order_management.payloads import Category, Receipt

    from .child import Context
    from .fake import OutOfProcessFake

USES_DJANGO = False
USES_FAKE = True
THREADS = 16
#: Extra CPU per order, in milliseconds, of each variant.
EXTRA_MS = (0.0, 0.75, 1.5, 2.5)
CALLS_PER_ORDER = 2


def payloads() -> tuple[Category, Receipt]:
    """A category and a receipt as the app builds them (validated by the payload code)."""
    from vipps_order_management.payloads import BottomLine, Category, OrderLine, Receipt

    category = Category("ORDER_CONFIRMATION", "https://shop.example/orders/status/abc")
    lines = [
        OrderLine.from_gross(
            name="Wool socks",
            id="SKU-1",
            unit_price=Decimal("149.00"),
            quantity=2,
            vat_rate=Decimal(25),
            product_url="https://shop.example/products/socks",
        ),
        OrderLine.from_gross(
            name="Shipping",
            id="shipping",
            unit_price=Decimal("49.00"),
            quantity=1,
            vat_rate=Decimal(25),
            is_shipping=True,
        ),
    ]
    receipt = Receipt(lines, BottomLine(currency="NOK", receipt_number="100001"))
    category.validate()
    receipt.validate()
    return category, receipt


def client_headers(fake: OutOfProcessFake, category: Category) -> dict[str, str]:
    """The headers the app's client really sends with a body, read from one call it makes."""
    import requests

    from vipps_order_management.client import OrderManagementClient

    sent: dict[str, str] = {}

    def keep(answer: requests.Response, **_: object) -> None:
        if answer.request.method == "PUT":  # the category, not the access token's call
            sent.update(answer.request.headers)

    session = requests.Session()
    session.hooks["response"].append(keep)
    with OrderManagementClient(base_url=fake.url, session=session, **fake.credentials) as client:
        client.put_category("ecom", "ceiling-headers", category)
    session.close()
    return {name: value for name, value in sent.items() if name.lower() != "content-length"}


class Loop:
    """The raw loop: one urllib3 pool, the client's headers, nothing else."""

    def __init__(self, context: Context) -> None:
        import urllib3

        fake = context.fake
        assert fake is not None
        category, receipt = payloads()
        self.headers = client_headers(fake, category)
        address = urlsplit(fake.url)
        self.pool = urllib3.HTTPConnectionPool(
            address.hostname, address.port, maxsize=THREADS, block=True
        )
        self.category, self.receipt = (
            json.dumps(body.to_api(), separators=(",", ":")).encode()
            for body in (category, receipt)
        )
        self.fake = fake
        self.round = 0

    def sample(self, count: int, extra_ms: float) -> tuple[float, float]:
        """Send ``count`` orders; (orders per second, CPU milliseconds per order)."""
        self.round += 1
        ids = [f"ceiling-{self.round}-{number}" for number in range(count)]
        half = extra_ms / 2000

        def burn() -> None:
            until = time.thread_time() + half
            while time.thread_time() < until:
                pass

        def send(share: list[str]) -> None:
            for order_id in share:
                for method, path, body in (
                    ("PUT", "categories", self.category),
                    ("POST", "receipts", self.receipt),
                ):
                    if half:
                        burn()
                    answer = self.pool.urlopen(
                        method,
                        f"/order-management/v2/ecom/{path}/{order_id}",
                        body=body,
                        headers=self.headers,
                        retries=False,
                    )
                    if answer.status >= 300:
                        raise RuntimeError(f"{method} {path} answered {answer.status}")

        self.fake.take()
        gc.collect()
        with Stopwatch() as clock, ThreadPoolExecutor(THREADS) as threads:
            list(threads.map(send, [ids[start::THREADS] for start in range(THREADS)]))
        receipts = self.fake.take().count("receipt", ok=True)
        if receipts != count:
            raise RuntimeError(f"the loop sent {receipts} of {count} receipts")
        return count / clock.seconds, 1000 * clock.cpu_seconds / count


def run(context: Context) -> list[Row]:
    assert context.fake is not None
    count = 2 * THREADS + 10 if context.quick else 50 * THREADS
    limit = THREADS / (CALLS_PER_ORDER * LATENCY)
    context.fake.set_delay(LATENCY)
    loop = Loop(context)
    rates: dict[float, list[float]] = {extra: [] for extra in EXTRA_MS}
    cpu: dict[float, list[float]] = {extra: [] for extra in EXTRA_MS}
    try:
        for extra in EXTRA_MS:  # warm-up round
            loop.sample(count, extra)
        for number in range(1, context.pairs + 1):
            for extra in EXTRA_MS:
                rate, ms = loop.sample(count, extra)
                rates[extra].append(rate)
                cpu[extra].append(ms)
            log(
                f"  ceiling round {number}/{context.pairs}: "
                + ", ".join(
                    f"+{extra:g} ms -> {rates[extra][-1] / limit:.2f}" for extra in EXTRA_MS
                )
            )
    finally:
        context.fake.set_delay(0)
    return [
        Row(
            name=f"ceiling-x{extra:g}",
            title=f"HTTP floor at concurrency {THREADS}, +{extra:g} ms CPU per order",
            database="-",
            unit="orders/s",
            ours_label=(
                f"raw urllib3 loop in {THREADS} threads, the client's headers and the app's "
                f"bodies, {extra:g} ms of extra CPU per order, {count} orders"
            ),
            baseline_label=f"latency limit N / (calls per order x 20 ms), N={THREADS}",
            ours=rates[extra],
            baseline=[limit] * len(rates[extra]),
            target=TARGET,
            counts={
                "orders_per_sample": count,
                "extra_cpu_ms_per_order": extra,
                "cpu_ms_per_order": round(statistics.median(cpu[extra]), 3),
            },
            notes=[
                f"this process spent {statistics.median(cpu[extra]):.2f} ms of CPU per order "
                "(median)"
            ],
        )
        for extra in EXTRA_MS
    ]


__all__ = ["TARGET", "run"]
