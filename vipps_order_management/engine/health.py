"""The health summary: whether the shop's orders reach Vipps, at a glance, in constant queries.

Database and the shared cache only, never HTTP. :func:`summary` answers with a frozen
:class:`Health`: outbox rows counted by :class:`RowState` (and, for those waiting for staff, by
:data:`REASONS`), per kind and per sales unit; orders that differ from Vipps; the oldest pending
row; the last successful and failed calls; the circuit breaker; whether a worker is at work;
and a :class:`Level` with the :class:`Finding` behind it, judged against ``HEALTH``.

Five queries however many orders: the outbox grouped in SQL, orders that differ from Vipps, the
last success, the last failure, the leases held. The admin's overview, ``vipps_om_check
--health``, the health URL and the Prometheus collector all read this one summary, and the
admin's outbox filters read the same state and reason expressions (:func:`in_state`,
:func:`waiting_for`), so a count and the list it links to always agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.db import models
from django.db.models import Case, Count, F, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..conf import app_settings
from ..models import OutboxItem, SyncAttempt, VippsOrder
from ..outcomes import CONFIGURATION_PREFIX, GAVE_UP_PREFIX, IMAGE_SOURCE_PREFIX
from . import liveness
from .clients import unit_name
from .outbox import ALL_KINDS, AWAITING_PAYMENT
from .references import REFERENCE_TAKEN_PREFIX

__all__ = [
    "REASONS",
    "Counts",
    "Finding",
    "Health",
    "Level",
    "Reason",
    "RowState",
    "SalesUnit",
    "in_state",
    "summary",
    "waiting_for",
]

PENDING, DONE, DEAD = OutboxItem.Status.PENDING, OutboxItem.Status.DONE, OutboxItem.Status.DEAD


class RowState(models.TextChoices):
    """Where an outbox row (one kind of one order) stands, as staff and monitoring see it."""

    PENDING = "pending", gettext_lazy("Pending")
    RETRYING = "retrying", gettext_lazy("Retrying after a failure")
    WAITING_FOR_PAYMENT = "waiting_for_payment", gettext_lazy("Waiting for a Vipps payment")
    WAITING_FOR_STAFF = "waiting_for_staff", gettext_lazy("Waiting for staff")
    DONE = "done", gettext_lazy("Done")


class Level(models.TextChoices):
    """How the shop stands with Vipps; :attr:`exit_code` is what monitoring plugins expect."""

    HEALTHY = "healthy", gettext_lazy("Healthy")
    WARNING = "warning", gettext_lazy("Warning")
    CRITICAL = "critical", gettext_lazy("Critical")

    @property
    def exit_code(self) -> int:
        """0, 1 or 2: the Nagios / Icinga / Sensu convention."""
        return list(Level).index(self)


# ---------------------------------------------------------------------- why rows wait for staff


@dataclass(frozen=True)
class Reason:
    """A class of reasons a row waits for staff: the first whose ``condition`` holds."""

    code: str
    label: Any
    condition: Q | None  # None: every row no rule above claimed


#: The one place that reads a dead row's ``last_error`` and ``last_status_code``, in order.
#: The prefixes are the ones their producers write (outcomes, the pipeline, references).
REASONS: tuple[Reason, ...] = (
    Reason(
        "gave_up",
        gettext_lazy("Gave up after retrying"),
        Q(last_error__startswith=GAVE_UP_PREFIX),
    ),
    Reason(
        "configuration",
        gettext_lazy("Configuration"),
        Q(last_error__startswith=CONFIGURATION_PREFIX),
    ),
    Reason(
        "reference_taken",
        gettext_lazy("Reference used by another order"),
        Q(last_error__startswith=REFERENCE_TAKEN_PREFIX),
    ),
    Reason(
        "image_source",
        gettext_lazy("Image cannot be read"),
        Q(last_error__startswith=IMAGE_SOURCE_PREFIX),
    ),
    Reason(
        "refused_by_vipps",
        gettext_lazy("Refused by Vipps"),
        Q(last_status_code__gte=400, last_status_code__lt=500),
    ),
    # PayloadValidationError's "Invalid receipt (2 problems): ...", and a receipt whose total is
    # not what was paid (SyncPlan._paid_mismatch).
    Reason(
        "payload",
        gettext_lazy("Fails the checks before sending"),
        Q(last_error__contains=" problem): ")
        | Q(last_error__contains=" problems): ")
        | Q(last_error__contains="the receipt's lines add up to "),
    ),
    Reason("adapter", gettext_lazy("Error in the shop's code"), None),
)
REASON_CODES = tuple(reason.code for reason in REASONS)


def reason_expression() -> Case:
    """Each dead row's reason code in SQL (``""`` for a row that does not wait for staff)."""
    return Case(
        When(~Q(status=DEAD), then=Value("")),
        *(When(r.condition, then=Value(r.code)) for r in REASONS if r.condition is not None),
        default=Value(REASONS[-1].code),
        output_field=models.CharField(),
    )


