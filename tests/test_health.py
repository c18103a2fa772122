"""The health summary: counts and ages in every state, its verdict, and a constant query count.

A shop is set up with rows in every state (by ``bulk_create`` of our own rows, at fixed times),
across two sales units; the reasons rows wait for staff are produced by the real pipeline
against the fake Vipps, one test per reason class.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.shop.models import Order
from tests.shop.vipps import ShopOrderAdapter
from vipps_order_management.adapters import ImageSource
from vipps_order_management.engine import health, liveness
from vipps_order_management.engine.outbox import AWAITING_PAYMENT
from vipps_order_management.exceptions import PayloadValidationError, VippsConfigurationError
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder
from vipps_order_management.testing import drain_until_idle

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOME, OTHER = "123456", "654321"  # the configured sales unit, and another one
DOCS = Path(__file__).resolve().parents[1] / "docs"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def home_unit(settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "MERCHANT_SERIAL_NUMBER": HOME,
    }


def outbox_row(object_id: str, kind: str, **fields) -> OutboxItem:
    content_type = ContentType.objects.get_for_model(Order)
    defaults = {"next_attempt_at": NOW - minutes(1), "pending_since": NOW - minutes(1)}
    return OutboxItem(
        content_type=content_type, object_id=object_id, kind=kind, **defaults | fields
    )


def state_row(object_id: str, msn: str, **fields) -> VippsOrder:
    content_type = ContentType.objects.get_for_model(Order)
    return VippsOrder(
        content_type=content_type,
        object_id=object_id,
        merchant_serial_number=msn,
        reference=f"ref-{object_id}" if msn else "",
        payment_type="ECOM" if msn else "",
        **fields,
    )


def add_calls(*calls: tuple[float, str] | tuple[float, str, str]) -> None:
    """Calls in the log, ``(minutes ago, outcome[, method])`` each."""
    content_type = ContentType.objects.get_for_model(Order)
    rows = SyncAttempt.objects.bulk_create(
        [
            SyncAttempt(
                content_type=content_type,
                object_id="1",
                kind="links",
                method=method[0] if method else "PUT",
                endpoint="/order-management/v2/{paymentType}/categories/{orderId}",
                outcome=outcome,
            )
            for _ago, outcome, *method in calls
        ],
        batch_size=500,
    )
    for row, (ago, *_rest) in zip(rows, calls, strict=True):  # created_at is set on insert
        SyncAttempt.objects.filter(pk=row.pk).update(created_at=NOW - minutes(ago))


def said(text: str) -> str:
    """A message as a test writes it: Django's durations hold no-break spaces."""
    return text.replace("\N{NO-BREAK SPACE}", " ")


@pytest.fixture
def every_state(frozen, home_unit):
    """Rows in every state, in two sales units (HOME is the configured one)."""
    OutboxItem.objects.bulk_create(
        [
            # HOME (no state row yet: counted under the configured unit)
            outbox_row("1", "links", pending_since=NOW - minutes(20)),
            outbox_row("1", "receipt", pending_since=NOW - minutes(5)),
            # waiting for its payment: pending for 50 minutes, but nothing is wrong
            outbox_row(
                "3",
                "receipt",
                result=AWAITING_PAYMENT,
                attempts=3,
                pending_since=NOW - minutes(50),
                next_attempt_at=NOW + minutes(2),
            ),
            # waited for its payment, and its next look is due: pending since then
            outbox_row(
                "4",
                "receipt",
                result=AWAITING_PAYMENT,
                attempts=4,
                pending_since=NOW - minutes(55),
                next_attempt_at=NOW - minutes(1),
            ),
            outbox_row(
                "6",
                "links",
                status="dead",
                last_error="ShopOrderAdapter.get_links: "
                + str(
                    PayloadValidationError([("links[0].url", "is not https")], subject="category")
                ),
                dead_at=NOW - timedelta(hours=3),
            ),
            outbox_row("7", "links", status="done", done_at=NOW - minutes(30)),
            outbox_row("7", "receipt", status="done", done_at=NOW - minutes(30)),
            # a worker holds this one right now
            outbox_row("9", "links", lease_until=NOW + minutes(1), leased_by="worker-1"),
            # OTHER
            outbox_row(
                "2",
                "links",
                last_error="503 Service Unavailable",
                last_status_code=503,
                pending_since=NOW - minutes(40),
                next_attempt_at=NOW + minutes(1),
            ),
            outbox_row(
                "5",
                "receipt",
                status="dead",
                last_error="400 Bad Request: orderLines[0].name is too long",
                last_status_code=400,
                dead_at=NOW - timedelta(days=2),
            ),
        ]
    )
    VippsOrder.objects.bulk_create(
        [
            state_row("2", OTHER),
            state_row("5", OTHER),
            state_row("7", HOME, receipt_state="sent", links_state="sent"),
            state_row("8", OTHER, receipt_state="drift"),
            state_row("9", ""),  # no unit known yet: the configured one
        ]
    )
    add_calls((10, "success"), (2, "transient", "POST"), (1, "permanent", ""))  # "": a refusal


