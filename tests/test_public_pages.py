"""The signed customer pages: order status and printable receipt, and the links to them."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import signing
from django.http import Http404

from tests.shop.models import Booking, Order
from tests.shop.vipps import BookingAdapter, ShopOrderAdapter
from vipps_order_management import public_links, tokens
from vipps_order_management.adapters import Link
from vipps_order_management.exceptions import VippsConfigurationError
from vipps_order_management.models import VippsOrder
from vipps_order_management.payloads import CategoryType, OrderLine

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------- helpers


class _Tables(HTMLParser):
    """Cell texts of every table row, by the table's class; whitespace (and nbsp) collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs).get("class", "")
            self.tables[self._table] = []
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, table_class: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    return next(value for key, value in parser.tables.items() if table_class in key.split())


def text(html: str) -> str:
    """The page's text with tags removed and whitespace (nbsp too) collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def page(client, url):
    response = client.get(url)
    return response, response.content.decode()


class DatedReturnsAdapter(ShopOrderAdapter):
    """The fake shop plus a discounted 15 % line, a returned line and an order date."""

    def get_order_date(self, order):
        return datetime(2025, 3, 14, 12, 30, tzinfo=UTC)

    def get_order_lines(self, order):
        return [
            *super().get_order_lines(order),
            OrderLine.from_gross(
                name="Coffee",
                id="COFFEE-1",
                unit_price=Decimal("89.90"),
                quantity=1,
                vat_rate=Decimal(15),
                discount=Decimal("10.00"),
            ),
            OrderLine.from_gross(
                name="Returned socks",
                id="SOCK-1",
                unit_price=Decimal("129.00"),
                quantity=1,
                vat_rate=Decimal(25),
                is_return=True,
            ),
        ]


class SelfLinkingAdapter(ShopOrderAdapter):
    """Default links that point at the order's own customer pages, as a shop would send them."""

    def get_default_links(self, order):
        yield Link(CategoryType.ORDER_CONFIRMATION, public_links.order_status_url(order))
        yield Link(CategoryType.RECEIPT, public_links.receipt_url(order))
        yield Link(CategoryType.DELIVERY, "https://track.example/parcel/77")


class SecretAdapter(ShopOrderAdapter):
    """Revocable links: the order's tracking_url field stands in for a per-order secret."""

    def get_public_link_secret(self, order):
        return order.tracking_url


class NoLinesAdapter(ShopOrderAdapter):
    def get_order_lines(self, order):
        return []


def use_adapters(settings, **adapters):
    chosen = {"shop.Order": ShopOrderAdapter, "shop.Booking": BookingAdapter}
    chosen.update({f"shop.{name}": adapter for name, adapter in adapters.items()})
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": chosen,
    }


# ---------------------------------------------------------------------- tokens and URLs


def test_urls_are_absolute_on_site_url_and_open_the_pages(client, make_order):
    order = make_order()
    token = public_links.order_token(order)

    assert public_links.order_status_url(order) == f"https://shop.example/vipps/orders/{token}/"
    assert public_links.receipt_url(order) == f"https://shop.example/vipps/orders/{token}/receipt/"
    assert public_links.order_status_url(order, absolute=False) == f"/vipps/orders/{token}/"
    assert client.get(public_links.order_status_url(order, absolute=False)).status_code == 200
    assert client.get(public_links.receipt_url(order, absolute=False)).status_code == 200


def test_tokens_are_compact_url_safe_and_name_the_order(make_order):
    order = make_order()
    token = public_links.order_token(order)

    assert re.fullmatch(r"[A-Za-z0-9_\-:.]+", token)
    assert len(token) < 100
    assert public_links.token_key(token) == ("shop.order", str(order.pk))
    assert public_links.order_from_token(token) == order


def test_a_token_is_the_same_all_day_so_links_sent_to_vipps_do_not_churn(make_order):
    order = make_order()
    with time_machine.travel(datetime(2025, 6, 1, 0, 0, 5, tzinfo=UTC), tick=False):
        morning = public_links.order_token(order)
    with time_machine.travel(datetime(2025, 6, 1, 23, 59, tzinfo=UTC), tick=False):
        evening = public_links.order_token(order)
    with time_machine.travel(datetime(2025, 6, 2, 0, 0, 5, tzinfo=UTC), tick=False):
        next_day = public_links.order_token(order)
        assert public_links.order_from_token(morning) == order

    assert morning == evening
    assert next_day != morning


