"""Row 2: the worker's throughput against the least any sender could do.

Ours drains K already-enqueued paid orders (one line, no image, so two calls each: the v2
category PUT and the receipt POST) with ``services.drain(concurrency=1)`` in this process. The
baseline is a bare pooled ``requests.Session`` loop sending the same two calls with the same
bodies, built up front with the app's own payload code, and a token fetched once: no database,
no outbox, no call log. Both talk over HTTP to the same out-of-process fake without latency.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .django_setup import drain, make_orders, make_products, receivers_module
from .harness import Row, Stopwatch, Target, alternate

if TYPE_CHECKING:
    from .child import Context
    from .fake import OutOfProcessFake, Traffic

TARGET = Target(">=", 0.8, ">= 0.8x")


def request_bodies(orders: list[Any]) -> list[tuple[str, str, bytes, bytes]]:
    """(payment type, order id, category JSON, receipt JSON) per order, as the app builds them."""
    from vipps_order_management import services
    from vipps_order_management.adapters import get_adapter
    from vipps_order_management.payloads import Category

    bodies = []
    for order in orders:
        adapter = get_adapter(order)
        link = adapter.get_primary_link(order, adapter.get_links(order))
        assert link is not None
        category = Category(link.category, link.url).to_api()
        receipt = services.receipt_for_epayment(order)  # the validated receipt, as a dict
        bodies.append(
            (
                str(adapter.get_payment_type(order)),
                str(adapter.get_reference(order)),
                json.dumps(category, separators=(",", ":")).encode(),
                json.dumps(receipt, separators=(",", ":")).encode(),
            )
        )
    return bodies


def shape(value: Any) -> Any:
    """A JSON value's structure (keys, nesting, types), to check both sides send alike."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


class BareSender:
    """The baseline: one pooled session, one token, the two calls per order, nothing else.

    ``send(bodies, threads=N)`` shares the orders among N threads on the one session (its
    connection pool is thread-safe), the least any sender with N calls in flight could do.
    """

    def __init__(self, fake: OutOfProcessFake, *, pool: int = 16) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.base = fake.url
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
        credentials = fake.credentials
        common = {
            "Ocp-Apim-Subscription-Key": credentials["subscription_key"],
            "Merchant-Serial-Number": credentials["merchant_serial_number"],
        }
        answer = self.session.post(
            f"{self.base}/accesstoken/get",
            headers={
                **common,
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
            },
            timeout=30,
        )
        answer.raise_for_status()
        self.headers = {
            **common,
            "Authorization": f"Bearer {answer.json()['access_token']}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Vipps-System-Name": "django",
        }

    def send(self, bodies: list[tuple[str, str, bytes, bytes]], *, threads: int = 1) -> None:
        if threads <= 1:
            self._send(bodies)
            return
        with ThreadPoolExecutor(max_workers=threads) as pool:
            shares = [pool.submit(self._send, bodies[start::threads]) for start in range(threads)]
            for share in shares:
                share.result()  # a failed call fails the sample

    def _send(self, bodies: list[tuple[str, str, bytes, bytes]]) -> None:
        for payment_type, order_id, category, receipt in bodies:
            root = f"{self.base}/order-management/v2/{payment_type}"
            answer = self.session.put(
                f"{root}/categories/{order_id}", data=category, headers=self.headers, timeout=30
            )
            if answer.status_code >= 300:
                raise RuntimeError(f"category PUT answered {answer.status_code}: {answer.text}")
            answer = self.session.post(
                f"{root}/receipts/{order_id}", data=receipt, headers=self.headers, timeout=30
            )
            if answer.status_code >= 300:
                raise RuntimeError(f"receipt POST answered {answer.status_code}: {answer.text}")

    def close(self) -> None:
        self.session.close()


class Sides:
    """The two sides of a throughput comparison on one fake: the app's drain and the bare loop.

    Each call makes ``count`` fresh paid orders outside the clock, times only the sending and
    checks at the fake that every receipt arrived; the bare side's bodies are checked to have
    the shape of what the app sent.
    """

    def __init__(self, fake: OutOfProcessFake, count: int, products: list[Any]) -> None:
        self.fake = fake
        self.count = count
        self.products = products
        self.receivers = receivers_module()
        self.sender = BareSender(fake, pool=64)
        self.calls_per_order: dict[str, float] = {}
        #: CPU this process spent per order in each sample, by side ("ours", "baseline").
        self.cpu_per_order: dict[str, list[float]] = {"ours": [], "baseline": []}
        self._sent_bodies: dict[str, Any] = {}

    def ours(self, concurrency: int) -> float:
        make_orders(self.count, self.products)  # enqueued by the receivers, as a checkout would
        self.fake.take()
        with Stopwatch() as clock:
            drain(f"bench-c{concurrency}", concurrency=concurrency)
        self._check(self.fake.take(), "ours")
        self.cpu_per_order["ours"].append(clock.cpu_seconds / self.count)
        return self.count / clock.seconds

    def bare(self, threads: int) -> float:
        self.receivers.disconnect()  # the baseline's orders are not the app's business
        try:
            orders = make_orders(self.count, self.products)
        finally:
            self.receivers.connect()
        bodies = request_bodies(orders)
        self.fake.take()
        with Stopwatch() as clock:
            self.sender.send(bodies, threads=threads)
        self._check(self.fake.take(), "baseline")
        self.cpu_per_order["baseline"].append(clock.cpu_seconds / self.count)
        for kind, body in (("category", bodies[-1][2]), ("receipt", bodies[-1][3])):
            if shape(json.loads(body)) != shape(self._sent_bodies.get(kind)):
                raise RuntimeError(f"the baseline's {kind} body differs in shape from the app's")
        return self.count / clock.seconds

    def _check(self, traffic: Traffic, side: str) -> None:
        receipts = traffic.count("receipt", ok=True)
        if receipts != self.count:
            raise RuntimeError(
                f"{side} sent {receipts} of {self.count} receipts: {traffic.summary()}"
            )
        self.calls_per_order[side] = traffic.api_calls / self.count
        if side == "ours":
            self._sent_bodies.update(traffic.bodies)

    def close(self) -> None:
        self.sender.close()


def run(context: Context) -> list[Row]:
    fake = context.fake
    assert fake is not None
    count = 30 if context.quick else 600
    products = make_products(1, prefix="W")  # no image: the two calls only
    sides = Sides(fake, count, products)
    try:
        ours_samples, baseline_samples = alternate(
            lambda: sides.ours(1),
            lambda: sides.bare(1),
            pairs=context.pairs,
            label=f"worker {context.database}",
        )
    finally:
        sides.close()
    return [
        Row(
            name="worker",
            title="worker throughput, 1 worker",
            database=context.database,
            unit="orders/s",
            ours_label=f"drain(concurrency=1) of {count} enqueued paid orders, in process",
            baseline_label="bare pooled requests.Session loop, same 2 calls and bodies, 1 token",
            ours=ours_samples,
            baseline=baseline_samples,
            target=TARGET,
            counts={
                "orders_per_sample": count,
                "calls_per_order_ours": sides.calls_per_order["ours"],
                "calls_per_order_baseline": sides.calls_per_order["baseline"],
            },
        )
    ]
