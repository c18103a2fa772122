"""The shop's storefronts: one per country, each paid in its currency through its own sales unit.

Strikk og Sokk sells in Norway (NOK, paid with Vipps) and in Denmark (DKK, paid with
MobilePay). Vipps MobilePay gives each country's store its own sales unit, with its own merchant
serial number and API keys; the app and ``epayment.py`` pick the keys by the order's unit. The
storefronts are configured in ``settings.SHOP_STOREFRONTS``; the customer picks one at ``/no/``
or ``/dk/`` and it is kept in the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

M = TypeVar("M", bound=models.Model)

SESSION_KEY = "storefront"
DEFAULT = "no"


@dataclass(frozen=True)
class Storefront:
    code: str
    name: str
    currency: str
    merchant_serial_number: str
    shipping: Decimal
    #: The product field that holds this storefront's price; a product without one is not sold.
    price_field: str

    def price(self, product: models.Model) -> Decimal | None:
        value = getattr(product, self.price_field)
        return None if value is None else Decimal(value)

    def sells(self, queryset: QuerySet[M]) -> QuerySet[M]:
        return queryset.exclude(**{f"{self.price_field}__isnull": True})


def all_storefronts() -> dict[str, Storefront]:
    return {
        code: Storefront(
            code=code,
            name=entry["NAME"],
            currency=entry["CURRENCY"],
            merchant_serial_number=str(entry["MERCHANT_SERIAL_NUMBER"]),
            shipping=Decimal(entry["SHIPPING"]),
            price_field=entry["PRICE_FIELD"],
        )
        for code, entry in settings.SHOP_STOREFRONTS.items()
    }


def get(code: str) -> Storefront:
    """The storefront of a code kept on an order or in a session; the default for any other."""
    storefronts = all_storefronts()
    return storefronts.get(code) or storefronts[DEFAULT]


def current(request: HttpRequest) -> Storefront:
    return get(request.session.get(SESSION_KEY, DEFAULT))
