"""Lists cost the same queries however long they are: the admin's changelists of our tables and
of the shop's orders, an order's page, the customer API's "my orders" and the staff API's lists.

Each order is set up as a busy shop's would be: several links (one with its own image), several
images, both outbox rows, a state row, several calls in the log and an uploaded image. The
pages are measured with 5 orders and again with 50, and must cost the same.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.shop.models import Booking, Order
from tests.shop.vipps import ShopOrderAdapter
from vipps_order_management import services
from vipps_order_management.adapters import Link
from vipps_order_management.admin.operations import SEND_IN_REQUEST_MAX
from vipps_order_management.models import (
    OrderImage,
    OrderLink,
    OutboxItem,
    PublicLinkKey,
    SyncAttempt,
    UploadedImage,
    VippsOrder,
)
from vipps_order_management.payloads import CategoryType
from vipps_order_management.public_links import order_status_url

from .conftest import TASKS_PACKAGE, make_user, tasks_framework

pytestmark = pytest.mark.django_db

RECORDS = "/admin/vipps_order_management/"
API = "vipps_order_management:api-v1"


class CustomerShopAdapter(ShopOrderAdapter):
    """The test shop's adapter as many shops write it: orders are named with their customer
    (a relation, declared in ``select_related``), and link to the signed status page."""

    select_related = ("user",)

    def get_display_name(self, order):
        return f"Order {order.number} for {order.user.username}"

    def get_default_links(self, order):
        yield from super().get_default_links(order)
        yield Link(CategoryType.GENERAL, order_status_url(order), position=3)


def add_rows(order: Order | Booking, index: int) -> None:
    """What a shop's order has after a few weeks: links, images, outbox, state, calls."""
    content_type = ContentType.objects.get_for_model(order)
    keys = {"content_type": content_type, "object_id": str(order.pk)}
    now = timezone.now()
    images = OrderImage.objects.bulk_create(
        [
            OrderImage(**keys, image="products/socks.png", description=f"Photo {n}", position=n)
            for n in range(3)
        ]
    )
    OrderLink.objects.bulk_create(
        [
            OrderLink(**keys, category="RECEIPT", url=f"https://shop.example/r/{index}"),
            OrderLink(
                **keys,
                category="TICKET",
                url=f"https://tickets.example/{index}",
                image=images[0],
                position=1,
            ),
            OrderLink(
                **keys, category="GENERAL", url=f"https://shop.example/faq/{index}", position=2
            ),
        ]
    )
    failed = index % 4 == 0
    outbox = [  # saving the order queued both kinds: as the worker leaves them
        OutboxItem.objects.update_or_create(
            **keys,
            kind=kind,
            defaults={
                "status": "dead" if failed and kind == "receipt" else "done",
                "attempts": 3,
                "next_attempt_at": now,
                "pending_since": now - timedelta(hours=1),
                "last_error": "400 Bad Request: invalid orderLines" if failed else "",
                "last_status_code": 400 if failed else 200,
            },
        )[0]
        for kind in ("links", "receipt")
    ]
    VippsOrder.objects.create(
        **keys,
        reference=f"ref-{index}",
        payment_type="ECOM",
        merchant_serial_number="123456",
        receipt_state="dead" if failed else "sent",
        links_state="sent",
        last_synced_at=now,
    )
    SyncAttempt.objects.bulk_create(
        [
            SyncAttempt(
                **keys,
                outbox_item=outbox[0 if n < 2 else 1],
                kind="links" if n < 2 else "receipt",
                method="PUT" if n < 2 else "POST",
                endpoint=f"/order-management/v2/ECOM/categories/ref-{index}",
                status_code=200,
                outcome="success",
                duration_ms=40 + n,
                worker="w1",
            )
            for n in range(3)
        ]
    )
    UploadedImage.objects.create(
        merchant_serial_number="123456",
        source_hash=f"{index:064x}",
        image_id=f"image-{index}",
        width=800,
        height=800,
        size=1234,
    )


