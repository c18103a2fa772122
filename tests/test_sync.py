"""The sync engine end to end: the fake shop's orders reach the fake Vipps over real HTTP."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from tests.shop.models import Booking, Order, OrderItem, Product
from vipps_order_management import services, signals
from vipps_order_management.engine import leases, outbox
from vipps_order_management.engine.pipeline import CIRCUIT_BREAKER_THRESHOLD
from vipps_order_management.models import (
    OrderLink,
    OutboxItem,
    SyncAttempt,
    UploadedImage,
    VippsOrder,
)
from vipps_order_management.testing import drain_until_idle

from .conftest import png_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def state_of(order) -> VippsOrder:
    return VippsOrder.objects.for_order(order).get()


def outbox_of(order, kind) -> OutboxItem:
    return OutboxItem.objects.for_order(order).get(kind=kind)


def test_an_order_with_an_integer_key_arrives_once_correct_to_the_minor_unit(vipps, make_order):
    order = make_order(quantity=3, unit_price=Decimal("129.00"), shipping="49.00")

    result = drain_until_idle()

    assert result.done == 2
    assert result.dead == 0
    receipt = vipps.receipt(order.vipps_reference)
    assert receipt["orderLines"] == [
        {
            "name": "Wool socks",
            "id": "SOCK-1",
            "totalAmount": 38700,
            "totalAmountExcludingTax": 30960,
            "totalTaxAmount": 7740,
            "taxRate": 2500,
            "unitInfo": {"unitPrice": 12900, "quantity": "3", "quantityUnit": "PCS"},
            "discount": 0,
            "productUrl": "https://shop.example/products/SOCK-1",
            "isReturn": False,
            "isShipping": False,
        },
        {
            "name": "Shipping",
            "id": "shipping",
            "totalAmount": 4900,
            "totalAmountExcludingTax": 3920,
            "totalTaxAmount": 980,
            "taxRate": 2500,
            "unitInfo": {"unitPrice": 4900, "quantity": "1", "quantityUnit": "PCS"},
            "discount": 0,
            "isReturn": False,
            "isShipping": True,
        },
    ]
    assert receipt["bottomLine"] == {"currency": "NOK", "receiptNumber": order.number}
    category = vipps.category(order.vipps_reference)
    assert category["category"] == "ORDER_CONFIRMATION"
    assert category["orderDetailsUrl"] == f"https://shop.example/orders/{order.number}"
    assert category["imageId"] in vipps.images()
    assert len(vipps.images()) == 1

    calls = [
        (r.method, r.path.split("/")[-2] if "receipts" in r.path else r.path)
        for r in vipps.requests
        if "/order-management/" in r.path
    ]
    assert len(vipps.requests_for("POST", "/receipts/")) == 1
    assert len(vipps.requests_for("PUT", "/categories/")) == 1
    assert len(vipps.requests_for("POST", "/v1/images")) == 1, calls

    state = state_of(order)
    assert state.receipt_state == VippsOrder.ReceiptState.SENT
    assert state.links_state == VippsOrder.LinkState.SENT
    assert state.reference == order.vipps_reference
    assert state.receipt_sent_via == "api"

    # Nothing changed: another run sends nothing at all.
    vipps.clear_requests()
    order.save()
    drain_until_idle()
    assert [r for r in vipps.requests if "/order-management/" in r.path] == []


def test_an_order_with_a_uuid_key_and_recurring_payment(vipps, db):
    booking = Booking.objects.create(
        title="Sauna, 2 hours",
        price=Decimal("450.00"),
        vat_rate=Decimal(12),
        charge_id="chr-abc123",
        confirmed=True,
    )
    drain_until_idle()
    receipt = vipps.receipt("chr-abc123", payment_type="RECURRING")
    assert receipt is not None
    assert receipt["orderLines"][0]["id"] == str(booking.pk)
    assert (
        receipt["orderLines"][0]["totalAmount"],
        receipt["orderLines"][0]["totalTaxAmount"],
    ) == (45000, 4821)
    assert vipps.receipt("chr-abc123", payment_type="ECOM") is None
    assert vipps.category("chr-abc123", payment_type="RECURRING")["category"] == "BOOKING"
    assert state_of(booking).object_id == str(booking.pk)


def test_nothing_is_sent_before_the_order_has_a_vipps_payment(vipps, make_order):
    order = make_order(reference=False)
    drain_until_idle()
    assert vipps.requests == []
    row = outbox_of(order, "receipt")
    assert row.status == OutboxItem.Status.PENDING  # looked at again a little later
    assert row.next_attempt_at > timezone.now()
    assert "Waiting for the order to get a Vipps payment" in row.result
    assert row.last_error == ""  # waiting for a payment is not an error

    order.vipps_reference = "late-ref"
    order.save()
    drain_until_idle()
    assert vipps.receipt("late-ref") is not None


def test_a_payment_saved_where_sync_on_does_not_look_is_still_found(vipps, make_order):
    """Oscar saves the payment source after the order's transaction: no signal says so."""
    order = make_order(reference=False)
    drain_until_idle()
    Order.objects.filter(pk=order.pk).update(vipps_reference="found-later")  # no save()
    OutboxItem.objects.for_order(order).update(next_attempt_at=timezone.now())  # its time came
    drain_until_idle()
    assert vipps.receipt("found-later") is not None
    assert vipps.category("found-later") is not None


