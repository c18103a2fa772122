"""Prometheus metrics, for shops that run Prometheus (the ``[prometheus]`` extra).

Imported only when ``prometheus_client`` is installed: the app's ``ready()`` then calls
:func:`register`, which adds to ``prometheus_client``'s default registry

* a collector that reads the health summary on every scrape (five queries, whatever the
  number of orders): the outbox by state and kind, and by state per sales unit; rows waiting
  for staff by reason; orders that differ from Vipps; the oldest pending row; the last
  successful call; the circuit breaker; whether a worker is at work; the level;
* the calls this process makes to Vipps (:data:`CALLS`): ``vipps_om_calls_total`` by method,
  endpoint template and status, and ``vipps_om_call_duration_seconds``, fed by the call log's
  observers (every call of every configured client).

Nothing is served unless the shop wires it: :func:`metrics_view` (behind the health URL's
staff permission or ``HEALTH_TOKEN``) in the web process, and ``vipps_om_worker
--metrics-port`` (:func:`serve`: the worker's calls only, no database work) in each worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..client import ApiCall
from ..engine import calllog
from ..engine.health import REASONS, Health, RowState, summary
from ..monitoring import for_health_readers

__all__ = ["CALLS", "HealthCollector", "metrics_view", "register", "serve"]

logger = logging.getLogger(__name__)

#: The calls to Vipps made by this process, in a registry of their own: a worker serves them
#: without the health collector (whose queries belong to the web process's scrape).
CALLS = CollectorRegistry(auto_describe=True)
_calls = Counter(
    "vipps_om_calls",
    "Calls to the Vipps API by method, endpoint template and HTTP status ('none': no answer).",
    ["method", "endpoint", "status"],
    registry=CALLS,
)
_durations = Histogram(
    "vipps_om_call_duration_seconds",
    "How long calls to the Vipps API took, by method and endpoint template.",
    ["method", "endpoint"],
    registry=CALLS,
)


def observe(call: ApiCall) -> None:
    """The call log's observer: one call, counted and timed."""
    status = str(call.status_code) if call.status_code is not None else "none"
    _calls.labels(call.method, call.endpoint, status).inc()
    _durations.labels(call.method, call.endpoint).observe(call.duration)


def _gauge(name: str, text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"vipps_om_{name}", text, labels=labels)


def _families() -> dict[str, GaugeMetricFamily]:
    """The health collector's metrics, without samples."""
    return {
        "up": _gauge("health_up", "1 when the health summary could be read, else 0."),
        "level": _gauge("health_level", "0 healthy, 1 warning, 2 critical."),
        "rows": _gauge(
            "outbox_rows", "Outbox rows (one per order and kind) by state.", ["state", "kind"]
        ),
        "unit_rows": _gauge(
            "sales_unit_outbox_rows",
            "Outbox rows by state, per sales unit.",
            ["state", "merchant_serial_number"],
        ),
        "staff": _gauge(
            "waiting_for_staff_rows",
            "Outbox rows waiting for staff, by reason.",
            ["reason", "merchant_serial_number"],
        ),
        "drift": _gauge(
            "orders_differing_from_vipps",
            "Orders whose receipt differs from the one Vipps holds.",
            ["merchant_serial_number"],
        ),
        "oldest": _gauge(
            "oldest_pending_seconds", "How long the oldest pending row has waited (0: none)."
        ),
        "oldest_staff": _gauge(
            "oldest_waiting_for_staff_seconds",
            "How long the row that has waited longest for staff has waited (0: none).",
        ),
        "success": _gauge(
            "last_success_timestamp_seconds", "When a call to Vipps last succeeded (0: never)."
        ),
        "breaker": _gauge("circuit_breaker_open", "1 while Vipps is failing right now."),
        "worker": _gauge("worker_active", "1 when a worker holds a lease or was seen lately."),
    }


def _fill(families: dict[str, GaugeMetricFamily], health: Health) -> None:
    families["level"].add_metric([], health.level.exit_code)
    for kind, counts in health.by_kind.items():
        for state in RowState:
            families["rows"].add_metric([state.value, kind], counts.count(state))
    for unit in health.sales_units:
        msn, counts = unit.merchant_serial_number, unit.counts
        for state in RowState:
            families["unit_rows"].add_metric([state.value, msn], counts.count(state))
        for reason in REASONS:
            families["staff"].add_metric([reason.code, msn], counts.by_reason[reason.code])
        families["drift"].add_metric([msn], counts.drift)
    totals = health.totals
    for key, since in (
        ("oldest", totals.oldest_pending_at),
        ("oldest_staff", totals.oldest_waiting_for_staff_at),
    ):
        age = health.age(since)
        families[key].add_metric([], age.total_seconds() if age is not None else 0)
    success = health.last_success_at
    families["success"].add_metric([], success.timestamp() if success is not None else 0)
    families["breaker"].add_metric([], int(health.breaker_open))
    families["worker"].add_metric([], int(health.worker_active))


class HealthCollector(Collector):
    """Reads the health summary on every scrape; a summary that fails is ``health_up 0``."""

    def describe(self) -> Iterator[Any]:  # so that registering it runs no query
        return iter(_families().values())

    def collect(self) -> Iterator[Any]:
        families = _families()
        try:
            health = summary()
        except Exception:  # the database is away: say so in the scrape, do not break it
            logger.warning("The Vipps health summary could not be read", exc_info=True)
            families["up"].add_metric([], 0)
            return iter([families["up"]])
        families["up"].add_metric([], 1)
        _fill(families, health)
        return iter(families.values())


_registered: list[HealthCollector] = []


def register() -> None:
    """Add the health collector and the call metrics to the default registry (once)."""
    if _registered:
        return
    collector = HealthCollector()
    REGISTRY.register(collector)
    REGISTRY.register(CALLS)
    calllog.observe_calls(observe)
    _registered.append(collector)


@for_health_readers
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus's text format, for whoever may read the health URL."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def serve(port: int, address: str = "127.0.0.1") -> Any:
    """Serve this process's call metrics on ``address:port`` (``vipps_om_worker --metrics-port``)
    from a thread; returns the server (``shutdown()`` stops it)."""
    register()
    server, _thread = start_http_server(port, addr=address, registry=CALLS)
    return server
