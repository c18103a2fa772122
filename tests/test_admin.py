"""The admin: actions, the status column and filter, inlines, the per-order Vipps page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from tests.shop.models import Booking, Order
from vipps_order_management import services
from vipps_order_management.models import (
    OrderLink,
    OutboxItem,
    SyncAttempt,
    UploadedImage,
    VippsOrder,
)
from vipps_order_management.testing import drain_until_idle

from .conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/shop/order/"


@pytest.fixture
def viewer(client):
    client.force_login(make_user("viewer", staff=True, perms=["shop.view_order"]))
    return client


def run_action(client, action, orders, *, follow=True, confirm=True, query=""):
    data = {"action": action, "_selected_action": [str(order.pk) for order in orders]}
    if confirm:
        data["post"] = "yes"
    return client.post(CHANGELIST + query, data, follow=follow)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_send_now_sends_and_reports_per_order(staff, vipps, make_order):
    order = make_order()
    response = run_action(staff, "send_to_vipps_now", [order])
    assert response.status_code == 200
    assert vipps.receipt(order.vipps_reference) is not None
    [message] = messages_of(response)
    assert message.startswith(
        f"Order {order.number}: links: Sent the ORDER_CONFIRMATION link; receipt: Sent the receipt"
    )


def test_several_orders_ask_for_confirmation_first_and_keep_the_filters(staff, vipps, make_order):
    orders = [make_order(), make_order()]
    response = run_action(
        staff, "send_to_vipps_now", orders, confirm=False, follow=False, query="?status__exact=paid"
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "“Send to Vipps now” will run for these 2 orders" in content
    assert vipps.requests == []  # nothing sent before confirming
    response = run_action(
        staff, "send_to_vipps_now", orders, follow=False, query="?status__exact=paid"
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?status__exact=paid")
    assert all(vipps.receipt(order.vipps_reference) for order in orders)
    response = staff.get(response["Location"])
    texts = messages_of(response)
    assert len(texts) == 3
    assert texts[-1] == "Send to Vipps now: 2 done, 0 with problems."


def test_vipps_failing_is_a_message_never_a_500(staff, vipps, make_order):
    order = make_order()
    vipps.faults.fail_next(5, status=503, path="/receipts/")
    response = run_action(staff, "send_to_vipps_now", [order])
    assert response.status_code == 200
    [message] = messages_of(response)
    assert "receipt: will retry" in message
    assert "503" in message


def test_missing_credentials_are_a_message_never_a_500(staff, settings, make_order):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CLIENT_ID": None}
    order = make_order()
    response = run_action(staff, "send_to_vipps_now", [order])
    assert response.status_code == 200
    [message] = messages_of(response)
    assert "Missing Vipps credentials: VIPPS_ORDER_MANAGEMENT['CLIENT_ID']" in message


def test_staff_without_change_permission_see_no_actions(viewer, vipps, make_order):
    order = make_order()
    response = viewer.get(CHANGELIST)
    assert response.status_code == 200
    assert "send_to_vipps_now" not in response.content.decode()
    response = run_action(viewer, "send_to_vipps_now", [order])
    assert vipps.requests == []
    page = reverse("admin:shop_order_vipps", args=[order.pk])
    assert viewer.get(page + "?remote=0").status_code == 200
    assert viewer.post(page, {"operation": "send"}).status_code == 403
    assert vipps.requests == []


def test_anonymous_and_non_staff_get_nothing(client, make_order):
    order = make_order()
    page = reverse("admin:shop_order_vipps", args=[order.pk])
    assert client.get(page).status_code == 302  # to the login page
    User.objects.create_user("customer", password="pw")
    client.login(username="customer", password="pw")
    assert client.get(page).status_code == 302


def test_status_column_and_filter(staff, vipps, make_order, settings):
    synced, pending, failed, drifting, not_sent = (make_order() for _ in range(5))
    drain_until_idle()  # synced, failed and drifting are sent for now
    OutboxItem.objects.for_order(not_sent).delete()
    OutboxItem.objects.for_order(failed).filter(kind="links").update(
        status="dead", last_error="400"
    )
    VippsOrder.objects.for_order(drifting).update(receipt_state="drift")
    services.enqueue(pending)
    VippsOrder.objects.for_order(not_sent).delete()

    expected = {
        "synced": synced,
        "pending": pending,
        "failed": failed,
        "drift": drifting,
        "none": not_sent,
    }
    for value, order in expected.items():
        response = staff.get(CHANGELIST, {"vipps_status": value})
        shown = [o.pk for o in response.context["cl"].result_list]
        assert shown == [order.pk], value
    response = staff.get(CHANGELIST)
    content = response.content.decode()
    for label in ("Synced", "Pending", "Failed", "Differs from Vipps", "Not sent"):
        assert label in content


def test_status_filter_with_uuid_keys(staff, vipps):
    booking = Booking.objects.create(
        title="Sauna", price=Decimal(100), charge_id="chr-1", confirmed=True
    )
    other = Booking.objects.create(title="Bath", price=Decimal(100))
    drain_until_idle()
    response = staff.get("/admin/shop/booking/", {"vipps_status": "synced"})
    assert [b.pk for b in response.context["cl"].result_list] == [booking.pk]
    # Without a Vipps payment it is looked at again for PAYMENT_WAIT, then left alone.
    response = staff.get("/admin/shop/booking/", {"vipps_status": "pending"})
    assert [b.pk for b in response.context["cl"].result_list] == [other.pk]
    OutboxItem.objects.for_order(other).update(
        pending_since=timezone.now() - timedelta(days=1), next_attempt_at=timezone.now()
    )
    drain_until_idle()
    response = staff.get("/admin/shop/booking/", {"vipps_status": "none"})
    assert [b.pk for b in response.context["cl"].result_list] == [other.pk]


def test_links_added_in_the_inline_are_validated_and_sent(staff, vipps, make_order):
    user = User.objects.get(username="staff")
    for codename in (
        "add_orderlink",
        "change_orderlink",
        "view_orderlink",
        "add_orderimage",
        "view_orderimage",
    ):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    order = make_order()
    drain_until_idle()
    url = reverse("admin:shop_order_change", args=[order.pk])
    prefix = "vipps_order_management-orderlink-content_type-object_id"
    images = "vipps_order_management-orderimage-content_type-object_id"
    form = {
        "number": order.number,
        "status": "delivered",
        "vipps_reference": order.vipps_reference,
        "currency": "NOK",
        "shipping_price": "49.00",
        "tracking_url": "",
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-category": "RECEIPT",
        f"{prefix}-0-url": "http://insecure.example/receipt",
        f"{prefix}-0-position": "0",
        f"{images}-TOTAL_FORMS": "0",
        f"{images}-INITIAL_FORMS": "0",
    }
    response = staff.post(url, form)
    assert response.status_code == 200  # the form comes back with the error
    assert "Enter an https:// address or an app link" in response.content.decode()
    form[f"{prefix}-0-url"] = "https://shop.example/receipts/1"
    response = staff.post(url, form)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert OrderLink.objects.for_order(order).get().category == "RECEIPT"
    drain_until_idle()
    assert (
        vipps.category(order.vipps_reference)["orderDetailsUrl"]
        == "https://shop.example/receipts/1"
    )


def test_requeue_failed_and_resend_links(staff, vipps, make_order):
    order = make_order()
    vipps.faults.fail_next(1, status=400, path="/categories/")
    drain_until_idle()
    assert OutboxItem.objects.for_order(order).get(kind="links").status == "dead"
    response = run_action(staff, "requeue_failed", [order])
    assert "1 failed send queued again" in messages_of(response)[0]
    drain_until_idle()
    assert vipps.category(order.vipps_reference) is not None

    response = run_action(staff, "resend_links", [order])
    assert "links: Sent the ORDER_CONFIRMATION link" in messages_of(response)[0]
    assert len(vipps.requests_for("PUT", "/categories/")) == 3


def test_reupload_image_uploads_again(staff, vipps, make_order):
    order = make_order()
    drain_until_idle()
    assert UploadedImage.objects.count() == 1
    response = run_action(staff, "reupload_image", [order])
    assert "1 remembered upload dropped first" in messages_of(response)[0]
    uploads = vipps.requests_for("POST", "/v1/images")
    assert [r.status for r in uploads] == [200, 409]  # Vipps still had it: a harmless conflict
    assert UploadedImage.objects.count() == 1


def test_fetch_and_compare(staff, vipps, make_order):
    same, changed, unsent = make_order(), make_order(), make_order()
    OutboxItem.objects.for_order(unsent).delete()  # never sent
    drain_until_idle()
    changed.items.update(quantity=Decimal(5))
    response = run_action(staff, "fetch_and_compare", [same, changed, unsent])
    texts = messages_of(response)
    assert f"Order {same.number}: the receipt matches what Vipps holds" in texts
    assert f"Order {unsent.number}: Vipps holds nothing for this order" in texts
    [differs] = [t for t in texts if t.startswith(f"Order {changed.number}: ")]
    assert "differs from Vipps in 4 fields: orderLines[0].totalAmount" in differs
    assert "orderLines[0].unitInfo.quantity" in differs
    assert texts[-1] == "Fetch from Vipps and compare: 1 done, 2 with problems."


def test_the_order_page_sets_the_shop_beside_vipps(staff, vipps, make_order):
    order = make_order()
    drain_until_idle()
    order.items.update(quantity=Decimal(3))
    page = reverse("admin:shop_order_vipps", args=[order.pk])
    response = staff.get(page)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Differences from the receipt Vipps holds" in content
    assert "orderLines[0].totalAmount" in content
    assert content.count('class="vipps-preview"') == 2
    assert "Wool socks" in content  # inside the escaped srcdoc of the previews
    assert vipps.preview_url(order.vipps_reference) in content
    assert SyncAttempt.objects.for_order(order).exists()


def test_the_fake_preview_link_follows_the_one_answer_to_this_machine(
    staff, vipps, make_order, settings
):
    """127.1 is this machine to the resolver, so to the app: the page offers the fake's preview."""
    order = make_order()
    drain_until_idle()
    shorthand = vipps.url.replace("127.0.0.1", "127.1")
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BASE_URL": shorthand}
    content = staff.get(reverse("admin:shop_order_vipps", args=[order.pk])).content.decode()
    assert f"{shorthand}/preview/123456/ECOM/{order.vipps_reference}" in content


