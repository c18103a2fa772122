"""A receipt held because its total differs from what was paid: no link to a receipt page that
cannot show it, on any surface, and staff who send it as it is from the order's page, once."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from vipps_order_management import public_links, services
from vipps_order_management.adapters import Link
from vipps_order_management.engine.plan import plan
from vipps_order_management.models import SyncAttempt, VippsOrder
from vipps_order_management.payloads import CategoryType, OrderLine
from vipps_order_management.templatetags.vipps_order_management import order_links

from .shop.vipps import ShopOrderAdapter

pytestmark = pytest.mark.django_db

#: What each order (by number) was paid; set by the tests. 2 x 129.00 + 49.00 = 307.00.
PAID: dict[str, Decimal] = {}


class ReceiptPageAdapter(ShopOrderAdapter):
    """A shop that links each order's printable receipt page and knows what was paid."""

    def get_default_links(self, order):
        yield Link(CategoryType.RECEIPT, public_links.receipt_url(order))

    def get_paid_amount(self, order):
        return PAID.get(order.number)


class BothPagesAdapter(ReceiptPageAdapter):
    def get_default_links(self, order):
        yield Link(CategoryType.DELIVERY, public_links.order_status_url(order))
        yield from super().get_default_links(order)


class MoreLinesAdapter(ReceiptPageAdapter):
    """Coffee added after staff accepted the receipt: a receipt they never saw."""

    def get_order_lines(self, order):
        coffee = OrderLine.from_gross(
            name="Coffee", id="COFFEE", unit_price=Decimal("99.00"), vat_rate=Decimal(15)
        )
        return [*super().get_order_lines(order), coffee]


@pytest.fixture
def adapter(settings):
    def use(adapter_class=ReceiptPageAdapter):
        settings.VIPPS_ORDER_MANAGEMENT = {
            **settings.VIPPS_ORDER_MANAGEMENT,
            "ORDER_ADAPTERS": {"shop.Order": f"{__name__}.{adapter_class.__name__}"},
        }

    use()
    yield use
    PAID.clear()


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw")


def links_of(order) -> list[tuple[str, str]]:
    return [(str(link.category), link.url) for link in plan(order).links]


def seen_by_the_customer(client, order) -> dict[str, list[tuple[str, str]]]:
    """The order's links on each customer surface: template tags, the API, the status page."""
    api = APIClient()
    api.force_authenticate(order.user)
    path = reverse(
        "vipps_order_management:api-v1:my-order-links",
        kwargs={"model": order._meta.label_lower, "order_pk": order.pk},
    )
    status_page = client.get(public_links.order_status_url(order, absolute=False))
    html = status_page.content.decode()
    return {
        "tags": [(link.category, link.url) for link in order_links(order)],
        "api": [(link["category"], link["url"]) for link in api.get(path).json()["links"]],
        "status page button": re.findall(r'href="(/vipps/orders/[^"]+/receipt/)"', html),
    }


def test_while_the_receipt_is_held_its_page_is_not_linked_anywhere(
    adapter, make_order, alice, client
):
    order = make_order(user=alice)
    status_page, receipt_page = (
        public_links.order_status_url(order),
        public_links.receipt_url(order),
    )
    PAID[order.number] = Decimal("307.01")
    assert plan(order).receipt is None
    assert links_of(order) == [("ORDER_CONFIRMATION", status_page)]
    assert seen_by_the_customer(client, order) == {
        "tags": [("ORDER_CONFIRMATION", status_page)],
        "api": [("ORDER_CONFIRMATION", status_page)],
        "status page button": [],
    }

    PAID[order.number] = Decimal("307.00")  # the figures agree: the receipt and its page
    assert links_of(order) == [("RECEIPT", receipt_page)]
    assert seen_by_the_customer(client, order) == {
        "tags": [("RECEIPT", receipt_page)],
        "api": [("RECEIPT", receipt_page)],
        "status page button": [public_links.receipt_url(order, absolute=False)],
    }


def test_an_unfinished_order_links_its_status_page_not_its_receipt_page(adapter, make_order):
    order = make_order(status="new")
    assert links_of(order) == [("ORDER_CONFIRMATION", public_links.order_status_url(order))]


def test_the_status_page_stands_in_once(adapter, make_order):
    adapter(BothPagesAdapter)
    order = make_order()
    PAID[order.number] = Decimal("307.01")
    assert [(str(link.category), link.url) for link in plan(order).all_links] == [
        ("DELIVERY", public_links.order_status_url(order))
    ]


def test_the_held_receipts_link_goes_to_vipps_as_the_status_page(adapter, make_order, vipps):
    order = make_order()
    PAID[order.number] = Decimal("307.01")
    services.sync_now(order)
    assert vipps.receipt(order.vipps_reference) is None
    assert vipps.category(order.vipps_reference) == {
        "category": "ORDER_CONFIRMATION",
        "orderDetailsUrl": public_links.order_status_url(order),
        "imageId": vipps.category(order.vipps_reference)["imageId"],
    }


@pytest.fixture
def boss(db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw")


def test_staff_send_a_held_receipt_as_it_is_from_the_admin_page_once(
    adapter, make_order, vipps, client, boss
):
    order = make_order()
    PAID[order.number] = Decimal("307.01")
    services.sync_now(order)
    client.force_login(boss)
    page_url = reverse("admin:shop_order_vipps", args=[order.pk]) + "?remote=0"
    page = client.get(page_url).content.decode()
    figures = re.search(r'class="vipps-payment-check[^"]*">(.*?)</table>', page, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", figures) == [
        "307.00\xa0NOK",
        "307.01\xa0NOK",
        "0.01\xa0NOK",
    ]
    receipt_hash = re.search(r'name="receipt_hash" value="([0-9a-f]{64})"', page).group(1)

    for _twice in range(2):
        response = client.post(
            page_url, {"operation": "accept_receipt", "receipt_hash": receipt_hash}, follow=True
        )
    messages = [str(message) for message in response.context["messages"]]
    assert any("not held" in message for message in messages), messages
    assert len(vipps.requests_for("POST", "/receipts/")) == 1
    assert vipps.receipt(order.vipps_reference) == plan(order).receipt.to_api()
    assert vipps.category(order.vipps_reference)["category"] == "RECEIPT"
    state = VippsOrder.objects.for_order(order).get()
    assert state.receipt_state == VippsOrder.ReceiptState.SENT
    assert state.receipt_accepted_hash == receipt_hash
    accepted = SyncAttempt.objects.for_order(order).get(endpoint="receipt accepted by staff")
    assert accepted.error.startswith("boss accepted the receipt as it is")
    page = client.get(page_url).content.decode()
    assert "Staff accepted this receipt as it is." in page
    assert 'name="receipt_hash"' not in page


def test_staff_accept_that_receipt_only(adapter, make_order):
    order = make_order()
    PAID[order.number] = Decimal("307.01")
    with pytest.raises(ValueError, match="changed since it was shown"):
        services.accept_receipt(order, "0" * 64)
    check = services.accept_receipt(order, plan(order).payment_check.receipt_hash, by="boss")
    assert (check.total, check.paid, check.difference) == (30700, 30701, 1)
    assert plan(order).receipt is not None
    assert plan(order).payment_check.accepted
    with pytest.raises(ValueError, match="not held"):
        services.accept_receipt(order, check.receipt_hash)

    adapter(MoreLinesAdapter)  # the order changed after staff looked: held again
    assert plan(order).receipt is None
    assert "406.00 NOK" in str(plan(order).receipt_problem)
