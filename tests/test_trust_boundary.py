"""One bad order never stops the rest, and no customer sees another's order.

What a careless shop, a hurried staff member and an attacker feed the app: malformed links from
the adapter and from staff, orders deleted and their keys reused, two orders with one Vipps
reference, generated images that share a name, storage that refuses a name. Each case through
the surfaces a shop uses: the drain, a real worker process, the admin, the API, signed pages.
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from urllib.parse import quote

import hypothesis
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection
from django.http import Http404
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.shop.models import Order
from tests.shop.vipps import ShopOrderAdapter
from vipps_order_management import public_links, services
from vipps_order_management.adapters import ImageSource, Link
from vipps_order_management.conf import link_policy
from vipps_order_management.engine import cleanup
from vipps_order_management.engine.outbox import BACKOFF_FLOOR_SECONDS
from vipps_order_management.models import (
    OrderImage,
    OrderLink,
    OutboxItem,
    PublicLinkKey,
    SyncAttempt,
    VippsOrder,
)
from vipps_order_management.payloads import CategoryType, OrderLine
from vipps_order_management.templatetags.vipps_order_management import order_links
from vipps_order_management.testing import drain_until_idle

from .conftest import png_bytes, start_worker


def rows_of(order) -> dict[str, OutboxItem]:
    return {row.kind: row for row in OutboxItem.objects.for_order(order)}


# ---------------------------------------------------------------------- malformed links

MALFORMED = {
    "unclosed IPv6 host": ("https://[::1/track", "unclosed IPv6"),
    "port out of range": ("https://track.example:99999/x", "port"),
    "bad escape": ("https://track.example/%zz", "percent-escape"),
    "credentials": ("https://user:pass@track.example/x", "user name or password"),
    "this machine": ("https://localhost/track", "localhost"),
    "private network": ("https://192.168.0.10/track", "private"),
    "plain http": ("http://track.example/x", "http: scheme"),
    "space": ("https://track.example/a b", "U+0020"),
    "look-alike host": ("https://tr\u0430ck.example/x", "mixes Latin, Cyrillic"),
    "undeclared app scheme": ("itms-services://?action=download-manifest", "APP_LINK_SCHEMES"),
}


@pytest.mark.parametrize(("url", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_adapter_link_waits_for_staff_and_the_batch_goes_on(
    vipps, make_order, url, reason
):
    good = [make_order(), make_order()]
    bad = make_order(tracking_url=url)

    result = drain_until_idle()

    for order in good:
        assert vipps.category(order.vipps_reference) is not None
        assert vipps.receipt(order.vipps_reference) is not None
    rows = rows_of(bad)
    assert rows["links"].status == OutboxItem.Status.DEAD
    assert rows["links"].attempts == 1
    assert "links[0].orderDetailsUrl" in rows["links"].last_error
    assert reason in rows["links"].last_error
    assert vipps.category(bad.vipps_reference) is None
    assert rows["receipt"].status == OutboxItem.Status.DONE  # the receipt does not need the link
    assert result.dead == 1


@pytest.mark.parametrize(("url", "reason"), list(MALFORMED.values())[:4], ids=list(MALFORMED)[:4])
def test_a_malformed_product_url_waits_for_staff_naming_the_line(
    vipps, make_order, settings, url, reason
):
    class ProductUrls(ShopOrderAdapter):
        def get_order_lines(self, order):
            lines = super().get_order_lines(order)
            lines[0].product_url = url
            return lines

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": ProductUrls},
    }
    good, bad = make_order(status="new"), make_order()
    drain_until_idle()
    receipt = rows_of(bad)["receipt"]
    assert receipt.status == OutboxItem.Status.DEAD
    assert "orderLines[0].productUrl" in receipt.last_error
    assert reason in receipt.last_error
    assert vipps.category(good.vipps_reference) is not None


def test_a_real_worker_sends_the_good_orders_and_keeps_running(worker_env, vipps, make_order):
    good = [make_order() for _ in range(4)]
    bad = make_order(tracking_url="https://[::1/track")
    worker = start_worker(worker_env, "--poll-interval", "0.1")
    try:
        deadline = time.monotonic() + 30
        while OutboxItem.objects.filter(status=OutboxItem.Status.PENDING).exists():
            assert time.monotonic() < deadline, "the worker did not finish the batch"
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        for order in good:
            assert vipps.receipt(order.vipps_reference) is not None
            assert vipps.category(order.vipps_reference) is not None
        links = rows_of(bad)["links"]
        assert links.status == OutboxItem.Status.DEAD
        assert "orderDetailsUrl" in links.last_error
        assert "unclosed IPv6" in links.last_error
        # Still running, and still sending: a new order after the bad one goes too.
        later = make_order()
        deadline = time.monotonic() + 20
        while vipps.receipt(later.vipps_reference) is None:
            assert time.monotonic() < deadline, "the worker stopped sending"
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert "Traceback" not in err


def _wrong_image_link(adapter, order):
    from vipps_order_management.adapters import Link
    from vipps_order_management.payloads import CategoryType

    return [Link(CategoryType.TICKET, "https://tickets.example/1", image="ticket.png")]


#: What a shop's hook may give back that is not what it should be: (hook, what it returns,
#: what the reason says). Each keeps to its order; the receipt, which needs none of it, goes.
WRONG_KINDS = {
    "links as a string": (
        "get_default_links",
        lambda adapter, order: "https://shop.example/orders/1",
        "get_default_links() returned str, not a list of Link",
    ),
    "no links at all": (
        "get_default_links",
        lambda adapter, order: None,
        "get_default_links() returned NoneType",
    ),
    "a link as a tuple": (
        "get_default_links",
        lambda adapter, order: [("GENERAL", "https://shop.example/")],
        "get_default_links()[0] is tuple",
    ),
    "a link as a dict": (
        "get_links",
        lambda adapter, order: [{"category": "GENERAL", "url": "https://shop.example/"}],
        "get_links()[0] is dict",
    ),
    "images as a file name": (
        "get_product_images",
        lambda adapter, order: "socks.png",
        "get_product_images() returned str, not a list of ImageSource",
    ),
    "an image as bytes": (
        "get_product_images",
        lambda adapter, order: [png_bytes()],
        "get_product_images()[0] is bytes",
    ),
    "images as a dict": (
        "get_images",
        lambda adapter, order: {"socks": png_bytes()},
        "get_images() returned dict",
    ),
    "a link's image as a name": (
        "get_default_links",
        _wrong_image_link,
        "Link.image is str, not an ImageSource",
    ),
    "a primary link not among the links": (
        "get_primary_link",
        lambda adapter, order, links: "https://shop.example/",
        "get_primary_link() returned str",
    ),
    "an image whose identity is no key": (
        "get_product_images",
        lambda adapter, order: [ImageSource("socks.png", png_bytes, identity=["socks"])],
        "TypeError",
    ),
}


@pytest.mark.parametrize(("hook", "returns", "reason"), WRONG_KINDS.values(), ids=WRONG_KINDS)
def test_a_hook_returning_the_wrong_kind_keeps_to_its_order(
    vipps, make_order, settings, hook, returns, reason
):
    good, bad = make_order(), make_order()

    def wrong(adapter, order, *args):
        if order.pk == bad.pk:
            return returns(adapter, order, *args)
        return getattr(ShopOrderAdapter, hook)(adapter, order, *args)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": type("Wrong", (ShopOrderAdapter,), {hook: wrong})},
    }
    result = drain_until_idle()

    assert vipps.category(good.vipps_reference) is not None
    assert vipps.images()  # the good order's picture went up
    rows = rows_of(bad)
    assert rows["links"].status == OutboxItem.Status.DEAD
    assert rows["links"].attempts == 1
    assert reason in rows["links"].last_error
    assert vipps.category(bad.vipps_reference) is None
    assert rows["receipt"].status == OutboxItem.Status.DONE
    assert result.dead == 1
    # The customer's links still answer, with nothing the policy refuses.
    shown = order_links(Order.objects.get(pk=bad.pk))
    assert all(link_policy().clean(link.url) == link.url for link in shown)


_ANYTHING = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_A_LINK = st.builds(
    Link,
    category=st.sampled_from(CategoryType),
    url=st.one_of(st.text(max_size=80), st.just("https://track.example/ok")),
)
_LINKS = st.one_of(_ANYTHING, st.lists(st.one_of(_A_LINK, _ANYTHING), max_size=3))


_AN_IMAGE = st.builds(
    ImageSource.from_bytes,
    name=st.text(max_size=20),
    data=st.one_of(st.binary(max_size=64), st.just(png_bytes())),
)
_IMAGES = st.one_of(_ANYTHING, st.lists(st.one_of(_AN_IMAGE, _ANYTHING), max_size=3))


#: Each hook where a careless shop may return anything, with what it may return.
_ANY_RETURN = {"get_default_links": _LINKS, "get_product_images": _IMAGES}


@pytest.mark.parametrize("hook", sorted(_ANY_RETURN))
@hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_whatever_a_links_or_images_hook_returns_the_drain_goes_on(
    vipps, make_order, settings, hook, data
):
    """The rule, not the examples: any value where links or images belong keeps to its order."""
    returned = data.draw(_ANY_RETURN[hook])
    good, odd = make_order(), make_order()

    def anything(adapter, order):
        if order.pk == odd.pk:
            return returned
        return getattr(ShopOrderAdapter, hook)(adapter, order)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": type("Anything", (ShopOrderAdapter,), {hook: anything})},
    }
    drain_until_idle()  # never raises

    assert vipps.category(good.vipps_reference) is not None
    assert vipps.receipt(odd.vipps_reference) is not None  # the receipt needs neither
    links = rows_of(odd)["links"]
    assert links.status in (OutboxItem.Status.DONE, OutboxItem.Status.DEAD)
    if links.status == OutboxItem.Status.DEAD:
        assert links.last_error  # with its reason
    # What the customer is shown is what the policy allows, whatever came in.
    policy = link_policy()
    for shown in order_links(Order.objects.get(pk=odd.pk)):
        assert policy.clean(shown.url) == shown.url


_WILD_AMOUNT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=8),
    st.floats(),
)
#: A line as a careful shop makes it...
_SANE_LINE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["Wool socks", "Lue i ull", "Frakt"]),
        "id": st.sampled_from(["SKU-1", "shipping"]),
        "unit_price": st.decimals(0, 100_000, places=2),
        "quantity": st.integers(1, 50),
        "vat_rate": st.sampled_from([0, 12, 15, 25]),
        "discount": st.just(0),
        "product_url": st.sampled_from([None, "https://shop.example/p/1"]),
    }
)
#: ...and what a careless one puts in any one field of it.
_WILD_FIELDS = {
    "name": st.one_of(st.text(max_size=300), st.none()),
    "id": st.one_of(st.text(max_size=140), st.none()),
    "unit_price": _WILD_AMOUNT,
    "quantity": _WILD_AMOUNT,
    "vat_rate": _WILD_AMOUNT,
    "discount": _WILD_AMOUNT,
    "product_url": st.text(max_size=60),
}
_LINE = st.one_of(
    _SANE_LINE,
    st.tuples(_SANE_LINE, st.sampled_from(sorted(_WILD_FIELDS))).flatmap(
        lambda pair: _WILD_FIELDS[pair[1]].map(lambda value: {**pair[0], pair[1]: value})
    ),
)


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(_LINE, min_size=1, max_size=3))
def test_whatever_the_lines_hold_the_receipt_goes_valid_or_waits_naming_why(
    vipps, make_order, settings, lines
):
    """Money, text and links of the lines as a careless shop might give them: what reaches the
    fake (which checks Vipps's rules) is accepted, and anything else waits with its reason."""
    good, odd = make_order(), make_order()

    class Anything(ShopOrderAdapter):
        def get_order_lines(self, order):
            if order.pk != odd.pk:
                return super().get_order_lines(order)
            return [OrderLine.from_gross(**line) for line in lines]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Anything},
    }
    drain_until_idle()  # never raises

    assert vipps.receipt(good.vipps_reference) is not None
    receipt = rows_of(odd)["receipt"]
    if receipt.status == OutboxItem.Status.DONE:
        assert vipps.receipt(odd.vipps_reference) is not None
    else:
        assert receipt.status == OutboxItem.Status.DEAD
        assert receipt.last_error
        assert receipt.last_status_code is None  # refused here: Vipps never saw it
        assert vipps.receipt(odd.vipps_reference) is None


