"""Metrics for Prometheus: there when ``prometheus_client`` is installed, and the app works
without it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.test import RequestFactory

from vipps_order_management.testing import drain_until_idle

from .conftest import REPOSITORY
from .test_health import every_state, frozen, home_unit  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

prometheus_client = pytest.importorskip("prometheus_client")  # the tests extra installs it
TOKEN = "0123456789abcdefghijklmnopqrstuvwxyz-_ABCDEF"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def exposition() -> str:
    return prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (labels in any order)."""
    for line in text.splitlines():
        metric, _, value = line.rpartition(" ")
        base, _, rest = metric.partition("{")
        found = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if part)
        if base == name and {k: v.strip('"') for k, v in found.items()} == labels:
            return float(value)
    raise AssertionError(f"no sample {name} {labels} in:\n{text}")


@pytest.mark.usefixtures("every_state")
def test_the_health_summary_is_in_the_exposition():
    text = exposition()
    assert sample(text, "vipps_om_health_up") == 1
    assert sample(text, "vipps_om_health_level") == 2
    assert sample(text, "vipps_om_outbox_rows", state="pending", kind="links") == 2
    assert sample(text, "vipps_om_outbox_rows", state="waiting_for_staff", kind="receipt") == 1
    assert (
        sample(
            text,
            "vipps_om_sales_unit_outbox_rows",
            state="retrying",
            merchant_serial_number="654321",
        )
        == 1
    )
    assert (
        sample(
            text,
            "vipps_om_waiting_for_staff_rows",
            reason="refused_by_vipps",
            merchant_serial_number="654321",
        )
        == 1
    )
    assert (
        sample(text, "vipps_om_orders_differing_from_vipps", merchant_serial_number="654321") == 1
    )
    assert sample(text, "vipps_om_oldest_pending_seconds") == 2400
    assert sample(text, "vipps_om_worker_active") == 1
    assert sample(text, "vipps_om_circuit_breaker_open") == 0


def test_calls_are_counted_and_timed(vipps, make_order):
    endpoint = "/order-management/v2/{paymentType}/categories/{orderId}"
    before = exposition()
    try:
        done = sample(before, "vipps_om_calls_total", method="PUT", endpoint=endpoint, status="200")
    except AssertionError:
        done = 0
    make_order()
    drain_until_idle()
    text = exposition()
    assert (
        sample(text, "vipps_om_calls_total", method="PUT", endpoint=endpoint, status="200")
        == done + 1
    )
    assert (
        sample(text, "vipps_om_call_duration_seconds_count", method="PUT", endpoint=endpoint) >= 1
    )
    assert 'vipps_om_call_duration_seconds_bucket{endpoint="' in text


def test_a_database_that_is_away_is_health_up_0(monkeypatch):
    from vipps_order_management.contrib import prometheus

    def away(**kwargs):
        raise DatabaseError("the database is away")

    monkeypatch.setattr(prometheus, "summary", away)
    text = exposition()
    assert sample(text, "vipps_om_health_up") == 0
    assert "vipps_om_outbox_rows{" not in text


@pytest.mark.usefixtures("every_state")
def test_the_metrics_view_is_for_health_readers_only(settings):
    from vipps_order_management.contrib.prometheus import metrics_view

    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "HEALTH_TOKEN": TOKEN}
    factory = RequestFactory()
    assert metrics_view(factory.get("/metrics")).status_code == 401
    response = metrics_view(factory.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]
    assert b"vipps_om_outbox_rows{" in response.content
    request = factory.get("/metrics")
    request.user = User.objects.create_superuser("admin", password="pw")
    assert metrics_view(request).status_code == 200


def test_a_worker_serves_its_calls_on_a_port_of_its_own(vipps, make_order):
    from vipps_order_management.contrib.prometheus import serve

    port = free_port()
    server = serve(port)
    try:
        make_order()
        drain_until_idle()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "vipps_om_calls_total{" in text
    assert "vipps_om_outbox_rows" not in text  # the summary is the web process's to scrape


WITHOUT_PROMETHEUS = """
import sys

sys.modules["prometheus_client"] = None  # as if the extra were not installed
import django

django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError

call_command("migrate", verbosity=0)
call_command("check")
from vipps_order_management.engine.health import summary

print("level:", summary().level)
try:
    call_command("vipps_om_worker", "--once", "--metrics-port", "9")
except CommandError as exc:
    print("metrics:", exc)
print("imported:", sorted(m for m in sys.modules if "prometheus" in m))
"""


def test_the_app_works_without_prometheus_client(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPOSITORY),
        "PYTHONWARNINGS": "error",
        "VIPPS_OM_TEST_DB_NAME": str(tmp_path / "db.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "level: healthy" in lines
    assert "metrics: --metrics-port needs prometheus_client: pip install " in done.stdout
    assert "'vipps-order-management[prometheus]'" in done.stdout
    assert lines[-1] == "imported: ['prometheus_client']"  # only the None that hides it
