"""The batch pipeline: constant queries per batch, one outbox write per transaction, errors by
kind, calls overlapped in threads, and requeue through one entry point that wakes the runner."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.shop.models import Order, OrderItem
from tests.shop.vipps import ShopOrderAdapter
from vipps_order_management import services
from vipps_order_management.adapters import Link
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder
from vipps_order_management.testing import drain_until_idle

from .conftest import TASKS_PACKAGE, tasks_framework

# ---------------------------------------------------------------------- queries per batch


def _batch_queries(vipps, make_order, settings, count: int) -> int:
    orders = [make_order() for _ in range(count)]
    with CaptureQueriesContext(connection) as queries:
        result = services.drain(worker_id="test", limit=count)
    assert result.done == 2 * count, result
    assert all(vipps.receipt(order.vipps_reference) for order in orders)
    return len(queries)


def test_a_batch_costs_the_same_queries_for_5_orders_and_for_50(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BATCH_SIZE": 100}
    make_order()  # the shared product image is uploaded once, before the batches compared
    drain_until_idle()

    five = _batch_queries(vipps, make_order, settings, 5)
    fifty = _batch_queries(vipps, make_order, settings, 50)

    assert five == fifty, (five, fifty)
    # Two batches (a small first one to start the threads, then the rest), each: claim, load,
    # our rows, the orders' references claimed, one write; never one round of queries per order.
    assert five <= 56


# ---------------------------------------------------------------------- the request path


def _outbox_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "vipps_order_management_outboxitem" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_checkout_of_an_order_and_five_lines_writes_the_outbox_once(vipps, product):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        order = Order.objects.create(number="700", status="new", vipps_reference="order-700")
        for _ in range(5):
            OrderItem.objects.create(order=order, product=product, unit_price=Decimal(10))
        order.status = Order.Status.PAID
        order.save()

    [statement] = _outbox_statements(queries.captured_queries)
    assert statement.startswith("INSERT")
    # No order was loaded from its lines: only the shop's own statements and ours ran.
    assert not [q for q in queries.captured_queries if 'FROM "shop_order"' in q["sql"]]
    rows = OutboxItem.objects.filter(object_id=str(order.pk))
    assert sorted(rows.values_list("kind", "status")) == [
        ("links", "pending"),
        ("receipt", "pending"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_does_not_lose_the_order_saved_after_it(vipps, product):
    with transaction.atomic():
        [order] = Order.objects.bulk_create(  # no signal: nothing recorded yet
            [Order(number="701", status="paid", vipps_reference="order-701")]
        )
        try:
            with transaction.atomic():
                order.save()  # recorded inside the savepoint...
                raise RuntimeError("the shop's code fails")
        except RuntimeError:
            pass  # ...and the savepoint, with its outbox write, is rolled back
        assert not OutboxItem.objects.filter(object_id=str(order.pk)).exists()
        order.save()  # the same order saved again: it must be written again

    assert OutboxItem.objects.filter(object_id=str(order.pk)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_saves_in_separate_transactions_each_bump_the_generation(vipps, product):
    order = Order.objects.create(number="702", status="new", vipps_reference="order-702")
    for number in range(3):
        order.tracking_url = f"https://track.example/{number}"
        order.save()  # autocommit: each save is its own transaction
    row = OutboxItem.objects.get(object_id=str(order.pk), kind="links")
    assert row.generation == 4


# ---------------------------------------------------------------------- errors by kind


#: Which order misbehaves how, by order number (set by the test).
FAULTS: dict[str, str] = {}


class MisbehavingAdapter(ShopOrderAdapter):
    """The shop's adapter with the mistakes shops really make, one per order."""

    def _fault(self, order):
        return FAULTS.get(order.number, "")

    def get_payment_type(self, order):
        return "CARD" if self._fault(order) == "card" else super().get_payment_type(order)

    def is_final(self, order):
        if self._fault(order) == "is_final":
            raise RuntimeError("status table not loaded")
        return super().is_final(order)

    def get_order_lines(self, order):
        fault = self._fault(order)
        if fault == "none":
            return None
        if fault == "attribute":
            return [item.product.ean for item in order.items.all()]
        if fault == "key":
            return [{"sku": item.product.sku}["price"] for item in order.items.all()]
        lines = super().get_order_lines(order)
        if fault == "off_by_one":
            lines[0].total_tax_amount += 1
        return lines

    def get_default_links(self, order):
        if self._fault(order) == "category":
            yield Link("FOO", f"https://shop.example/orders/{order.number}")
        else:
            yield from super().get_default_links(order)


