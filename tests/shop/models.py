"""A fake host shop for the tests: one order model with an integer key, one with a UUID key."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
    sku = models.CharField(max_length=32, unique=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(25))
    image = models.ImageField(upload_to="products/", blank=True)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new"
        PAID = "paid"
        SHIPPED = "shipped"
        DELIVERED = "delivered"

    number = models.CharField(max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    vipps_reference = models.CharField(max_length=50, blank=True)
    currency = models.CharField(max_length=3, default="NOK")
    shipping_price = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal(0))
    tracking_url = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"Order {self.number}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.DecimalField(max_digits=10, decimal_places=3, default=Decimal(1))
    discount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal(0))

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"


class Booking(models.Model):
    """A second order model, keyed by UUID, paid through Recurring."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    charge_id = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(12))
    confirmed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.title


class Purchase(models.Model):
    """A shop shaped unlike the example: a UUID key, the owner as ``customer``, the currency and
    the Vipps reference in fields of their own."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    number = models.CharField(max_length=20, unique=True)
    currency = models.CharField(max_length=3, default="DKK")
    payment_reference = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(25))

    def __str__(self) -> str:
        return f"Purchase {self.number}"
