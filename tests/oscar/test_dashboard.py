"""The Vipps tab and actions in Oscar's dashboard, the Django admin beside Oscar's OrderAdmin,
and "My orders" on Oscar's own customer history page."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from oscar.apps.order.admin import OrderAdmin as OscarOrderAdmin
from oscar.core.loading import get_model

from vipps_order_management.admin import VippsOrderAdminMixin

Order = get_model("order", "Order")

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_the_order_page_has_a_vipps_tab_with_status_receipts_and_preview(
    staff_client, place_order, vipps
):
    order = place_order("Wool socks", 2, "Coffee", 3)
    response = staff_client.get(reverse("dashboard:order-detail", args=[order.number]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="#vipps"' in page
    assert 'id="vipps-panel"' in page
    assert 'data-status="pending"' in page  # queued by the order's save
    assert f"oscar-{order.number}" in page
    assert page.count('class="vipps-preview"') == 2  # this shop, and what Vipps holds
    assert "Send to Vipps now" in page

    url = reverse("vipps_oscar:vipps-order-operation", args=[order.number])
    response = staff_client.post(url, {"vipps_operation": "send"}, follow=True)
    assert response.redirect_chain[0][0].endswith(f"/dashboard/orders/{order.number}/#vipps")
    assert any("receipt" in message for message in messages_of(response))
    assert vipps.receipt(f"oscar-{order.number}") is not None
    assert 'data-status="synced"' in response.content.decode()

    response = staff_client.post(url, {"vipps_operation": "compare"}, follow=True)
    assert f"Order {order.number}: the receipt matches what Vipps holds" in messages_of(response)


def test_a_vipps_failure_is_a_message_never_a_500(staff_client, place_order, vipps):
    order = place_order("Mittens", 1)
    vipps.faults.fail_next(50, status=503)
    try:
        page = staff_client.get(reverse("dashboard:order-detail", args=[order.number]))
        assert page.status_code == 200
        assert "Could not fetch the order from Vipps" in page.content.decode()
        url = reverse("vipps_oscar:vipps-order-operation", args=[order.number])
        response = staff_client.post(url, {"vipps_operation": "send"}, follow=True)
        assert response.status_code == 200
        assert any("will retry" in m or "503" in m for m in messages_of(response)), messages_of(
            response
        )
    finally:
        vipps.faults.clear()


def test_the_panel_survives_a_broken_adapter(staff_client, place_order, vipps, monkeypatch):
    from vipps_order_management.contrib.oscar.adapters import OscarOrderAdapter

    order = place_order("Mittens", 1)

    def broken(self, order):
        raise RuntimeError("the shop's adapter broke")

    monkeypatch.setattr(OscarOrderAdapter, "get_order_lines", broken)
    page = staff_client.get(reverse("dashboard:order-detail", args=[order.number]))
    assert page.status_code == 200
    assert "the shop&#x27;s adapter broke" in page.content.decode()


def test_the_order_list_actions_send_the_ticked_orders(staff_client, place_order, vipps):
    orders = [place_order("Coffee", 1), place_order("Jam", 2), place_order("Mittens", 1)]
    page = staff_client.get(reverse("dashboard:order-list"))
    assert 'id="vipps-actions"' in page.content.decode()
    assert 'formaction="/dashboard/vipps/actions/"' in page.content.decode()

    ticked = [orders[0].pk, orders[2].pk]
    response = staff_client.post(
        reverse("vipps_oscar:vipps-order-bulk"),
        {
            "selected_order": ticked,
            "vipps_operation": "send",
            "vipps_next": "/dashboard/orders/?status=Pending",
        },
        follow=True,
    )
    assert response.redirect_chain[0][0] == "/dashboard/orders/?status=Pending"
    assert "Send to Vipps now: 2 done, 0 with problems." in messages_of(response)
    assert vipps.receipt(f"oscar-{orders[0].number}") is not None
    assert vipps.receipt(f"oscar-{orders[1].number}") is None
    assert vipps.receipt(f"oscar-{orders[2].number}") is not None

    for operation in ("links", "requeue", "compare"):
        response = staff_client.post(
            reverse("vipps_oscar:vipps-order-bulk"),
            {"selected_order": ticked, "vipps_operation": operation, "vipps_next": "https://evil"},
            follow=True,
        )
        assert response.redirect_chain[0][0] == "/dashboard/orders/"
        assert len(messages_of(response)) == 3, messages_of(response)


def test_more_than_five_ticked_orders_are_queued_with_one_message(staff_client, place_order, vipps):
    from vipps_order_management.models import OutboxItem

    orders = [place_order("Coffee", 1) for _ in range(6)]
    OutboxItem.objects.update(status="done")
    response = staff_client.post(
        reverse("vipps_oscar:vipps-order-bulk"),
        {"selected_order": [order.pk for order in orders], "vipps_operation": "send"},
        follow=True,
    )
    pending = reverse("vipps_oscar:vipps-order-list") + "?status=pending"
    assert messages_of(response) == [
        "Send to Vipps now: 6 orders queued; the worker sends them to Vipps. "
        f'<a href="{pending}">See them in the Vipps list</a>'
    ]
    assert vipps.receipt(f"oscar-{orders[0].number}") is None  # the worker sends them
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"pending"}
    listed = staff_client.get(pending).content.decode()
    assert sorted(re.findall(r"/dashboard/orders/(\d+)/#vipps", listed)) == sorted(
        order.number for order in orders
    )


def test_the_vipps_list_shows_orders_that_need_staff(staff_client, place_order, vipps):
    from vipps_order_management import services

    synced, failing = place_order("Coffee", 1), place_order("Jam", 1)
    services.sync_now(synced)
    vipps.faults.fail_next(50, status=400)
    try:
        services.sync_now(failing)
    finally:
        vipps.faults.clear()
    page = staff_client.get(reverse("vipps_oscar:vipps-order-list")).content.decode()
    numbers = re.findall(r"/dashboard/orders/(\d+)/#vipps", page)
    assert numbers == [failing.number]
    page = staff_client.get(reverse("vipps_oscar:vipps-order-list") + "?status=synced")
    assert re.findall(r"/dashboard/orders/(\d+)/#vipps", page.content.decode()) == [synced.number]
    nav = staff_client.get(reverse("dashboard:index")).content.decode()
    assert reverse("vipps_oscar:vipps-order-list") in nav  # OSCAR_DASHBOARD_NAVIGATION


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("vipps_oscar:vipps-order-list", [], "get"),
        ("vipps_oscar:vipps-order-bulk", [], "post"),
        ("vipps_oscar:vipps-order-operation", ["100001"], "post"),
    ],
)
def test_others_are_refused(client, customer, place_order, vipps, name, args, method):
    order = place_order("Coffee", 1)
    url = reverse(name, args=args)
    data = {"selected_order": [order.pk], "vipps_operation": "send"} if method == "post" else {}
    anonymous = getattr(client, method)(url, data)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("dashboard:login"))
    client.force_login(customer)
    assert getattr(client, method)(url, data).status_code == 403
    assert vipps.receipt(f"oscar-{order.number}") is None


def test_staff_who_may_only_view_see_the_panel_without_actions(client, viewer, place_order, vipps):
    client.force_login(viewer)
    order = place_order("Coffee", 1)
    page = client.get(reverse("dashboard:order-detail", args=[order.number]))
    assert page.status_code == 200
    assert 'id="vipps-panel"' in page.content.decode()
    assert 'name="vipps_operation"' not in page.content.decode().split('id="vipps-panel"')[1]
    url = reverse("vipps_oscar:vipps-order-operation", args=[order.number])
    assert client.post(url, {"vipps_operation": "send"}).status_code == 403
    assert client.get(reverse("vipps_oscar:vipps-order-list")).status_code == 200


def test_a_partner_acts_only_on_its_own_orders(client, django_user_model, place_order, vipps):
    from .shop import Partner

    ours = place_order("Coffee", 1)
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.com", "clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="dashboard_access"))
    client.force_login(clerk)
    url = reverse("vipps_oscar:vipps-order-operation", args=[ours.number])
    assert client.post(url, {"vipps_operation": "send"}).status_code == 404  # not its partner's
    Partner.objects.get().users.add(clerk)
    assert client.post(url, {"vipps_operation": "send"}).status_code == 302
    assert vipps.receipt(f"oscar-{ours.number}") is not None


# ---------------------------------------------------------------------- the Django admin


def test_the_admin_extends_oscars_own_order_admin(staff_client, place_order, vipps):
    model_admin = admin.site.get_model_admin(Order)
    assert isinstance(model_admin, OscarOrderAdmin)
    assert isinstance(model_admin, VippsOrderAdminMixin)
    assert "vipps_status" in model_admin.list_display
    order = place_order("Coffee", 1)
    changelist = staff_client.get(reverse("admin:order_order_changelist"))
    assert changelist.status_code == 200
    assert "field-vipps_status" in changelist.content.decode()
    page = staff_client.get(reverse("admin:order_order_vipps", args=[order.pk]))
    assert page.status_code == 200
    assert "This shop would send" in page.content.decode()
    response = staff_client.post(
        reverse("admin:order_order_changelist"),
        {"action": "send_to_vipps_now", "_selected_action": [order.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert vipps.receipt(f"oscar-{order.number}") is not None


# ---------------------------------------------------------------------- "My orders"


def test_the_vipps_list_costs_the_same_queries_for_3_orders_and_for_14(
    staff_client, place_order, vipps
):
    path = reverse("vipps_oscar:vipps-order-list") + "?status=pending"

    def listed() -> tuple[int, list[str]]:
        staff_client.get(path)  # the first request fills the session's caches
        with CaptureQueriesContext(connection) as queries:
            page = staff_client.get(path).content.decode()
        return len(queries), re.findall(r"/dashboard/orders/(\d+)/#vipps", page)

    orders = [place_order("Coffee", 1, "Jam", 2) for _ in range(3)]
    three, numbers = listed()
    assert sorted(numbers) == sorted(order.number for order in orders)
    orders += [place_order("Mittens", 1) for _ in range(11)]
    fourteen, numbers = listed()
    assert sorted(numbers) == sorted(order.number for order in orders)
    assert three == fourteen, (three, fourteen)


def my_orders(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("customer:order-list"))
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_my_orders_costs_the_same_queries_for_3_and_14_orders(
    client, customer, place_order, vipps, settings
):
    from vipps_order_management import services

    client.force_login(customer)
    basket = [("Wool socks", 1, "Coffee", 2), ("Mittens", 1), ("Jam", 3, "Knitting book", 1)]
    orders = [place_order(*basket[index % 3]) for index in range(3)]
    services.sync_now(orders[0])
    my_orders(client)  # the first request of a session also fills caches (site, basket)
    three, page = my_orders(client)
    assert page.count('class="vipps-order"') == 3
    for order in orders:
        item = re.search(rf'data-number="{order.number}">(.*?)</li>', page, re.S).group(1)
        assert "/vipps/orders/" in item  # the signed order confirmation link
        assert "/media/" in item  # the product image
    orders += [place_order(*basket[index % 3]) for index in range(11)]
    first, _page = my_orders(client)  # makes the new orders' link keys, all at once
    fourteen, page = my_orders(client)
    assert page.count('class="vipps-order"') == 14
    assert three == fourteen, (three, fourteen)
    assert first - fourteen == 2  # insert the missing keys, read them back: for 11 as for 1
    assert three <= 30
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]  # Oscar's page as it ships
    without_app, page = my_orders(client)
    assert 'class="vipps-order"' not in page
    print(
        f"My orders: {three} queries for 3 orders, {fourteen} for 14; "
        f"Oscar's own page without the app: {without_app} for 14"
    )