#: fault -> (what the reason says, the kinds that wait for staff); the other kinds are sent.
CASES = {
    "none": ("get_order_lines() return its list", {"receipt"}),
    "attribute": ("AttributeError", {"receipt"}),
    "key": ("KeyError: 'price'", {"receipt"}),
    "is_final": ("RuntimeError: status table not loaded", {"receipt"}),
    "card": ("paymentType", {"links", "receipt"}),
    "category": ("ValueError: 'FOO' is not a valid CategoryType", {"links"}),
    "off_by_one": ("orderLines[0].totalTaxAmount", {"receipt"}),
}


def test_each_adapter_error_waits_for_staff_at_once_and_the_good_orders_go(
    vipps, make_order, settings
):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": "tests.test_pipeline.MisbehavingAdapter"},
        "RETRY": {"BASE_SECONDS": 0, "CAP_SECONDS": 0, "JITTER": 0},
    }
    good = [make_order(), make_order()]
    bad = {}
    for fault in CASES:
        order = make_order()
        FAULTS[order.number] = fault
        bad[fault] = order
    try:
        drain_until_idle()
    finally:
        FAULTS.clear()

    for order in good:
        assert vipps.receipt(order.vipps_reference) is not None
        assert vipps.category(order.vipps_reference) is not None
    for fault, order in bad.items():
        reason, waiting = CASES[fault]
        rows = {row.kind: row for row in OutboxItem.objects.for_order(order)}
        for kind, row in rows.items():
            if kind in waiting:
                assert row.status == OutboxItem.Status.DEAD, f"{fault}: {kind} {row.status}"
                assert row.attempts == 1, f"{fault}: {kind} tried {row.attempts} times"
                assert reason in row.last_error, f"{fault}: {row.last_error!r}"
            else:  # what the broken part does not touch still goes to Vipps
                assert row.status == OutboxItem.Status.DONE, f"{fault}: {kind} {row.last_error}"
        assert (vipps.receipt(order.vipps_reference) is None) == ("receipt" in waiting)
        assert (vipps.category(order.vipps_reference) is None) == ("links" in waiting)
    # The reason names the shop's method, so staff know where to look.
    [receipt_row] = OutboxItem.objects.for_order(bad["attribute"]).filter(kind="receipt")
    assert "MisbehavingAdapter.get_order_lines" in receipt_row.last_error
    assert (
        VippsOrder.objects.for_order(bad["none"]).get().receipt_state
        == VippsOrder.ReceiptState.DEAD
    )
    assert SyncAttempt.objects.for_order(bad["off_by_one"]).filter(
        endpoint="local validation", error__contains="totalTaxAmount"
    )


# ---------------------------------------------------------------------- concurrency


def _max_in_flight(vipps, run) -> int:
    seen = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen[0] = max(seen[0], vipps.in_flight(path_contains="/order-management/"))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run()
    finally:
        done.set()
        watcher.join()
    return seen[0]


def test_concurrency_overlaps_the_calls_of_one_worker(vipps, make_order):
    orders = [make_order(status="new") for _ in range(8)]
    drain_until_idle()  # the image, so what follows is one PUT per order
    for order in orders:
        order.tracking_url = "https://track.example/x"
        order.save()
    vipps.faults.delay(0.15, path="/categories/")

    overlapped = _max_in_flight(vipps, lambda: services.drain(worker_id="t", concurrency=4))

    assert overlapped >= 2
    assert len(vipps.requests_for("PUT", "/categories/")) == 16  # each order's PUT once more
    assert not OutboxItem.objects.exclude(status=OutboxItem.Status.DONE).exists()


