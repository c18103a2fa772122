"""The Django admin of Oscar's orders, with the Vipps column, filter, inlines and actions.

Oscar registers its own ``OrderAdmin``; registering ``Order`` again would raise
``AlreadyRegistered``. So this module takes whatever admin is registered for Oscar's (or a
fork's) ``Order``, mixes :class:`~vipps_order_management.admin.VippsOrderAdminMixin` into a
subclass of it, and registers that instead. It imports the order app's admin module first,
so it works wherever this app stands in ``INSTALLED_APPS``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.contrib import admin
from oscar.core.loading import get_model

from ...admin import OrderImageInline, OrderLinkInline, VippsOrderAdminMixin, VippsStatusFilter

__all__ = ["VippsOscarOrderAdmin", "order_admin_with_vipps"]


def _register_oscar_admin() -> None:
    """Import the order app's own admin module (Oscar's, or a fork's), which registers Order."""
    module = f"{apps.get_app_config('order').name}.admin"
    try:
        import_module(module)
    except ModuleNotFoundError as exc:  # a fork without an admin module: nothing to extend
        if exc.name != module:
            raise


def order_admin_with_vipps(base: type[admin.ModelAdmin[Any]]) -> type[admin.ModelAdmin[Any]]:
    """A subclass of ``base`` with the Vipps status column and filter, inlines and actions."""
    return type(
        f"Vipps{base.__name__}",
        (VippsOrderAdminMixin, base),
        {
            "__module__": __name__,
            "__doc__": f"Oscar's {base.__name__} with the Vipps column, filter and actions.",
            "list_display": (*base.list_display, "vipps_status"),
            "list_filter": (*base.list_filter, VippsStatusFilter),
            "inlines": [*base.inlines, OrderLinkInline, OrderImageInline],
        },
    )


_register_oscar_admin()
Order = get_model("order", "Order")
if admin.site.is_registered(Order):
    _base = type(admin.site.get_model_admin(Order))
    admin.site.unregister(Order)
else:
    _base = admin.ModelAdmin
VippsOscarOrderAdmin = order_admin_with_vipps(_base)
admin.site.register(Order, VippsOscarOrderAdmin)