def test_an_order_never_paid_through_vipps_is_left_alone_after_the_wait(
    vipps, make_order, settings
):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "PAYMENT_WAIT": timedelta(minutes=30),
    }
    order = make_order(reference=False)
    OutboxItem.objects.for_order(order).update(pending_since=timezone.now() - timedelta(minutes=31))
    result = drain_until_idle()
    assert {r.status for r in result.results} == {"done"}
    for row in OutboxItem.objects.for_order(order):
        assert row.status == OutboxItem.Status.DONE
        assert "No Vipps payment after" in row.result
        assert "sync_on" in row.result
    assert vipps.requests == []


def test_links_go_out_before_the_order_is_final_and_the_receipt_after(vipps, make_order):
    order = make_order(status="new")
    drain_until_idle()
    assert vipps.category(order.vipps_reference) is not None
    assert vipps.receipt(order.vipps_reference) is None
    assert state_of(order).receipt_state == VippsOrder.ReceiptState.WAITING

    order.status = Order.Status.PAID
    order.save()
    drain_until_idle()
    assert vipps.receipt(order.vipps_reference) is not None


def test_ten_saves_before_the_worker_runs_make_one_send(vipps, make_order):
    order = make_order()
    for number in range(10):
        order.tracking_url = f"https://track.example/{number}"
        order.save()
    row = outbox_of(order, "links")
    assert row.generation == 1  # one transaction: one outbox write, however many saves
    assert OutboxItem.objects.for_order(order).count() == 2

    drain_until_idle()

    assert len(vipps.requests_for("PUT", "/categories/")) == 1
    assert len(vipps.requests_for("POST", "/receipts/")) == 1
    assert vipps.category(order.vipps_reference)["orderDetailsUrl"] == "https://track.example/9"


@pytest.mark.django_db(transaction=True)
def test_a_save_during_a_send_is_sent_afterwards(vipps, make_order):
    order = make_order(status="new")
    vipps.faults.delay(1.0, path="/categories/")

    results = []

    def send():
        try:
            results.extend(services.drain(worker_id="slow").results)
        finally:
            connection.close()

    worker = threading.Thread(target=send)
    worker.start()
    deadline = time.monotonic() + 10
    while not vipps.in_flight("PUT", "/categories/") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert vipps.in_flight("PUT", "/categories/"), "the worker never reached Vipps"
    order.tracking_url = "https://track.example/during-send"
    order.save()  # commits while the first PUT is in flight
    worker.join(20)

    # The first send was not acknowledged (its generation was outdated), so the same drain
    # picked the row up again and sent the change.
    links = [r for r in results if r.kind == "links"]
    assert [r.status for r in links] == ["changed", "done"]
    puts = vipps.requests_for("PUT", "/categories/")
    assert [r.json["orderDetailsUrl"] for r in puts] == [
        f"https://shop.example/orders/{order.number}",
        "https://track.example/during-send",
    ]
    assert outbox_of(order, "links").status == OutboxItem.Status.DONE


def test_the_same_product_image_on_500_orders_is_uploaded_once(vipps, make_order):
    orders = [make_order(status="new") for _ in range(500)]
    drain_until_idle()
    assert len(vipps.requests_for("POST", "/v1/images")) == 1
    assert len(vipps.images()) == 1
    [image_id] = vipps.images()
    assert all(vipps.category(order.vipps_reference)["imageId"] == image_id for order in orders)
    assert UploadedImage.objects.count() == 1