@pytest.fixture
def shop(make_order, settings):
    """``grow(count)`` makes the shop have ``count`` orders of Alice's (and one booking)."""
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {
            "shop.Order": "tests.test_many_orders.CustomerShopAdapter",
            "shop.Booking": "tests.shop.vipps.BookingAdapter",
        },
    }
    alice = User.objects.create_user("alice", password="pw")
    orders: list[Order] = []
    booking = Booking.objects.create(title="Sauna", price=Decimal(450), charge_id="chr-1")

    def grow(count: int) -> list[Order]:
        while len(orders) < count:
            order = make_order(user=alice, tracking_url=f"https://track.example/{len(orders)}")
            add_rows(order, len(orders) + 1)
            orders.append(order)
        # The booking was synced last, so its rows are on the first page too: two order models.
        for model in (OrderImage, OrderLink, OutboxItem, SyncAttempt, VippsOrder):
            model.objects.for_order(booking).delete()
        UploadedImage.objects.filter(source_hash=f"{0:064x}").delete()
        add_rows(booking, 0)
        return orders

    grow.alice = alice  # type: ignore[attr-defined]
    grow.booking = booking  # type: ignore[attr-defined]
    ContentType.objects.get_for_models(Order, Booking)  # warm the cache, as in a server
    return grow


def counted(get, path: str) -> tuple[int, str]:
    get(path)  # the first request of a session fills caches (permissions, the session)
    with CaptureQueriesContext(connection) as queries:
        response = get(path)
    assert response.status_code == 200, response
    return len(queries), response.content.decode()


def order_link(order: Order) -> str:
    """How a row names its order: the adapter's name for it, linked to the order's Vipps page."""
    return f'<a href="/admin/shop/order/{order.pk}/vipps/">Order {order.number} for alice</a>'


@pytest.mark.parametrize(
    ("page", "rows_per_order"),
    [("vippsorder", 1), ("outboxitem", 2), ("syncattempt", 3)],
)
def test_our_changelists_cost_the_same_for_5_orders_and_for_50(staff, shop, page, rows_per_order):
    path = f"{RECORDS}{page}/"
    orders = shop(5)
    five, html = counted(staff.get, path)
    for order in orders:
        assert html.count(order_link(order)) == rows_per_order
    assert html.count(f'<a href="/admin/shop/booking/{shop.booking.pk}/vipps/">Sauna</a>')
    assert "</a></a>" not in html  # the row's own link is another column
    assert html.count(f'href="{path}') >= 5 * rows_per_order  # each row opens on its own

    orders = shop(50)
    fifty, html = counted(staff.get, path)

    assert five == fifty, (page, five, fifty)
    # Every row on the page (at most 100) names its order, with a link to the order's page.
    shown = sum(html.count(order_link(order)) for order in orders)
    assert shown == min(100, 51 * rows_per_order) - rows_per_order


def test_an_order_deleted_since_is_named_by_its_key(staff, shop):
    [order] = shop(1)
    pk = order.pk
    Order.objects.filter(pk=pk).delete()
    content_type = ContentType.objects.get_for_model(Order)
    VippsOrder.objects.get_or_create(content_type=content_type, object_id=str(pk))
    _count, html = counted(staff.get, f"{RECORDS}vippsorder/")
    assert f">Shop | order:{pk}<" in html


def test_the_uploaded_images_list_costs_the_same_for_5_orders_and_for_50(staff, shop):
    shop(5)
    five, html = counted(staff.get, f"{RECORDS}uploadedimage/")
    assert "image-5" in html
    shop(50)
    fifty, html = counted(staff.get, f"{RECORDS}uploadedimage/")
    assert five == fifty
    assert "image-50" in html


