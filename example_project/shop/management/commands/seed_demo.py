"""Fill the example shop: products with pictures drawn by Pillow, users, and orders in every state.

    python example_project/manage.py seed_demo

Idempotent: running it again changes nothing. The orders are saved like real ones, so the
app queues them for Vipps and the worker sends them.
"""

from __future__ import annotations

import io
import math
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from example_project.shop.models import Order, OrderItem, Product

PRODUCTS = [
    # name, sku, price (NOK), VAT %, colour, shape, description
    (
        "Wool socks",
        "SOCK-1",
        "129.00",
        "25",
        (196, 60, 57),
        "sock",
        "Warm socks of Norwegian wool.",
    ),
    ("Knitted hat", "HAT-2", "249.00", "25", (47, 72, 88), "hat", "A beanie for cold mornings."),
    ("Mittens", "MITT-3", "199.00", "25", (242, 169, 0), "mitten", "Thick mittens with a cuff."),
    (
        "Knitting book",
        "BOOK-4",
        "349.00",
        "0",
        (85, 139, 47),
        "book",
        "Patterns for the whole family (books carry no VAT).",
    ),
    (
        "Coffee, 500 g",
        "COFFEE-5",
        "119.00",
        "15",
        (109, 76, 65),
        "cup",
        "Fresh roast from Bergen (food: 15 % VAT).",
    ),
]

# The Danish storefront's prices (DKK, incl. VAT); the coffee is sold in Norway only.
DANISH_PRICES = {"SOCK-1": "99.00", "HAT-2": "189.00", "MITT-3": "149.00", "BOOK-4": "269.00"}

USERS = [("admin", "admin", True), ("customer", "customer", False)]


def draw(colour: tuple[int, int, int], shape: str) -> bytes:
    """A simple product picture, so the demo needs no image files."""
    size = 600
    image = Image.new("RGB", (size, size), (248, 246, 242))
    pen = ImageDraw.Draw(image)
    dark = tuple(max(0, c - 60) for c in colour)
    if shape == "sock":
        pen.rounded_rectangle((230, 80, 370, 380), 30, fill=colour)
        pen.rounded_rectangle((230, 300, 480, 440), 70, fill=colour)
        for y in range(110, 300, 40):
            pen.line((230, y, 370, y), fill=dark, width=8)
    elif shape == "hat":
        pen.pieslice((130, 150, 470, 490), 180, 360, fill=colour)
        pen.rectangle((120, 300, 480, 380), fill=dark)
        pen.ellipse((260, 90, 340, 170), fill=dark)
    elif shape == "mitten":
        pen.rounded_rectangle((200, 140, 400, 440), 90, fill=colour)
        pen.ellipse((130, 230, 230, 330), fill=colour)
        pen.rectangle((200, 420, 400, 480), fill=dark)
    elif shape == "book":
        pen.rectangle((170, 110, 430, 490), fill=colour)
        pen.rectangle((170, 110, 200, 490), fill=dark)
        for i in range(6):
            angle = i * math.pi / 3
            x, y = 315 + 70 * math.cos(angle), 300 + 70 * math.sin(angle)
            pen.line((315, 300, x, y), fill=(255, 255, 255), width=10)
    else:  # cup
        pen.rounded_rectangle((180, 220, 400, 460), 40, fill=colour)
        pen.ellipse((370, 270, 470, 390), outline=colour, width=26)
        for x in (230, 290, 350):
            pen.arc((x - 20, 120, x + 20, 210), 90, 270, fill=dark, width=8)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create the example shop's products, users (admin/admin, customer/customer) and orders."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--fresh-vipps",
            action="store_true",
            help="Forget what was sent (the embedded fake Vipps starts empty) and queue every "
            "order again.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if options["fresh_vipps"]:
            self._forget_vipps()
        for username, password, staff in USERS:
            if not User.objects.filter(username=username).exists():
                user = User(username=username, is_staff=staff, is_superuser=staff)
                user.first_name = "Kari" if not staff else "Ola"
                user.last_name = "Nordmann"
                user.email = f"{username}@shop.example"
                user.set_password(password)
                user.save()
        for name, sku, price, vat, colour, shape, description in PRODUCTS:
            if Product.objects.filter(sku=sku).exists():
                # A database seeded before the Danish storefront opened gets its prices.
                Product.objects.filter(sku=sku, price_dkk__isnull=True).update(
                    price_dkk=DANISH_PRICES.get(sku)
                )
                continue
            product = Product(
                name=name,
                slug=sku.lower(),
                sku=sku,
                price=Decimal(price),
                price_dkk=DANISH_PRICES.get(sku),
                vat_rate=Decimal(vat),
                description=description,
            )
            product.image.save(f"{sku.lower()}.png", ContentFile(draw(colour, shape)), save=False)
            product.save()
        if not Order.objects.exists():
            self._orders()
        self.stdout.write(
            f"Demo data: {Product.objects.count()} products, {Order.objects.count()} orders, "
            "users admin/admin and customer/customer."
        )

    def _forget_vipps(self) -> None:
        """The fake keeps its state in memory: a new demo run must send everything again."""
        from vipps_order_management import services
        from vipps_order_management.models import (
            OutboxItem,
            SyncAttempt,
            UploadedImage,
            VippsOrder,
        )

        for model in (SyncAttempt, OutboxItem, VippsOrder, UploadedImage):
            model.objects.all().delete()
        for order in Order.objects.exclude(vipps_reference=""):
            services.enqueue(order)

    def _orders(self) -> None:
        customer = User.objects.get(username="customer")
        products = {p.sku: p for p in Product.objects.all()}
        plans = [
            ("1001", Order.Status.DELIVERED, [("SOCK-1", 2), ("BOOK-4", 1)]),
            ("1002", Order.Status.SHIPPED, [("HAT-2", 1), ("MITT-3", 1)]),
            ("1003", Order.Status.PAID, [("COFFEE-5", 3)]),
        ]
        for number, status, lines in plans:
            order = Order(number=number, user=customer, name="Kari Nordmann", email=customer.email)
            order.start_payment()
            order.save()
            for sku, quantity in lines:
                product = products[sku]
                OrderItem.objects.create(
                    order=order,
                    product=product,
                    name=product.name,
                    unit_price=product.price,
                    quantity=quantity,
                    vat_rate=product.vat_rate,
                )
            order.status = status
            if status != Order.Status.PAID:
                order.ship()
                order.status = status
            order.save()