def test_site_url_missing_is_a_clear_error_unless_a_relative_url_is_asked_for(settings, make_order):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "SITE_URL": None}

    with pytest.raises(VippsConfigurationError, match=r"SITE_URL.*is not set"):
        public_links.order_status_url(order)
    with pytest.raises(VippsConfigurationError, match="SITE_URL"):
        public_links.receipt_url(order)
    assert public_links.order_status_url(order, absolute=False).startswith("/vipps/orders/")


def test_site_url_must_be_https_and_may_end_with_a_slash(settings, make_order):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SITE_URL": "http://shop.example",
    }
    with pytest.raises(VippsConfigurationError, match="https"):
        public_links.order_status_url(order)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SITE_URL": "https://shop.example/",
    }
    assert public_links.order_status_url(order).startswith("https://shop.example/vipps/orders/")


def test_no_token_for_unsaved_orders_or_models_without_adapter(make_order):
    user = get_user_model().objects.create(username="customer")

    with pytest.raises(VippsConfigurationError, match="no adapter"):
        public_links.order_token(user)
    with pytest.raises(ValueError, match="save the order"):
        public_links.order_token(Order(number="unsaved"))


# ---------------------------------------------------------------------- the status page


def test_the_status_page_shows_the_order_its_links_image_and_receipt_state(
    client, make_order, tmp_path
):
    from django.contrib.contenttypes.models import ContentType
    from django.core.files.base import ContentFile

    from vipps_order_management.models import OrderImage

    from .conftest import png_bytes

    order = make_order(tracking_url="https://track.example/parcel/1")
    content_type = ContentType.objects.get_for_model(order)
    image = OrderImage(content_type=content_type, object_id=str(order.pk), description="Socks")
    image.image.save("socks.png", ContentFile(png_bytes()), save=True)

    response, html = page(client, public_links.order_status_url(order, absolute=False))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert '<h1 class="vipps-om-header__title">Order 1001</h1>' in html
    assert "Strikk og Sokk AS" in html
    assert 'href="https://shop.example/orders/1001"' in html
    assert "Order confirmation" in html
    assert "/static/vipps_order_management/icons/order-confirmation.svg" in html
    assert 'href="https://track.example/parcel/1"' in html
    assert "/static/vipps_order_management/icons/delivery.svg" in html
    assert f'src="{image.image.url}"' in html
    assert 'alt="Socks"' in html
    assert "The receipt is not in the Vipps MobilePay app yet." in html
    receipt_path = public_links.url_for_token(
        "order_receipt", public_links.order_token(order), absolute=False
    )
    assert f'href="{receipt_path}"' in html


def test_the_pages_link_to_each_other_with_the_token_they_were_opened_with(client, make_order):
    """A fresher token would let anyone holding a link extend its life for ever."""
    order = make_order()
    issued = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(issued, tick=False):
        token = public_links.order_token(order)

    with time_machine.travel(issued + timedelta(days=30), tick=False):
        assert public_links.order_token(order) != token
        _, status_html = page(
            client, public_links.url_for_token("order_status", token, absolute=False)
        )
        _, receipt_html = page(
            client, public_links.url_for_token("order_receipt", token, absolute=False)
        )

    assert f'href="/vipps/orders/{token}/receipt/"' in status_html
    assert f'href="/vipps/orders/{token}/"' in receipt_html
    assert status_html.count("/vipps/orders/") == 1
    assert receipt_html.count("/vipps/orders/") == 1


def test_the_status_page_says_when_the_receipt_is_in_the_app(client, make_order):
    from django.contrib.contenttypes.models import ContentType

    order = make_order()
    VippsOrder.objects.create(
        content_type=ContentType.objects.get_for_model(order),
        object_id=str(order.pk),
        receipt_state=VippsOrder.ReceiptState.SENT,
        receipt_sent_at=datetime(2025, 3, 15, 9, 0, tzinfo=UTC),
    )

    _, html = page(client, public_links.order_status_url(order, absolute=False))

    assert "The receipt is in the Vipps MobilePay app." in html
    assert "March 15, 2025" in html


def test_the_status_page_of_an_unfinished_order_offers_no_receipt(client, make_order):
    order = make_order(status="new")

    _, html = page(client, public_links.order_status_url(order, absolute=False))

    assert "/receipt/" not in html


def test_the_status_page_leaves_out_links_to_its_own_pages(client, settings, make_order):
    use_adapters(settings, Order=SelfLinkingAdapter)
    order = make_order()

    _, html = page(client, public_links.order_status_url(order, absolute=False))

    assert 'href="https://track.example/parcel/77"' in html
    assert "https://shop.example/vipps/orders/" not in html
    assert html.count("/receipt/") == 1  # only the page's own "printable receipt" button


