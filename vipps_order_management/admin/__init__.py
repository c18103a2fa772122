"""The admin: what a shop adds to its own order admin, and the admin of our own tables.

A shop mixes :class:`VippsOrderAdminMixin` into its order ``ModelAdmin``::

    @admin.register(Order)
    class OrderAdmin(VippsOrderAdminMixin, admin.ModelAdmin):
        list_display = ["number", "status", "vipps_status"]
        list_filter = ["status", VippsStatusFilter]
        inlines = [OrderLinkInline, OrderImageInline]

and gets the actions (send now, resend links, re-upload image, requeue failed, fetch and
compare), a status column and filter, and a per-order Vipps page that sets the order beside
what Vipps holds, with a preview of the app.

* :mod:`.orders` — the mixin, the status filter, the inlines and the actions;
* :mod:`.order_page` — what the per-order page shows, read from the order's plan;
* :mod:`.records` — read-only admins of the outbox, the call log, states and images.
"""

from __future__ import annotations

from ..display.labels import APP_LABELS_TRANSLATED as PREVIEW_LABELS
from . import records  # noqa: F401 - registers the admins of our own tables
from .orders import (
    VIPPS_ACTIONS,
    OrderImageInline,
    OrderLinkInline,
    VippsOrderAdminMixin,
    VippsSalesUnitFilter,
    VippsStatusFilter,
)

__all__ = [
    "PREVIEW_LABELS",
    "VIPPS_ACTIONS",
    "OrderImageInline",
    "OrderLinkInline",
    "VippsOrderAdminMixin",
    "VippsSalesUnitFilter",
    "VippsStatusFilter",
]