# ---------------------------------------------------------------------- counts and ages


def test_the_summary_counts_every_state_per_kind_and_sales_unit(every_state):
    summary = health.summary()
    totals = summary.totals
    assert (totals.pending, totals.retrying, totals.waiting_for_payment) == (4, 1, 1)
    assert (totals.waiting_for_staff, totals.drift, totals.done) == (2, 1, 2)
    assert totals.by_reason == {
        "gave_up": 0,
        "configuration": 0,
        "reference_taken": 0,
        "image_source": 0,
        "refused_by_vipps": 1,
        "payload": 1,
        "adapter": 0,
    }
    links, receipt = summary.by_kind["links"], summary.by_kind["receipt"]
    assert (links.pending, links.retrying, links.waiting_for_staff, links.done) == (2, 1, 1, 1)
    assert (receipt.pending, receipt.waiting_for_payment, receipt.waiting_for_staff) == (2, 1, 1)
    assert (receipt.done, receipt.drift, links.drift) == (1, 1, 0)

    units = {unit.merchant_serial_number: unit for unit in summary.sales_units}
    assert list(units) == [HOME, OTHER]
    home, other = units[HOME].counts, units[OTHER].counts
    assert (home.pending, home.waiting_for_payment, home.waiting_for_staff, home.done) == (
        4,
        1,
        1,
        2,
    )
    assert (home.retrying, home.drift, home.by_reason["payload"]) == (0, 0, 1)
    assert (other.retrying, other.waiting_for_staff, other.drift) == (1, 1, 1)
    assert other.by_reason["refused_by_vipps"] == 1
    assert units[HOME].name == HOME  # a unit is named by its number until units have names


def test_the_summary_knows_the_ages_the_calls_and_the_workers(every_state):
    summary = health.summary()
    # The retrying row, pending for 40 minutes; not the one waiting for its payment (50), nor
    # the one whose look at its payment is due (since a minute, not 55).
    assert summary.age(summary.totals.oldest_pending_at) == minutes(40)
    assert summary.age(summary.totals.oldest_waiting_for_staff_at) == timedelta(days=2)
    units = {unit.merchant_serial_number: unit.counts for unit in summary.sales_units}
    assert summary.age(units[HOME].oldest_pending_at) == minutes(20)
    assert summary.last_success_at == NOW - minutes(10)
    assert summary.last_failure_at == NOW - minutes(2)  # the local refusal is not a call
    assert (summary.leased_rows, summary.leasing_workers, summary.worker_active) == (1, 1, True)
    assert not summary.breaker_open


def test_the_verdict_and_its_findings(every_state):
    summary = health.summary()
    assert summary.level == health.Level.CRITICAL
    assert [(f.level, f.code) for f in summary.findings] == [
        (health.Level.CRITICAL, "waiting_for_staff_too_long"),
        (health.Level.WARNING, "waiting_for_staff"),
        (health.Level.WARNING, "oldest_pending"),
    ]
    messages = [said(finding.message) for finding in summary.findings]
    assert messages[0] == "A send has waited for staff for 2 days (critical from 1 day)."
    assert messages[1] == "2 sends wait for staff."
    assert (
        messages[2] == "The oldest pending send has waited 40 minutes (a warning from 15 minutes)."
    )


def test_the_json_shape_is_the_documented_one(every_state):
    found = health.summary().as_json()
    assert json.loads(json.dumps(found)) == found  # plain JSON, nothing to convert
    assert found["level"] == "critical"
    assert found["totals"]["oldest_pending_seconds"] == 2400
    assert found["totals"]["oldest_pending_at"] == "2026-03-02T11:20:00+00:00"
    assert found["sales_units"][1]["merchant_serial_number"] == OTHER
    assert found["workers"]["last_seen_worker"] is None
    documented = json.loads((DOCS / "examples" / "health.json").read_text(encoding="utf-8"))
    assert keys_of(found) == keys_of(documented)  # docs/operations.rst shows this example


