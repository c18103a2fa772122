"""The embedded runner: ``manage.py vipps_om_worker`` as real processes sharing one outbox."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from vipps_order_management import services
from vipps_order_management.engine import leases
from vipps_order_management.models import OutboxItem, VippsOrder

from .conftest import run_worker, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout=20.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def test_worker_once_sends_everything_due_and_exits(worker_env, vipps, make_order):
    orders = [make_order() for _ in range(3)]
    output = run_worker(worker_env, "--once")
    assert "6 processed: 6 done" in output
    for order in orders:
        assert vipps.receipt(order.vipps_reference) is not None
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"done"}


def test_call_command_runs_the_same_worker(vipps, make_order, capsys):
    order = make_order()
    call_command("vipps_om_worker", "--once", "--worker-id", "inline")
    assert vipps.receipt(order.vipps_reference) is not None
    assert "Vipps worker inline stopped after 2 sends" in capsys.readouterr().out


def test_worker_stops_gracefully_on_sigterm_after_the_current_send(worker_env, vipps, make_order):
    orders = [make_order(status="new") for _ in range(3)]
    vipps.faults.delay(1.0, path="/categories/")
    worker = start_worker(worker_env, "--poll-interval", "0.1", "--batch-size", "10")
    assert wait_for(lambda: vipps.in_flight("PUT", "/categories/")), "the worker never sent"
    worker.send_signal(signal.SIGTERM)  # while the first PUT is in flight
    _out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert "SIGTERM: finishing the current send, then stopping" in err
    # The send in flight finished and was acknowledged; the rest were handed back untouched.
    links = OutboxItem.objects.filter(kind="links")
    assert links.filter(status="done").count() == 1
    assert links.filter(status="pending", lease_until__isnull=True, attempts=0).count() == 2
    assert len(vipps.requests_for("PUT", "/categories/")) == 1
    assert len(orders) == 3


def test_a_worker_killed_mid_send_loses_nothing(worker_env, vipps, make_order):
    worker_env["VIPPS_OM_TEST_OVERRIDES"] = worker_env["VIPPS_OM_TEST_OVERRIDES"].replace(
        "{", '{"LEASE_SECONDS": 3, ', 1
    )
    order = make_order(status="paid")
    order.items.update(quantity=Decimal(4))
    vipps.faults.delay(1.5, path="/receipts/")
    doomed = start_worker(worker_env, "--poll-interval", "0.1")
    assert wait_for(lambda: vipps.in_flight("POST", "/receipts/")), "the worker never sent"
    doomed.kill()  # SIGKILL while its receipt POST is in flight: no cleanup, the lease stays
    doomed.communicate(timeout=10)
    row = OutboxItem.objects.get(kind="receipt")
    assert row.status == OutboxItem.Status.PENDING
    assert row.lease_until is not None
    assert row.lease_until > timezone.now()

    # Another worker leaves the leased row alone until the lease runs out, then finishes it.
    assert leases.claim(limit=10, worker_id="other") is None
    assert wait_for(lambda: timezone.now() > row.lease_until, timeout=5)
    vipps.faults.clear()
    run_worker(worker_env, "--once")

    row.refresh_from_db()
    assert row.status == OutboxItem.Status.DONE
    state = VippsOrder.objects.get()
    assert state.receipt_state == VippsOrder.ReceiptState.SENT
    receipt = vipps.receipt(order.vipps_reference)
    assert receipt["orderLines"][0]["unitInfo"]["quantity"] == "4"
    # The killed worker's POST reached Vipps after all; the second worker found it there
    # (409) and compared it with the order, rather than sending a second receipt.
    assert [r.status for r in vipps.requests_for("POST", "/receipts/")] == [201, 409]
    assert state.receipt_sent_via == "remote"


def test_thirty_percent_failures_end_with_every_order_synced_and_no_receipt_twice(
    vipps, make_order, settings
):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 0.05, "CAP_SECONDS": 0.5, "JITTER": 0.5},
    }
    orders = [make_order() for _ in range(40)]
    vipps.faults.random(0.3, kinds=("5xx", "429", "drop", "lost"), seed=20261127, retry_after=0.2)
    deadline = time.monotonic() + 120
    while OutboxItem.objects.exclude(status="done").exists():
        assert time.monotonic() < deadline, "still not synced after 120 s"
        assert not OutboxItem.objects.filter(status="dead").exists(), OutboxItem.objects.filter(
            status="dead"
        ).values_list("last_error", flat=True)[:3]
        services.drain(worker_id="chaos")
        time.sleep(0.05)

    faults = {r.fault.split(":")[1] for r in vipps.requests if r.fault}
    assert {"429", "drop", "lost"} <= faults, faults
    assert faults & {"500", "502", "503"}, faults
    # Some receipts were stored by Vipps while their answer was lost: the hard case.
    lost = [r for r in vipps.requests_for("POST", "/receipts/") if r.fault == "random:lost"]
    assert any(r.status == 201 for r in lost)
    created = {}
    for request in vipps.requests_for("POST", "/receipts/"):
        if request.status == 201:
            reference = request.path.rsplit("/", 1)[1]
            created[reference] = created.get(reference, 0) + 1
    for order in orders:
        local = services.build_receipt(order).to_api()
        assert vipps.receipt(order.vipps_reference) == local
        assert created.get(order.vipps_reference, 0) <= 1
        state = VippsOrder.objects.for_order(order).get()
        assert (state.receipt_state, state.links_state) == ("sent", "sent")
        assert vipps.category(order.vipps_reference)["orderDetailsUrl"].endswith(order.number)


def test_the_worker_says_what_happened_to_each_order_by_its_name(vipps, make_order, capsys):
    sent = make_order()
    unpaid = make_order(reference=False)
    vipps.faults.fail_next(1, status=400, path=f"/receipts/{sent.vipps_reference}")
    call_command("vipps_om_worker", "--once", "--worker-id", "named", "-v", "2")
    out, err = capsys.readouterr()
    name = f"Order {sent.number} (shop.Order {sent.pk})"
    assert f"{name}: links done: Sent the" in out
    assert f"{name}: receipt dead:" in err  # a failure is told whatever the verbosity
    assert f"Order {unpaid.number} (shop.Order {unpaid.pk}): links waiting:" in out
    assert "2 processed" not in out
    assert "4 processed: 1 done, 2 waiting for a Vipps payment, 0 to retry, 1 failed" in out