def test_the_shops_order_list_and_an_orders_page_hold_their_counts(staff, shop):
    orders = shop(5)
    five, html = counted(staff.get, "/admin/shop/order/")
    page = reverse("admin:shop_order_vipps", args=[orders[0].pk]) + "?remote=0"
    page_five, page_html = counted(staff.get, page)
    assert "https://tickets.example/1" in page_html
    orders = shop(50)
    fifty, html = counted(staff.get, "/admin/shop/order/")
    page_fifty, _page_html = counted(staff.get, page)
    assert (five, page_five) == (fifty, page_fifty)
    assert all(f">{order.number}</a>" in html for order in orders)
    assert html.count(">Failed</a>") == 13  # every fourth order's receipt was refused


def test_my_orders_costs_the_same_for_5_orders_and_for_50(shop):
    api = APIClient()
    api.force_authenticate(shop.alice)
    path = reverse(f"{API}:my-orders")

    shop(5)
    five, body = counted(api.get, path)  # the first request makes the orders' link keys
    orders = shop(50)
    fifty, body = counted(api.get, path)

    assert five == fifty, (five, fifty)
    results = json.loads(body)["results"]
    assert [r["pk"] for r in results] == [str(order.pk) for order in reversed(orders)]
    for result, order in zip(results, reversed(orders), strict=True):
        assert result["name"] == f"Order {order.number} for alice"
        assert result["has_image"] is True
        links = [(link["category"], link["url"], link["has_image"]) for link in result["links"]]
        index = orders.index(order) + 1
        assert links[:5] == [
            ("RECEIPT", f"https://shop.example/r/{index}", False),
            ("TICKET", f"https://tickets.example/{index}", True),
            ("GENERAL", f"https://shop.example/faq/{index}", False),
            ("ORDER_CONFIRMATION", f"https://shop.example/orders/{order.number}", False),
            ("DELIVERY", f"https://track.example/{index - 1}", False),
        ]
        [(category, status_page, _image)] = links[5:]
        assert category == "GENERAL"
        assert status_page.startswith("https://shop.example/vipps/orders/")
    assert PublicLinkKey.objects.count() == 50


def add_many(order: Order, count: int) -> None:
    """``count`` more links, images and calls of one order."""
    keys = {"content_type": ContentType.objects.get_for_model(order), "object_id": str(order.pk)}
    images = OrderImage.objects.bulk_create(
        [OrderImage(**keys, image="products/socks.png", position=n) for n in range(count)]
    )
    OrderLink.objects.bulk_create(
        [
            OrderLink(**keys, category="TICKET", url=f"https://t.example/{image.pk}", image=image)
            for image in images
        ]
    )
    SyncAttempt.objects.bulk_create(
        [
            SyncAttempt(**keys, kind="links", method="PUT", endpoint="/c", outcome="success")
            for _n in range(count)
        ]
    )


