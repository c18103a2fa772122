"""A shop shaped unlike the example: UUID keys, the owner as ``customer``, DKK in a field.

What a developer with a hand-built shop hits first: the adapter names the owner and the
currency once, and the customer's pages, the API and the receipts follow.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.shop.models import Purchase
from tests.shop.vipps import PurchaseAdapter
from vipps_order_management.adapters import get_adapter
from vipps_order_management.models import OrderLink
from vipps_order_management.templatetags.vipps_order_management import order_links
from vipps_order_management.testing import drain_until_idle

pytestmark = pytest.mark.django_db


@pytest.fixture
def shaped(settings, vipps):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Purchase": "tests.shop.vipps.PurchaseAdapter"},
    }
    return vipps


def purchase(customer=None, *, currency="DKK", number="P-1", price="149.00"):
    return Purchase.objects.create(
        customer=customer,
        number=number,
        currency=currency,
        payment_reference=f"purchase-{number}",
        title="Strikkeopskrift",
        price=Decimal(price),
    )


def test_the_customer_sees_their_own_orders_and_no_one_elses(shaped):
    kari = get_user_model().objects.create_user("kari", password="pw")
    ola = get_user_model().objects.create_user("ola", password="pw")
    mine, theirs = purchase(kari, number="P-1"), purchase(ola, number="P-2")
    OrderLink.objects.create(order=mine, category="TICKET", url="https://shop.example/t/1")

    adapter = get_adapter(Purchase)
    assert list(adapter.get_orders_for_user(kari)) == [mine]
    assert adapter.user_can_view(mine, kari)
    assert not adapter.user_can_view(theirs, kari)

    api = APIClient()
    api.force_authenticate(kari)
    listed = api.get("/vipps/api/v1/my/orders/").json()["results"]
    assert [(order["model"], order["pk"]) for order in listed] == [("shop.purchase", str(mine.pk))]
    links = api.get(f"/vipps/api/v1/my/orders/shop.purchase/{mine.pk}/links/")
    assert links.status_code == 200
    assert [link["url"] for link in links.json()["links"]] == [
        link.url for link in order_links(mine)
    ]
    assert api.get(f"/vipps/api/v1/my/orders/shop.purchase/{theirs.pk}/links/").status_code == 404


def test_receipts_go_in_each_orders_own_currency(shaped):
    danish = purchase(number="P-1", currency="DKK")
    finnish = purchase(number="P-2", currency="EUR", price="19.90")
    drain_until_idle()
    assert shaped.receipt(danish.payment_reference)["bottomLine"]["currency"] == "DKK"
    assert shaped.receipt(finnish.payment_reference)["bottomLine"]["currency"] == "EUR"
    assert shaped.receipt(danish.payment_reference)["orderLines"][0]["totalAmount"] == 14900


def test_an_owner_or_currency_field_the_model_lacks_is_named(settings):
    class Misnamed(PurchaseAdapter):
        owner_field = "user"
        currency_field = "valuta"

    assert [attribute for attribute, _ in Misnamed(Purchase).configuration_problems()] == [
        "owner_field",
        "currency_field",
    ]
    [(_, reason), _currency] = Misnamed(Purchase).configuration_problems()
    assert "shop.Purchase has no field 'user'" in reason
    assert "owner_field" in reason

    class NotAForeignKey(PurchaseAdapter):
        owner_field = "number"

    [(attribute, reason)] = NotAForeignKey(Purchase).configuration_problems()
    assert attribute == "owner_field"
    assert "not a foreign key" in reason

    class OwnMethods(PurchaseAdapter):
        owner_field = None

        def user_can_view(self, order, user):
            return True

        def get_orders_for_user(self, user):
            return self.get_queryset()

    assert OwnMethods(Purchase).configuration_problems() == []
    assert PurchaseAdapter(Purchase).configuration_problems() == []