def test_an_order_whose_plan_raises_anything_is_kept_to_itself(vipps, make_order, settings):
    good = make_order()
    broken = make_order()

    class Raising(ShopOrderAdapter):
        def get_merchant_serial_number(self, order):
            if order.number == broken.number:
                raise LookupError("no sales unit for this shop")
            return super().get_merchant_serial_number(order)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Raising},
    }
    drain_until_idle()
    assert vipps.receipt(good.vipps_reference) is not None
    for row in rows_of(broken).values():
        assert row.status == OutboxItem.Status.DEAD
        assert "LookupError: no sales unit for this shop" in row.last_error
        assert "Raising.get_merchant_serial_number" in row.last_error


# ---------------------------------------------------------------------- staff input


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_superuser("staff", "staff@shop.example", "pw")
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("url", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_link_from_staff_is_a_400_naming_the_field(
    staff_client, make_order, url, reason
):
    order = make_order()
    response = staff_client.post(
        f"/vipps/api/v1/orders/shop.order/{order.pk}/links/",
        {"category": "DELIVERY", "url": url},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["url"]
    assert reason in response.json()["url"][0]
    assert not OrderLink.objects.exists()


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@given(url=st.one_of(st.text(max_size=120), st.from_regex(r"\Ahttps://[^/]{0,30}/.{0,30}\Z")))
def test_any_link_staff_type_is_stored_as_the_policy_sends_it_or_refused_naming_url(
    staff_client, make_order, url
):
    order = make_order()
    response = staff_client.post(
        f"/vipps/api/v1/orders/shop.order/{order.pk}/links/",
        {"category": "DELIVERY", "url": url},
        format="json",
    )
    assert response.status_code in (201, 400), response.content
    stored = OrderLink.objects.filter(object_id=str(order.pk))
    if response.status_code == 400:
        assert "url" in response.json()
        assert not stored.exists()
    else:
        # Stored as it is sent: the policy allows it and normalising changes nothing more.
        assert link_policy().check(stored.get().url) == (stored.get().url, [])


@hypothesis.settings(max_examples=60, deadline=None)
@given(token=st.text(max_size=200))
def test_no_token_opens_a_page_by_accident_or_breaks_one(token):
    """Any text where a signed token belongs is a 404, never a 500 or someone's order."""
    from django.test import Client

    for page in ("", "receipt/"):
        path = f"/vipps/orders/{quote(token, safe='')}/{page}"
        response = Client(raise_request_exception=False).get(path)
        assert response.status_code == 404, (path, response.status_code)


@pytest.mark.parametrize(("url", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_link_in_the_admin_inline_is_a_form_error(
    make_order, client, django_user_model, url, reason
):
    staff = django_user_model.objects.create_superuser("admin", "a@shop.example", "pw")
    client.force_login(staff)
    order = make_order()
    links = "vipps_order_management-orderlink-content_type-object_id"
    images = "vipps_order_management-orderimage-content_type-object_id"
    form = {
        "number": order.number,
        "status": order.status,
        "vipps_reference": order.vipps_reference,
        "currency": "NOK",
        "shipping_price": "49.00",
        "tracking_url": "",
        f"{links}-TOTAL_FORMS": "1",
        f"{links}-INITIAL_FORMS": "0",
        f"{links}-0-category": "DELIVERY",
        f"{links}-0-url": url,
        f"{links}-0-position": "0",
        f"{images}-TOTAL_FORMS": "0",
        f"{images}-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/shop/order/{order.pk}/change/", form)
    assert response.status_code == 200  # the form comes back, with the reason at the field
    [inline] = [
        wrapper.formset
        for wrapper in response.context["inline_admin_formsets"]
        if wrapper.formset.model is OrderLink
    ]
    [errors] = [form.errors for form in inline.forms]
    assert list(errors) == ["url"]
    assert reason in " ".join(errors["url"])
    assert reason in response.content.decode()
    assert not OrderLink.objects.exists()


def test_sync_now_of_an_order_with_a_malformed_stored_link_is_no_500(
    staff_client, vipps, make_order
):
    order = make_order(status="new")
    OrderLink.objects.create(order=order, category="DELIVERY", url="https://[::1/track")
    response = staff_client.post(f"/vipps/api/v1/orders/shop.order/{order.pk}/sync/?now=1")
    assert response.status_code == 422, response.content  # refused here, not by Vipps
    assert "cannot be sent as it is" in response.json()["detail"]
    assert "orderDetailsUrl" in response.content.decode()
    assert rows_of(order)["links"].status == OutboxItem.Status.DEAD


@pytest.mark.parametrize("url", [42, None, b"https://track.example/1"])
def test_a_link_that_is_not_text_is_named_on_the_staff_page_never_a_500(
    admin_client, vipps, make_order, settings, url
):
    from vipps_order_management.adapters import Link
    from vipps_order_management.payloads import CategoryType

    class NotText(ShopOrderAdapter):
        def get_default_links(self, order):
            return [Link(CategoryType.DELIVERY, url)]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": NotText},
    }
    order = make_order()
    drain_until_idle()
    page = admin_client.get(f"/admin/shop/order/{order.pk}/vipps/")
    assert page.status_code == 200
    assert "orderDetailsUrl" in page.content.decode()
    assert order_links(Order.objects.get(pk=order.pk)) == []


def test_a_secret_hook_that_raises_shuts_that_orders_pages_and_no_other(
    client, make_order, settings, caplog
):
    troubled, fine = make_order(), make_order()
    urls = {
        order.pk: public_links.order_status_url(order, absolute=False) for order in (troubled, fine)
    }

    class Raising(ShopOrderAdapter):
        def get_public_link_secret(self, order):
            if order.pk == troubled.pk:
                raise ConnectionError("the secrets store is down")
            return super().get_public_link_secret(order)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Raising},
    }
    assert client.get(urls[troubled.pk]).status_code == 404
    assert client.get(urls[troubled.pk] + "receipt/").status_code == 404
    assert client.get(urls[fine.pk]).status_code == 200
    assert "Raising.get_public_link_secret failed" in caplog.text


def test_a_visibility_hook_that_raises_hides_that_order_and_lists_the_rest(
    make_order, settings, caplog
):
    user = get_user_model().objects.create_user("kari", password="pw")
    troubled, fine = make_order(user=user), make_order(user=user)

    class Raising(ShopOrderAdapter):
        def user_can_view(self, order, user):
            if order.pk == troubled.pk:
                raise RuntimeError("permission service unavailable")
            return super().user_can_view(order, user)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Raising},
    }
    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/vipps/api/v1/my/orders/")
    assert listed.status_code == 200
    assert [row["pk"] for row in listed.json()["results"]] == [str(fine.pk)]
    single = api.get(f"/vipps/api/v1/my/orders/shop.order/{troubled.pk}/links/")
    assert single.status_code == 404
    assert "Raising.user_can_view failed" in caplog.text