def test_only_that_orders_data_is_shown(client, make_order):
    mine = make_order()
    other = make_order(quantity=5, shipping="99.00")
    assert (mine.number, other.number) == ("1001", "1002")

    for url in (
        public_links.order_status_url(mine, absolute=False),
        public_links.receipt_url(mine, absolute=False),
    ):
        response, html = page(client, url)
        assert response.status_code == 200
        assert "1001" in html
        assert "1002" not in html
        assert "99.00" not in html
        assert "645.00" not in html  # the other order's 5 x 129.00


def test_a_uuid_keyed_booking_works(client):
    booking = Booking.objects.create(
        title="Spa day", price=Decimal("990.00"), confirmed=True, charge_id="charge-1"
    )

    response, html = page(client, public_links.order_status_url(booking, absolute=False))
    assert response.status_code == 200
    assert '<h1 class="vipps-om-header__title">Spa day</h1>' in html
    assert f'href="https://shop.example/bookings/{booking.pk}"' in html
    assert "/static/vipps_order_management/icons/booking.svg" in html

    response, html = page(client, public_links.receipt_url(booking, absolute=False))
    assert response.status_code == 200
    assert rows(html, "vipps-om-lines") == [
        ["Spa day", "1 pcs", "990.00 NOK", "", "12 %", "990.00 NOK"]
    ]
    assert rows(html, "vipps-om-vat") == [["12 %", "883.93 NOK", "106.07 NOK", "990.00 NOK"]]
    assert str(booking.pk) in text(html)


def test_hostile_order_names_are_escaped(client):
    booking = Booking.objects.create(
        title='<script>alert("x")</script>', price=Decimal("10.00"), confirmed=True
    )

    _, html = page(client, public_links.order_status_url(booking, absolute=False))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


# ---------------------------------------------------------------------- the receipt


def test_the_receipt_is_a_proof_of_purchase(client, settings, make_order):
    use_adapters(settings, Order=DatedReturnsAdapter)
    order = make_order(quantity=2, shipping="49.00")

    response, html = page(client, public_links.receipt_url(order, absolute=False))

    assert response.status_code == 200
    page_text = text(html)
    assert "Strikk og Sokk AS" in page_text
    assert "Storgata 1, 0155 Oslo" in page_text
    assert "Organisation number: NO 912 345 678 MVA" in page_text
    assert "Receipt number 1001" in page_text
    assert 'datetime="2025-03-14T13:30:00+01:00"' in html  # shown in the shop's time zone
    assert "March 14, 2025" in page_text
    assert "Currency NOK" in page_text
    assert rows(html, "vipps-om-lines") == [
        ["Wool socks", "2 pcs", "129.00 NOK", "", "25 %", "258.00 NOK"],
        ["Shipping Shipping", "1 pcs", "49.00 NOK", "", "25 %", "49.00 NOK"],
        ["Coffee", "1 pcs", "89.90 NOK", "10.00 NOK", "15 %", "79.90 NOK"],
        ["Returned socks Returned", "1 pcs", "129.00 NOK", "", "25 %", "-129.00 NOK"],
    ]
    assert 'class="vipps-om-line vipps-om-line--shipping"' in html
    assert 'class="vipps-om-line vipps-om-line--return"' in html
    # 25 %: 258.00 + 49.00 - 129.00 gross; 15 %: 79.90 gross (69.48 net after rounding).
    assert rows(html, "vipps-om-vat") == [
        ["25 %", "142.40 NOK", "35.60 NOK", "178.00 NOK"],
        ["15 %", "69.48 NOK", "10.42 NOK", "79.90 NOK"],
    ]
    assert "Total excluding VAT 211.88 NOK" in page_text
    assert "Total VAT 46.02 NOK" in page_text
    assert "Total 257.90 NOK" in page_text
    assert "257.90\u00a0NOK" in html  # amount and currency never wrap apart


def test_the_receipt_has_its_print_stylesheet_and_no_external_resources(client, make_order):
    order = make_order()

    _, html = page(client, public_links.receipt_url(order, absolute=False))

    assert re.search(
        r'<link rel="stylesheet" href="/static/vipps_order_management/css/print\.css" '
        r'media="print">',
        html,
    )
    assert not re.search(r'(src|href)="(https?:)?//', html.replace("https://shop.example", ""))


