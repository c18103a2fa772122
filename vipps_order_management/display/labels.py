"""The words of :data:`~vipps_order_management.display.APP_LABELS`, translated (Django)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

__all__ = ["APP_LABELS_TRANSLATED", "app_labels"]

#: The app preview's words in the language of whoever looks (staff in the admin).
APP_LABELS_TRANSLATED = {
    "RECEIPT": _("Receipt"),
    "ORDER_CONFIRMATION": _("Order confirmation"),
    "DELIVERY": _("Track delivery"),
    "TICKET": _("Ticket"),
    "BOOKING": _("Booking"),
    "GENERAL": _("More information"),
    "title": _("Payment details"),
    "order_details": _("Order details"),
    "shipping": _("Shipping"),
    "returned": _("Returned"),
    "discount": _("Discount"),
    "vat": _("VAT"),
    "net": _("Net"),
    "total": _("Total"),
    "receipt_number": _("Receipt no."),
    "no_receipt": _("No order lines have been sent for this payment."),
    "no_link": _("No link has been sent for this payment."),
    "preview_note": _("Preview: how the Vipps MobilePay app shows this order."),
}


def app_labels() -> dict[str, str]:
    """The preview's words in the active language."""
    return {key: str(value) for key, value in APP_LABELS_TRANSLATED.items()}
