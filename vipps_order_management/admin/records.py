"""Read-only admins of our own tables: records of what happened, which staff look at."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import services
from ..models import OutboxItem, SyncAttempt, UploadedImage, VippsOrder


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: staff look, nobody edits. Rows link to their order's page."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description=_("order"))
    def order_display(self, obj: Any) -> str:
        return _order_link(obj)


def _order_link(obj: Any) -> str:
    order = obj.order
    if order is None:
        return f"{obj.content_type}:{obj.object_id}"
    opts = order._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_vipps", args=[order.pk])
    except NoReverseMatch:  # the shop's admin for this model has no Vipps mixin
        return str(order)
    return format_html('<a href="{}">{}</a>', url, order)


@admin.register(OutboxItem)
class OutboxItemAdmin(ReadOnlyAdmin):
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
    list_filter = ("status", "kind", "content_type", "last_status_code")
    search_fields = ("object_id", "last_error")
    date_hierarchy = "updated_at"
    actions = ["requeue"]

    @admin.display(description=_("last error"))
    def short_error(self, obj: OutboxItem) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description=_("Requeue selected rows"), permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: models.QuerySet) -> None:
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
class SyncAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "order_display",
        "kind",
        "method",
        "endpoint",
        "status_code",
        "outcome",
        "duration_ms",
        "worker",
    )
    list_filter = ("outcome", "kind", "status_code", "content_type")
    search_fields = ("object_id", "error", "endpoint")
    date_hierarchy = "created_at"


@admin.register(VippsOrder)
class VippsOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_display",
        "reference",
        "payment_type",
        "receipt_state",
        "links_state",
        "last_synced_at",
    )
    list_filter = ("receipt_state", "links_state", "payment_type", "content_type")
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
    list_filter = ("merchant_serial_number",)
    search_fields = ("image_id", "source_hash")
