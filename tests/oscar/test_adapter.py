"""The Oscar adapter on real Oscar orders: receipts with Oscar's own figures, references from
payment sources, links that follow the status, product images, and a forked order app."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from oscar.core.loading import get_model

from vipps_order_management import services
from vipps_order_management.adapters import get_adapter
from vipps_order_management.contrib.oscar import OscarOrderAdapter, vat_rate_from
from vipps_order_management.engine.plan import plan
from vipps_order_management.models import OutboxItem
from vipps_order_management.money import to_minor_units
from vipps_order_management.payloads import OrderLine

from .shop import VAT

Order = get_model("order", "Order")
Source = get_model("payment", "Source")
SourceType = get_model("payment", "SourceType")

pytestmark = pytest.mark.django_db

#: Orders of the test shop: three VAT rates, both basket offers, shipping (discounted above
#: 1000 kr), an invoice fee, free shipping.
ORDERS = [
    (("Wool socks", 2, "Coffee", 3), {}),
    (("Wool socks", 1, "Mittens", 2, "Chocolate", 5, "Jam", 1), {"invoice_fee": True}),
    (("Coffee", 1, "Jam", 7, "Chocolate", 3), {"shipping": False}),
    (("Knitting book", 3, "Coffee", 2), {}),  # books over 1000 kr: shipping halved
    (
        (
            "Knitting pattern",
            1,
        ),
        {"invoice_fee": True},
    ),
    (("Chocolate", 11, "Jam", 2, "Wool socks", 3, "Mittens", 1), {"invoice_fee": True}),
]


def minor(amount) -> int:
    return to_minor_units(amount, "NOK")


@pytest.fixture
def orders(place_order):
    return [place_order(*items, **options) for items, options in ORDERS]


def test_the_order_model_is_the_forked_one_and_has_the_oscar_adapter(orders):
    assert Order.__module__ == "tests.oscar.order.models"
    assert isinstance(orders[0], Order)
    assert orders[0].sales_channel == "web"
    assert isinstance(get_adapter(orders[0]), OscarOrderAdapter)


def test_every_receipt_line_carries_oscars_own_total_and_vat(orders):
    """Per line: totalAmount, totalAmountExcludingTax and totalTaxAmount are Oscar's figures."""
    derived_differently = 0
    for order in orders:
        sync_plan = plan(order)
        receipt = sync_plan.receipt
        assert receipt is not None, sync_plan.receipt_problem
        oscar_lines = list(order.lines.all())
        product_lines = receipt.order_lines[: len(oscar_lines)]
        for line, sent in zip(oscar_lines, product_lines, strict=True):
            assert sent.total_amount == minor(line.line_price_incl_tax)
            assert sent.total_amount_excluding_tax == minor(line.line_price_excl_tax)
            assert sent.total_tax_amount == minor(line.line_price_tax)
            assert sent.discount == minor(line.discount_incl_tax)
            assert sent.unit_info.unit_price == minor(line.unit_price_incl_tax)
            assert sent.unit_info.quantity == str(line.quantity)
            rate = VAT[line.product.get_product_class().name] * 100
            assert sent.tax_rate == int(rate * 100)
            assert sent.id == line.upc
            assert sent.name == line.title
            assert sent.product_url == f"https://shop.example{line.product.get_absolute_url()}"
            gross = OrderLine.from_gross(
                name=line.title, id=line.upc, total=line.line_price_incl_tax, vat_rate=rate
            )
            derived_differently += gross.total_tax_amount != sent.total_tax_amount
        assert receipt.total_amount == minor(order.total_incl_tax)
        assert receipt.total_tax_amount == minor(order.total_incl_tax - order.total_excl_tax)
        assert receipt.bottom_line.receipt_number == order.number
        assert sync_plan.receipt_problem is None
    # The point of sending Oscar's figures: VAT derived again from the gross differs here.
    assert derived_differently >= 3