def test_the_receipt_is_localized(client, make_order):
    order = make_order(quantity=10, unit_price=Decimal("129.50"))

    response = client.get(
        public_links.receipt_url(order, absolute=False), HTTP_ACCEPT_LANGUAGE="nb"
    )
    html = response.content.decode()

    assert '<html lang="nb">' in html
    assert "1\u00a0295,00\u00a0NOK" in html
    assert "1,295.00" not in html


def test_an_invalid_receipt_is_a_friendly_page_not_a_500(client, settings, make_order, caplog):
    use_adapters(settings, Order=NoLinesAdapter)
    order = make_order()
    token = public_links.order_token(order)

    with caplog.at_level(logging.WARNING, logger="vipps_order_management.views"):
        response, html = page(
            client, public_links.url_for_token("order_receipt", token, absolute=False)
        )

    assert response.status_code == 200
    assert "The receipt for this order cannot be shown right now." in html
    assert "Please contact Strikk og Sokk AS if you need it." in html
    assert "orderLines" not in html
    assert "orderLines: must hold at least one line" in caplog.text
    assert token not in caplog.text


def test_an_unfinished_order_has_no_receipt_yet(client, make_order):
    order = make_order(status="new")

    response, html = page(client, public_links.receipt_url(order, absolute=False))

    assert response.status_code == 200
    assert "This order is not complete yet" in html
    assert "vipps-om-lines" not in html


# ---------------------------------------------------------------------- headers and methods


@pytest.mark.parametrize("name", ["order_status", "order_receipt"])
def test_privacy_headers_on_every_answer(client, make_order, name):
    order = make_order()
    token = public_links.order_token(order)
    good = public_links.url_for_token(name, token, absolute=False)
    bad = public_links.url_for_token(
        name, token[:-1] + ("A" if token[-1] != "A" else "B"), absolute=False
    )

    for response in (client.get(good), client.head(good), client.get(bad), client.post(good)):
        assert response["Cache-Control"] == "private, no-store"
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["X-Frame-Options"] == "DENY"
        assert not response.cookies  # no session, no CSRF cookie: nothing ties visits together


@pytest.mark.parametrize("name", ["order_status", "order_receipt"])
def test_get_and_head_only(client, make_order, name):
    order = make_order()
    url = public_links.url_for_token(name, public_links.order_token(order), absolute=False)

    head = client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for method in (client.post, client.put, client.delete, client.patch):
        response = method(url)
        assert response.status_code == 405
        assert sorted(response["Allow"].split(", ")) == ["GET", "HEAD"]


# ---------------------------------------------------------------------- links that do not work


def assert_not_found(client, token):
    for name in ("order_status", "order_receipt"):
        response = client.get(public_links.url_for_token(name, token, absolute=False))
        assert response.status_code == 404
        html = response.content.decode()
        assert "This link does not work" in html
        assert "Order 10" not in html
    with pytest.raises(Http404):
        public_links.order_from_token(token)


def test_every_one_character_edit_of_a_token_is_refused(make_order):
    order = make_order()
    token = public_links.order_token(order)

    for index, char in enumerate(token):
        for replacement in {"A", "z", "0", "-", "_"} - {char}:
            edited = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(Http404):
                public_links.order_from_token(edited)


def test_a_tampered_token_is_a_404(client, make_order):
    order = make_order()
    token = public_links.order_token(order)
    payload, timestamp, signature = token.split(":")

    assert_not_found(client, f"{payload}:{timestamp}:{signature[::-1]}")
    assert_not_found(client, f"{payload}:{timestamp}")
    assert_not_found(client, f"{payload}:{signing.b62_encode(0)}:{signature}")


def test_another_orders_token_made_by_editing_one_character_is_a_404(client, make_order):
    mine = make_order()
    other = make_order()
    token = public_links.order_token(mine)
    payload, rest = token.split(":", 1)
    wanted = ["shop.order", str(other.pk)]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    forged = None
    for index in range(len(payload)):
        for char in alphabet:
            candidate = payload[:index] + char + payload[index + 1 :]
            try:
                decoded = signing.JSONSerializer().loads(signing.b64_decode(candidate.encode()))
            except ValueError:
                continue
            if isinstance(decoded, list) and decoded[:2] == wanted:
                forged = f"{candidate}:{rest}"
    assert forged is not None, "no one-character edit names the other order"

    assert_not_found(client, forged)
    assert client.get(public_links.order_status_url(mine, absolute=False)).status_code == 200