@pytest.mark.parametrize("name", ["order-links", "order-images", "order-attempts"])
def test_the_staff_apis_lists_cost_the_same_for_5_rows_and_for_50(make_order, name):
    api = APIClient()
    api.force_authenticate(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    order = make_order()
    ContentType.objects.get_for_models(Order, Booking)
    path = reverse(f"{API}:{name}", kwargs={"model": "shop.order", "order_pk": order.pk})

    add_many(order, 5)
    five, body = counted(api.get, path)
    assert json.loads(body)["count"] == 5
    add_many(order, 45)
    fifty, body = counted(api.get, path)

    assert five == fifty, (name, five, fifty)
    assert len(json.loads(body)["results"]) == 50


# ---------------------------------------------------------------------- actions over many orders

CHANGELIST = "/admin/shop/order/"


def act(client, action: str, orders, *, confirm: bool = True):
    data = {"action": action, "_selected_action": [str(order.pk) for order in orders]}
    if confirm:
        data["post"] = "yes"
    return client.post(CHANGELIST, data)


def messages_after(client, response) -> list[str]:
    assert response.status_code == 302, response
    return [str(message) for message in client.get(response["Location"]).context["messages"]]


def backing_off(orders) -> None:
    """Both rows of each order failed a moment ago and wait an hour before trying again."""
    OutboxItem.objects.filter(object_id__in=[str(order.pk) for order in orders]).update(
        status="pending",
        attempts=2,
        last_error="503 Service Unavailable",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )


def test_send_now_over_six_orders_queues_them_due_now_and_wakes_the_runner(
    staff, vipps, make_order, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "DISPATCH": "django_tasks",
    }
    orders = [make_order() for _ in range(SEND_IN_REQUEST_MAX + 1)]
    backing_off(orders)
    generations = dict(OutboxItem.objects.values_list("pk", "generation"))
    backend = tasks_framework.default_task_backend
    backend.clear()

    confirm = act(staff, "send_to_vipps_now", orders, confirm=False)
    assert "they are queued, due now, and the worker sends them" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff, "send_to_vipps_now", orders)

    assert vipps.requests == []  # nothing sent while staff wait
    assert [result.task.name for result in backend.results] == ["drain_outbox"]  # woken once
    rows = OutboxItem.objects.all()
    assert len(rows) == 2 * len(orders)
    assert all(row.status == "pending" and row.next_attempt_at <= timezone.now() for row in rows)
    assert all(row.generation == generations[row.pk] + 1 for row in rows)
    assert not any(row.force for row in rows)  # as "Send to Vipps now" for one order
    [message] = messages_after(staff, response)
    assert message.startswith(
        "Send to Vipps now: 6 orders queued; the worker sends them to Vipps. "
        '<a href="/admin/vipps_order_management/outboxitem/?content_type__id__exact='
    )
    assert message.endswith('">See them in the outbox</a>')
    drain_everything()
    assert all(vipps.receipt(order.vipps_reference) for order in orders)


def drain_everything() -> None:
    while services.drain(worker_id="bulk-test").processed:
        pass


def test_the_message_links_to_the_outbox_rows_of_exactly_those_orders(staff, vipps, make_order):
    orders = [make_order() for _ in range(8)]
    others = [make_order(), make_order()]
    response = act(staff, "resend_links", orders[:7])
    [message] = messages_after(staff, response)
    assert message.startswith("Resend links: the links of 7 orders queued; the worker sends")
    link = re.search(r'<a href="([^"]+)">', message).group(1)
    listed = staff.get(html.unescape(link)).context["cl"].result_list
    assert sorted((row.object_id, row.kind) for row in listed) == sorted(
        (str(order.pk), kind) for order in orders[:7] for kind in ("links", "receipt")
    )
    assert all(row.force for row in listed if row.kind == "links")
    assert not OutboxItem.objects.filter(
        object_id__in=[o.pk for o in [orders[7], *others]], force=True
    )
    assert vipps.requests == []


def test_over_a_hundred_orders_the_link_shows_the_pending_rows_of_their_model(staff, make_order):
    orders = [make_order() for _ in range(101)]
    OutboxItem.objects.update(status="done")
    [message] = messages_after(staff, act(staff, "send_to_vipps_now", orders))
    link = html.unescape(re.search(r'<a href="([^"]+)">', message).group(1))
    content_type = ContentType.objects.get_for_model(Order)
    assert link == (
        "/admin/vipps_order_management/outboxitem/"
        f"?content_type__id__exact={content_type.pk}&status__exact=pending"
    )
    assert staff.get(link).context["cl"].result_count == 202


def test_staff_who_may_not_see_the_outbox_get_the_message_without_the_link(
    client, vipps, make_order
):
    client.force_login(
        make_user("clerk", staff=True, perms=["shop.view_order", "shop.change_order"])
    )
    orders = [make_order() for _ in range(6)]
    [message] = messages_after(client, act(client, "send_to_vipps_now", orders))
    assert message == "Send to Vipps now: 6 orders queued; the worker sends them to Vipps."


