"""The fake shop's adapters: what a real shop writes to connect its orders."""

from __future__ import annotations

from decimal import Decimal

from vipps_order_management.adapters import ImageSource, Link, OrderAdapter
from vipps_order_management.payloads import CategoryType, OrderLine, PaymentType

SHOP_URL = "https://shop.example"


class ShopOrderAdapter(OrderAdapter):
    sync_on = {"shop.OrderItem": "order"}
    number_field = "number"
    reference_field = "vipps_reference"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("items__product")

    def get_currency(self, order):
        return order.currency

    def is_final(self, order):
        return order.status != order.Status.NEW

    def get_order_lines(self, order):
        lines = [
            OrderLine.from_gross(
                name=item.product.name,
                id=item.product.sku,
                unit_price=item.unit_price,
                quantity=item.quantity,
                vat_rate=item.product.vat_rate,
                discount=item.discount,
                currency=order.currency,
                product_url=f"{SHOP_URL}/products/{item.product.sku}",
            )
            for item in order.items.all()
        ]
        if order.shipping_price:
            lines.append(
                OrderLine.from_gross(
                    name="Shipping",
                    id="shipping",
                    unit_price=order.shipping_price,
                    quantity=1,
                    vat_rate=Decimal(25),
                    currency=order.currency,
                    is_shipping=True,
                )
            )
        return lines

    def get_default_links(self, order):
        yield Link(CategoryType.ORDER_CONFIRMATION, f"{SHOP_URL}/orders/{order.number}")
        if order.tracking_url:
            yield Link(CategoryType.DELIVERY, order.tracking_url, position=1)

    def get_product_images(self, order):
        return [
            ImageSource.from_field(item.product.image)
            for item in order.items.all()
            if item.product.image
        ]


class BookingAdapter(OrderAdapter):
    payment_type = PaymentType.RECURRING
    owner_field = None  # bookings show on no customer's own pages

    def get_reference(self, booking):
        return booking.charge_id or None

    def is_final(self, booking):
        return booking.confirmed

    def get_order_lines(self, booking):
        return [
            OrderLine.from_gross(
                name=booking.title,
                id=str(booking.pk),
                unit_price=booking.price,
                quantity=1,
                vat_rate=booking.vat_rate,
            )
        ]

    def get_default_links(self, booking):
        yield Link(CategoryType.BOOKING, f"{SHOP_URL}/bookings/{booking.pk}")


class PurchaseAdapter(OrderAdapter):
    """What a shop with its own field names writes: the owner, the currency, the reference
    and the number, each said once."""

    owner_field = "customer"
    currency_field = "currency"
    reference_field = "payment_reference"
    number_field = "number"

    def get_order_lines(self, purchase):
        return [
            OrderLine.from_gross(
                name=purchase.title,
                id=purchase.number,
                unit_price=purchase.price,
                vat_rate=purchase.vat_rate,
                currency=purchase.currency,
            )
        ]