# ---------------------------------------------------------------------- order identity


def test_a_deleted_orders_links_never_open_the_order_that_takes_its_key(client, vipps, make_order):
    old = make_order(tracking_url="https://track.example/old")
    OrderLink.objects.create(order=old, category="TICKET", url="https://tickets.example/old-42")
    image = OrderImage(order=old)
    image.image.save("old.png", ContentFile(png_bytes(colour=(10, 200, 10))), save=True)
    drain_until_idle()
    old_image_id = vipps.category(old.vipps_reference)["imageId"]
    assert old_image_id  # the old order's picture is at Vipps
    token = public_links.order_token(old)
    status_url = public_links.order_status_url(old, absolute=False)
    receipt_url = public_links.receipt_url(old, absolute=False)
    assert client.get(status_url).status_code == 200
    pk = old.pk

    old.items.all().delete()
    old.delete()
    for model in (OrderLink, OrderImage, VippsOrder, OutboxItem, SyncAttempt, PublicLinkKey):
        assert not model.objects.filter(object_id=str(pk)).exists(), model.__name__
    assert not OrderImage.objects.filter(pk=image.pk).exists()

    new = make_order(id=pk, reference="order-new")  # a shop that imports, or SQLite's reuse
    assert new.pk == pk
    assert client.get(status_url).status_code == 404
    assert client.get(receipt_url).status_code == 404
    with pytest.raises(Http404):
        public_links.order_from_token(token)
    assert public_links.order_from_token(public_links.order_token(new)) == new

    drain_until_idle()
    category = vipps.category("order-new")
    assert "tickets.example" not in category["orderDetailsUrl"]
    assert category.get("imageId") != old_image_id  # nor its picture
    assert [link.url for link in order_links(Order.objects.get(pk=pk))] == [
        "https://shop.example/orders/" + new.number
    ]
    state = VippsOrder.objects.for_order(new).get()
    assert state.reference == "order-new"