def test_several_products_make_one_collage(vipps, make_order, product):
    from django.core.files.base import ContentFile

    hat = Product(name="Hat", sku="HAT-1", price=Decimal("199.00"))
    hat.image.save("hat.png", ContentFile(png_bytes(colour=(20, 20, 200))), save=False)
    hat.save()
    order = make_order(items=[(product, 1, None), (hat, 1, None)])
    drain_until_idle()
    [(image_id, data)] = vipps.images().items()
    from io import BytesIO

    from PIL import Image

    collage = Image.open(BytesIO(data))
    assert collage.size[0] == collage.size[1] >= 167
    left, right = (
        collage.getpixel((collage.width // 4, collage.height // 2)),
        collage.getpixel((3 * collage.width // 4, collage.height // 2)),
    )
    assert left[0] > 150 > left[2]  # the red socks
    assert right[2] > 150 > right[0]  # the blue hat
    assert vipps.category(order.vipps_reference)["imageId"] == image_id


def test_an_image_vipps_cannot_take_leaves_the_link_without_an_image(vipps, make_order, product):
    from django.core.files.base import ContentFile

    product.image.save("tiny.png", ContentFile(png_bytes(size=(40, 40))), save=True)
    order = make_order()
    drain_until_idle()
    category = vipps.category(order.vipps_reference)
    assert category["orderDetailsUrl"].endswith(order.number)
    assert "imageId" not in category or category["imageId"] is None
    state = state_of(order)
    assert "Image left out" in state.links_error
    assert "40\N{MULTIPLICATION SIGN}40 pixels" in state.links_error
    attempt = SyncAttempt.objects.for_order(order).get(endpoint="image preparation")
    assert attempt.outcome == SyncAttempt.Outcome.PERMANENT


def test_an_invalid_receipt_does_not_stop_the_links(vipps, make_order, product):
    product.name = ""  # every receipt line needs a name
    product.save()
    order = make_order()
    received = []
    signals.dead_lettered.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        drain_until_idle()
    finally:
        signals.dead_lettered.disconnect(dispatch_uid="t1")

    assert vipps.category(order.vipps_reference) is not None
    assert vipps.receipt(order.vipps_reference) is None
    row = outbox_of(order, "receipt")
    assert row.status == OutboxItem.Status.DEAD
    assert "orderLines[0].name: is required" in row.last_error
    assert state_of(order).receipt_state == VippsOrder.ReceiptState.DEAD
    assert [kw["kind"] for kw in received] == ["receipt"]
    assert vipps.requests_for("POST", "/receipts/") == []


def test_shop_numbers_that_cannot_make_a_receipt_fail_with_the_reason(vipps, make_order):
    order = make_order(quantity=1)
    order.items.update(discount=Decimal("500.00"))  # more than the line costs
    drain_until_idle()
    row = outbox_of(order, "receipt")
    assert row.status == OutboxItem.Status.DEAD
    assert "discount: 500.00 is larger than the line's 129.000" in row.last_error
    assert "discount" in state_of(order).receipt_error


def test_a_receipt_already_at_vipps_is_compared_not_posted_twice(vipps, make_order):
    order = make_order()
    vipps.store_receipt(order.vipps_reference, services.receipt_for_epayment(order))
    drain_until_idle()
    state = state_of(order)
    assert state.receipt_state == VippsOrder.ReceiptState.SENT
    assert state.receipt_sent_via == "remote"
    assert [r.status for r in vipps.requests_for("POST", "/receipts/")] == [409]


def test_a_different_receipt_already_at_vipps_is_drift(vipps, make_order):
    order = make_order()
    body = services.receipt_for_epayment(order)
    body["orderLines"][0]["name"] = "Cotton socks"
    vipps.store_receipt(order.vipps_reference, body)
    drain_until_idle()
    state = state_of(order)
    assert state.receipt_state == VippsOrder.ReceiptState.DRIFT
    assert state.drift == [
        {"path": "orderLines[0].name", "local": "Wool socks", "remote": "Cotton socks"}
    ]


def test_a_receipt_changed_after_it_was_sent_shows_as_drift_with_what_differs(vipps, make_order):
    order = make_order(quantity=2)
    drain_until_idle()
    drifts = []
    signals.receipt_drift.connect(lambda **kw: drifts.append(kw), weak=False, dispatch_uid="t2")
    try:
        item = order.items.get()
        item.quantity = Decimal(3)
        item.save()
        drain_until_idle()
    finally:
        signals.receipt_drift.disconnect(dispatch_uid="t2")

    state = state_of(order)
    assert state.receipt_state == VippsOrder.ReceiptState.DRIFT
    paths = {d["path"]: (d["local"], d["remote"]) for d in state.drift}
    assert paths["orderLines[0].totalAmount"] == (38700, 25800)
    assert paths["orderLines[0].unitInfo.quantity"] == ("3", "2")
    assert len(drifts) == 1
    assert len(vipps.requests_for("POST", "/receipts/")) == 1  # never a second receipt

    # Putting it back clears the drift.
    item.quantity = Decimal(2)
    item.save()
    drain_until_idle()
    assert state_of(order).receipt_state == VippsOrder.ReceiptState.SENT


def test_receipt_embedded_in_epayment_is_never_posted(vipps, make_order):
    order = make_order()
    body = services.receipt_for_epayment(order)
    assert body["bottomLine"]["receiptNumber"] == order.number
    vipps.store_receipt(order.vipps_reference, body)  # what ePayment's createPayment stores
    services.mark_receipt_sent(order)
    drain_until_idle()
    assert vipps.requests_for("POST", "/receipts/") == []
    state = state_of(order)
    assert (state.receipt_state, state.receipt_sent_via) == (
        VippsOrder.ReceiptState.SENT,
        "epayment",
    )


def test_transient_failures_are_retried_with_backoff_and_retry_after(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 30, "JITTER": 0},
    }
    order = make_order(status="new")
    vipps.faults.fail_next(1, status=429, retry_after=120, path="/categories/")
    before = timezone.now()
    services.drain(worker_id="test")
    row = outbox_of(order, "links")
    assert row.status == OutboxItem.Status.PENDING
    assert row.last_status_code == 429
    assert row.next_attempt_at >= before + timedelta(seconds=119)
    assert "retry after 120 s" in row.last_error

    vipps.faults.fail_next(1, status=503, path="/categories/")
    OutboxItem.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    services.drain(worker_id="test")
    row.refresh_from_db()
    assert row.last_status_code == 503
    assert (
        timedelta(seconds=55) < row.next_attempt_at - timezone.now() <= timedelta(seconds=60)
    )  # 30 * 2

    OutboxItem.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    services.drain(worker_id="test")
    row.refresh_from_db()
    assert row.status == OutboxItem.Status.DONE
    outcomes = list(
        SyncAttempt.objects.for_order(order)
        .filter(endpoint__contains="categories")
        .order_by("pk")
        .values_list("status_code", "outcome")
    )
    assert outcomes[:2] == [(429, "transient"), (503, "transient")]
    assert outcomes[-1] == (200, "success")


def test_a_refusal_from_vipps_is_dead_lettered_and_can_be_requeued(vipps, make_order):
    order = make_order(status="new")
    vipps.faults.fail_next(1, status=400, path="/categories/")
    services.drain(worker_id="test")
    row = outbox_of(order, "links")
    assert row.status == OutboxItem.Status.DEAD
    assert row.last_status_code == 400
    assert state_of(order).links_state == VippsOrder.LinkState.DEAD

    assert services.requeue(OutboxItem.objects.filter(pk=row.pk)) == 1
    drain_until_idle()
    assert outbox_of(order, "links").status == OutboxItem.Status.DONE
    assert state_of(order).links_state == VippsOrder.LinkState.SENT


def test_rows_give_up_by_age_not_after_a_few_tries(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 30},
    }
    order = make_order(status="new")
    vipps.faults.fail_next(5, status=503, path="/categories/")
    for _ in range(3):
        OutboxItem.objects.update(next_attempt_at=timezone.now())
        services.drain(worker_id="test")
    row = outbox_of(order, "links")
    assert (row.status, row.attempts) == (OutboxItem.Status.PENDING, 3)

    OutboxItem.objects.filter(pk=row.pk).update(
        pending_since=timezone.now() - timedelta(hours=73), next_attempt_at=timezone.now()
    )
    services.drain(worker_id="test")
    row.refresh_from_db()
    assert row.status == OutboxItem.Status.DEAD
    assert row.last_error.startswith("Gave up after 3 days")


def test_a_vipps_outage_stops_the_drain_early_instead_of_spending_every_row(
    vipps, make_order, settings
):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 30},
    }
    orders = [make_order(status="new") for _ in range(8)]
    Product.objects.update(image="")  # no shared image: each order's links are its own call
    vipps.faults.fail_next(100, status=503)
    result = services.drain(worker_id="test")
    assert result.retried == CIRCUIT_BREAKER_THRESHOLD
    assert len(vipps.requests_for(path_contains="/order-management/")) == CIRCUIT_BREAKER_THRESHOLD
    assert result.released > 0
    untouched = OutboxItem.objects.filter(kind="links", attempts=0).count()
    assert untouched >= len(orders) - CIRCUIT_BREAKER_THRESHOLD


