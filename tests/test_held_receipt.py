"""A receipt held because its total differs from what was paid: no link to a receipt page that
cannot show it, on any surface."""

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
from vipps_order_management.payloads import CategoryType
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