def test_the_order_page_survives_vipps_being_down(staff, vipps, make_order, caplog):
    order = make_order()
    drain_until_idle()
    vipps.faults.fail_next(3, status=503, path="/order-management/v2/ECOM/order-")
    with caplog.at_level("WARNING", logger="vipps_order_management"):
        response = staff.get(reverse("admin:shop_order_vipps", args=[order.pk]))
    assert response.status_code == 200
    assert "Could not fetch the order from Vipps" in response.content.decode()
    # One warning line that says why; no traceback for Vipps being unavailable.
    [record] = [r for r in caplog.records if "Could not fetch" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert "503" in record.getMessage()
    assert not record.exc_info


def test_the_order_page_buttons_run_operations(staff, vipps, make_order):
    order = make_order()
    page = reverse("admin:shop_order_vipps", args=[order.pk])
    response = staff.post(page, {"operation": "send"}, follow=True)
    assert response.status_code == 200
    assert vipps.receipt(order.vipps_reference) is not None


def test_outbox_admin_requeues_and_attempts_are_read_only(staff, vipps, make_order):
    order = make_order()
    vipps.faults.fail_next(1, status=400, path="/receipts/")
    drain_until_idle()
    row = OutboxItem.objects.for_order(order).get(kind="receipt")
    response = staff.get("/admin/vipps_order_management/outboxitem/", {"status__exact": "dead"})
    assert [r.pk for r in response.context["cl"].result_list] == [row.pk]
    response = staff.post(
        "/admin/vipps_order_management/outboxitem/",
        {"action": "requeue", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "1 row queued again." in messages_of(response)
    row.refresh_from_db()
    assert row.status == "pending"
    assert staff.get("/admin/vipps_order_management/syncattempt/add/").status_code == 403
    attempt = SyncAttempt.objects.first()
    response = staff.get(f"/admin/vipps_order_management/syncattempt/{attempt.pk}/change/")
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_unrelated_content_type_rows_do_not_leak_into_the_filter(staff, vipps, make_order):
    order = make_order()
    drain_until_idle()
    booking_type = ContentType.objects.get_for_model(Booking)
    OutboxItem.objects.create(
        content_type=booking_type,
        object_id=str(order.pk),
        kind="links",
        status="dead",
        next_attempt_at=order.pk and OutboxItem.objects.first().next_attempt_at,
        pending_since=OutboxItem.objects.first().pending_since,
    )
    response = staff.get(CHANGELIST, {"vipps_status": "failed"})
    assert list(response.context["cl"].result_list) == []
    assert Order.objects.count() == 1


# ---------------------------------------------------------------------- breadcrumbs, the button

BREADCRUMBS = re.compile(
    r'<nav aria-label="[^"]*">\s*<(ol|div) class="breadcrumbs">(.*?)</\1>\s*</nav>', re.S
)


def breadcrumbs(response) -> tuple[str, list[str]]:
    """The element the admin's breadcrumbs are in, and the text of each crumb, in order."""
    content = response.content.decode()
    [(element, inner)] = BREADCRUMBS.findall(content)
    if element == "ol":
        crumbs = re.findall(r"<li[^>]*>(.*?)</li>", inner, re.S)
    else:
        crumbs = inner.split("&rsaquo;")
    return element, [re.sub(r"<[^>]+>", "", crumb).strip() for crumb in crumbs]


def test_the_order_pages_breadcrumbs_are_the_admins_own(staff, vipps, make_order):
    order = make_order()
    page = staff.get(reverse("admin:shop_order_vipps", args=[order.pk]) + "?remote=0")
    change = staff.get(reverse("admin:shop_order_change", args=[order.pk]))
    element, crumbs = breadcrumbs(page)
    # The same markup as the admin's own change page on this Django (<ol> on 6.1+, else <div>).
    assert element == breadcrumbs(change)[0]
    assert crumbs == ["Home", "Shop", "Orders", f"Order {order.number}", "Vipps"]
    content = page.content.decode()
    change_url = reverse("admin:shop_order_change", args=[order.pk])
    assert f'<a href="{change_url}">Order {order.number}</a>' in content
    if element == "ol":
        assert '<li aria-current="page">Vipps</li>' in content


def test_the_confirmation_pages_breadcrumbs_are_the_admins_own(staff, vipps, make_order):
    orders = [make_order(), make_order()]
    response = run_action(staff, "send_to_vipps_now", orders, confirm=False, follow=False)
    element, crumbs = breadcrumbs(response)
    assert element == breadcrumbs(staff.get(CHANGELIST))[0]
    assert crumbs == ["Home", "Shop", "Orders", "Send to Vipps now"]


VIPPS_BUTTON = re.compile(
    r'<ul class="object-tools">.*?<a href="([^"]+)" class="vipps-order-link">Vipps</a>.*?</ul>',
    re.S,
)


def test_an_orders_change_page_has_a_button_to_its_vipps_page(
    staff, admin_client, vipps, make_order
):
    order = make_order()
    response = staff.get(reverse("admin:shop_order_change", args=[order.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    [link] = VIPPS_BUTTON.findall(content)
    assert link == reverse("admin:shop_order_vipps", args=[order.pk])
    assert 'class="historylink"' in content  # the admin's own tools stay
    assert staff.get(link + "?remote=0").status_code == 200
    # Adding an order: no Vipps page yet, no button.
    adding = admin_client.get(CHANGELIST + "add/")
    assert adding.status_code == 200
    assert "vipps-order-link" not in adding.content.decode()


def test_the_button_works_for_uuid_keys(staff, vipps):
    booking = Booking.objects.create(title="Sauna", price=Decimal(100), charge_id="chr-9")
    response = staff.get(reverse("admin:shop_booking_change", args=[booking.pk]))
    [link] = VIPPS_BUTTON.findall(response.content.decode())
    assert link == f"/admin/shop/booking/{booking.pk}/vipps/"
    assert staff.get(link + "?remote=0").status_code == 200


@pytest.fixture
def shop_templates(settings):
    """Templates a shop might write for its order admin, on top of the usual ones."""

    def use(templates: dict[str, str]) -> None:
        engine = settings.TEMPLATES[0]
        settings.TEMPLATES = [
            {
                **engine,
                "APP_DIRS": False,
                "OPTIONS": {
                    **engine["OPTIONS"],
                    "loaders": [
                        ("django.template.loaders.locmem.Loader", templates),
                        "django.template.loaders.app_directories.Loader",
                    ],
                },
            }
        ]

    return use


PRINT_BUTTON = (
    '{% extends "admin/change_form.html" %}'
    '{% block object-tools-items %}<li><a href="/print/" class="print">Print</a></li>'
    "{{ block.super }}{% endblock %}"
)


def test_the_button_joins_a_shops_own_change_form_template(
    staff, vipps, make_order, shop_templates, monkeypatch
):
    shop_templates({"shop/order_change.html": PRINT_BUTTON})
    monkeypatch.setattr(
        admin.site._registry[Order], "change_form_template", "shop/order_change.html"
    )
    order = make_order()
    content = staff.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert 'class="print"' in content  # the shop's own template is still used
    assert 'class="historylink"' in content
    assert VIPPS_BUTTON.findall(content) == [reverse("admin:shop_order_vipps", args=[order.pk])]


def test_the_button_joins_a_per_model_change_form_override(
    staff, vipps, make_order, shop_templates
):
    # Django finds admin/<app>/<model>/change_form.html by itself; it stays found.
    shop_templates({"admin/shop/order/change_form.html": PRINT_BUTTON})
    order = make_order()
    content = staff.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert 'class="print"' in content
    assert len(VIPPS_BUTTON.findall(content)) == 1


def test_naming_our_template_itself_does_not_loop(staff, vipps, make_order, monkeypatch):
    model_admin = admin.site._registry[Order]
    monkeypatch.setattr(model_admin, "change_form_template", model_admin.vipps_change_form_template)
    order = make_order()
    response = staff.get(reverse("admin:shop_order_change", args=[order.pk]))
    assert response.status_code == 200
    assert len(VIPPS_BUTTON.findall(response.content.decode())) == 1


def test_the_button_can_be_turned_off(staff, vipps, make_order, monkeypatch):
    monkeypatch.setattr(admin.site._registry[Order], "vipps_change_form_template", None)
    order = make_order()
    content = staff.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert "vipps-order-link" not in content
    assert 'class="historylink"' in content


def test_staff_who_may_only_view_orders_get_the_button_and_the_page(viewer, vipps, make_order):
    order = make_order()
    response = viewer.get(reverse("admin:shop_order_change", args=[order.pk]))
    assert response.status_code == 200
    [link] = VIPPS_BUTTON.findall(response.content.decode())
    page = viewer.get(link + "?remote=0")
    assert page.status_code == 200
    assert 'name="operation"' not in page.content.decode()  # no buttons that change anything


def test_staff_without_permission_get_a_403_never_a_500(client, vipps, make_order):
    order = make_order()
    User.objects.create_user("clerk", password="pw", is_staff=True)  # no permission at all
    client.login(username="clerk", password="pw")
    page = reverse("admin:shop_order_vipps", args=[order.pk])
    assert client.get(reverse("admin:shop_order_change", args=[order.pk])).status_code == 403
    assert client.get(page).status_code == 403
    assert client.post(page, {"operation": "send"}).status_code == 403
    # Whether an order exists is not told to those who may not see it.
    assert client.get("/admin/shop/order/999999/vipps/").status_code == 403
    assert vipps.requests == []


@pytest.mark.parametrize("object_id", ["999999", "not-a-number", "1_2F..", "9" * 40])
def test_an_order_that_does_not_exist_is_a_404_never_a_500(staff, object_id):
    assert staff.get(f"/admin/shop/order/{object_id}/vipps/").status_code == 404
    assert staff.get(f"/admin/shop/booking/{object_id}/vipps/").status_code == 404