#: A row looked at while its order had no Vipps payment (it keeps that result until sent).
_AWAITING = Q(status=PENDING, last_error="", result=AWAITING_PAYMENT)


def state_expression(now: datetime) -> Case:
    """Each row's :class:`RowState` in SQL. A row waiting for its payment whose next look is
    due counts as pending: it is sent now if the payment came."""
    return Case(
        When(status=DEAD, then=Value(RowState.WAITING_FOR_STAFF.value)),
        When(status=DONE, then=Value(RowState.DONE.value)),
        When(~Q(last_error=""), then=Value(RowState.RETRYING.value)),
        When(
            _AWAITING & Q(next_attempt_at__gt=now), then=Value(RowState.WAITING_FOR_PAYMENT.value)
        ),
        default=Value(RowState.PENDING.value),
        output_field=models.CharField(),
    )


def _pending_since() -> Case:
    """Since when a pending row has been waiting to go: one that waited for its payment has
    waited only since its last look was due, not since the order was placed."""
    return Case(When(_AWAITING, then=F("next_attempt_at")), default=F("pending_since"))


def in_state(
    rows: models.QuerySet[Any], state: str, now: datetime | None = None
) -> models.QuerySet[Any]:
    """The outbox rows of ``rows`` in :class:`RowState` ``state`` (the admin's filter)."""
    annotated: models.QuerySet[Any] = rows.annotate(
        _vipps_row_state=state_expression(now or timezone.now())
    )
    return annotated.filter(_vipps_row_state=state)


def waiting_for(rows: models.QuerySet[Any], reason: str) -> models.QuerySet[Any]:
    """The rows of ``rows`` that wait for staff for ``reason`` (a code of :data:`REASONS`)."""
    annotated: models.QuerySet[Any] = rows.filter(status=DEAD).annotate(
        _vipps_reason=reason_expression()
    )
    return annotated.filter(_vipps_reason=reason)


# ---------------------------------------------------------------------- the result


@dataclass(frozen=True)
class _Group:
    """One row of the outbox grouped in SQL."""

    unit: str
    state: str
    reason: str
    kind: str
    count: int
    oldest: datetime | None
    oldest_dead: datetime | None


def _earliest(*values: datetime | None) -> datetime | None:
    return min((value for value in values if value is not None), default=None)


@dataclass(frozen=True)
class Counts:
    """Outbox rows (one per order and kind) by state, and orders that differ from Vipps."""

    pending: int = 0
    retrying: int = 0
    waiting_for_payment: int = 0
    waiting_for_staff: int = 0
    #: Rows waiting for staff by reason code; every code of :data:`REASONS` is there.
    by_reason: Mapping[str, int] = MappingProxyType(dict.fromkeys(REASON_CODES, 0))
    #: Orders whose receipt differs from the one Vipps holds.
    drift: int = 0
    done: int = 0
    #: Since when the oldest pending or retrying row has waited to go.
    oldest_pending_at: datetime | None = None
    #: Since when the row that has waited longest for staff has done so.
    oldest_waiting_for_staff_at: datetime | None = None

    @classmethod
    def of(cls, groups: Iterable[_Group], drift: int = 0) -> Counts:
        states: Counter[str] = Counter()
        reasons = dict.fromkeys(REASON_CODES, 0)
        oldest_pending = oldest_dead = None
        for group in groups:
            states[group.state] += group.count
            if group.state == RowState.WAITING_FOR_STAFF:
                reasons[group.reason] += group.count
                oldest_dead = _earliest(oldest_dead, group.oldest_dead)
            elif group.state in (RowState.PENDING, RowState.RETRYING):
                oldest_pending = _earliest(oldest_pending, group.oldest)
        return cls(
            pending=states[RowState.PENDING],
            retrying=states[RowState.RETRYING],
            waiting_for_payment=states[RowState.WAITING_FOR_PAYMENT],
            waiting_for_staff=states[RowState.WAITING_FOR_STAFF],
            by_reason=MappingProxyType(reasons),
            drift=drift,
            done=states[RowState.DONE],
            oldest_pending_at=oldest_pending,
            oldest_waiting_for_staff_at=oldest_dead,
        )

    def count(self, state: str) -> int:
        return int(getattr(self, state))


@dataclass(frozen=True)
class SalesUnit:
    """The counts of one merchant serial number."""

    merchant_serial_number: str
    name: str
    counts: Counts


@dataclass(frozen=True)
class Finding:
    """One reason for the level, with a stable ``code`` for machines."""

    level: Level
    code: str
    message: str


