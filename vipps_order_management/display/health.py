"""The health summary as lines of text, in the active language (``vipps_om_check --health``)."""

from __future__ import annotations

from datetime import datetime

from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..engine.health import REASONS, Health, RowState
from ..engine.outbox import ALL_KINDS
from ..models import SyncKind

__all__ = ["report_lines"]


def _when(health: Health, moment: datetime | None) -> str:
    if moment is None:
        return _("never")
    ago = _("%(ago)s ago") % {"ago": timesince(moment, health.checked_at)}
    return f"{date_format(localtime(moment), 'DATETIME_FORMAT')} ({ago})"


def _table(health: Health) -> list[str]:
    """Rows by state and kind, then the reasons of those waiting for staff."""
    kinds = [str(SyncKind(kind).label) for kind in ALL_KINDS]
    labels = [str(state.label) for state in RowState] + [_("Differs from Vipps")]
    width = max(len(label) for label in labels) + 2
    columns = [*kinds, _("Total")]
    sizes = [max(len(column), 6) for column in columns]
    lines = [" " * width + "  ".join(c.rjust(s) for c, s in zip(columns, sizes, strict=True))]
    for state, label in zip([*RowState, "drift"], labels, strict=True):
        values = [health.by_kind[kind].count(state) for kind in ALL_KINDS]
        values.append(health.totals.count(state))
        cells = "  ".join(str(v).rjust(s) for v, s in zip(values, sizes, strict=True))
        lines.append(f"  {label.ljust(width - 2)}{cells}")
    waiting = [(r, health.totals.by_reason[r.code]) for r in REASONS]
    if health.totals.waiting_for_staff:
        lines.append(_("Waiting for staff, by reason:"))
        lines += [f"  {reason.label}: {count}" for reason, count in waiting if count]
    return lines


def _units(health: Health) -> list[str]:
    lines = []
    for unit in health.sales_units:
        counts = unit.counts
        parts = [f"{state.label}: {counts.count(state)}" for state in RowState]
        parts.append(f"{_('Differs from Vipps')}: {counts.drift}")
        name = unit.name or _("(no merchant serial number)")
        lines.append(f"  {name}: {'; '.join(parts)}")
    return lines


def _workers(health: Health) -> str:
    state = _("At work") if health.worker_active else _("None seen in the last minute")
    parts = [state]
    if health.heartbeat is not None:
        parts.append(
            _("%(worker)s seen %(ago)s ago")
            % {
                "worker": health.heartbeat.worker,
                "ago": timesince(health.heartbeat.at, health.checked_at),
            }
        )
    rows = health.leased_rows
    parts.append(
        ngettext("%(counter)s row being sent", "%(counter)s rows being sent", rows)
        % {"counter": rows}
    )
    return "; ".join(parts)


def report_lines(health: Health) -> list[str]:
    """The level and its findings first (what a monitoring system shows), then the detail."""
    lines = [_("Vipps health: %(level)s") % {"level": health.level.label}]
    lines += [f"  {finding.level.label}: {finding.message}" for finding in health.findings]
    lines += ["", _("Outbox (one row per order and kind):"), *_table(health)]
    if health.totals.oldest_pending_at is not None:
        lines.append(
            _("The oldest pending send has waited %(age)s.")
            % {"age": timesince(health.totals.oldest_pending_at, health.checked_at)}
        )
    lines += ["", _("Sales units:"), *_units(health), ""]
    breaker = _("Open: Vipps is failing right now") if health.breaker_open else _("Closed")
    lines += [
        f"{_('Last successful call')}: {_when(health, health.last_success_at)}",
        f"{_('Last failed call')}: {_when(health, health.last_failure_at)}",
        f"{_('Circuit breaker')}: {breaker}",
        f"{_('Workers')}: {_workers(health)}",
    ]
    if not health.heartbeat_shared:
        lines.append(
            _(
                "TOKEN_CACHE is a cache of this process only (LocMem): workers in other "
                "processes are seen only while they send. Use a shared cache (Redis, the "
                "database) in production."
            )
        )
    return lines