def test_a_queryset_delete_takes_the_rows_of_every_order(make_order):
    orders = [make_order() for _ in range(3)]
    for order in orders:
        OrderLink.objects.create(order=order, category="TICKET", url="https://t.example/1")
    Order.objects.filter(pk__in=[o.pk for o in orders[:2]]).delete()
    assert OrderLink.objects.count() == 1
    assert OutboxItem.objects.filter(object_id=str(orders[2].pk)).count() == 2
    assert not OutboxItem.objects.exclude(object_id=str(orders[2].pk)).exists()


def test_rows_left_by_raw_sql_are_swept_and_a_drain_removes_them(vipps, make_order):
    swept, drained, archived = make_order(), make_order(), make_order()
    for order in (swept, drained, archived):
        OrderLink.objects.create(order=order, category="TICKET", url="https://t.example/1")
    table = connection.ops.quote_name(Order._meta.db_table)
    with connection.cursor() as cursor:
        for order in (swept, drained):
            order.items.all().delete()
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [order.pk])  # noqa: S608

    # The drain finds one of them gone and removes its rows.
    drain_until_idle(only=None)
    assert not OrderLink.objects.filter(object_id=str(drained.pk)).exists()
    assert not OutboxItem.objects.filter(object_id=str(drained.pk)).exists()

    # Left with a row outside the outbox, the sweep finds it; a dry run changes nothing.
    OrderLink.objects.create(
        content_type_id=OrderLink.objects.first().content_type_id,
        object_id="999999",
        category="TICKET",
        url="https://t.example/2",
    )
    counted = cleanup.sweep(dry_run=True)
    assert counted.orders == 1
    assert OrderLink.objects.filter(object_id="999999").exists()
    result = cleanup.sweep()
    assert result.orders == 1
    assert result.by_model == {"shop.Order": 1}
    assert not OrderLink.objects.filter(object_id="999999").exists()
    assert OrderLink.objects.filter(object_id=str(archived.pk)).exists()  # it still exists


