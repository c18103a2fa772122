"""Several worker processes draining one outbox: every change is sent exactly once.

Runs on the configured database: SQLite in the default run (writes serialised by
``transaction_mode=IMMEDIATE``), PostgreSQL in the ``scripts/with-services --postgres`` run
(``SELECT ... FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from vipps_order_management.engine import leases
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder

from .conftest import start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def sends_per_order(fake, method, fragment):
    return Counter(
        request.path.rsplit("/", 1)[1]
        for request in fake.requests_for(method, fragment)
        if request.status is not None and request.status < 400
    )


def test_two_workers_send_each_change_exactly_once(worker_env, vipps, make_order):
    orders = [make_order() for _ in range(120)]
    workers = [
        start_worker(worker_env, "--once", "--batch-size", "5", "--worker-id", f"w{n}")
        for n in (1, 2)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    references = [order.vipps_reference for order in orders]
    assert sends_per_order(vipps, "POST", "/receipts/") == Counter(references)
    assert sends_per_order(vipps, "PUT", "/categories/") == Counter(references)
    assert not vipps.requests_for("POST", "/receipts/") or all(
        r.status == 201 for r in vipps.requests_for("POST", "/receipts/")
    )
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"done"}
    assert VippsOrder.objects.filter(receipt_state="sent").count() == len(orders)
    # Both processes took a share of the work.
    leased_by = Counter(OutboxItem.objects.values_list("leased_by", flat=True))
    assert set(leased_by) == {"w1", "w2"}, leased_by


def test_changes_made_while_workers_drain_are_all_delivered(worker_env, vipps, make_order):
    orders = [make_order(status="new") for _ in range(60)]
    vipps.faults.delay(0.01, path="/categories/")
    workers = [
        start_worker(worker_env, "--poll-interval", "0.05", "--worker-id", f"w{n}") for n in (1, 2)
    ]
    try:
        for round_ in range(3):
            for order in orders[round_::3]:
                order.tracking_url = f"https://track.example/{order.number}/{round_}"
                order.save()
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while (
            OutboxItem.objects.exclude(status="done").exists()
            or OutboxItem.objects.filter(lease_until__isnull=False).exists()
        ):
            assert time.monotonic() < deadline, "workers did not catch up"
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.communicate(timeout=30)
    for order in orders:
        order.refresh_from_db()
        expected = order.tracking_url or f"https://shop.example/orders/{order.number}"
        assert vipps.category(order.vipps_reference)["orderDetailsUrl"] == expected


def test_a_lease_shorter_than_the_calls_holds_while_its_worker_works(worker_env, vipps, make_order):
    """Every call takes longer than the lease: only renewing it keeps the other worker off."""
    orders = [make_order(tracking_url=f"https://track.example/{n}") for n in range(6)]
    overrides = json.loads(worker_env["VIPPS_OM_TEST_OVERRIDES"])
    overrides.update({"LEASE_SECONDS": 0.4, "CATEGORY_API": "v3"})
    env = {**worker_env, "VIPPS_OM_TEST_OVERRIDES": json.dumps(overrides)}
    vipps.faults.delay(0.6, path="/order-management/")
    workers = [
        start_worker(env, "--once", "--concurrency", "2", "--batch-size", "2", "--worker-id", w)
        for w in ("w1", "w2")
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err

    for order in orders:
        categories = vipps.categories_v3(order.vipps_reference)
        assert sorted((c["type"], c["url"]) for c in categories) == [
            ("DELIVERY", order.tracking_url),
            ("ORDER_CONFIRMATION", f"https://shop.example/orders/{order.number}"),
        ], categories
    posts = vipps.requests_for("POST", "/receipts/")
    # One receipt per order, never a second after another worker's success (that is a 409).
    assert sorted(r.status for r in posts) == [201] * len(orders)
    assert sends_per_order(vipps, "POST", "/receipts/") == Counter(
        order.vipps_reference for order in orders
    )
    assert len(vipps.requests_for("POST", "/v1/images")) == 1  # the claim held too
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"done"}
    # Each order was worked on by one worker only: the other never took a lease over.
    for order in orders:
        workers_of_order = set(
            SyncAttempt.objects.for_order(order).values_list("worker", flat=True)
        )
        assert len(workers_of_order) == 1, (order.number, workers_of_order)
        lists = [
            r
            for r in vipps.requests_for("GET", "/v3/categories")
            if r.query.get("orderId") == order.vipps_reference
        ]
        assert len(lists) == 2  # before creating, and once after to catch a racing worker


def test_a_checkout_and_a_worker_finishing_the_same_order_queue_instead_of_deadlocking(
    make_order,
):
    """The shop saves an order while a worker writes the outcome of a batch holding it.

    The worker is paused right after its first write to the outbox, until the shop's save is
    waiting for a lock; PostgreSQL then sees whether the two wait for each other in a circle
    (it would fail the shop's save with "deadlock detected"), or in a queue.
    """
    if connection.vendor != "postgresql":
        pytest.skip("row locks in PostgreSQL's order; make test-postgres runs this test")
    from tests.shop.models import Order

    order = make_order(status="paid")
    lease = leases.claim(limit=1, worker_id="w1")
    rows = {row.kind: row for row in lease.rows}
    # The receipt was sent, the links failed: two groups, written one after the other.
    outcomes = [
        leases.RowOutcome(rows["receipt"], "done", "Receipt sent"),
        leases.RowOutcome(rows["links"], "retry", "Vipps answered 503", 503),
    ]
    holding, failures = threading.Event(), []

    def pause_until_the_shop_waits(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not holding.is_set() and "UPDATE" in sql.upper() and "outboxitem" in sql:
            holding.set()
            deadline = time.monotonic() + 10
            with context["connection"].cursor() as cursor:
                while time.monotonic() < deadline:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.02)
        return result

    def worker():
        try:
            with connection.execute_wrapper(pause_until_the_shop_waits), transaction.atomic():
                leases.finish(lease, outcomes)
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert holding.wait(10)
    order.status = Order.Status.SHIPPED
    order.save()  # waits for the worker's transaction, then records the change
    thread.join(20)
    assert not thread.is_alive()
    assert failures == []
    # The change made during the send is due again, for both kinds.
    after = {row.kind: row for row in OutboxItem.objects.filter(pk__in=[r.pk for r in lease.rows])}
    assert {kind: row.status for kind, row in after.items()} == {
        "links": "pending",
        "receipt": "pending",
    }
    assert after["receipt"].generation == rows["receipt"].generation + 1
    assert after["links"].last_error == "Vipps answered 503"


def test_the_postgres_tier_really_runs_on_postgres():
    if os.environ.get("VIPPS_OM_TEST_POSTGRES"):
        assert connection.vendor == "postgresql"
        assert connection.features.has_select_for_update_skip_locked
    else:
        assert connection.vendor == "sqlite"
