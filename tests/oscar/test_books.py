"""Oscar's books on SQLite, and what the customer paid.

A 10 % offer on three jars of cloudberry jam (3 x 53.95) leaves the line at 145.665: Oscar rounds
its total half up, SQLite keeps the half øre, and Django reads it back rounded half to even.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from oscar.core.loading import get_model

from vipps_order_management import services
from vipps_order_management.contrib.oscar.views import orders_for_user
from vipps_order_management.engine.plan import plan
from vipps_order_management.money import to_minor_units

Order = get_model("order", "Order")

pytestmark = pytest.mark.django_db


def minor(amount) -> int:
    return to_minor_units(amount, "NOK")


def test_half_an_ore_left_by_an_offer_is_rounded_as_oscar_rounds_it(place_order, staff, vipps):
    order = place_order("Cloudberry jam", 3)  # 161.85, 10 % off: 145.665; shipping 99.00
    line = order.lines.get()
    assert connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute("SELECT line_price_incl_tax FROM order_line WHERE id = %s", [line.pk])
        assert D(str(cursor.fetchone()[0])) == D("145.665")  # as Oscar wrote it
    assert line.line_price_incl_tax == D("145.66")  # as Django reads it back: half to even
    assert order.total_incl_tax == D("244.67")  # as Oscar rounded it: half up

    receipt = plan(order).receipt
    assert receipt is not None, plan(order).receipt_problem
    jam = receipt.order_lines[0]
    assert (jam.total_amount, jam.discount, jam.unit_info.unit_price) == (14567, 1618, 5395)
    assert jam.total_amount - jam.total_amount_excluding_tax == jam.total_tax_amount
    assert receipt.total_amount == minor(order.total_incl_tax)

    # As Oscar's dashboard loads the order (its own prefetch of the lines): the same receipt.
    dashboard_order = orders_for_user(staff).get(pk=order.pk)
    assert plan(dashboard_order).receipt.to_api() == receipt.to_api()

    services.sync_now(order)
    sent = vipps.receipt(f"oscar-{order.number}")
    assert sent == receipt.to_api()
    assert sum(line["totalAmount"] for line in sent["orderLines"]) == 24467


def test_what_the_customer_paid_is_the_vipps_payment(place_order, settings):
    order = place_order("Wool socks", 1, paid=D("227.99"))  # 129.00 + 99.00 shipping
    adapter = plan(order).adapter
    assert order.total_incl_tax == D("228.00")
    assert adapter.get_paid_amount(order) == D("227.99")

    unpaid = place_order("Wool socks", 1, pay_with_vipps=False)
    assert adapter.get_paid_amount(unpaid) == D("228.00")  # no Vipps source: Oscar's total
