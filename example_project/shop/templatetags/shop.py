"""``{{ amount|price:currency }}``: a shop amount (a Decimal) as the app shows money."""

from __future__ import annotations

from decimal import Decimal

from django import template

from vipps_order_management.money import to_minor_units
from vipps_order_management.templatetags.vipps_order_management import vipps_money

register = template.Library()


@register.filter
def price(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return vipps_money(to_minor_units(amount, currency), currency)
