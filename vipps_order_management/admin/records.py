"""Read-only admins of our own tables: records of what happened, which staff look at.

Rows name their order with a link to its Vipps page. A page of rows loads its orders together,
one query per order model (:func:`attach_orders`), so a list costs the same for 5 orders as
for 100. The outbox's admin also serves the Vipps overview page (:mod:`.overview`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import services
from ..adapters import get_adapter
from ..engine.clients import unit_label
from ..engine.plan import plan
from ..exceptions import VippsConfigurationError
from ..models import OrderKey, OutboxItem, SyncAttempt, UploadedImage, VippsOrder
from .filters import SalesUnitFilter
from .overview import RowStateFilter, WaitingReasonFilter, overview_view

__all__ = ["attach_orders"]

#: Where :func:`attach_orders` puts each row's order (``None``: the order no longer exists).
LISTED_ORDER = "_vipps_listed_order"
_UNSET: Any = object()


if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin  # generic only in django-stubs


class ReadOnlyAdmin(_ModelAdmin):
    """Records of what happened: staff look, nobody edits."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


class OrderRowsChangeList(ChangeList):
    """A changelist of rows that belong to orders: the page's orders are loaded together."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        attach_orders(self.result_list)


class OrderRecordAdmin(ReadOnlyAdmin):
    """Records of one order each; every row links to its order's Vipps page.

    The row's own link is never the order column (a link inside a link is no HTML).
    """

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OrderRowsChangeList

    @admin.display(description=_("order"))
    def order_display(self, obj: Any) -> str:
        return _order_link(obj)


def attach_orders(rows: Iterable[Any]) -> None:
    """Give each of our rows its order (``None`` once deleted): one query per order model.

    What the order's adapter reads (its ``select_related``/``prefetch_related``) is loaded
    with them, so naming the orders costs no query per row.
    """
    rows = list(rows)
    wanted: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        wanted[row.content_type_id].add(row.object_id)
    found: dict[OrderKey, models.Model] = {}
    for content_type_id, object_ids in wanted.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        if model is None:  # the model is no longer installed: its rows show their key
            continue
        # The manager a GenericForeignKey reads through: every order that exists is found.
        orders = list(model._base_manager.filter(pk__in=_primary_keys(model, object_ids)))
        with suppress(VippsConfigurationError):  # no adapter (any more): str(order) names it
            get_adapter(model).prefetch(orders)
        found.update(((content_type_id, str(order.pk)), order) for order in orders)
    for row in rows:
        setattr(row, LISTED_ORDER, found.get((row.content_type_id, row.object_id)))


def _primary_keys(model: type[models.Model], object_ids: Iterable[str]) -> list[Any]:
    """The ids that can be primary keys of ``model`` (any other cannot name an order of it)."""
    keys = []
    for object_id in object_ids:
        try:
            keys.append(model._meta.pk.to_python(object_id))
        except (ValidationError, ValueError, TypeError):
            continue
    return keys


def _order_name(order: models.Model) -> str:
    """How staff know the order elsewhere: its adapter's display name, else ``str(order)``."""
    try:
        return plan(order).display_name
    except VippsConfigurationError:
        return str(order)


def _order_link(obj: Any) -> str:
    order = getattr(obj, LISTED_ORDER, _UNSET)
    if order is _UNSET:  # a row shown on its own (the change page)
        order = obj.order
    if order is None:
        return f"{ContentType.objects.get_for_id(obj.content_type_id)}:{obj.object_id}"
    opts = order._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_vipps", args=[order.pk])
    except NoReverseMatch:  # the shop's admin for this model has no Vipps mixin
        return _order_name(order)
    return format_html('<a href="{}">{}</a>', url, _order_name(order))


@admin.register(OutboxItem)
class OutboxItemAdmin(OrderRecordAdmin):
    list_display = (
        "order_display",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "short_error",
        "updated_at",
    )
    list_display_links = ("kind",)
    list_filter = (
        RowStateFilter,
        WaitingReasonFilter,
        "status",
        "kind",
        "content_type",
        "last_status_code",
    )
    search_fields = ("object_id", "last_error")
    date_hierarchy = "updated_at"
    actions = ["requeue"]

    def get_urls(self) -> list[Any]:
        opts = self.opts
        overview = self.admin_site.admin_view(self.overview_view)
        return [
            path("overview/", overview, name=f"{opts.app_label}_{opts.model_name}_overview"),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest) -> Any:
        """The Vipps overview: is the shop in sync with Vipps, at a glance."""
        return overview_view(self, request)

    @admin.display(description=_("last error"))
    def short_error(self, obj: OutboxItem) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description=_("Requeue selected rows"), permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        count = services.requeue(queryset)
        self.message_user(
            request,
            ngettext("%(count)d row queued again.", "%(count)d rows queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(SyncAttempt)
class SyncAttemptAdmin(OrderRecordAdmin):
    list_display = (
        "created_at",
        "order_display",
        "kind",
        "method",
        "endpoint",
        "status_code",
        "outcome",
        "duration_ms",
        "merchant_serial_number",
        "worker",
    )
    list_filter = ("outcome", "kind", "status_code", SalesUnitFilter, "content_type")
    search_fields = ("object_id", "error", "endpoint")
    date_hierarchy = "created_at"


@admin.register(VippsOrder)
class VippsOrderAdmin(OrderRecordAdmin):
    list_display = (
        "order_display",
        "reference",
        "sales_unit",
        "payment_type",
        "receipt_state",
        "links_state",
        "last_synced_at",
    )
    list_display_links = ("reference",)
    list_filter = ("receipt_state", "links_state", "payment_type", SalesUnitFilter, "content_type")

    @admin.display(description=_("sales unit"), ordering="merchant_serial_number")
    def sales_unit(self, obj: VippsOrder) -> str:
        return unit_label(obj.merchant_serial_number)

    search_fields = ("reference", "object_id")


@admin.register(UploadedImage)
class UploadedImageAdmin(ReadOnlyAdmin):
    list_display = (
        "source_hash",
        "image_id",
        "merchant_serial_number",
        "width",
        "height",
        "size",
        "error",
        "uploaded_at",
    )
    list_filter = (SalesUnitFilter,)
    search_fields = ("image_id", "source_hash")