@dataclass(frozen=True)
class Health:
    """The summary; :meth:`as_json` is its documented shape (``docs/operations.rst``)."""

    checked_at: datetime
    totals: Counts
    by_kind: Mapping[str, Counts]
    sales_units: tuple[SalesUnit, ...]
    last_success_at: datetime | None
    last_failure_at: datetime | None
    breaker_opened_at: datetime | None
    heartbeat: liveness.Heartbeat | None
    #: Whether other processes' heartbeats reach this one (``TOKEN_CACHE`` is not per process).
    heartbeat_shared: bool
    #: Rows whose lease has not run out, and how many workers hold them.
    leased_rows: int
    leasing_workers: int
    findings: tuple[Finding, ...] = ()

    @property
    def level(self) -> Level:
        levels = [finding.level for finding in self.findings]
        return max(levels, key=lambda level: level.exit_code, default=Level.HEALTHY)

    @property
    def breaker_open(self) -> bool:
        """Opened since the last successful call: Vipps is failing right now."""
        opened, success = self.breaker_opened_at, self.last_success_at
        return opened is not None and (success is None or opened > success)

    @property
    def worker_active(self) -> bool:
        """A worker holds a lease now, or said it was at work a moment ago."""
        if self.leased_rows:
            return True
        beat = self.heartbeat
        return beat is not None and self.checked_at - beat.at <= worker_seen_within()

    def age(self, since: datetime | None) -> timedelta | None:
        return None if since is None else max(timedelta(0), self.checked_at - since)

    def as_json(self) -> dict[str, Any]:
        beat = self.heartbeat
        return {
            "version": 1,
            "level": self.level.value,
            "findings": [
                {"level": f.level.value, "code": f.code, "message": f.message}
                for f in self.findings
            ],
            "checked_at": _iso(self.checked_at),
            "totals": self._counts(self.totals),
            "by_kind": {kind: self._counts(counts) for kind, counts in self.by_kind.items()},
            "sales_units": [
                {
                    "merchant_serial_number": unit.merchant_serial_number,
                    "name": unit.name,
                    **self._counts(unit.counts),
                }
                for unit in self.sales_units
            ],
            "calls": {
                "last_success_at": _iso(self.last_success_at),
                "last_failure_at": _iso(self.last_failure_at),
            },
            "circuit_breaker": {
                "open": self.breaker_open,
                "last_opened_at": _iso(self.breaker_opened_at),
            },
            "workers": {
                "active": self.worker_active,
                "last_seen_at": _iso(beat.at if beat else None),
                "last_seen_worker": beat.worker if beat else None,
                "heartbeat_shared": self.heartbeat_shared,
                "leased_rows": self.leased_rows,
                "leasing_workers": self.leasing_workers,
            },
        }

    def _counts(self, counts: Counts) -> dict[str, Any]:
        return {
            **{state: counts.count(state) for state in RowState.values},
            "waiting_for_staff_by_reason": dict(counts.by_reason),
            "drift": counts.drift,
            "oldest_pending_at": _iso(counts.oldest_pending_at),
            "oldest_pending_seconds": _seconds(self.age(counts.oldest_pending_at)),
            "oldest_waiting_for_staff_at": _iso(counts.oldest_waiting_for_staff_at),
            "oldest_waiting_for_staff_seconds": _seconds(
                self.age(counts.oldest_waiting_for_staff_at)
            ),
        }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _seconds(age: timedelta | None) -> int | None:
    return None if age is None else int(age.total_seconds())


def worker_seen_within() -> timedelta:
    """How recent a heartbeat counts as a worker at work: a minute, or three idle polls."""
    return timedelta(seconds=max(60.0, 3 * app_settings.WORKER_POLL_SECONDS))


# ---------------------------------------------------------------------- the queries


def default_unit() -> str:
    """Where rows of orders without a known sales unit are counted: ``MERCHANT_SERIAL_NUMBER``
    (an order's unit is known once a send found its Vipps payment), or ``""`` when unset."""
    return str(app_settings.get("MERCHANT_SERIAL_NUMBER") or "")


def _unit(expression: Any, default: str) -> Coalesce:
    return Coalesce(NullIf(expression, Value("")), Value(default), output_field=models.CharField())


def _outbox_groups(now: datetime, default: str) -> list[_Group]:
    """One query: rows counted by sales unit, state, reason and kind, with their oldest times."""
    unit_of_order = VippsOrder.objects.filter(
        content_type_id=OuterRef("content_type_id"), object_id=OuterRef("object_id")
    ).values("merchant_serial_number")[:1]
    grouped = (
        OutboxItem.objects.order_by()
        .annotate(
            unit=_unit(Subquery(unit_of_order), default),
            state=state_expression(now),
            reason=reason_expression(),
            since=_pending_since(),
        )
        .values("unit", "state", "reason", "kind")
        .annotate(count=Count("pk"), oldest=Min("since"), oldest_dead=Min("dead_at"))
    )
    return [_Group(**row) for row in grouped]


