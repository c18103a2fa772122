"""The app: an Oscar dashboard app config, so its URLs carry Oscar's dashboard permissions."""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.translation import gettext_lazy as _
from oscar.core.application import OscarDashboardConfig
from oscar.core.loading import get_class

__all__ = ["VippsOscarConfig"]


class VippsOscarConfig(OscarDashboardConfig):
    """Include its URLs beside Oscar's dashboard::

        path("dashboard/vipps/", apps.get_app_config("vipps_oscar").urls),

    Its views need what Oscar's own order views need: seeing orders (``order.view_order``, or
    a partner's dashboard access) for the list, and changing them too for the actions.
    """

    default = True  # Oscar's base config, imported here, must not be picked instead
    name = "vipps_order_management.contrib.oscar"
    label = "vipps_oscar"
    namespace = "vipps_oscar"
    verbose_name = _("Vipps MobilePay for django-oscar")
    default_auto_field = "django.db.models.BigAutoField"

    default_permissions = ["is_staff"]

    def configure_permissions(self) -> None:
        permission = get_class("dashboard.permissions", "DashboardPermission")
        view = (permission.get("order", "view_order"), permission.partner_dashboard_access)
        change = (
            permission.get("order", "view_order", "change_order"),
            permission.partner_dashboard_access,
        )
        self.view_permissions = view
        self.change_permissions = change
        self.permissions_map = {
            "vipps-order-list": view,
            "vipps-order-operation": change,
            "vipps-order-bulk": change,
        }

    def ready(self) -> None:
        self.configure_permissions()

    def get_urls(self) -> list[Any]:
        from . import views

        urls = [
            path("", views.VippsOrderListView.as_view(), name="vipps-order-list"),
            path("actions/", views.BulkOperationView.as_view(), name="vipps-order-bulk"),
            path("<str:number>/", views.OrderOperationView.as_view(), name="vipps-order-operation"),
        ]
        return self.post_process_urls(urls)
