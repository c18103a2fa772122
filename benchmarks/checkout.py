"""Row 1: what the app adds to a shop's checkout.

A checkout creates an order and its five lines in one transaction, as a shop's checkout view
does. With the app's receivers connected every save records the order in the outbox (in that
same transaction); with them disconnected the shop runs as if the app were not installed. The
two alternate in blocks of checkouts; a sample is the block's time divided by its size.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import TYPE_CHECKING

from .django_setup import make_products, receivers_module
from .harness import Row, Stopwatch, Target, alternate

if TYPE_CHECKING:
    from .child import Context

TARGET = Target("<=", 1.3, "<= 1.3x")
LINES = 5


def run(context: Context) -> list[Row]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tests.shop.models import Order, OrderItem

    receivers = receivers_module()
    products = make_products(LINES, prefix="C")
    block = 40 if context.quick else 200
    numbers = itertools.count(1)

    def checkout() -> None:
        number = next(numbers)
        with transaction.atomic():
            order = Order.objects.create(
                number=f"C{number}",
                status=Order.Status.NEW,
                vipps_reference=f"checkout-{number}",
                shipping_price=Decimal("49.00"),
            )
            for product in products:
                OrderItem.objects.create(
                    order=order, product=product, unit_price=product.price, quantity=1
                )

    def per_checkout(connected: bool) -> float:
        if connected:
            receivers.connect()
        else:
            receivers.disconnect()
        with Stopwatch() as clock:
            for _ in range(block):
                checkout()
        return clock.seconds / block

    def queries(connected: bool) -> int:
        if connected:
            receivers.connect()
        else:
            receivers.disconnect()
        with CaptureQueriesContext(connection) as captured:
            checkout()
        return len(captured)

    try:
        ours, baseline = alternate(
            lambda: per_checkout(True),
            lambda: per_checkout(False),
            pairs=context.pairs,
            label=f"checkout {context.database}",
        )
        with_app, without_app = queries(True), queries(False)
    finally:
        receivers.connect()
    return [
        Row(
            name="checkout",
            title=f"checkout: order + {LINES} lines",
            database=context.database,
            unit="seconds",
            ours_label=f"per checkout, app's receivers connected (blocks of {block})",
            baseline_label="per checkout, receivers disconnected (the app switched off)",
            ours=ours,
            baseline=baseline,
            target=TARGET,
            counts={
                "queries_with_app": with_app,
                "queries_without_app": without_app,
                "block": block,
            },
        )
    ]