def test_five_orders_are_still_sent_while_staff_wait_each_with_its_message(
    staff, vipps, make_order
):
    orders = [make_order() for _ in range(SEND_IN_REQUEST_MAX)]
    texts = messages_after(staff, act(staff, "send_to_vipps_now", orders))
    assert len(texts) == 6
    assert texts[-1] == "Send to Vipps now: 5 done, 0 with problems."
    assert all(vipps.receipt(order.vipps_reference) for order in orders)


def test_comparing_more_than_five_with_vipps_is_refused_politely(staff, vipps, make_order):
    orders = [make_order() for _ in range(6)]
    response = act(staff, "fetch_and_compare", orders, confirm=False)  # no confirmation first
    [message] = messages_after(staff, response)
    assert message == (
        "“Fetch from Vipps and compare” asks Vipps about each order while you wait: select at "
        "most 5 orders (6 were selected)."
    )
    assert vipps.requests == []


def test_reupload_over_many_orders_forgets_their_images_and_queues_the_links(
    staff, vipps, make_order
):
    orders = [make_order() for _ in range(7)]
    drain_everything()
    assert UploadedImage.objects.count() == 1  # the product's photo, shared by every order
    [message] = messages_after(staff, act(staff, "reupload_image", orders))
    assert message.startswith(
        "Re-upload image: the links of 7 orders queued (1 remembered upload dropped first); "
    )
    assert UploadedImage.objects.count() == 0
    assert vipps.requests_for("POST", "/v1/images")[1:] == []  # nothing uploaded yet
    drain_everything()
    uploads = vipps.requests_for("POST", "/v1/images")
    assert [r.status for r in uploads] == [200, 409]  # uploaded again: Vipps still had it
    assert len(vipps.requests_for("PUT", "/categories/")) == 14  # every order's link again


def test_requeue_failed_over_many_orders_requeues_only_what_failed(staff, vipps, make_order):
    orders = [make_order() for _ in range(9)]
    drain_everything()
    [message] = messages_after(staff, act(staff, "requeue_failed", orders))
    assert message == "Requeue failed: nothing had failed."
    failed = OutboxItem.objects.filter(
        object_id__in=[str(o.pk) for o in orders[:3]], kind="receipt"
    )
    failed.update(status="dead", last_error="400 Bad Request")
    [message] = messages_after(staff, act(staff, "requeue_failed", orders))
    assert message.startswith(
        "Requeue failed: 3 failed sends queued again; the worker sends them to Vipps. <a href="
    )
    statuses = dict(OutboxItem.objects.filter(kind="receipt").values_list("object_id", "status"))
    assert statuses == {str(o.pk): "pending" if o in orders[:3] else "done" for o in orders}


def action_queries(client, action: str, orders) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = act(client, action, orders)
    assert response.status_code == 302
    return len(queries)


@pytest.mark.parametrize(
    "action", ["send_to_vipps_now", "resend_links", "reupload_image", "requeue_failed"]
)
def test_an_action_costs_the_same_queries_for_10_orders_and_for_60(
    staff, vipps, make_order, action
):
    orders = [make_order() for _ in range(60)]
    services.sync_now(orders[0])  # the product's photo is at Vipps: there is an upload to forget
    uploaded = list(UploadedImage.objects.values())
    ContentType.objects.get_for_models(Order, Booking)
    staff.get(CHANGELIST)  # the session's first request fills caches

    def measure(chosen) -> int:
        OutboxItem.objects.update(status="dead", last_error="400 Bad Request")
        UploadedImage.objects.all().delete()
        UploadedImage.objects.bulk_create([UploadedImage(**row) for row in uploaded])
        return action_queries(staff, action, chosen)

    ten, sixty = measure(orders[:10]), measure(orders)

    assert ten == sixty, (action, ten, sixty)
    assert OutboxItem.objects.filter(status="pending").count() == (
        60 if action in ("resend_links", "reupload_image") else 120
    )
    assert len(vipps.requests_for("POST", "/receipts/")) == 1  # only the first order's, above