def test_one_thread_sends_one_call_at_a_time(vipps, make_order):
    for _ in range(4):
        make_order(status="new")
    vipps.faults.delay(0.05, path="/order-management/")
    assert _max_in_flight(vipps, lambda: services.drain(worker_id="t", concurrency=1)) == 1


@pytest.mark.parametrize(
    ("setting", "option", "concurrency", "claimed"),
    [
        (100, None, 1, 100),  # the setting
        (100, 7, 1, 7),  # --batch-size over the setting
        (100, 7, 4, 16),  # raised to four orders per thread
        (2, None, 3, 12),
        (50, None, 8, 50),
    ],
)
def test_orders_per_claim_are_the_setting_raised_to_four_per_thread(
    settings, setting, option, concurrency, claimed
):
    from vipps_order_management.engine.pipeline import MIN_ORDERS_PER_THREAD, Pipeline

    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BATCH_SIZE": setting}
    with Pipeline(concurrency=concurrency, batch_size=option) as pipeline:
        assert pipeline.batch_size == claimed
        assert pipeline.batch_size >= MIN_ORDERS_PER_THREAD * concurrency


@pytest.mark.parametrize("concurrency", [0, -1])
def test_a_pipeline_without_a_thread_is_refused(concurrency):
    from vipps_order_management.engine.pipeline import Pipeline

    with pytest.raises(ValueError, match="at least one thread"):
        Pipeline(concurrency=concurrency)


# ---------------------------------------------------------------------- requeue


@pytest.mark.django_db(transaction=True)
def test_requeue_from_the_admin_wakes_the_task_runner(vipps, make_order, settings, client):
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "DISPATCH": "django_tasks",
    }
    backend = tasks_framework.default_task_backend
    order = make_order()
    OutboxItem.objects.for_order(order).update(status=OutboxItem.Status.DEAD)
    backend.clear()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))

    response = client.post(
        reverse("admin:shop_order_changelist"),
        {"action": "requeue_failed", "_selected_action": [order.pk]},
    )

    assert response.status_code == 302
    assert set(OutboxItem.objects.for_order(order).values_list("status", flat=True)) == {"pending"}
    assert [result.task.name for result in backend.results] == ["drain_outbox"]


# ---------------------------------------------------------------------- the payment


#: What each order (by number) was paid, as the shop's books say; set by the test.
PAID: dict[str, Decimal] = {}


class PaidAdapter(ShopOrderAdapter):
    def get_paid_amount(self, order):
        return PAID.get(order.number)


def test_a_receipt_one_ore_off_the_payment_is_never_sent_and_staff_see_why(
    vipps, make_order, settings, client
):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": "tests.test_pipeline.PaidAdapter"},
    }
    exact, off = make_order(), make_order()  # 2 x 129.00 + 49.00 shipping = 307.00
    PAID.update({exact.number: Decimal("307.00"), off.number: Decimal("307.01")})
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    try:
        drain_until_idle()
        page = client.get(reverse("admin:shop_order_vipps", args=[off.pk]) + "?remote=0")
    finally:
        PAID.clear()

    assert vipps.receipt(exact.vipps_reference) is not None
    assert vipps.receipt(off.vipps_reference) is None
    assert vipps.category(off.vipps_reference) is not None  # the link does not depend on it
    row = OutboxItem.objects.for_order(off).get(kind="receipt")
    assert row.status == OutboxItem.Status.DEAD
    assert row.attempts == 1
    for figure in ("307.00 NOK", "307.01 NOK", "0.01 NOK", "Wool socks 258.00 NOK"):
        assert figure in row.last_error, row.last_error
    assert "PaidAdapter.get_paid_amount" in row.last_error
    state = VippsOrder.objects.for_order(off).get()
    assert state.receipt_state == VippsOrder.ReceiptState.DEAD
    assert "307.01 NOK was paid" in state.receipt_error
    assert "307.01 NOK was paid" in page.content.decode()
