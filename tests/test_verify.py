"""Verify against Vipps: after Vipps lost data, what is missing or stale is sent again, once."""

from __future__ import annotations

from collections import Counter

from tests.shop.models import Order
from vipps_order_management import services
from vipps_order_management.models import OutboxItem
from vipps_order_management.testing import drain_until_idle


def receipts_posted(fake) -> Counter:
    return Counter(
        request.path.rsplit("/", 1)[1]
        for request in fake.requests_for("POST", "/receipts/")
        if request.status == 201
    )


def test_verify_repairs_a_fake_replaced_mid_run_and_a_second_run_sends_nothing(vipps, make_order):
    orders = [make_order() for _ in range(6)]
    services.drain(worker_id="test", limit=3)  # half the shop reaches the first fake...
    vipps.reset()  # ...which is replaced by a new, empty one (and its tokens with it)
    drain_until_idle()  # the rest reach the new fake; what the old one held is gone

    first = list(services.verify_with_vipps(Order.objects.order_by("pk"), now=True))

    references = [order.vipps_reference for order in orders]
    assert receipts_posted(vipps) == Counter(references)  # each order exactly once
    assert not [r for r in vipps.requests_for("POST", "/receipts/") if r.status == 409]
    for order in orders:
        category = vipps.category(order.vipps_reference)
        assert category["orderDetailsUrl"] == f"https://shop.example/orders/{order.number}"
        assert category["imageId"] in vipps.images()  # the lost image was uploaded again
    repaired = {v.order.pk: v for v in first if v.verdict.status == "repair"}
    assert {orders[0].pk, orders[1].pk, orders[2].pk} <= set(repaired)
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"done"}

    vipps.clear_requests()
    second = list(services.verify_with_vipps(Order.objects.order_by("pk"), now=True))

    assert {v.verdict.status for v in second} == {"in_sync"}
    assert {request.method for request in vipps.requests} <= {"GET", "POST"}
    assert [r.path for r in vipps.requests if r.method == "POST"] in (
        [],
        ["/accesstoken/get"],
    )


def test_verify_reports_a_receipt_that_differs_and_never_resends_it(vipps, make_order):
    order = make_order()
    drain_until_idle()
    order.items.update(quantity=5)  # the order changed after its receipt was sent

    [verified] = services.verify_with_vipps([order], now=True)

    assert verified.verdict.status == "drift"
    assert "orderLines[0]" in verified.verdict.message
    assert verified.queued == []
    assert len(vipps.requests_for("POST", "/receipts/")) == 1  # only the original


def test_verify_skips_orders_without_a_vipps_payment(vipps, make_order):
    order = make_order(reference=False)
    [verified] = services.verify_with_vipps([order])
    assert verified.verdict.status == "skipped"
    assert vipps.requests_for(path_contains="/order-management/") == []
