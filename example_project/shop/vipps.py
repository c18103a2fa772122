"""How this shop's orders reach the Vipps app: the adapter a shop copies.

The link moves with the order: the order confirmation once paid, the tracking page while the
parcel travels, the printable receipt once delivered. The receipt (order lines with VAT) goes
with the ePayment payment the checkout creates (``epayment.py``), so Order Management never
gets it posted; only the demo's seeded orders, paid without a payment, have it sent.

Each storefront is a sales unit of its own (``storefronts.py``): an order goes to Vipps with
its storefront's merchant serial number and keys, in its storefront's currency.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.urls import reverse

from vipps_order_management.adapters import ImageSource, Link, OrderAdapter
from vipps_order_management.payloads import OrderLine
from vipps_order_management.public_links import order_status_url, receipt_url

from . import storefronts

SHIPPING_VAT = Decimal(25)


class ShopOrderAdapter(OrderAdapter):
    sync_on = {"shop.OrderItem": "order"}  # a changed line is a changed order

    def get_queryset(self):
        return super().get_queryset().prefetch_related("items__product")

    # Each storefront's sales unit; check E028 says which of them has no keys.
    merchant_serial_numbers = tuple(
        unit.merchant_serial_number for unit in storefronts.all_storefronts().values()
    )

    def get_merchant_serial_number(self, order):
        return storefronts.get(order.storefront).merchant_serial_number

    def get_currency(self, order):
        return order.currency

    def get_reference(self, order):
        return order.vipps_reference or None  # nothing is sent before the payment exists

    def is_final(self, order):
        return order.status != order.Status.NEW

    def get_receipt_number(self, order):
        return order.number

    def get_order_lines(self, order):
        lines = [
            OrderLine.from_gross(
                name=item.name,
                id=item.product.sku,
                unit_price=item.unit_price,
                quantity=item.quantity,
                total=item.line_total,  # the shop's own figure, as the customer was charged
                vat_rate=item.vat_rate,
                currency=order.currency,
                product_url=settings.SITE_URL + item.product.get_absolute_url(),
            )
            for item in order.items.all()
        ]
        lines.append(
            OrderLine.from_gross(
                name="Shipping",
                id="shipping",
                unit_price=order.shipping_price,
                quantity=1,
                vat_rate=SHIPPING_VAT,
                currency=order.currency,
                is_shipping=True,
            )
        )
        return lines

    def get_paid_amount(self, order):
        # What ePayment says was captured (else authorised); before that, what the payment is
        # created for. A receipt that does not add up to it is never sent.
        for amount in (order.captured_amount, order.authorized_amount):
            if amount is not None:
                return amount
        return order.total

    def get_default_links(self, order):
        if order.status == order.Status.DELIVERED:
            yield Link("RECEIPT", receipt_url(order))
        elif order.status == order.Status.SHIPPED:
            yield Link(
                "DELIVERY", settings.SITE_URL + reverse("shop:track", args=[order.tracking_code])
            )
        elif order.status == order.Status.PAID:
            yield Link("ORDER_CONFIRMATION", order_status_url(order))

    def get_product_images(self, order):
        return [
            ImageSource.from_field(item.product.image)
            for item in order.items.all()
            if item.product.image
        ]