def test_the_sweep_asks_the_table_not_the_adapters_queryset(make_order, settings):
    class OnlyPaid(ShopOrderAdapter):
        def get_queryset(self):
            return super().get_queryset().filter(status="paid")

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": OnlyPaid},
    }
    shipped = make_order(status="shipped")
    OrderLink.objects.create(order=shipped, category="TICKET", url="https://t.example/1")
    assert cleanup.sweep().orders == 0
    drain_until_idle()
    assert OrderLink.objects.filter(object_id=str(shipped.pk)).exists()
    assert "get_queryset() returns" in rows_of(shipped)["links"].result


# ---------------------------------------------------------------------- one reference, one order


def test_a_second_order_with_the_same_reference_waits_for_staff_naming_the_first(vipps, make_order):
    first = make_order(reference="order-shared")
    second = make_order(reference="order-shared")  # the same batch
    drain_until_idle()

    assert len(vipps.requests_for("POST", "/receipts/order-shared")) == 1
    assert vipps.receipt("order-shared")["bottomLine"]["receiptNumber"] == first.number
    for row in rows_of(second).values():
        assert row.status == OutboxItem.Status.DEAD
        assert f"shop.Order {first.pk}" in row.last_error
        assert "'order-shared'" in row.last_error
    assert VippsOrder.objects.for_order(first).get().reference == "order-shared"

    # A later order, in a later batch, is refused the same way; nothing reaches Vipps.
    third = make_order(reference="order-shared")
    requests = len(vipps.requests)
    drain_until_idle()
    assert rows_of(third)["receipt"].status == OutboxItem.Status.DEAD
    assert len(vipps.requests) == requests
    assert not VippsOrder.objects.for_order(third).exclude(reference="").exists()

    # Once the first order is gone, the reference is free: staff requeue the second.
    first.items.all().delete()
    first.delete()
    services.requeue(OutboxItem.objects.for_order(second))
    drain_until_idle()
    assert rows_of(second)["receipt"].status == OutboxItem.Status.DONE