def keys_of(value, path=""):
    """Every key path of a JSON value (list items as one)."""
    if isinstance(value, dict):
        return {f"{path}.{k}" for k in value} | {
            p for k, v in value.items() for p in keys_of(v, f"{path}.{k}")
        }
    if isinstance(value, list):
        return set().union(*(keys_of(item, f"{path}[]") for item in value))
    return set()


def test_nothing_at_all_is_healthy(frozen, home_unit):
    summary = health.summary()
    assert summary.level == health.Level.HEALTHY
    assert summary.findings == ()
    assert [unit.merchant_serial_number for unit in summary.sales_units] == [HOME]
    assert summary.totals.oldest_pending_at is None
    assert summary.as_json()["totals"]["oldest_pending_seconds"] is None


def test_rows_pending_an_hour_without_a_success_are_critical(frozen, home_unit):
    OutboxItem.objects.bulk_create([outbox_row("1", "links", pending_since=NOW - minutes(61))])
    add_calls((70, "success"))
    assert [f.code for f in health.summary().findings] == ["no_success", "oldest_pending"]
    add_calls((5, "already_there"))  # Vipps answered meanwhile
    assert [f.code for f in health.summary().findings] == ["oldest_pending"]


def test_a_quiet_shop_is_not_critical_when_an_order_comes_in(frozen, home_unit):
    add_calls((600, "success"))  # nothing sent for ten hours
    OutboxItem.objects.bulk_create([outbox_row("1", "links", pending_since=NOW - minutes(1))])
    assert health.summary().level == health.Level.HEALTHY


def test_thresholds_are_settings_and_none_turns_a_rule_off(every_state, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "HEALTH": {"OLDEST_PENDING": timedelta(hours=1), "WAITING_FOR_STAFF": None},
    }
    summary = health.summary()
    assert [f.code for f in summary.findings] == ["waiting_for_staff"]
    assert summary.level == health.Level.WARNING


# ---------------------------------------------------------------------- constant queries


def grow(count: int) -> None:
    """``count`` orders of our own rows in every state (no host orders: none is read)."""
    states = [
        {"status": "pending"},
        {"status": "pending", "last_error": "503", "last_status_code": 503},
        {"status": "pending", "result": AWAITING_PAYMENT, "next_attempt_at": NOW + minutes(5)},
        {"status": "dead", "last_error": "400 Bad Request", "last_status_code": 400},
        {"status": "dead", "last_error": "Configuration: no adapter", "dead_at": NOW},
        {"status": "done"},
    ]
    OutboxItem.objects.bulk_create(
        [
            outbox_row(str(n), kind, **states[(n + offset) % len(states)])
            for n in range(count)
            for offset, kind in enumerate(("links", "receipt"))
        ],
        batch_size=500,
    )
    VippsOrder.objects.bulk_create(
        [
            state_row(str(n), (HOME, OTHER, "")[n % 3], receipt_state=("sent", "drift")[n % 2])
            for n in range(count)
        ],
        batch_size=500,
    )
    SyncAttempt.objects.bulk_create(
        [
            SyncAttempt(
                content_type=ContentType.objects.get_for_model(Order),
                object_id=str(n),
                kind="links",
                method="PUT",
                endpoint="/order-management/v2/{paymentType}/categories/{orderId}",
                outcome=("success", "transient")[n % 2],
            )
            for n in range(count)
        ],
        batch_size=500,
    )


def queries_of_summary() -> tuple[int, health.Health]:
    with CaptureQueriesContext(connection) as queries:
        summary = health.summary()
    return len(queries), summary


def test_the_summary_costs_the_same_queries_for_10_orders_and_for_1000(frozen, home_unit):
    grow(10)
    few, small = queries_of_summary()
    OutboxItem.objects.all().delete()
    VippsOrder.objects.all().delete()
    SyncAttempt.objects.all().delete()
    grow(1000)
    many, large = queries_of_summary()
    assert few == many == 5
    assert small.totals.waiting_for_staff + small.totals.done < 20
    assert large.totals.pending + large.totals.retrying + large.totals.done > 600
    assert sum(unit.counts.drift for unit in large.sales_units) == 500


# ---------------------------------------------------------------------- why rows wait for staff


class PaidOtherwise(ShopOrderAdapter):
    def get_paid_amount(self, order):
        return 1


class NoLines(ShopOrderAdapter):
    def get_order_lines(self, order):
        return []


class Raising(ShopOrderAdapter):
    def get_order_lines(self, order):
        raise RuntimeError("the shop's database view is gone")