def test_v3_categories_are_created_and_removed_by_id(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CATEGORY_API": "v3"}
    order = make_order(tracking_url="https://track.example/1")
    ct = ContentType.objects.get_for_model(Order)
    link = OrderLink.objects.create(
        content_type=ct, object_id=str(order.pk), category="TICKET", url="myapp://tickets/1"
    )
    drain_until_idle()
    remote = vipps.categories_v3(order.vipps_reference)
    assert sorted(c["type"] for c in remote) == ["DELIVERY", "ORDER_CONFIRMATION", "TICKET"]
    link.refresh_from_db()
    assert link.category_id in {c["categoryId"] for c in remote}

    order.tracking_url = ""
    order.save()
    drain_until_idle()
    remote = vipps.categories_v3(order.vipps_reference)
    assert sorted(c["type"] for c in remote) == ["ORDER_CONFIRMATION", "TICKET"]
    assert len(vipps.requests_for("DELETE", "/v3/categories/")) == 1
    assert len(vipps.requests_for("POST", "/v3/categories")) == 3


def test_v2_shows_the_most_useful_link_as_the_order_moves_on(vipps, make_order):
    order = make_order(status="paid")
    drain_until_idle()
    assert vipps.category(order.vipps_reference)["category"] == "ORDER_CONFIRMATION"
    order.status = Order.Status.SHIPPED
    order.tracking_url = "https://track.example/abc"
    order.save()
    drain_until_idle()
    assert vipps.category(order.vipps_reference)["category"] == "DELIVERY"
    ct = ContentType.objects.get_for_model(Order)
    OrderLink.objects.create(
        content_type=ct, object_id=str(order.pk), category="RECEIPT", url="https://shop.example/r/1"
    )
    drain_until_idle()
    assert vipps.category(order.vipps_reference) == {
        "category": "RECEIPT",
        "orderDetailsUrl": "https://shop.example/r/1",
        "imageId": vipps.category(order.vipps_reference)["imageId"],
    }


def test_sync_now_sends_while_staff_wait(vipps, make_order, settings):
    order = make_order()
    OutboxItem.objects.all().delete()
    results = services.sync_now(order)
    assert {r.kind: r.status for r in results} == {"links": "done", "receipt": "done"}
    assert vipps.receipt(order.vipps_reference) is not None


def test_a_deleted_order_takes_its_rows_and_sends_nothing(vipps, make_order):
    order = make_order()
    reference = order.vipps_reference
    Order.objects.filter(pk=order.pk).delete()
    assert not OutboxItem.objects.exists()
    drain_until_idle()
    assert vipps.receipt(reference) is None


def test_the_attempt_log_never_holds_secrets(vipps, make_order):
    make_order()
    vipps.faults.fail_next(1, status=401, path="/receipts/")
    drain_until_idle()
    secrets = [vipps.credentials["client_secret"], vipps.credentials["subscription_key"]]
    for attempt in SyncAttempt.objects.all():
        text = f"{attempt.endpoint} {attempt.error}"
        assert not any(secret in text for secret in secrets)
    assert SyncAttempt.objects.filter(status_code=401).exists()


@pytest.mark.django_db(transaction=True)
def test_immediate_dispatch_sends_after_commit(vipps, settings, product):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "DISPATCH": "immediate"}
    with transaction.atomic():
        order = Order.objects.create(number="7", status="paid", vipps_reference="order-7")
        OrderItem.objects.create(order=order, product=product, unit_price=Decimal(10))
        assert vipps.requests == []  # nothing before the commit
    assert vipps.receipt("order-7")["orderLines"][0]["totalAmount"] == 1000


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_order_sends_nothing(vipps, settings, product):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "DISPATCH": "immediate"}

    def place_order_then_fail():
        with transaction.atomic():
            Order.objects.create(number="8", status="paid", vipps_reference="order-8")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        place_order_then_fail()
    assert OutboxItem.objects.count() == 0
    assert vipps.requests == []


