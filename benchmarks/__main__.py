"""``make bench``: what the design buys, measured side by side in one run and reported as ratios.

    python -m benchmarks [--orders 200]

Each benchmark runs this app's way and the naive way against the same fake Vipps on
127.0.0.1 and prints the ratio; absolute times depend on the machine, ratios much less.

* outbox coalescing: orders saved five times before the worker runs, versus sending on
  every save (what plugins without an outbox do);
* images: one product image on many orders, uploaded once, versus prepared and uploaded per
  order;
* "My orders": the tags after ``vipps_prefetch`` versus each tag loading its own data;
* access tokens: one token reused for many calls, versus a token fetched per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def setup_django(workdir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["VIPPS_OM_TEST_DB_NAME"] = str(workdir / "bench.sqlite3")
    os.environ["VIPPS_OM_TEST_MEDIA_ROOT"] = str(workdir / "media")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def timed() -> Any:
    result = {"seconds": 0.0}
    started = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - started


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float, str]] = []
        self.notes: list[str] = []

    def add(self, name: str, measure: str, ours: float, naive: float, unit: str) -> None:
        self.rows.append((name, measure, ours, naive, unit))

    def print(self) -> None:
        print()
        print(f"{'benchmark':<34} {'measure':<16} {'this app':>12} {'naive':>12} {'ratio':>8}")
        print("-" * 86)
        for name, measure, ours, naive, unit in self.rows:
            ratio = naive / ours if ours else float("inf")
            print(
                f"{name:<34} {measure:<16} {ours:>10.3g}{unit:<2} {naive:>10.3g}{unit:<2} "
                f"{ratio:>7.1f}x"
            )
        print()
        print("ratio = naive / this app: how many times more the naive way costs.")
        for note in self.notes:
            print(note)


def api_calls(fake: Any) -> int:
    return len([r for r in fake.requests if "/order-management/" in r.path])


def make_orders(count: int, product: Any, prefix: str) -> list[Any]:
    from tests.shop.models import Order, OrderItem

    orders = []
    for number in range(count):
        order = Order.objects.create(
            number=f"{prefix}{number}", status="paid", vipps_reference=f"{prefix}-{number}"
        )
        OrderItem.objects.create(order=order, product=product, unit_price=product.price, quantity=2)
        orders.append(order)
    return orders


def bench_coalescing(report: Report, fake: Any, product: Any, count: int) -> None:
    from tests.shop.models import OrderItem
    from vipps_order_management import services
    from vipps_order_management.adapters import get_adapter
    from vipps_order_management.exceptions import VippsConflict
    from vipps_order_management.models import OutboxItem
    from vipps_order_management.payloads import Category

    saves = 5
    fake.reset()
    orders = make_orders(count, product, "c")
    with timed() as enqueue:
        for order in orders:
            for _ in range(saves):
                order.save()  # the shop's saves; each records the change in the outbox
    with timed() as ours:
        while services.drain(worker_id="bench").processed:
            pass
    ours_calls = api_calls(fake)
    assert not OutboxItem.objects.exclude(status="done").exists()

    fake.reset()
    naive_orders = make_orders(count, product, "n")
    client = services.get_client()
    with timed() as naive:
        for order in naive_orders:
            adapter = get_adapter(order)
            for _ in range(saves):  # send on every save, as a post_save hook would
                OrderItem.objects.filter(order=order).update(quantity=2)
                link = adapter.get_primary_link(order, adapter.get_links(order))
                client.put_category(
                    "ECOM", order.vipps_reference, Category(link.category, link.url)
                )
                with suppress(VippsConflict):
                    client.post_receipt(
                        "ECOM", order.vipps_reference, services.build_receipt(order)
                    )
    naive_calls = api_calls(fake)
    name = f"{count} orders x {saves} saves"
    report.add(name, "calls to Vipps", ours_calls, naive_calls, "")
    report.add(name, "sending time", ours["seconds"], naive["seconds"], "s")
    report.notes.append(
        f"Recording a change in the outbox costs {enqueue['seconds'] / (count * saves) * 1000:.2f} ms "
        "per save of an order (one UPDATE in the shop's transaction)."
    )


def bench_images(report: Report, fake: Any, product: Any, count: int) -> None:
    from django.db.models.signals import post_save

    from vipps_order_management import services
    from vipps_order_management.models import UploadedImage

    def uploads() -> int:
        return len([r for r in fake.requests_for("POST", "/v1/images") if r.status != 401])

    def send(prefix: str) -> float:
        fake.reset()
        UploadedImage.objects.all().delete()
        orders = make_orders(count, product, prefix)
        from tests.shop.models import Order

        Order.objects.filter(pk__in=[o.pk for o in orders]).update(status="new")  # links only
        with timed() as clock:
            while services.drain(worker_id="bench").processed:
                pass
        return clock["seconds"]

    ours_time = send("i")
    ours_uploads = uploads()

    def forget(sender: Any, instance: UploadedImage, **kwargs: Any) -> None:
        instance.delete()  # the naive way: nothing remembers what Vipps already has

    post_save.connect(forget, sender=UploadedImage, dispatch_uid="bench-forget")
    try:
        naive_time = send("j")
    finally:
        post_save.disconnect(sender=UploadedImage, dispatch_uid="bench-forget")
    naive_uploads = uploads()
    name = f"1 product image on {count} orders"
    report.add(name, "image uploads", ours_uploads, naive_uploads, "")
    report.add(name, "sending time", ours_time, naive_time, "s")


def bench_my_orders(report: Report, count: int) -> None:
    from django.db import connection
    from django.template import Context, Template
    from django.test.utils import CaptureQueriesContext

    from tests.shop.models import Order

    orders = list(Order.objects.prefetch_related("items__product")[: min(count, 50)])
    with_prefetch = Template(
        "{% load vipps_order_management %}{% vipps_prefetch orders as orders %}"
        "{% for order in orders %}{% vipps_order_status order %}{% vipps_order_links order %}"
        "{% vipps_order_image order %}{% endfor %}"
    )
    without = Template(
        "{% load vipps_order_management %}"
        "{% for order in orders %}{% vipps_order_status order %}{% vipps_order_links order %}"
        "{% vipps_order_image order %}{% endfor %}"
    )

    def render(template: Template) -> tuple[int, float]:
        fresh = list(
            Order.objects.prefetch_related("items__product").filter(pk__in=[o.pk for o in orders])
        )
        with CaptureQueriesContext(connection) as queries, timed() as clock:
            template.render(Context({"orders": fresh}))
        return len(queries), clock["seconds"]

    render(with_prefetch)  # warm template and content type caches
    ours_queries, ours_time = render(with_prefetch)
    naive_queries, naive_time = render(without)
    name = f"My orders page, {len(orders)} orders"
    report.add(name, "SQL queries", ours_queries, naive_queries, "")
    report.add(name, "render time", ours_time, naive_time, "s")


def bench_tokens(report: Report, fake: Any, calls: int) -> None:
    from vipps_order_management.client import OrderManagementClient

    def run(fetch_every_call: bool) -> tuple[int, float]:
        fake.reset()
        with (
            OrderManagementClient(base_url=fake.url, **fake.credentials) as client,
            timed() as clock,
        ):
            for number in range(calls):
                if fetch_every_call:
                    client.access_token(refresh=True)
                client.get_order("ECOM", f"t-{number}")
        return len(fake.requests_for("POST", "/accesstoken/get")), clock["seconds"]

    ours_tokens, ours_time = run(False)
    naive_tokens, naive_time = run(True)
    name = f"{calls} API calls"
    report.add(name, "token fetches", ours_tokens, naive_tokens, "")
    report.add(name, "wall time", ours_time, naive_time, "s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vipps-om-bench-") as tmp:
        setup_django(Path(tmp))
        from django.core.files.base import ContentFile
        from django.test import override_settings

        from tests.conftest import png_bytes
        from tests.shop.models import Product
        from vipps_order_management.testing import FakeVippsServer

        with FakeVippsServer() as fake:
            from django.conf import settings

            overrides = {
                **settings.VIPPS_ORDER_MANAGEMENT,
                "BASE_URL": fake.url,
                **{key.upper(): value for key, value in fake.credentials.items()},
                "BATCH_SIZE": 50,
            }
            with override_settings(VIPPS_ORDER_MANAGEMENT=overrides):
                product = Product(name="Wool socks", sku="SOCK-1", price=Decimal("129.00"))
                product.image.save("socks.png", ContentFile(png_bytes((1600, 1600))), save=False)
                product.save()
                report = Report()
                steps: list[tuple[str, Callable[[], None]]] = [
                    (
                        "outbox coalescing",
                        lambda: bench_coalescing(report, fake, product, args.orders),
                    ),
                    ("images", lambda: bench_images(report, fake, product, args.orders)),
                    ("My orders page", lambda: bench_my_orders(report, args.orders)),
                    ("access tokens", lambda: bench_tokens(report, fake, args.orders)),
                ]
                for title, step in steps:
                    print(f"running: {title}", flush=True)
                    step()
                report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