def test_an_expired_token_is_a_404(client, make_order):
    order = make_order()
    issued = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(issued, tick=False):
        token = public_links.order_token(order)
        url = public_links.url_for_token("order_status", token, absolute=False)

    with time_machine.travel(issued + timedelta(days=398), tick=False):
        assert client.get(url).status_code == 200
    with time_machine.travel(issued + timedelta(days=401), tick=False):
        assert_not_found(client, token)


def test_the_max_age_setting_decides_the_expiry(client, settings, make_order):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "PUBLIC_LINK_MAX_AGE": timedelta(days=7),
    }
    issued = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(issued, tick=False):
        token = public_links.order_token(order)
    with time_machine.travel(issued + timedelta(days=6), tick=False):
        assert public_links.order_from_token(token) == order
    with time_machine.travel(issued + timedelta(days=9), tick=False):
        assert_not_found(client, token)


@pytest.mark.parametrize(
    "token", ["not-a-token", "a:b:c", "::", "x" * 500, "Zm9v:1:2:3", "\u00e6\u00f8\u00e5:x:y"]
)
def test_a_malformed_token_is_a_404(client, db, token):
    assert_not_found(client, token)


def test_a_signed_value_of_the_wrong_shape_is_a_404(client, make_order):
    order = make_order()
    for payload in (
        {"order": order.pk},
        ["shop.order"],
        ["shop.order", order.pk],
        ["shop.order", str(order.pk)],  # without the order's key, as links were once made
        ["shop.order", str(order.pk), ""],
        "shop.order",
    ):
        assert_not_found(client, tokens._signer().sign_object(payload))


def test_a_value_signed_elsewhere_in_the_project_is_a_404(client, make_order):
    order = make_order()
    payload = ["shop.order", str(order.pk)]

    assert_not_found(client, signing.dumps(payload))
    assert_not_found(client, signing.dumps(payload, salt="some.other.feature"))


def test_a_token_whose_order_was_deleted_is_a_404(client, make_order):
    order = make_order()
    token = public_links.order_token(order)
    order.items.all().delete()
    order.delete()

    assert_not_found(client, token)


def test_a_model_without_adapter_is_a_404(client, settings, make_order):
    user = get_user_model().objects.create(username="customer")
    assert_not_found(client, tokens._signer().sign_object(["auth.user", str(user.pk), "x"]))
    assert_not_found(client, tokens._signer().sign_object(["nope.model", "1", "x"]))

    booking = Booking.objects.create(title="Spa day", price=Decimal(990), confirmed=True)
    token = public_links.order_token(booking)
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": ShopOrderAdapter},
    }
    assert_not_found(client, token)


# ---------------------------------------------------------------------- revoking links


def test_changing_the_per_order_secret_revokes_that_orders_links(client, settings, make_order):
    unprotected = make_order(tracking_url="")
    early_token = public_links.order_token(unprotected)
    use_adapters(settings, Order=SecretAdapter)
    order = make_order(tracking_url="secret-1")
    neighbour = make_order(tracking_url="secret-9")
    token = public_links.order_token(order)
    neighbours_token = public_links.order_token(neighbour)
    assert "secret-1" not in signing.b64_decode(token.split(":")[0].encode()).decode()
    assert (
        client.get(public_links.url_for_token("order_status", token, absolute=False)).status_code
        == 200
    )

    order.tracking_url = "secret-2"
    order.save()

    assert_not_found(client, token)
    assert public_links.order_from_token(public_links.order_token(order)) == order
    assert public_links.order_from_token(neighbours_token) == neighbour
    assert public_links.order_from_token(early_token) == unprotected  # no secret: still valid
    unprotected.tracking_url = "now-protected"
    unprotected.save()
    assert_not_found(client, early_token)  # made before the order had a secret


def test_rotating_the_secret_key_keeps_links_working_through_the_fallbacks(
    client, settings, make_order
):
    use_adapters(settings, Order=SecretAdapter)
    order = make_order(tracking_url="secret-1")
    token = public_links.order_token(order)

    settings.SECRET_KEY = "a-new-secret-key-for-tests"
    settings.SECRET_KEY_FALLBACKS = ["tests-only-not-secret"]
    assert public_links.order_from_token(token) == order

    settings.SECRET_KEY_FALLBACKS = []
    assert_not_found(client, token)


def test_the_salt_setting_revokes_every_link(client, settings, make_order):
    order = make_order()
    token = public_links.order_token(order)

    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "PUBLIC_LINK_SALT": "2"}

    assert_not_found(client, token)
    assert public_links.order_from_token(public_links.order_token(order)) == order
