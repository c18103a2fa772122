"""The shopping cart, kept in the session as {product id: quantity}."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpRequest

from .models import Product

SESSION_KEY = "cart"


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    def __init__(self, request: HttpRequest) -> None:
        self.session = request.session
        self.items: dict[str, int] = dict(self.session.get(SESSION_KEY, {}))

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
        self.session[SESSION_KEY] = self.items

    def lines(self) -> list[CartLine]:
        products = Product.objects.in_bulk([int(pk) for pk in self.items])
        return [
            CartLine(products[int(pk)], quantity)
            for pk, quantity in self.items.items()
            if int(pk) in products
        ]

    @property
    def count(self) -> int:
        return sum(self.items.values())

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines()), Decimal(0))