def test_shipping_its_discount_and_surcharges_are_lines(orders):
    socks_and_coffee, with_fee, free_shipping, discounted, *_rest = orders

    shipping = plan(socks_and_coffee).receipt.order_lines[-1]
    assert shipping.is_shipping is True
    assert (shipping.total_amount, shipping.total_amount_excluding_tax) == (9900, 7920)
    assert (shipping.total_tax_amount, shipping.tax_rate, shipping.discount) == (1980, 2500, 0)
    assert shipping.id == socks_and_coffee.shipping_code

    fee = plan(with_fee).receipt.order_lines[-1]
    assert (fee.name, fee.total_amount, fee.total_amount_excluding_tax) == (
        "Flat surcharge",
        1990,
        1592,
    )
    assert fee.is_shipping is False
    assert fee.tax_rate == 2500

    free = plan(free_shipping).receipt.order_lines[-1]
    assert (free.is_shipping, free.total_amount, free.name) == (True, 0, "Free shipping")

    assert discounted.shipping_incl_tax == D("49.50")
    halved = plan(discounted).receipt.order_lines[-1]
    assert halved.is_shipping is True
    assert (halved.total_amount, halved.discount, halved.unit_info.unit_price) == (4950, 4950, 9900)
    assert halved.total_amount_excluding_tax == minor(discounted.shipping_excl_tax)


def test_both_offers_show_as_line_discounts(orders):
    socks_and_coffee = orders[0]
    lines = plan(socks_and_coffee).receipt.order_lines
    coffee = next(line for line in lines if line.name == "Coffee")
    assert coffee.discount == 2970  # 10 % of 3 x 99.00
    mittens_order = orders[1]
    clothing = [line for line in plan(mittens_order).receipt.order_lines if line.tax_rate == 2500][
        :2
    ]
    assert sum(line.discount for line in clothing) == 5000  # 50 kr over two pieces


def test_the_fake_vipps_receives_exactly_the_receipt_oscar_computed(orders, vipps):
    for order in orders:
        results = services.sync_now(order)
        assert all(result.ok for result in results), results
        sent = vipps.receipt(f"oscar-{order.number}")
        assert sent == plan(order).receipt.to_api()
        assert sum(line["totalAmount"] for line in sent["orderLines"]) == minor(
            order.total_incl_tax
        )


@pytest.mark.django_db(transaction=True)  # each save commits, as after Oscar's checkout
def test_the_reference_is_the_vipps_payment_source(place_order, settings):
    order = place_order("Coffee", 1, pay_with_vipps=False)
    assert plan(order).target is None  # no payment yet: nothing is sent
    card = SourceType.objects.create(name="Card", code="card")
    Source.objects.create(order=order, source_type=card, amount_allocated=D(1), reference="c-1")
    assert plan(Order.objects.get(pk=order.pk)).target is None

    OutboxItem.objects.all().delete()
    from .shop import vipps_source_type

    Source.objects.create(
        order=order, source_type=vipps_source_type(), amount_allocated=D(1), reference="v-1"
    )
    # sync_on watches the payment source: the order is queued the moment it is saved.
    assert OutboxItem.objects.for_order(order).exists()
    assert plan(Order.objects.get(pk=order.pk)).target.reference == "v-1"

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "OSCAR": {"PAYMENT_SOURCE_TYPE": "card"},
    }
    assert plan(Order.objects.get(pk=order.pk)).target.reference == "c-1"


def test_lines_shipping_events_and_sources_are_watched():
    adapter = OscarOrderAdapter(Order)
    assert set(adapter.sync_on) == {
        "order.Line",
        "payment.Source",
        "order.ShippingEvent",
        "order.Surcharge",
    }
    assert adapter.order_date_field == "date_placed"


