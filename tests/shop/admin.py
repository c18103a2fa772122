"""The fake shop's admin: the mixin, the filter and the inlines, as a shop would add them."""

from __future__ import annotations

from django.contrib import admin

from vipps_order_management.admin import (
    OrderImageInline,
    OrderLinkInline,
    VippsOrderAdminMixin,
    VippsStatusFilter,
)

from .models import Booking, Order


@admin.register(Order)
class OrderAdmin(VippsOrderAdminMixin, admin.ModelAdmin):
    list_display = ["number", "status", "vipps_status"]
    list_filter = ["status", VippsStatusFilter]
    inlines = [OrderLinkInline, OrderImageInline]


@admin.register(Booking)
class BookingAdmin(VippsOrderAdminMixin, admin.ModelAdmin):
    list_display = ["title", "confirmed", "vipps_status"]
    list_filter = [VippsStatusFilter]