class Misconfigured(ShopOrderAdapter):
    def get_receipt(self, order):
        raise VippsConfigurationError("SHOP_RECEIPT_PRINTER is not set")


class OutsideTheStorage(ShopOrderAdapter):
    def get_images(self, order):
        return [ImageSource.from_storage("../../etc/passwd")]


def refused_by_vipps(vipps, make_order):
    vipps.faults.fail_next(1, status=400, path="/categories/")
    make_order()


def reference_taken(vipps, make_order):
    make_order(reference="shared-ref")
    drain_until_idle()
    make_order(reference="shared-ref")


def gave_up(vipps, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 0, "CAP_SECONDS": 0, "JITTER": 0, "GIVE_UP_AFTER": 0.001},
    }
    vipps.faults.fail_next(1, status=503, path="/categories/")
    make_order()


def with_adapter(adapter):
    def make(vipps, make_order, settings):
        settings.VIPPS_ORDER_MANAGEMENT = {
            **settings.VIPPS_ORDER_MANAGEMENT,
            "ORDER_ADAPTERS": {"shop.Order": adapter},
        }
        make_order()

    return make


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("refused_by_vipps", refused_by_vipps),
        ("payload", with_adapter(NoLines)),
        ("payload", with_adapter(PaidOtherwise)),
        ("adapter", with_adapter(Raising)),
        ("reference_taken", reference_taken),
        ("configuration", with_adapter(Misconfigured)),
        ("gave_up", gave_up),
        ("image_source", with_adapter(OutsideTheStorage)),
    ],
    ids=[
        "refused by Vipps",
        "payload invalid",
        "payload not what was paid",
        "adapter error",
        "reference taken",
        "configuration",
        "gave up",
        "image source",
    ],
)
def test_each_reason_class_is_told_by_what_the_pipeline_wrote(
    vipps, make_order, settings, reason, make
):
    if make in (refused_by_vipps, reference_taken):
        make(vipps, make_order)
    else:
        make(vipps, make_order, settings)
    drain_until_idle()
    dead = OutboxItem.objects.filter(status="dead").order_by("pk")
    errors = list(dead.values_list("last_error", flat=True))
    assert errors, list(OutboxItem.objects.values_list("status", "last_error"))
    by_reason = health.summary().totals.by_reason
    assert by_reason == {code: len(errors) * (code == reason) for code in health.REASON_CODES}, (
        errors
    )
    assert list(health.waiting_for(OutboxItem.objects.order_by("pk"), reason)) == list(dead)


# ---------------------------------------------------------------------- across processes


def test_a_heartbeat_and_the_breaker_reach_the_summary_through_the_cache(frozen, home_unit):
    assert not liveness.shared()  # the test project's cache is LocMem: this process only
    summary = health.summary()
    assert (summary.heartbeat, summary.worker_active, summary.breaker_open) == (None, False, False)
    liveness.worker_seen("host:42")
    liveness.breaker_opened()
    summary = health.summary()
    assert summary.heartbeat == liveness.Heartbeat("host:42", NOW)
    assert summary.worker_active
    assert summary.breaker_open
    assert [f.code for f in summary.findings] == ["circuit_breaker_open"]
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        assert not health.summary().worker_active  # not seen for two minutes
    add_calls((-1, "success"))  # Vipps answered after it opened
    assert not health.summary().breaker_open


def test_a_shared_cache_is_told_apart_from_one_per_process(settings, tmp_path):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        },
    }
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "TOKEN_CACHE": "shared"}
    assert liveness.shared()
    liveness.worker_seen("w")
    assert liveness.last_heartbeat().worker == "w"


def test_a_failing_cache_never_stops_a_worker(settings):
    settings.CACHES = {
        **settings.CACHES,
        "broken": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1",
        },
    }
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "TOKEN_CACHE": "broken"}
    liveness.worker_seen("w")  # no exception
    liveness.breaker_opened()
    assert liveness.last_heartbeat() is None
    assert health.summary().heartbeat is None


def test_an_outage_opens_the_breaker_that_the_summary_reports(vipps, make_order):
    orders = [make_order() for _ in range(4)]
    vipps.faults.fail_next(50, status=503)
    drain_until_idle(skip_backoff=False)
    summary = health.summary()
    assert summary.breaker_open
    assert summary.totals.retrying + summary.totals.pending == 2 * len(orders)
    assert "circuit_breaker_open" in [f.code for f in summary.findings]
    vipps.faults.clear()
    OutboxItem.objects.update(next_attempt_at=NOW - timedelta(days=1000))
    drain_until_idle()
    assert not health.summary().breaker_open
