"""How a committed change reaches a runner: django.tasks and Celery."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from decimal import Decimal

import pytest
from celery import Celery
from django.db import transaction

from tests.shop.models import Order, OrderItem
from vipps_order_management.models import OutboxItem

from .conftest import TASKS_PACKAGE, missing_service, tasks_framework

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def place_order(product, number="500"):
    with transaction.atomic():
        order = Order.objects.create(
            number=number, status="paid", vipps_reference=f"order-{number}"
        )
        OrderItem.objects.create(order=order, product=product, unit_price=Decimal("10.00"))
    return order


def test_django_tasks_dispatch_runs_the_drain_task(vipps, settings, product):
    settings.TASKS = {
        "default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}
    }
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "DISPATCH": "django_tasks",
    }
    order = place_order(product)
    assert vipps.receipt(order.vipps_reference)["orderLines"][0]["totalAmount"] == 1000


def test_django_tasks_dispatch_enqueues_one_task_per_commit_and_a_sweep_for_backoffs(
    vipps, settings, product
):
    default_task_backend = tasks_framework.default_task_backend

    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "DISPATCH": "django_tasks",
        "RETRY": {"BASE_SECONDS": 60},
    }
    default_task_backend.clear()
    place_order(product)
    [result] = default_task_backend.results
    assert result.task.name == "drain_outbox"
    assert vipps.requests == []  # the dummy backend never runs it

    from vipps_order_management.runners.tasks import drain_outbox

    vipps.faults.fail_next(1, status=503, path="/receipts/")
    outcome = drain_outbox.call()
    assert outcome["retried"] == 1
    sweep = default_task_backend.results[-1]
    assert sweep.task.name == "drain_outbox"
    assert sweep.task.run_after is not None  # deferred to when the backoff ends
    drain_outbox.call()  # a second drain does not schedule a second sweep
    assert len(default_task_backend.results) == 2


@contextmanager
def broker_down():
    """Make Celery's current app one whose broker is unreachable (nothing listens on port 9)."""
    import tests.celery_app as celery_app

    down = Celery("broker-down", set_as_current=False)
    down.conf.update(celery_app.app.conf)
    down.conf.broker_url = "redis://127.0.0.1:9/0"
    down.set_current()
    try:
        yield
    finally:
        celery_app.app.set_current()
        down.close()


def test_a_broker_that_is_down_never_fails_or_blocks_the_shop(vipps, settings, product, caplog):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "DISPATCH": "celery"}
    started = time.monotonic()
    with broker_down():
        order = place_order(product)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"the shop's request waited {elapsed:.1f} s for the broker"
    assert OutboxItem.objects.for_order(order).filter(status="pending").count() == 2
    assert "Could not kick the Vipps sync runner" in caplog.text


@pytest.fixture
def redis_url():
    url = os.environ.get("VIPPS_OM_TEST_REDIS")
    if not url:
        missing_service(
            "needs Redis: run `make test-celery` (scripts/with-services --redis), with Debian's redis-server installed"
        )
    return url


@pytest.mark.redis
def test_celery_worker_delivers_kicks_and_sweeps(worker_env, vipps, settings, product, redis_url):
    import subprocess
    import sys

    import tests.celery_app as celery_app

    assert celery_app.app.conf.broker_url == redis_url
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "DISPATCH": "celery"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "-Q",
            "vipps_om",
            "-c",
            "2",
            "--pool",
            "prefork",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        env={**worker_env, "VIPPS_OM_TEST_REDIS": redis_url, "PYTHONWARNINGS": "ignore"},
        cwd=worker_env["PYTHONPATH"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        order = place_order(product, number="501")
        deadline = time.monotonic() + 30
        while vipps.receipt(order.vipps_reference) is None:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the Celery worker never sent the receipt"
            time.sleep(0.1)
        # A change whose kick was lost (broker down at commit) goes out with the next sweep.
        with broker_down():
            late = place_order(product, number="502")
        time.sleep(0.5)
        assert vipps.receipt(late.vipps_reference) is None  # nobody was told
        from vipps_order_management.contrib.celery import drain_outbox

        drain_outbox.apply_async(queue="vipps_om")  # what celery beat's sweep sends
        deadline = time.monotonic() + 30
        while vipps.receipt(late.vipps_reference) is None:
            assert time.monotonic() < deadline, "the sweep never sent the late receipt"
            time.sleep(0.1)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
