"""The shop's admin, with the Vipps mixin, filter and inlines."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from vipps_order_management.admin import (
    OrderImageInline,
    OrderLinkInline,
    VippsOrderAdminMixin,
    VippsSalesUnitFilter,
    VippsStatusFilter,
)

from .models import Order, OrderItem, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "price", "price_dkk", "vat_rate"]
    prepopulated_fields = {"slug": ["name"]}


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(VippsOrderAdminMixin, admin.ModelAdmin):
    list_display = ["number", "name", "storefront", "status", "created_at", "vipps_status"]
    list_filter = ["storefront", "status", VippsStatusFilter, VippsSalesUnitFilter]
    search_fields = ["number", "name", "email", "vipps_reference"]
    inlines = [OrderItemInline, OrderLinkInline, OrderImageInline]
    actions = ["mark_shipped", "mark_delivered"]

    @admin.action(description=_("Mark as shipped"), permissions=["change"])
    def mark_shipped(self, request, queryset):
        self._move(request, queryset, Order.ship)

    @admin.action(description=_("Mark as delivered"), permissions=["change"])
    def mark_delivered(self, request, queryset):
        self._move(
            request, queryset, lambda order: setattr(order, "status", Order.Status.DELIVERED)
        )

    def _move(self, request, queryset, change):
        orders = list(queryset.exclude(status=Order.Status.NEW))
        for order in orders:
            change(order)
            order.save()  # each save queues the order's new link for Vipps
        self.message_user(
            request,
            ngettext("%(count)d order updated.", "%(count)d orders updated.", len(orders))
            % {"count": len(orders)},
            messages.SUCCESS,
        )
