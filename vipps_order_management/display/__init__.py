"""How orders look to people: labels, icons, money and VAT rows, and the app preview.

The rules here are shared by the admin, the template tags, the customer pages and the fake
Vipps's preview, so they are written once. Nothing here imports Django (the fake renders its
preview without a configured project); :mod:`.labels` holds the translated words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from ..money import CURRENCY_EXPONENTS
from ..payloads import CategoryType, Receipt

__all__ = [
    "APP",
    "APP_LABELS",
    "PLAIN",
    "MoneyStyle",
    "VatRow",
    "format_money",
    "icon_path",
    "icon_svg",
    "signed_amount",
    "vat_rows",
]


def gettext_noop(text: str) -> str:
    """Marks a string for translation without Django: :mod:`.labels` translates it when shown."""
    return text


#: The words of the app's payment screen, in English; :func:`.labels.app_labels` translates them.
APP_LABELS: dict[str, str] = {
    "RECEIPT": gettext_noop("Receipt"),
    "ORDER_CONFIRMATION": gettext_noop("Order confirmation"),
    "DELIVERY": gettext_noop("Track delivery"),
    "TICKET": gettext_noop("Ticket"),
    "BOOKING": gettext_noop("Booking"),
    "GENERAL": gettext_noop("More information"),
    "title": gettext_noop("Payment details"),
    "order_details": gettext_noop("Order details"),
    "shipping": gettext_noop("Shipping"),
    "returned": gettext_noop("Returned"),
    "discount": gettext_noop("Discount"),
    "vat": gettext_noop("VAT"),
    "net": gettext_noop("Net"),
    "total": gettext_noop("Total"),
    "receipt_number": gettext_noop("Receipt no."),
    "no_receipt": gettext_noop("No order lines have been sent for this payment."),
    "no_link": gettext_noop("No link has been sent for this payment."),
    "preview_note": gettext_noop("Preview: how the Vipps MobilePay app shows this order."),
}

_FALLBACK_ICON = (
    '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">'
    '<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/></svg>'
)


def _icon_name(category: str) -> str | None:
    if category not in CategoryType.__members__:
        return None
    return category.lower().replace("_", "-")


def icon_path(category: str) -> str:
    """The static path of a category's icon, for ``{% static %}``; "" for an unknown one."""
    name = _icon_name(str(category))
    return f"vipps_order_management/icons/{name}.svg" if name else ""


@cache
def icon_svg(category: str) -> str:
    """The icon itself, inline (the preview is one self-contained page)."""
    name = _icon_name(str(category))
    if name is None:
        return _FALLBACK_ICON
    try:
        folder = files("vipps_order_management") / "static" / "vipps_order_management" / "icons"
        return (folder / f"{name}.svg").read_text(encoding="utf-8")
    except OSError:
        return _FALLBACK_ICON


_NBSP = "\u00a0"


@dataclass(frozen=True)
class MoneyStyle:
    """How an amount is written: separators, the space before the unit, the units' names."""

    decimal: str = "."
    thousands: str = ""
    space: str = " "
    #: The unit written for a currency code; the code itself when not listed.
    units: Mapping[str, str] = field(default_factory=dict)


#: Messages, logs and the fake Vipps's pages: ``1234.50 NOK``, the same in every language.
PLAIN = MoneyStyle()
#: As the Vipps MobilePay app writes amounts: ``1 234,50 kr``.
APP = MoneyStyle(
    decimal=",", thousands=_NBSP, space=_NBSP, units={"NOK": "kr", "DKK": "kr.", "EUR": "€"}
)


def format_money(minor: int, currency: str, style: MoneyStyle = PLAIN) -> str:
    """Minor units (as the API holds them) written with the currency's own decimals, exactly.

    The one way money is shown: the admin, the customer pages and the template tags (each in
    its :class:`MoneyStyle`), the app preview and the messages. A code Vipps does not take
    (in a body the fake was fed) is written with two decimals: showing never fails.
    """
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    major, fraction = divmod(abs(int(minor)), 10**exponent)
    grouped = f"{major:,}".replace(",", style.thousands)
    decimals = f"{style.decimal}{fraction:0{exponent}d}" if exponent else ""
    unit = style.units.get(currency, currency)
    return f"{sign}{grouped}{decimals}{style.space}{unit}"


def signed_amount(line: Mapping[str, Any], key: str) -> int:
    """An amount of an API order line, negative for a returned line, 0 when not an integer."""
    value = line.get(key) or 0
    value = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return -value if line.get("isReturn") else value


@dataclass(frozen=True)
class VatRow:
    """The lines of one VAT rate: net and VAT in minor units, returns counted negative."""

    rate: Decimal | None
    net: int
    vat: int

    @property
    def gross(self) -> int:
        return self.net + self.vat


def vat_rows(receipt: Receipt | Mapping[str, Any]) -> list[VatRow]:
    """VAT per rate, highest rate first (lines without a rate last): for receipts and previews."""
    if not isinstance(receipt, Receipt):
        receipt = Receipt.from_api(receipt)
    by_rate = receipt.tax_by_rate()
    known = sorted((rate for rate in by_rate if rate is not None), reverse=True)
    rates = known + ([None] if None in by_rate else [])
    return [VatRow(rate, *by_rate[rate]) for rate in rates]
