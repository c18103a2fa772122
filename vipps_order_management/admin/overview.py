"""The Vipps overview page of the admin, and the outbox filters its counts link to.

One page sums up whether the shop's orders reach Vipps (:func:`..engine.health.summary`): rows
by state and kind, each count a link to the outbox filtered to exactly those rows; the rows
waiting for staff by reason, each with its list and a button that requeues them all; orders
that differ from Vipps; the last calls, the circuit breaker and the workers. It is a view of
the outbox's admin (:meth:`.records.OutboxItemAdmin.get_urls`), so it works on any admin site
that registers our admins, needs the outbox's view permission and, to requeue, its change
permission, and costs the same queries for ten orders as for a thousand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..engine.health import REASONS, Health, RowState, in_state, summary, waiting_for
from ..engine.outbox import ALL_KINDS
from ..models import OutboxItem, SyncAttempt, SyncKind, VippsOrder
from .orders import BREADCRUMBS_AS_LIST

__all__ = ["RowStateFilter", "WaitingReasonFilter", "overview_view"]

TEMPLATE = "vipps_order_management/admin/overview.html"


class RowStateFilter(admin.SimpleListFilter):
    """Outbox rows by state as the overview counts them (retrying, waiting for staff...)."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(RowState.choices)

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        value = self.value()
        return in_state(queryset, value) if value in RowState.values else queryset


class WaitingReasonFilter(admin.SimpleListFilter):
    """Rows waiting for staff, by why (refused by Vipps, the payload checks...)."""

    title = _("why it waits for staff")
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(reason.code, reason.label) for reason in REASONS]

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        value = self.value()
        codes = [reason.code for reason in REASONS]
        return waiting_for(queryset, value) if value in codes else queryset


def _changelist(model_admin: Any, model: type[models.Model], request: HttpRequest) -> str | None:
    """The changelist of ``model`` on this admin site, if it is there and the user may see it."""
    site = model_admin.admin_site
    if not site.is_registered(model) or not site.get_model_admin(model).has_view_permission(
        request
    ):
        return None
    opts = model._meta
    try:
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=site.name
        )
    except NoReverseMatch:
        return None


def _link(base: str | None, **query: str) -> str | None:
    return None if base is None else f"{base}?{urlencode(query)}"


def overview_context(model_admin: Any, request: HttpRequest, health: Health) -> dict[str, Any]:
    """What the page shows: the summary, and the link of each count."""
    outbox = _changelist(model_admin, OutboxItem, request)
    states = [
        {
            "label": state.label,
            "cells": [
                (health.by_kind[kind].count(state), _link(outbox, state=state, kind__exact=kind))
                for kind in ALL_KINDS
            ],
            "total": (health.totals.count(state), _link(outbox, state=state)),
        }
        for state in RowState
    ]
    reasons = [
        {
            "code": reason.code,
            "label": reason.label,
            "count": health.totals.by_reason[reason.code],
            "url": _link(outbox, reason=reason.code),
        }
        for reason in REASONS
        if health.totals.by_reason[reason.code]
    ]
    # Orders, not rows: only receipts can differ from what Vipps holds.
    drift = _link(
        _changelist(model_admin, VippsOrder, request),
        receipt_state__exact=VippsOrder.ReceiptState.DRIFT,
    )
    drift_row = {
        "label": _("Differs from Vipps"),
        "cells": [
            (health.by_kind[kind].drift, drift) if kind == SyncKind.RECEIPT else (None, None)
            for kind in ALL_KINDS
        ],
        "total": (health.totals.drift, drift),
    }
    return {
        "health": health,
        "kinds": [SyncKind(kind).label for kind in ALL_KINDS],
        "states": states,
        "rows": [*states, drift_row],
        "reasons": reasons,
        "calls_url": _changelist(model_admin, SyncAttempt, request),
        "oldest_pending_age": health.age(health.totals.oldest_pending_at),
        "can_requeue": model_admin.has_requeue_permission(request),
    }


def overview_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The page; a POST requeues every row waiting for staff for one reason."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        if not model_admin.has_requeue_permission(request):
            raise PermissionDenied
        reason = request.POST.get("reason", "")
        if reason in [r.code for r in REASONS]:
            # The outbox's own action: services.requeue, and its message.
            model_admin.requeue(request, waiting_for(OutboxItem.objects.all(), reason))
        return HttpResponseRedirect(request.get_full_path())
    site = model_admin.admin_site
    title = _("Vipps overview")
    context = {
        **site.each_context(request),
        **overview_context(model_admin, request, summary()),
        "title": title,
        "opts": model_admin.opts,
        "vipps_breadcrumbs": [
            (reverse("admin:index", current_app=site.name), _("Home")),
            (
                reverse(
                    "admin:app_list",
                    kwargs={"app_label": model_admin.opts.app_label},
                    current_app=site.name,
                ),
                model_admin.opts.app_config.verbose_name,
            ),
            (None, title),
        ],
        "vipps_breadcrumbs_as_list": BREADCRUMBS_AS_LIST,
    }
    return TemplateResponse(request, TEMPLATE, context)