def _drift(default: str) -> dict[str, int]:
    """One query: orders whose receipt differs from Vipps's, by sales unit."""
    rows = (
        VippsOrder.objects.filter(receipt_state=VippsOrder.ReceiptState.DRIFT)
        .order_by()
        .annotate(unit=_unit(F("merchant_serial_number"), default))
        .values("unit")
        .annotate(count=Count("pk"))
    )
    return {row["unit"]: row["count"] for row in rows}


def _last_call(outcomes: Iterable[str]) -> datetime | None:
    """One query: the time of the latest call with one of these outcomes (not local refusals,
    which have no method), read backwards along the call log's time index."""
    calls = SyncAttempt.objects.filter(outcome__in=list(outcomes)).exclude(method="")
    return calls.order_by("-created_at").values_list("created_at", flat=True).first()


def summary(*, now: datetime | None = None) -> Health:
    """The health summary, now, in five queries whatever the number of orders."""
    now = now or timezone.now()
    default = default_unit()
    groups = _outbox_groups(now, default)
    drift = _drift(default)
    leases = OutboxItem.objects.filter(lease_until__gt=now).aggregate(
        rows=Count("pk"), workers=Count("leased_by", distinct=True)
    )
    units = sorted({group.unit for group in groups} | set(drift) | ({default} - {""}))
    Outcomes = SyncAttempt.Outcome
    health = Health(
        checked_at=now,
        totals=Counts.of(groups, sum(drift.values())),
        by_kind=MappingProxyType(
            {
                kind: Counts.of(
                    [g for g in groups if g.kind == kind],
                    sum(drift.values()) if kind == "receipt" else 0,
                )
                for kind in ALL_KINDS
            }
        ),
        sales_units=tuple(
            SalesUnit(
                unit,
                unit_name(unit),
                Counts.of([g for g in groups if g.unit == unit], drift.get(unit, 0)),
            )
            for unit in units
        ),
        last_success_at=_last_call([Outcomes.SUCCESS, Outcomes.ALREADY_THERE]),
        last_failure_at=_last_call([Outcomes.TRANSIENT, Outcomes.PERMANENT]),
        breaker_opened_at=liveness.last_breaker_opening(),
        heartbeat=liveness.last_heartbeat(),
        heartbeat_shared=liveness.shared(),
        leased_rows=leases["rows"],
        leasing_workers=leases["workers"],
    )
    return replace(health, findings=assess(health))


# ---------------------------------------------------------------------- the verdict


def _over(age: timedelta | None, limit: timedelta | None) -> bool:
    return age is not None and limit is not None and age >= limit


def assess(health: Health) -> tuple[Finding, ...]:
    """What is wrong, against ``HEALTH``, each finding with its level; none found is healthy."""
    limits = app_settings.HEALTH
    totals = health.totals
    staff_age = health.age(totals.oldest_waiting_for_staff_at)
    pending_age = health.age(totals.oldest_pending_at)
    success_age = health.age(health.last_success_at)
    found: list[Finding] = []

    def add(level: Level, code: str, message: str, **values: Any) -> None:
        spans = {
            name: timesince(health.checked_at - value, health.checked_at)  # "1 day, 3 hours"
            if isinstance(value, timedelta)
            else value
            for name, value in values.items()
        }
        found.append(Finding(level, code, message % spans))

    if totals.waiting_for_staff and _over(staff_age, limits.waiting_for_staff):
        message = _("A send has waited for staff for %(age)s (critical from %(limit)s).")
        add(
            Level.CRITICAL,
            "waiting_for_staff_too_long",
            message,
            age=staff_age,
            limit=limits.waiting_for_staff,
        )
    if _over(pending_age, limits.no_success) and (
        success_age is None or _over(success_age, limits.no_success)
    ):
        message = _(
            "Sends have waited %(age)s and no call to Vipps has succeeded for %(limit)s or more."
        )
        add(Level.CRITICAL, "no_success", message, age=pending_age, limit=limits.no_success)
    if totals.waiting_for_staff:
        count = totals.waiting_for_staff
        message = ngettext(
            "%(count)d send waits for staff.", "%(count)d sends wait for staff.", count
        )
        add(Level.WARNING, "waiting_for_staff", message, count=count)
    if _over(pending_age, limits.oldest_pending):
        message = _("The oldest pending send has waited %(age)s (a warning from %(limit)s).")
        add(Level.WARNING, "oldest_pending", message, age=pending_age, limit=limits.oldest_pending)
    if health.breaker_open:
        message = _(
            "Vipps is failing right now: a worker stopped sending %(ago)s ago after repeated "
            "temporary failures, and no call has succeeded since."
        )
        add(
            Level.WARNING, "circuit_breaker_open", message, ago=health.age(health.breaker_opened_at)
        )
    return tuple(found)
