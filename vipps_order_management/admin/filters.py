"""The admin's filters by sales unit: our rows (by their MSN) and the shop's orders (by the MSN
their state names), each unit by its name."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Exists
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..engine.clients import unit_label
from ..models import VippsOrder, matching_outer_order

__all__ = ["SalesUnitFilter", "VippsSalesUnitFilter", "unit_choices"]


def unit_choices(rows: models.QuerySet[Any]) -> list[tuple[str, str]]:
    """The sales units rows of ours name, by their names: one query."""
    found = rows.exclude(merchant_serial_number="").values_list("merchant_serial_number", flat=True)
    return [(msn, unit_label(msn)) for msn in sorted(set(found.distinct()))]


class SalesUnitFilter(admin.SimpleListFilter):
    """Rows of one sales unit, by its name (``SALES_UNITS``) and MSN."""

    title = _("sales unit")
    parameter_name = "unit"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, Any]]:
        return unit_choices(model_admin.model.objects.all())

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        value = self.value()
        return queryset.filter(merchant_serial_number=value) if value else queryset


class VippsSalesUnitFilter(admin.SimpleListFilter):
    """Filter orders by the sales unit (merchant serial number) they were sent to."""

    title = _("Vipps sales unit")
    parameter_name = "vipps_unit"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, Any]]:
        return unit_choices(
            VippsOrder.objects.filter(content_type=_content_type(model_admin.model))
        )

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        states = matching_outer_order(VippsOrder.objects.all(), queryset.model)
        return queryset.filter(Exists(states.filter(merchant_serial_number=value)))


def _content_type(model: type[models.Model]) -> ContentType:
    return ContentType.objects.get_for_model(model, for_concrete_model=False)