@pytest.fixture
def heard():
    """Every outbound signal sent during the test, as (signal name, kwargs)."""
    names = [
        "receipt_sent",
        "category_sent",
        "image_uploaded",
        "order_synced",
        "sync_failed",
        "receipt_drift",
        "dead_lettered",
    ]
    events = []
    receivers = {}
    for name in names:

        def receiver(sender, signal, _name=name, **kwargs):
            events.append((_name, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield events
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_outbound_signals_tell_the_shop_what_happened(vipps, make_order, heard):
    order = make_order()
    vipps.faults.fail_next(1, status=502, path="/receipts/")
    drain_until_idle()
    names = [name for name, _ in heard]
    assert names.count("image_uploaded") == 1
    assert names.count("category_sent") == 1
    assert names.count("sync_failed") == 1
    assert names.count("receipt_sent") == 1
    assert names.count("order_synced") == 2
    by_name = dict(heard)
    assert by_name["receipt_sent"]["via"] == "api"
    assert by_name["receipt_sent"]["order"] == order
    assert by_name["category_sent"]["categories"][0].category == "ORDER_CONFIRMATION"
    assert by_name["image_uploaded"]["image_id"] in vipps.images()
    assert by_name["sync_failed"]["kind"] == "receipt"
    assert by_name["sync_failed"]["error"].status_code == 502

    heard.clear()
    vipps.faults.fail_next(1, status=403, path="/categories/")
    services.enqueue(order, kinds=["links"], force=True)
    drain_until_idle()
    [kwargs] = [k for n, k in heard if n == "dead_lettered"]
    assert kwargs["kind"] == "links"
    assert "403" in kwargs["error"]


@pytest.mark.parametrize("name", ["receipt_sent", "order_synced", "category_sent"])
def test_a_receiver_that_raises_stops_no_sync_and_no_other_receiver(
    vipps, make_order, heard, caplog, name
):
    orders = [make_order() for _ in range(5)]

    def broken(sender, order, **kwargs):
        if order.pk == orders[1].pk:
            raise RuntimeError("the shop's receiver broke")

    getattr(signals, name).connect(broken)
    try:
        result = drain_until_idle()
    finally:
        getattr(signals, name).disconnect(broken)

    assert result.done == 10  # every order's links and receipt, in one drain
    for order in orders:
        assert {outbox_of(order, kind).status for kind in ("links", "receipt")} == {"done"}
    heard_orders = {kwargs["order"].pk for signal, kwargs in heard if signal == name}
    assert heard_orders == {order.pk for order in orders}  # the other receiver heard them all
    assert "the shop's receiver broke" in caplog.text
    assert len(vipps.requests_for("POST", "/receipts/")) == 5  # nothing sent twice


def test_force_sends_unchanged_links_again(vipps, make_order):
    order = make_order()
    drain_until_idle()
    services.enqueue(order, kinds=["links"])
    drain_until_idle()
    assert len(vipps.requests_for("PUT", "/categories/")) == 1  # unchanged: not resent
    services.enqueue(order, kinds=["links"], force=True)
    drain_until_idle()
    assert len(vipps.requests_for("PUT", "/categories/")) == 2
    assert outbox_of(order, "links").force is False


def test_enqueue_refuses_what_it_cannot_sync(db):
    from django.contrib.auth.models import User

    from vipps_order_management.exceptions import VippsConfigurationError

    with pytest.raises(VippsConfigurationError, match=r"auth\.User has no adapter"):
        services.enqueue(User.objects.create(username="x"))
    with pytest.raises(ValueError, match="save the order"):
        services.enqueue(Order(number="unsaved"))
    order = Order.objects.create(number="1", vipps_reference="r-1")
    with pytest.raises(ValueError, match=r"unknown sync kinds \['invoice'\]"):
        services.enqueue(order, kinds=["invoice"])


def test_a_configuration_error_hands_every_claimed_row_back(vipps, make_order, settings):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CLIENT_SECRET": None}
    from vipps_order_management.exceptions import VippsConfigurationError

    with pytest.raises(VippsConfigurationError, match=r"VIPPS_ORDER_MANAGEMENT\[.CLIENT_SECRET.\]"):
        services.sync_now(order)
    for row in OutboxItem.objects.for_order(order):
        assert (row.status, row.lease_until, row.attempts) == ("pending", None, 0)
    assert vipps.requests == []


def test_rows_of_a_model_no_longer_configured_fail_without_stalling_the_rest(
    vipps, make_order, settings
):
    booking = Booking.objects.create(
        title="Sauna", price=Decimal(100), charge_id="chr-9", confirmed=True
    )
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": "tests.shop.vipps.ShopOrderAdapter"},
    }
    drain_until_idle()
    assert vipps.receipt(order.vipps_reference) is not None
    rows = OutboxItem.objects.for_order(booking)
    assert set(rows.values_list("status", flat=True)) == {"dead"}
    assert "shop.Booking has no adapter" in rows.first().last_error


def test_sync_now_does_not_wait_for_a_backoff(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 600},
    }
    order = make_order(status="new")
    vipps.faults.fail_next(1, status=503, path="/categories/")
    services.drain(worker_id="test")
    assert outbox_of(order, "links").next_attempt_at > timezone.now() + timedelta(minutes=5)
    results = services.sync_now(order, kinds=["links"])
    assert [(r.kind, r.status) for r in results] == [("links", "done")]
    assert vipps.category(order.vipps_reference) is not None