def test_one_reference_may_serve_each_payment_type_once(vipps, make_order):
    from tests.shop.models import Booking

    order = make_order(reference="shared-42")
    booking = Booking.objects.create(
        title="Spa", price=Decimal(990), confirmed=True, charge_id="shared-42"
    )
    drain_until_idle()
    assert rows_of(order)["receipt"].status == OutboxItem.Status.DONE
    assert rows_of(booking)["receipt"].status == OutboxItem.Status.DONE


# ---------------------------------------------------------------------- images by content


def test_generated_images_with_one_name_keep_their_own_picture(vipps, make_order, settings):
    colours = {}

    class Tickets(ShopOrderAdapter):
        def get_images(self, order):
            return [ImageSource.from_bytes("ticket.png", png_bytes(colour=colours[order.number]))]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Tickets},
    }
    red, blue = make_order(), make_order()
    colours[red.number], colours[blue.number] = (250, 0, 0), (0, 0, 250)
    result = services.drain(worker_id="t")  # both in one batch
    assert len(result.results) == 4

    images = vipps.images()
    red_id = vipps.category(red.vipps_reference)["imageId"]
    blue_id = vipps.category(blue.vipps_reference)["imageId"]
    assert red_id != blue_id
    assert set(images) == {red_id, blue_id}
    from io import BytesIO

    from PIL import Image

    centre = lambda data: Image.open(BytesIO(data)).convert("RGB").getpixel((100, 100))  # noqa: E731
    assert centre(images[red_id])[0] > 200
    assert centre(images[blue_id])[2] > 200


# ---------------------------------------------------------------------- one list of links


