"""``{% vipps_oscar_order_panel order %}``: the Vipps tab of Oscar's dashboard order page.

Used by this app's override of ``oscar/dashboard/orders/order_detail.html``, so Oscar's own
``OrderDetailView`` stays as it is. The panel is the admin's per-order page (the same
:func:`~vipps_order_management.admin.order_page.order_page_context`): status, the shop's
receipt beside the one Vipps holds, and the app's preview of both. Whatever goes wrong in
reaching Vipps, or in the shop's adapter, is shown in the panel; the page never fails.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django import template
from django.apps import apps
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString, mark_safe
from oscar.views.decorators import check_permissions

from ....admin.operations import ORDER_OPERATIONS
from ....admin.order_page import order_page_context
from ....engine.plan import plan
from ..adapters import OscarOrder
from ..apps import VippsOscarConfig

__all__ = ["vipps_oscar_order_panel"]

logger = logging.getLogger(__name__)
register = template.Library()

PANEL_TEMPLATE = "vipps_order_management/oscar/order_panel.html"


def can_change(user: Any) -> bool:
    """Whether ``user`` may run the Vipps actions (the app's change permissions)."""
    config = cast(VippsOscarConfig, apps.get_app_config("vipps_oscar"))
    return bool(user is not None and check_permissions(user, config.change_permissions))


@register.simple_tag(takes_context=True)
def vipps_oscar_order_panel(context: template.Context, order: OscarOrder) -> SafeString:
    """The order's Vipps panel; ``?vipps_remote=0`` on the page skips asking Vipps."""
    request = context.get("request")
    values: dict[str, Any] = {"order": order, "panel_error": ""}
    try:
        fetch = request is None or request.GET.get("vipps_remote") != "0"
        values.update(order_page_context(order, fetch_remote=fetch))
        values["display_name"] = plan(order).display_name
    except Exception as exc:  # the adapter or Vipps must never break Oscar's order page
        logger.warning("The Vipps panel of %r failed", order, exc_info=True)
        values["panel_error"] = f"{type(exc).__name__}: {exc}"
    try:
        values["action_url"] = reverse(
            "vipps_oscar:vipps-order-operation", kwargs={"number": order.number}
        )
    except NoReverseMatch:  # the app's URLs are not included: the panel only shows
        values["action_url"] = ""
    user = getattr(request, "user", None)
    values["can_change"] = bool(values["action_url"]) and can_change(user)
    values["operations"] = [(key, label) for key, (label, _function) in ORDER_OPERATIONS.items()]
    rendered = render_to_string(PANEL_TEMPLATE, values, request=request)
    return mark_safe(rendered)  # noqa: S308 - template output, already escaped