def test_sync_now_waits_for_a_worker_that_holds_the_order_then_sends(vipps, make_order):
    order = make_order()
    # Another worker holds the order's rows (and died with them): its lease runs out in 0.5 s.
    assert leases.claim(limit=10, worker_id="other", lease_seconds=0.5) is not None

    results = services.sync_now(order, wait=5)

    assert {r.kind: r.status for r in results} == {"links": "done", "receipt": "done"}
    assert vipps.receipt(order.vipps_reference) is not None


def test_sync_now_says_so_when_a_worker_holds_the_order_for_longer_than_it_waits(vipps, make_order):
    order = make_order()
    assert leases.claim(limit=10, worker_id="other", lease_seconds=60) is not None

    results = services.sync_now(order, wait=0.3)

    assert [(r.kind, r.status) for r in results] == [("links", "released"), ("receipt", "released")]
    assert "Another worker is sending it" in results[0].message
    assert vipps.requests_for(path_contains="/order-management/") == []
    # the change is recorded: it is sent once that worker lets go
    assert {row.generation for row in OutboxItem.objects.all()} == {2}


@pytest.mark.parametrize("changed_meanwhile", [False, True])
def test_sync_now_reports_every_kind_when_a_worker_finishes_it_between_the_drain_and_the_look(
    vipps, make_order, monkeypatch, changed_meanwhile
):
    order = make_order()
    other = leases.claim(limit=10, worker_id="other", lease_seconds=60)
    assert other is not None
    real = outbox.held_elsewhere

    def finishing_first(key, kinds):
        # The other worker writes its outcome just after sync_now's drain found the rows held.
        rows = (
            other.rows if changed_meanwhile else list(OutboxItem.objects.filter(pk__in=other.held))
        )
        with transaction.atomic():
            leases.finish(
                other, [leases.RowOutcome(row, "done", f"{row.kind} sent by other") for row in rows]
            )
        monkeypatch.setattr(outbox, "held_elsewhere", real)
        return real(key, kinds)

    monkeypatch.setattr(outbox, "held_elsewhere", finishing_first)
    results = {r.kind: r for r in services.sync_now(order, wait=5)}

    assert {kind: r.status for kind, r in results.items()} == {"links": "done", "receipt": "done"}
    if changed_meanwhile:
        # It read the order before sync_now's change: what it sent is stale, so it goes again.
        assert vipps.receipt(order.vipps_reference) is not None
    else:
        assert results["receipt"].message == "receipt sent by other"
        assert vipps.requests_for(path_contains="/order-management/") == []
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"done"}


def test_a_product_image_shared_by_a_batch_of_orders_is_read_once_for_its_digest(
    vipps, make_order, monkeypatch
):
    from vipps_order_management import adapters

    reads = []
    real = adapters.read_from_storage

    def counting(storage, name, **kwargs):
        reads.append(name)
        return real(storage, name, **kwargs)

    monkeypatch.setattr(adapters, "read_from_storage", counting)
    for _ in range(10):
        make_order(status="new")
    services.drain(worker_id="test")
    # One read per batch for the digest (a small first batch, then the rest), and one to
    # prepare the image that Vipps did not have yet: never one per order.
    assert reads == ["products/socks.png"] * 3
    assert len(vipps.images()) == 1
