"""A small shop: products, orders and their lines. Nothing here knows about Vipps."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from . import storefronts


class Product(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(unique=True)
    sku = models.CharField(_("SKU"), max_length=32, unique=True)
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(_("price incl. VAT"), max_digits=10, decimal_places=2)
    # The Danish storefront's price; a product without one is not sold there.
    price_dkk = models.DecimalField(
        _("price in DKK incl. VAT"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    vat_rate = models.DecimalField(_("VAT %"), max_digits=5, decimal_places=2, default=Decimal(25))
    image = models.ImageField(_("image"), upload_to="products/", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product", args=[self.slug])


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("Awaiting payment")
        PAID = "paid", _("Paid")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")

    number = models.CharField(_("number"), max_length=20, unique=True)
    # Where the order was placed: its currency and its sales unit (storefronts.py).
    storefront = models.CharField(
        _("storefront"),
        max_length=8,
        choices=[("no", _("Norway")), ("dk", _("Denmark"))],
        default="no",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="orders"
    )
    name = models.CharField(_("name"), max_length=100)
    email = models.EmailField(_("email"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    vipps_reference = models.CharField(_("Vipps reference"), max_length=50, blank=True)
    shipping_price = models.DecimalField(
        _("shipping"), max_digits=10, decimal_places=2, default=Decimal("49.00")
    )
    tracking_code = models.CharField(_("tracking code"), max_length=32, blank=True)
    # What ePayment says the customer approved, and what the shop took of it.
    authorized_amount = models.DecimalField(
        _("authorised"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    captured_amount = models.DecimalField(
        _("captured"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return _("Order %(number)s") % {"number": self.number}

    def get_absolute_url(self) -> str:
        return reverse("shop:order", args=[self.number])

    @property
    def currency(self) -> str:
        return storefronts.get(self.storefront).currency

    @property
    def total(self) -> Decimal:
        return sum((item.line_total for item in self.items.all()), self.shipping_price)

    def start_payment(self) -> None:
        """The reference the payment gets at Vipps (ePayment: 8-50 letters, digits, dashes)."""
        self.vipps_reference = f"shop-{self.number}-{secrets.token_hex(4)}"

    def mark_paid(self, *, authorized: Decimal, captured: Decimal) -> None:
        """The customer approved the payment and the shop captured it; saving queues it for Vipps."""
        self.status = self.Status.PAID
        self.authorized_amount = authorized
        self.captured_amount = captured
        self.save()

    def ship(self) -> None:
        self.status = self.Status.SHIPPED
        self.tracking_code = self.tracking_code or f"PKG{self.number}{secrets.randbelow(900) + 100}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    name = models.CharField(_("name"), max_length=100)
    unit_price = models.DecimalField(_("unit price incl. VAT"), max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    vat_rate = models.DecimalField(_("VAT %"), max_digits=5, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} \N{MULTIPLICATION SIGN} {self.name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
