"""Soak: many orders, three worker processes, a flaky Vipps and a busy shop, until all is sent.

Marked ``soak``: not in the default run; ``make soak`` runs it (on PostgreSQL), and so does CI.
Bounded: it gives up after a few minutes instead of hanging.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import pytest

from tests.shop.models import Order
from vipps_order_management import services
from vipps_order_management.models import OutboxItem, VippsOrder

from .conftest import start_worker

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

ORDERS = 1500
CHANGED = 400
DEADLINE_SECONDS = 300


def test_a_flaky_vipps_a_busy_shop_and_three_workers_lose_nothing_and_repeat_nothing(
    worker_env, vipps, make_order
):
    overrides = json.loads(worker_env["VIPPS_OM_TEST_OVERRIDES"])
    overrides["RETRY"] = {"BASE_SECONDS": 0.05, "CAP_SECONDS": 1, "JITTER": 0.5}
    overrides["LEASE_SECONDS"] = 10
    worker_env["VIPPS_OM_TEST_OVERRIDES"] = json.dumps(overrides)
    orders = [make_order(status="new") for _ in range(ORDERS)]
    vipps.faults.random(0.2, kinds=("5xx", "429", "drop", "lost"), seed=7, retry_after=0.2)

    workers = [
        start_worker(
            worker_env, "--poll-interval", "0.1", "--batch-size", "10", "--worker-id", f"soak{n}"
        )
        for n in range(3)
    ]
    chooser = random.Random(11)
    started = time.monotonic()
    try:
        # The shop keeps working while the workers drain: orders are paid and shipped.
        for order in chooser.sample(orders, CHANGED):
            order.status = Order.Status.SHIPPED
            order.tracking_url = f"https://track.example/{order.number}"
            order.save()
            time.sleep(0.005)
        for order in orders:
            if order.status == Order.Status.NEW:
                order.status = Order.Status.PAID
                order.save()
        while (
            OutboxItem.objects.exclude(status=OutboxItem.Status.DONE).exists()
            or OutboxItem.objects.filter(lease_until__isnull=False).exists()
        ):
            assert not OutboxItem.objects.filter(status=OutboxItem.Status.DEAD).exists(), list(
                OutboxItem.objects.filter(status="dead").values_list("last_error", flat=True)[:3]
            )
            assert time.monotonic() - started < DEADLINE_SECONDS, "the workers did not catch up"
            for worker in workers:
                assert worker.poll() is None, worker.communicate()[1]
            time.sleep(0.25)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.communicate(timeout=60)

    created = Counter(
        request.path.rsplit("/", 1)[1]
        for request in vipps.requests_for("POST", "/receipts/")
        if request.status == 201
    )
    assert max(created.values()) == 1  # no receipt was ever created twice
    for order in Order.objects.all():
        assert vipps.receipt(order.vipps_reference) == services.build_receipt(order).to_api()
        expected = order.tracking_url or f"https://shop.example/orders/{order.number}"
        assert vipps.category(order.vipps_reference)["orderDetailsUrl"] == expected
    assert VippsOrder.objects.filter(receipt_state="sent").count() == ORDERS
    assert len(vipps.images()) == 1
    faults = Counter(
        r.fault.split(":")[1] for r in vipps.requests if r.fault and "random" in r.fault
    )
    assert faults["lost"] > 0
    assert sum(faults.values()) > ORDERS * 0.2
    shares = Counter(OutboxItem.objects.values_list("leased_by", flat=True))
    assert set(shares) == {"soak0", "soak1", "soak2"}, shares
