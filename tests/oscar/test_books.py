"""Oscar's books on SQLite, what the customer paid, and a receipt held until staff decide.

A 10 % offer on three jars of cloudberry jam (3 x 53.95) leaves the line at 145.665: Oscar rounds
its total half up, SQLite keeps the half øre, and Django reads it back rounded half to even.
"""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.db import connection
from django.urls import reverse
from oscar.core.loading import get_model

from vipps_order_management import services
from vipps_order_management.contrib.oscar.views import orders_for_user
from vipps_order_management.engine.plan import plan
from vipps_order_management.models import SyncAttempt, VippsOrder
from vipps_order_management.money import to_minor_units
from vipps_order_management.public_links import order_status_url, receipt_url

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


def complete(order):
    for status in ("Being processed", "Shipped", "Complete"):
        order.set_status(status)
    return Order.objects.get(pk=order.pk)


def receipt_posts(vipps) -> list:
    return vipps.requests_for("POST", "/receipts/")


@pytest.fixture
def held(place_order, vipps):
    """A complete order whose Vipps payment is one øre short of Oscar's total, synced."""
    order = complete(place_order("Wool socks", 1, paid=D("227.99")))
    services.sync_now(order)
    return order


def test_a_payment_one_ore_short_holds_the_receipt_and_its_link(held, vipps, client, customer):
    reference = f"oscar-{held.number}"
    assert vipps.receipt(reference) is None
    assert receipt_posts(vipps) == []
    category = vipps.category(reference)
    assert category["category"] == "ORDER_CONFIRMATION"  # not a RECEIPT link to a dead page
    assert category["orderDetailsUrl"] == order_status_url(held)
    state = VippsOrder.objects.for_order(held).get()
    assert state.receipt_state == VippsOrder.ReceiptState.DEAD
    for figure in ("228.00 NOK", "227.99 NOK", "a difference of -0.01 NOK"):
        assert figure in state.receipt_error, state.receipt_error

    # The customer's own pages say the same: no link to the receipt page, no button to it.
    client.force_login(customer)
    my_orders = client.get(reverse("customer:order-list")).content.decode()
    item = re.search(rf'data-number="{held.number}">(.*?)</li>', my_orders, re.S).group(1)
    assert "Order confirmation" in item
    assert "/receipt/" not in item
    status_page = client.get(order_status_url(held, absolute=False)).content.decode()
    assert "/receipt/" not in status_page
    assert "The receipt is not in the Vipps MobilePay app yet." in status_page


def panel(client, order) -> str:
    url = reverse("dashboard:order-detail", args=[order.number]) + "?vipps_remote=0"
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode().split('id="vipps-panel"')[1]


def accept(client, order, receipt_hash):
    url = reverse("vipps_oscar:vipps-order-operation", args=[order.number])
    data = {"vipps_operation": "accept_receipt", "receipt_hash": receipt_hash}
    return client.post(url, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_staff_send_a_held_receipt_as_it_is_from_the_panel_once(held, vipps, client, staff):
    client.force_login(staff)
    page = panel(client, held)
    figures = re.search(r'class="vipps-payment-check[^"]*">(.*?)</table>', page, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", figures)
    assert cells == ["228.00\xa0NOK", "227.99\xa0NOK", "-0.01\xa0NOK"]  # receipt, paid, difference
    receipt_hash = re.search(r'name="receipt_hash" value="([0-9a-f]{64})"', page).group(1)
    assert 'value="accept_receipt"' in page

    response = accept(client, held, receipt_hash)
    assert response.redirect_chain[0][0].endswith(f"/dashboard/orders/{held.number}/#vipps")
    assert any("Sent the receipt" in m for m in messages_of(response)), messages_of(response)
    reference = f"oscar-{held.number}"
    assert vipps.receipt(reference) == plan(held).receipt.to_api()
    assert vipps.category(reference)["category"] == "RECEIPT"  # the link moved with it
    assert vipps.category(reference)["orderDetailsUrl"] == receipt_url(held)
    log = SyncAttempt.objects.for_order(held).get(endpoint="receipt accepted by staff")
    assert "staff" in log.error
    assert "228.00 NOK" in log.error
    assert "227.99 NOK" in log.error

    # Twice, or sent again: Vipps got the receipt once.
    response = accept(client, held, receipt_hash)
    assert any("not held" in m for m in messages_of(response)), messages_of(response)
    services.sync_now(Order.objects.get(pk=held.pk))
    assert len(receipt_posts(vipps)) == 1
    assert 'value="accept_receipt"' not in panel(client, held)


def test_a_receipt_that_changed_since_staff_saw_it_is_not_accepted(held, vipps, client, staff):
    client.force_login(staff)
    response = accept(client, held, "0" * 64)
    assert any("changed" in m for m in messages_of(response)), messages_of(response)
    assert receipt_posts(vipps) == []
    assert VippsOrder.objects.for_order(held).get().receipt_accepted_hash == ""


def test_staff_who_may_only_view_see_the_figures_but_cannot_accept(held, vipps, client, viewer):
    client.force_login(viewer)
    page = panel(client, held)
    assert "227.99\xa0NOK" in page
    assert 'value="accept_receipt"' not in page
    receipt_hash = plan(held).payment_check.receipt_hash
    url = reverse("vipps_oscar:vipps-order-operation", args=[held.number])
    data = {"vipps_operation": "accept_receipt", "receipt_hash": receipt_hash}
    assert client.post(url, data).status_code == 403
    assert receipt_posts(vipps) == []


def test_a_held_receipt_cannot_be_accepted_from_the_order_list(held, vipps, client, staff):
    client.force_login(staff)
    response = client.post(
        reverse("vipps_oscar:vipps-order-bulk"),
        {"selected_order": [held.pk], "vipps_operation": "accept_receipt"},
        follow=True,
    )
    assert messages_of(response) == ["Unknown Vipps action."]
    assert receipt_posts(vipps) == []


def test_a_corrected_payment_sends_the_receipt_and_moves_the_link(held, vipps):
    from .shop import Source

    source = Source.objects.get(order=held)
    source.amount_allocated = D("228.00")
    source.save()  # the shop corrects its record: watched, so the order is queued
    services.drain()
    reference = f"oscar-{held.number}"
    assert vipps.receipt(reference) is not None
    assert vipps.category(reference)["category"] == "RECEIPT"
    assert vipps.category(reference)["orderDetailsUrl"] == receipt_url(held)


def test_my_orders_costs_the_same_queries_with_receipts_to_check(
    client, customer, place_order, vipps
):
    """Complete orders link their receipt page only once their receipt is checked."""
    from django.test.utils import CaptureQueriesContext

    def my_orders() -> tuple[int, str]:
        client.get(reverse("customer:order-list"))
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("customer:order-list")).content.decode()
        return len(queries), page

    client.force_login(customer)
    orders = [complete(place_order("Cloudberry jam", 3, "Wool socks", 1)) for _ in range(3)]
    three, page = my_orders()
    assert page.count("/receipt/") == 3
    orders += [complete(place_order("Coffee", 1, paid=D("1.00"))) for _ in range(4)]
    seven, page = my_orders()
    assert page.count("/receipt/") == 3  # the four held ones link their status page instead
    assert three == seven, (three, seven)
