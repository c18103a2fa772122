"""Row 2: the worker's throughput against the least any sender could do.

Ours drains K already-enqueued paid orders (one line, no image, so two calls each: the v2
category PUT and the receipt POST) with ``services.drain(concurrency=1)`` in this process. The
baseline is a bare pooled ``requests.Session`` loop sending the same two calls with the same
bodies, built up front with the app's own payload code, and a token fetched once: no database,
no outbox, no call log. Both talk over HTTP to the same out-of-process fake without latency.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .django_setup import drain, make_orders, make_products, receivers_module
from .harness import Row, Stopwatch, Target, alternate

if TYPE_CHECKING:
    from .child import Context
    from .fake import OutOfProcessFake

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
    """The baseline: one pooled session, one token, the two calls per order, nothing else."""

    def __init__(self, fake: OutOfProcessFake) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.base = fake.url
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=16))
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

    def send(self, bodies: list[tuple[str, str, bytes, bytes]]) -> None:
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


def run(context: Context) -> list[Row]:
    receivers = receivers_module()
    fake = context.fake
    assert fake is not None
    count = 30 if context.quick else 200
    products = make_products(1, prefix="W")  # no image: the two calls only
    facts: dict[str, Any] = {"orders_per_sample": count}
    notes: list[str] = []
    sent_bodies: dict[str, Any] = {}

    def ours() -> float:
        make_orders(count, products)  # enqueued by the receivers, as a checkout would
        fake.take()
        with Stopwatch() as clock:
            supported = drain("bench-worker", concurrency=1)
        traffic = fake.take()
        receipts = traffic.count("receipt", ok=True)
        if receipts != count:
            raise RuntimeError(
                f"the drain sent {receipts} of {count} receipts: {traffic.summary()}"
            )
        facts["calls_per_order_ours"] = traffic.api_calls / count
        sent_bodies.update(traffic.bodies)
        if not supported and not notes:
            notes.append("drain() has no concurrency keyword yet; called without it")
        return count / clock.seconds

    sender = BareSender(fake)

    def baseline() -> float:
        receivers.disconnect()  # the baseline's orders are not the app's business
        try:
            orders = make_orders(count, products)
        finally:
            receivers.connect()
        bodies = request_bodies(orders)
        fake.take()
        with Stopwatch() as clock:
            sender.send(bodies)
        traffic = fake.take()
        facts["calls_per_order_baseline"] = traffic.api_calls / count
        for kind, body in (("category", bodies[-1][2]), ("receipt", bodies[-1][3])):
            if shape(json.loads(body)) != shape(sent_bodies.get(kind)):
                raise RuntimeError(f"the baseline's {kind} body differs in shape from the app's")
        return count / clock.seconds

    try:
        ours_samples, baseline_samples = alternate(
            ours, baseline, pairs=context.pairs, label=f"worker {context.database}"
        )
    finally:
        sender.close()
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
            counts=facts,
            notes=notes,
        )
    ]