def test_the_api_and_the_tags_show_a_customer_the_same_links(make_order, settings, db):
    user = get_user_model().objects.create_user("kari", password="pw")
    order = make_order(user=user, tracking_url="https://track.example/1")
    for url in (
        "https://tickets.example/42",
        "http://insecure.example/x",
        "javascript:alert(1)",
        "https://localhost/admin",
        "https://bl\u00e5b\u00e6r.no/kvittering",
        "myapp://tickets/42",  # declared in the test settings
        "ms-settings:network",  # not declared
    ):
        OrderLink.objects.create(order=order, category="TICKET", url=url)

    class WithStatusPage(ShopOrderAdapter):
        def get_default_links(self, order):
            yield from super().get_default_links(order)
            yield from super(ShopOrderAdapter, self).get_default_links(order)

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": WithStatusPage},
    }
    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/vipps/api/v1/my/orders/").json()["results"][0]["links"]
    single = api.get(f"/vipps/api/v1/my/orders/shop.order/{order.pk}/links/").json()["links"]
    tags = [(link.category, link.url) for link in order_links(Order.objects.get(pk=order.pk))]

    assert [(link["category"], link["url"]) for link in listed] == tags
    assert [(link["category"], link["url"]) for link in single] == tags
    urls = [url for _category, url in tags]
    assert "https://tickets.example/42" in urls
    assert "https://xn--blbr-roah.no/kvittering" in urls  # as it is sent
    assert "myapp://tickets/42" in urls
    assert not any(
        word in u for u in urls for word in ("insecure", "javascript", "localhost", "ms-settings")
    )
    assert any("/vipps/orders/" in u for u in urls)  # the status page the adapter gives


# ---------------------------------------------------------------------- text and identifiers


@pytest.mark.parametrize("reference", [".", "..", "...", "-", "_.~"])
def test_an_order_id_without_a_letter_or_digit_waits_for_staff_through_the_drain(
    vipps, make_order, reference
):
    bad, good = make_order(reference=reference), make_order()
    drain_until_idle()
    for row in rows_of(bad).values():
        assert row.status == OutboxItem.Status.DEAD
        assert row.attempts == 1
        assert "orderId" in row.last_error
    assert all(row.status == OutboxItem.Status.DONE for row in rows_of(good).values())
    assert vipps.receipt(good.vipps_reference) is not None
    sent = {r.path for r in vipps.requests_for() if "/order-management/" in r.path}
    assert all(good.vipps_reference in path or "/images" in path for path in sent)


@pytest.mark.parametrize(
    "name",
    ["\u200b", "\u00ad\u00ad", "\u200e\u200f", "\u2060", "\ufeff", "\u0301", " \u3164 ", "\u202e"],
    ids=[
        "zero-width",
        "soft hyphens",
        "direction marks",
        "word joiner",
        "bom",
        "a lone accent",
        "hangul filler",
        "override",
    ],
)
def test_a_line_name_that_shows_nothing_waits_for_staff_naming_it(
    vipps, make_order, settings, name
):
    class Invisible(ShopOrderAdapter):
        def get_order_lines(self, order):
            lines = super().get_order_lines(order)
            lines[0].name = name
            return lines

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Invisible},
    }
    order = make_order()
    drain_until_idle()
    receipt = rows_of(order)["receipt"]
    assert receipt.status == OutboxItem.Status.DEAD
    assert "orderLines[0].name" in receipt.last_error
    assert vipps.requests_for("POST", f"/receipts/{order.vipps_reference}") == []
    assert rows_of(order)["links"].status == OutboxItem.Status.DONE  # the link still goes


# ---------------------------------------------------------------------- storage and retries


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (lambda: ImageSource.from_storage("../../etc/passwd"), "refuses this name"),
        (
            lambda: ImageSource.from_storage("x.png", "no_such_storage"),
            "not defined in the STORAGES",
        ),
    ],
    ids=["outside the storage", "unknown alias"],
)
def test_storage_that_can_never_be_read_waits_for_staff_after_one_attempt(
    vipps, make_order, settings, source, reason
):
    class Stored(ShopOrderAdapter):
        def get_images(self, order):
            return [source()]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Stored},
    }
    order = make_order()
    drain_until_idle()
    links = rows_of(order)["links"]
    assert links.status == OutboxItem.Status.DEAD
    assert links.attempts == 1
    assert reason in links.last_error
    assert rows_of(order)["receipt"].status == OutboxItem.Status.DONE


class _FlakyStorage:
    """A storage backend that never answers: its every read fails with a timeout."""

    reads = 0

    def size(self, name):
        type(self).reads += 1
        raise TimeoutError("the bucket did not answer")