def test_identity_date_and_customers(place_order, customer, staff, django_user_model):
    order = place_order("Mittens", 1)
    adapter = get_adapter(order)
    assert adapter.get_receipt_number(order) == order.number
    assert adapter.get_order_date(order) == order.date_placed
    assert adapter.get_paid_amount(order) == order.total_incl_tax
    assert adapter.get_display_name(order) == f"Order {order.number}"
    stranger = django_user_model.objects.create_user("ola", "ola@example.com", "ola")
    assert adapter.user_can_view(order, customer)
    assert adapter.user_can_view(order, staff)
    assert not adapter.user_can_view(order, stranger)
    assert list(adapter.get_orders_for_user(customer)) == [order]
    assert list(adapter.get_orders_for_user(stranger)) == []


def link_of(order):
    order = Order.objects.get(pk=order.pk)
    return [(str(link.category), link.url) for link in plan(order).all_links]


def test_the_link_follows_the_order_status(place_order, settings):
    from vipps_order_management.public_links import order_status_url, receipt_url

    order = place_order("Wool socks", 1)
    assert order.status == "Pending"
    status_page, receipt_page = order_status_url(order), receipt_url(order)
    assert link_of(order) == [("ORDER_CONFIRMATION", status_page)]
    order.set_status("Being processed")
    assert link_of(order) == [("ORDER_CONFIRMATION", status_page)]
    order.set_status("Shipped")
    assert link_of(order) == [("DELIVERY", status_page)]
    order.set_status("On hold")  # not listed: keeps the link it had
    assert link_of(order) == [("DELIVERY", status_page)]
    order.set_status("Complete")
    assert link_of(order) == [("RECEIPT", receipt_page)]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "OSCAR": {"STATUS_CATEGORIES": {"Pending": "ORDER_CONFIRMATION", "Cancelled": None}},
    }
    cancelled = place_order("Wool socks", 1)
    assert link_of(cancelled) == [("ORDER_CONFIRMATION", order_status_url(cancelled))]
    cancelled.set_status("Cancelled")
    assert link_of(cancelled) == []


def test_the_link_reaches_vipps_when_the_status_changes(place_order, vipps):
    order = place_order("Wool socks", 1)
    services.sync_now(order)
    reference = f"oscar-{order.number}"
    assert vipps.category(reference)["category"] == "ORDER_CONFIRMATION"
    order.set_status("Being processed")
    order.set_status("Shipped")
    services.drain()
    assert vipps.category(reference)["category"] == "DELIVERY"


def test_images_come_from_product_images(place_order, catalogue):
    from .shop import ProductImage

    order = place_order("Wool socks", 1, "Knitting pattern", 1, "Coffee", 1)
    sources = list(get_adapter(order).get_images(order))
    expected = [
        ProductImage.objects.get(product=catalogue.products[name]).original.name
        for name in ("Wool socks", "Coffee")
    ]
    assert [source.name for source in sources] == expected  # the pattern has none: skipped
    assert all(source.url.startswith("/media/") for source in sources)
    prepared = services.prepared_image(order)
    assert prepared is not None  # two products: one collage


def test_a_child_product_shows_its_parents_image(catalogue, customer):
    from .shop import Product, StockRecord, place_order

    socks = catalogue.products["Wool socks"]
    socks.structure = Product.PARENT
    socks.save()
    child = Product.objects.create(
        parent=socks, structure=Product.CHILD, title="Wool socks, red", upc="UPC-RED"
    )
    StockRecord.objects.create(
        product=child, partner=catalogue.partner, partner_sku="RED", price=D("103.20")
    )
    order = place_order(customer, [(child, 1)])
    names = [source.name for source in get_adapter(order).get_product_images(order)]
    assert names == [socks.images.get().original.name]


@pytest.mark.parametrize(
    ("incl", "excl", "expected"),
    [
        ("99.00", "86.09", D(15)),
        ("1.00", "0.80", D(25)),
        ("0.11", "0.09", D(25)),  # 22 % by the øre, 25 % as the shop charges it
        ("108.00", "100.00", D("8.00")),  # not a Norwegian rate: kept as read
        ("0.00", "0.00", None),
    ],
)
def test_vat_rates_read_from_oscars_figures(incl, excl, expected):
    known = (D(25), D(15), D(12), D(0))
    assert vat_rate_from(D(incl), D(excl), known) == expected
