"""Signed customer pages: an order's status page and its printable receipt.

They open from the Vipps app in the phone's browser, without a login; the signed token in the
URL (see :mod:`.public_links`) is the only credential. Hence:

* anything wrong with the token is the same bare 404, so nothing can be learnt about orders;
* each page shows that one order only, built by its adapter, and the receipt is the very
  ``services.build_receipt(order)`` that goes to Vipps;
* responses are ``Cache-Control: private, no-store``, ``X-Robots-Tag: noindex`` and
  ``Referrer-Policy: no-referrer``, since the token must not end up in a shared cache, a search
  index or another site's logs; GET and HEAD only.

Templates live under ``vipps_order_management/public/``; a host project overrides them by
providing templates of the same path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any

from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import pgettext_lazy
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_safe

from . import public_links
from .conf import app_settings
from .display import vat_rows
from .engine.plan import SyncPlan, plan
from .models import VippsOrder
from .order_rows import attached_rows
from .payloads import Receipt
from .templatetags.vipps_order_management import DisplayLink, order_image, order_links

__all__ = ["order_receipt", "order_status"]

logger = logging.getLogger(__name__)

#: How ``unitInfo.quantityUnit`` reads after the quantity.
QUANTITY_UNITS = {
    "PCS": pgettext_lazy("quantity unit", "pcs"),
    "KG": pgettext_lazy("quantity unit", "kg"),
    "KM": pgettext_lazy("quantity unit", "km"),
    "MINUTE": pgettext_lazy("quantity unit", "min"),
    "LITRE": pgettext_lazy("quantity unit", "l"),
    "KWH": pgettext_lazy("quantity unit", "kWh"),
}

PUBLIC_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


def _public_page(
    view: Callable[[HttpRequest, models.Model, str], HttpResponse],
) -> Callable[..., HttpResponse]:
    """GET/HEAD only, the order from the token (else a bare 404), and the privacy headers."""

    @require_safe
    @wraps(view)
    def load_order(request: HttpRequest, token: str) -> HttpResponse:
        try:
            order = public_links.order_from_token(token)
        except Http404:
            return render(request, "vipps_order_management/public/not_found.html", status=404)
        return view(request, order, token)

    @wraps(view)
    def with_headers(request: HttpRequest, token: str) -> HttpResponse:
        response = load_order(request, token)
        for header, value in PUBLIC_HEADERS.items():
            response[header] = value
        return response

    return xframe_options_deny(with_headers)


def _seller() -> dict[str, str]:
    return {
        "name": app_settings.SELLER_NAME,
        "organisation_number": app_settings.SELLER_ORGANISATION_NUMBER,
        "address": app_settings.SELLER_ADDRESS,
    }


def _common(sync_plan: SyncPlan, token: str) -> dict[str, Any]:
    order = sync_plan.order
    return {
        "order": order,
        "display_name": sync_plan.display_name,
        "order_date": sync_plan.order_date,
        "seller": _seller(),
        "status_page_url": public_links.url_for_token("order_status", token, absolute=False),
    }


@_public_page
def order_status(request: HttpRequest, order: models.Model, token: str) -> HttpResponse:
    """The order's name, date, receipt state at Vipps, links and image."""
    sync_plan = plan(order)
    record = attached_rows(order).state
    in_app = record is not None and record.receipt_state in (
        VippsOrder.ReceiptState.SENT,
        VippsOrder.ReceiptState.DRIFT,
    )
    links: list[DisplayLink] = [
        link for link in order_links(order) if public_links.own_page(link.url, order) is None
    ]
    context = {
        **_common(sync_plan, token),
        "links": links,
        "image": order_image(order),
        "receipt_state": record.receipt_state if record is not None else "none",
        "receipt_in_app": in_app,
        "receipt_sent_at": record.receipt_sent_at if in_app and record is not None else None,
        "receipt_page_url": public_links.url_for_token("order_receipt", token, absolute=False)
        if sync_plan.receipt_shown
        else "",
    }
    return render(request, "vipps_order_management/public/order_status.html", context)


@dataclass(frozen=True)
class ReceiptLine:
    """One line as the printable receipt shows it; amounts in minor units, returns negative."""

    name: str
    quantity: Decimal | None
    unit: Any
    unit_price: int | None
    discount: int
    vat_percent: Decimal | None
    amount: int
    is_shipping: bool
    is_return: bool


def receipt_context(receipt: Receipt) -> dict[str, Any]:
    """What the receipt template needs, from the receipt object sent to Vipps."""
    lines = []
    for line in receipt.order_lines:
        info = line.unit_info
        quantity = None
        if info is not None and info.quantity is not None:
            quantity = Decimal(info.quantity)
        unit = str(info.quantity_unit or "PCS") if info is not None else "PCS"
        lines.append(
            ReceiptLine(
                name=line.name,
                quantity=quantity,
                unit=QUANTITY_UNITS.get(unit, unit),
                unit_price=info.unit_price if info is not None else None,
                discount=line.discount or 0,
                vat_percent=line.vat_percent,
                amount=line.signed_total,
                is_shipping=bool(line.is_shipping),
                is_return=bool(line.is_return),
            )
        )
    total = receipt.total_amount
    total_vat = receipt.total_tax_amount
    return {
        "receipt": receipt,
        "lines": lines,
        "vat_rows": vat_rows(receipt),
        "total": total,
        "total_vat": total_vat,
        "total_net": total - total_vat,
        "currency": str(receipt.bottom_line.currency),
    }


@_public_page
def order_receipt(request: HttpRequest, order: models.Model, token: str) -> HttpResponse:
    """The printable receipt: seller, number, date, lines, VAT per rate and totals.

    Until the order is final, or when its receipt cannot be built, a friendly page instead.
    """
    sync_plan = plan(order)
    context = _common(sync_plan, token)
    if not sync_plan.is_final:
        context["not_final"] = True
        return render(request, "vipps_order_management/public/receipt_unavailable.html", context)
    receipt = sync_plan.receipt
    if receipt is None:
        logger.warning(
            "The printable receipt of %s %s cannot be built: %s",
            order._meta.label,
            order.pk,
            sync_plan.receipt_problem,
        )
        return render(request, "vipps_order_management/public/receipt_unavailable.html", context)
    context.update(receipt_context(receipt))
    context["receipt_number"] = receipt.bottom_line.receipt_number or sync_plan.receipt_number
    return render(request, "vipps_order_management/public/receipt.html", context)
