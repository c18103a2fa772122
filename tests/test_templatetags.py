"""The ``vipps_order_management`` tag library: links, image, status badge, prefetch, money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection
from django.template import Context, Template, TemplateSyntaxError
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.functional import Promise

from tests.shop.models import Booking, Order
from tests.shop.vipps import BookingAdapter, ShopOrderAdapter
from vipps_order_management.adapters import Link
from vipps_order_management.models import (
    LinkCategory,
    OrderImage,
    OrderLink,
    OutboxItem,
    VippsOrder,
)
from vipps_order_management.payloads import CategoryType
from vipps_order_management.templatetags.vipps_order_management import (
    DisplayLink,
    order_links,
    prefetch_vipps,
)

from .conftest import png_bytes

pytestmark = pytest.mark.django_db


def render(source: str, **context) -> str:
    return Template("{% load vipps_order_management %}" + source).render(Context(context))


def add_link(order, category, url, position=0):
    return OrderLink.objects.create(
        content_type=ContentType.objects.get_for_model(order),
        object_id=str(order.pk),
        category=category,
        url=url,
        position=position,
    )


def add_image(order, description=""):
    image = OrderImage(
        content_type=ContentType.objects.get_for_model(order),
        object_id=str(order.pk),
        description=description,
    )
    image.image.save("order.png", ContentFile(png_bytes()), save=True)
    return image


def set_state(order, **fields):
    return VippsOrder.objects.update_or_create(
        content_type=ContentType.objects.get_for_model(order),
        object_id=str(order.pk),
        defaults=fields,
    )[0]


def set_outbox(order, status):
    OutboxItem.objects.for_order(order).update(status=status)


# ---------------------------------------------------------------------- links


def test_links_render_stored_rows_then_adapter_defaults_with_icon_and_label(make_order):
    order = make_order(tracking_url="https://track.example/parcel/1")
    add_link(order, "TICKET", "https://tickets.example/t/9")

    html = render("{% vipps_order_links order %}", order=order)

    hrefs = [part.split('"')[0] for part in html.split('href="')[1:]]
    assert hrefs == [
        "https://tickets.example/t/9",
        "https://shop.example/orders/1001",
        "https://track.example/parcel/1",
    ]
    assert '<span class="vipps-om-links__label">Ticket</span>' in html
    assert '<span class="vipps-om-links__label">Order confirmation</span>' in html
    assert '<span class="vipps-om-links__label">Delivery</span>' in html
    assert 'src="/static/vipps_order_management/icons/ticket.svg" alt=""' in html
    assert 'src="/static/vipps_order_management/icons/order-confirmation.svg"' in html
    assert 'rel="noopener noreferrer"' in html


def test_every_category_has_an_icon_file_and_a_label():
    from django.contrib.staticfiles import finders

    for category in LinkCategory:
        link = DisplayLink(category.value, "https://shop.example/")
        assert finders.find(link.icon), link.icon
        assert str(link.label) == category.label
        with open(finders.find(link.icon), encoding="utf-8") as handle:
            svg = handle.read()
        assert svg.startswith("<svg ")
        assert 'xmlns="http://www.w3.org/2000/svg"' in svg


def test_a_hostile_url_is_escaped_and_unsafe_links_are_dropped(make_order):
    order = make_order()
    add_link(order, "GENERAL", 'https://evil.example/"><script>alert(1)</script>', position=0)
    add_link(order, "GENERAL", "javascript:alert(document.cookie)", position=1)
    add_link(order, "GENERAL", "JaVaScRiPt:alert(1)", position=2)
    add_link(order, "GENERAL", "data:text/html,<b>x</b>", position=3)
    add_link(order, "GENERAL", "http://insecure.example/order", position=4)
    add_link(order, "GENERAL", "//shop.example/protocol-relative", position=5)
    add_link(order, "GENERAL", "https://sp ace.example/", position=6)
    add_link(order, "TICKET", "myapp://tickets/42", position=7)
    add_link(order, "NOT_A_CATEGORY", "https://shop.example/odd", position=8)

    html = render("{% vipps_order_links order %}", order=order)

    assert "<script>" not in html
    # What a URI cannot hold is percent-encoded, as it is sent to Vipps and as a browser would.
    assert 'href="https://evil.example/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"' in html
    assert "javascript" not in html.lower()
    assert "data:" not in html
    assert "insecure.example" not in html
    assert "protocol-relative" not in html
    assert "sp ace" not in html
    assert "/odd" not in html
    assert 'href="myapp://tickets/42"' in html
    assert html.count("<li ") == 3  # hostile-but-https, app link, the adapter's default


def test_the_links_template_can_be_chosen_and_overridden(make_order, settings, tmp_path):
    order = make_order()
    (tmp_path / "mine.html").write_text(
        "{% for link in links %}[{{ link.category }} {{ link.url }}]{% endfor %}"
    )
    override = tmp_path / "vipps_order_management" / "tags"
    override.mkdir(parents=True)
    (override / "links.html").write_text("{% for link in links %}<{{ link.slug }}>{% endfor %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]

    chosen = render('{% vipps_order_links order template="mine.html" %}', order=order)
    overridden = render("{% vipps_order_links order %}", order=order)

    assert chosen == "[ORDER_CONFIRMATION https://shop.example/orders/1001]"
    assert overridden == "<order-confirmation>"


def test_labels_are_lazy_and_translated_when_rendered(make_order, monkeypatch):
    from django.utils.translation import trans_real

    order = make_order()
    add_link(order, "RECEIPT", "https://shop.example/receipts/1001")
    label = order_links(order)[0].label

    assert isinstance(label, Promise)
    assert isinstance(LinkCategory.RECEIPT.label, Promise)
    with translation.override("en"):
        assert "Receipt</span>" in render("{% vipps_order_links order %}", order=order)
    # A Norwegian catalogue entry, as the compiled catalogues will provide: the label follows
    # the language active at render time, not the one at import.
    catalog = trans_real.translation("nb")._catalog
    monkeypatch.setitem(catalog._catalogs[0], "Receipt", "Kvittering")
    with translation.override("nb"):
        html = render("{% vipps_order_links order %}", order=order)
        assert str(label) == "Kvittering"
    assert '<span class="vipps-om-links__label">Kvittering</span>' in html


def test_an_adapter_that_overrides_get_links_is_respected(make_order, settings):
    class TicketsAdapter(ShopOrderAdapter):
        def get_links(self, order):
            return [Link(CategoryType.TICKET, f"https://tickets.example/{order.number}")]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": TicketsAdapter, "shop.Booking": BookingAdapter},
    }
    order = make_order()

    for subject in (order, prefetch_vipps([order])[0]):
        html = render("{% vipps_order_links order %}", order=subject)
        assert 'href="https://tickets.example/1001"' in html
        assert "orders/1001" not in html


def test_tags_render_nothing_for_what_is_not_an_order(db):
    user = get_user_model().objects.create(username="customer")

    assert render("{% vipps_order_links order %}", order=None) == ""
    assert render("{% vipps_order_image order %}", order="") == ""
    assert render("{% vipps_order_status order %}", order=Order(number="unsaved")) == ""
    # A model without adapter: no default links, no state, and no error on the shop's page.
    assert render("{% vipps_order_links user %}{% vipps_order_status user %}", user=user) == ""


# ---------------------------------------------------------------------- image


def test_the_image_is_the_first_stored_one_with_its_description_as_alt(make_order):
    order = make_order()
    # Without a stored image, the first product image the adapter names is shown.
    fallback = render("{% vipps_order_image order %}", order=order)
    assert 'src="/media/products/socks.png"' in fallback
    assert 'alt="Image for Order 1001"' in fallback

    first = add_image(order, description='Socks "red" <b>')
    add_image(order, description="Second")

    html = render("{% vipps_order_image order %}", order=order)

    assert f'src="{first.image.url}"' in html
    assert 'alt="Socks &quot;red&quot; &lt;b&gt;"' in html
    assert "Second" not in html


def test_an_image_without_description_is_named_after_the_order(make_order):
    order = make_order()
    add_image(order)

    assert 'alt="Image for Order 1001"' in render("{% vipps_order_image order %}", order=order)


# ---------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("outbox", "state", "expected"),
    [
        ("pending", None, "on-its-way"),  # paid through Vipps, not sent yet
        ("pending", {"receipt_state": "pending"}, "on-its-way"),
        ("done", {"receipt_state": "sent", "links_state": "sent"}, "in-app"),
        ("done", {"receipt_state": "waiting", "links_state": "sent"}, "in-app"),
        ("pending", {"receipt_state": "drift"}, "in-app"),  # the customer has the receipt
        ("dead", {"receipt_state": "sent"}, "in-app"),
        # What only staff can fix says nothing to the customer.
        ("dead", {"receipt_state": "pending"}, None),
        ("done", {"receipt_state": "dead", "links_state": "dead"}, None),
    ],
)
def test_the_status_badge_speaks_to_the_customer(make_order, outbox, state, expected):
    order = make_order()
    set_outbox(order, outbox)
    if state is not None:
        set_state(order, **state)

    for html in (
        render("{% vipps_order_status order %}", order=order),
        render("{% vipps_order_status order %}", order=prefetch_vipps([order])[0]),
    ):
        if expected is None:
            assert html == ""
            continue
        assert html == (
            f'<span class="vipps-om-status vipps-om-status--{expected}">'
            f"{ {'in-app': 'In the Vipps app', 'on-its-way': 'On its way to the Vipps app'}[expected] }"
            "</span>"
        )
        for staff_word in ("Failed", "Differs", "Pending", "Synced"):
            assert staff_word not in html


def test_no_badge_for_an_order_without_a_vipps_payment(make_order):
    order = make_order(reference=False)
    assert rows_pending(order)  # the order is in the outbox, waiting for a payment
    assert render("{% vipps_order_status order %}", order=order) == ""
    assert render("{% vipps_order_status order %}", order=prefetch_vipps([order])[0]) == ""
    set_outbox(order, "done")
    assert render("{% vipps_order_status order %}", order=order) == ""


def test_the_badge_is_translated(make_order):
    order = make_order()
    set_state(order, receipt_state="sent")
    with translation.override("nb"):
        html = render("{% vipps_order_status order %}", order=order)
    assert "Vipps-appen" in html


def rows_pending(order) -> bool:
    return OutboxItem.objects.for_order(order).filter(status="pending").exists()


# ---------------------------------------------------------------------- prefetch


LIST = (
    "{% vipps_prefetch orders as orders %}{% for order in orders %}"
    "<div id='{{ order.pk }}'>{% vipps_order_status order %}{% vipps_order_links order %}"
    "{% vipps_order_image order %}</div>{% endfor %}"
)


def make_orders(make_order, count):
    orders = [make_order(tracking_url=f"https://track.example/{n}") for n in range(count)]
    for index, order in enumerate(orders):
        add_link(order, "TICKET", f"https://tickets.example/{order.number}")
        if index % 2 == 0:
            add_image(order, description=f"Image {order.number}")
        if index % 3 == 0:
            set_state(order, receipt_state="sent", links_state="sent")
            set_outbox(order, "done")
    return orders


def render_counting(orders) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        html = render(LIST, orders=orders)
    return len(queries), html


@pytest.mark.parametrize("as_queryset", [False, True])
def test_a_list_of_orders_costs_the_same_queries_for_1_and_for_20(make_order, as_queryset):
    orders = make_orders(make_order, 20)
    ContentType.objects.get_for_model(Order)  # warm Django's content type cache, as in a server

    def subject(count):
        chosen = orders[:count]
        # The adapter's product images read items and products: the shop prefetches those.
        orders_ = Order.objects.prefetch_related("items__product")
        if as_queryset:
            return orders_.filter(pk__in=[o.pk for o in chosen]).order_by("pk")
        return [orders_.get(pk=o.pk) for o in chosen]

    one, one_html = render_counting(subject(1))
    twenty, html = render_counting(subject(20))

    # (the orders, their items and products,) link rows, images, state, outbox
    expected = 7 if as_queryset else 4
    assert one == expected
    assert twenty == expected
    assert "tickets.example/1001" in one_html
    for index, order in enumerate(orders):
        block = html.split(f"<div id='{order.pk}'>")[1].split("</div>")[0]
        assert f'href="https://tickets.example/{order.number}"' in block
        assert f'href="https://shop.example/orders/{order.number}"' in block
        assert f'href="https://track.example/{index}"' in block
        assert "vipps-om-image" in block
        if index % 2 == 0:  # a stored image; the others show the product's
            assert f'alt="Image {order.number}"' in block
        else:
            assert f'alt="Image for Order {order.number}"' in block
        status = "in-app" if index % 3 == 0 else "on-its-way"
        assert f"vipps-om-status--{status}" in block
        assert block.count("<li ") == 3


def test_after_prefetch_the_tags_make_no_queries(make_order, django_assert_num_queries):
    orders = prefetch_vipps(make_orders(make_order, 3))

    with django_assert_num_queries(0):
        html = render(
            "{% for order in orders %}{% vipps_order_status order %}{% vipps_order_links order %}"
            "{% vipps_order_image order %}{% endfor %}",
            orders=orders,
        )

    assert html.count("<li ") == 9
    assert all(isinstance(link, DisplayLink) for link in orders[0].vipps_links)


def test_without_prefetch_each_tag_queries(make_order):
    order = make_orders(make_order, 1)[0]
    order = Order.objects.get(pk=order.pk)

    with CaptureQueriesContext(connection) as queries:
        render("{% vipps_order_links order %}", order=order)

    assert len(queries) >= 1


def test_prefetch_handles_several_models_in_one_list(make_order, django_assert_num_queries):
    order = Order.objects.prefetch_related("items__product").get(pk=make_order().pk)
    booking = Booking.objects.create(title="Spa day", price=Decimal(990), charge_id="c-1")
    add_link(booking, "TICKET", "https://tickets.example/spa")
    ContentType.objects.get_for_models(Order, Booking)

    with django_assert_num_queries(4):
        mixed = prefetch_vipps([order, booking])

    assert [link.url for link in mixed[0].vipps_links] == ["https://shop.example/orders/1001"]
    assert [link.url for link in mixed[1].vipps_links] == [
        "https://tickets.example/spa",
        f"https://shop.example/bookings/{booking.pk}",
    ]
    assert prefetch_vipps([]) == []


# ---------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("language", "amount", "currency", "expected"),
    [
        ("en", 12990, "NOK", "129.90\u00a0NOK"),
        ("en", 123456789, "NOK", "1,234,567.89\u00a0NOK"),
        ("en", -12900, "DKK", "-129.00\u00a0DKK"),
        ("en", 0, "EUR", "0.00\u00a0EUR"),
        ("en", 5, "EUR", "0.05\u00a0EUR"),
        ("nb", 123456789, "NOK", "1\u00a0234\u00a0567,89\u00a0NOK"),
        ("da", 123456, "DKK", "1.234,56\u00a0DKK"),
        ("fi", 123456, "EUR", "1\u00a0234,56\u00a0EUR"),
    ],
)
def test_vipps_money_is_exact_and_localized(language, amount, currency, expected):
    with translation.override(language):
        assert render("{{ amount|vipps_money:currency }}", amount=amount, currency=currency) == (
            expected
        )


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(12.5, "NOK"), ("1250", "NOK"), (True, "NOK"), (None, "NOK"), (1250, "SEK"), (1250, "")],
)
def test_vipps_money_renders_nothing_for_what_is_not_minor_units(amount, currency):
    assert render("{{ amount|vipps_money:currency }}", amount=amount, currency=currency) == ""


def test_vipps_money_needs_a_currency():
    with pytest.raises(TemplateSyntaxError):
        render("{{ 100|vipps_money }}")
