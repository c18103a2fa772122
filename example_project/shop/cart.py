"""The shopping cart, kept in the session as {product id: quantity}, one per storefront."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpRequest

from . import storefronts
from .models import Product


@dataclass
class CartLine:
    product: Product
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


class Cart:
    """The cart of the customer's current storefront, priced in its currency."""

    def __init__(self, request: HttpRequest) -> None:
        self.storefront = storefronts.current(request)
        self.session = request.session
        self.session_key = f"cart-{self.storefront.code}"
        self.items: dict[str, int] = dict(self.session.get(self.session_key, {}))

    def set(self, product: Product, quantity: int) -> None:
        if quantity > 0:
            self.items[str(product.pk)] = min(quantity, 99)
        else:
            self.items.pop(str(product.pk), None)
        self.save()

    def add(self, product: Product, quantity: int = 1) -> None:
        self.set(product, self.items.get(str(product.pk), 0) + quantity)

    def clear(self) -> None:
        self.items = {}
        self.save()

    def save(self) -> None:
        self.session[self.session_key] = self.items

    def lines(self) -> list[CartLine]:
        sold = self.storefront.sells(Product.objects.all())
        products = sold.in_bulk([int(pk) for pk in self.items])
        return [
            CartLine(products[int(pk)], quantity, self.storefront.price(products[int(pk)]))
            for pk, quantity in self.items.items()
            if int(pk) in products
        ]

    @property
    def count(self) -> int:
        return sum(self.items.values())

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines()), Decimal(0))