def test_no_retry_setting_lets_a_row_be_claimed_more_than_once_a_second(
    vipps, make_order, settings
):
    from functools import partial

    from vipps_order_management.storage import read_from_storage

    class Flaky(ShopOrderAdapter):
        def get_images(self, order):
            return [ImageSource("p.png", partial(read_from_storage, _FlakyStorage(), "p.png"))]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Flaky},
        "RETRY": {"BASE_SECONDS": 0, "CAP_SECONDS": 0, "JITTER": 0},
    }
    order = make_order()
    _FlakyStorage.reads = 0
    before = timezone.now()
    services.drain(worker_id="t")
    links = rows_of(order)["links"]
    assert links.status == OutboxItem.Status.PENDING
    assert links.attempts == 1
    assert _FlakyStorage.reads == 1
    assert "TimeoutError: the bucket did not answer" in links.last_error
    assert (links.next_attempt_at - before).total_seconds() >= BACKOFF_FLOOR_SECONDS


def test_image_storage_that_keeps_failing_opens_the_circuit_breaker(vipps, make_order, settings):
    """Like Vipps failing, storage failing now counts: after CIRCUIT_BREAKER_THRESHOLD failed
    reads with no answer from Vipps between them, the sources not read yet are left unread and
    their rows handed back with no attempt spent on them (the receipts sent meanwhile are
    answers from Vipps, which close the breaker again, so a few more reads may come first)."""
    from functools import partial

    from vipps_order_management.engine.pipeline import CIRCUIT_BREAKER_THRESHOLD
    from vipps_order_management.storage import read_from_storage

    class Flaky(ShopOrderAdapter):
        def get_images(self, order):
            name = f"p-{order.pk}.png"  # one picture per order: each needs its own read
            return [ImageSource(name, partial(read_from_storage, _FlakyStorage(), name))]

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": Flaky},
        "BATCH_SIZE": 8,
        "CONCURRENCY": 1,
    }
    orders = [make_order() for _ in range(8)]
    _FlakyStorage.reads = 0
    services.drain(limit=8, worker_id="t")
    links = [rows_of(order)["links"] for order in orders]
    tried = [row for row in links if row.attempts]
    assert CIRCUIT_BREAKER_THRESHOLD <= _FlakyStorage.reads < len(orders)
    assert len(tried) == _FlakyStorage.reads  # one attempt per read, none for the rest
    assert all(row.status == OutboxItem.Status.PENDING for row in links)  # none is lost
    assert all("TimeoutError" in row.last_error for row in tried)
    assert all(row.attempts == 0 and not row.last_error for row in links if row not in tried)


def test_an_image_vipps_lost_is_uploaded_again_before_its_link(vipps, make_order):
    order = make_order(status="new")
    drain_until_idle()
    [image_id] = vipps.images()
    vipps.reset()  # Vipps lost everything; the app still believes the image is there

    services.sync_now(order, force=True)
    drain_until_idle()

    assert vipps.category(order.vipps_reference)["imageId"] == image_id
    assert image_id in vipps.images()
    statuses = [r.status for r in vipps.requests_for("PUT", "/categories/")]
    assert 404 in statuses  # the link named an image Vipps no longer had
    assert statuses[-1] == 200
    assert rows_of(order)["links"].status == OutboxItem.Status.DONE


@pytest.mark.django_db(transaction=True)  # the worker loop closes stale connections
def test_an_unexpected_error_does_not_stop_the_worker_loop(vipps, make_order, monkeypatch):
    from vipps_order_management.engine.pipeline import Pipeline
    from vipps_order_management.runners.worker import Worker

    order = make_order()
    real = Pipeline.drain
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the pipeline")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "drain", flaky)
    warnings = []
    worker = Worker(worker_id="t", poll_seconds=0.01, warn=warnings.append)
    worker.max_runtime = 5

    def stop_when_sent(message):
        if vipps.receipt(order.vipps_reference) is not None:
            worker.stop.set()

    worker.say = stop_when_sent
    worker.run()
    assert vipps.receipt(order.vipps_reference) is not None, warnings
    assert any("RuntimeError: a bug in the pipeline" in text for text in warnings)
    assert len(calls) >= 2


def test_the_sweep_command_reports_and_removes(make_order):
    from io import StringIO

    from django.core.management import call_command

    order = make_order()
    OrderLink.objects.create(order=order, category="TICKET", url="https://t.example/1")
    table = connection.ops.quote_name(Order._meta.db_table)
    order.items.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [order.pk])  # noqa: S608

    out = StringIO()
    call_command("vipps_om_sweep", "--dry-run", stdout=out)
    assert "Would remove 3 rows of 1 orders that no longer exist." in out.getvalue()
    assert OrderLink.objects.exists()
    out = StringIO()
    call_command("vipps_om_sweep", stdout=out)
    assert "shop.Order: 1 deleted orders" in out.getvalue()
    assert "Removed 3 rows of 1 orders" in out.getvalue()
    assert not OrderLink.objects.exists()
    assert not OutboxItem.objects.exists()
