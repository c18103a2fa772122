"""The Oscar test shop: its tax strategy, its catalogue and offers, and its checkout.

Orders are placed as Oscar's checkout places them: a basket priced by the partner strategy
(``FixedRateTax`` with a rate per product class: clothing 25 %, food 15 %, books 0 %), offers applied by
Oscar's ``Applicator``, shipping (wrapped by shipping offers), surcharges, Oscar's
``OrderTotalCalculator`` and ``OrderCreator``, and then, after the order's transaction, the
payment ``Source`` (as ``OrderPlacementMixin.save_payment_details`` does).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from django.core.files.base import ContentFile
from oscar.apps.checkout.applicator import SurchargeList, SurchargePrice
from oscar.apps.checkout.surcharges import FlatCharge
from oscar.apps.partner.strategy import (
    FixedRateTax,
    StockRequired,
    Structured,
    UseFirstStockRecord,
)
from oscar.apps.shipping.methods import FixedPrice, Free
from oscar.core.loading import get_class, get_model

Applicator = get_class("offer.applicator", "Applicator")
OrderCreator = get_class("order.utils", "OrderCreator")
OrderTotalCalculator = get_class("checkout.calculators", "OrderTotalCalculator")
ShippingRepository = get_class("shipping.repository", "Repository")

Basket = get_model("basket", "Basket")
Benefit = get_model("offer", "Benefit")
Condition = get_model("offer", "Condition")
ConditionalOffer = get_model("offer", "ConditionalOffer")
Partner = get_model("partner", "Partner")
Product = get_model("catalogue", "Product")
ProductClass = get_model("catalogue", "ProductClass")
ProductImage = get_model("catalogue", "ProductImage")
Range = get_model("offer", "Range")
Source = get_model("payment", "Source")
SourceType = get_model("payment", "SourceType")
StockRecord = get_model("partner", "StockRecord")

VAT = {"Clothing": D("0.25"), "Food": D("0.15"), "Books": D("0.00")}


class NordicTax(FixedRateTax):
    """Norwegian VAT by product class, on prices in øre (Oscar's default has four decimals)."""

    exponent = D("0.01")

    def get_rate(self, product: Any, stockrecord: Any) -> D:
        return VAT[product.get_product_class().name]


class NordicStrategy(UseFirstStockRecord, StockRequired, NordicTax, Structured):
    """The shop's strategy: first stock record, stock required, VAT per product class."""


def png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), colour).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Catalogue:
    products: dict[str, Any]
    partner: Any
    percentage_offer: Any
    absolute_offer: Any
    shipping_offer: Any


#: name -> (product class, price excl. VAT, image colour or None). Incl. VAT these are
#: 129.00, 299.00, 49.00, 99.00, 39.90, 49.90, 349.00 and 53.95 NOK. Three jars of cloudberry
#: jam at 10 % off leave half an øre: Oscar stores the line at 145.665 and rounds it half up.
PRODUCTS = {
    "Wool socks": ("Clothing", D("103.20"), (200, 40, 40)),
    "Mittens": ("Clothing", D("239.20"), (40, 40, 200)),
    "Knitting pattern": ("Clothing", D("39.20"), None),
    "Coffee": ("Food", D("86.09"), (90, 60, 30)),
    "Chocolate": ("Food", D("34.70"), (60, 30, 10)),
    "Jam": ("Food", D("43.39"), None),
    "Knitting book": ("Books", D("349.00"), (20, 120, 60)),
    "Cloudberry jam": ("Food", D("46.91"), None),
}


def make_catalogue() -> Catalogue:
    """Products in two VAT classes, a percentage offer, an absolute one and a shipping offer."""
    partner = Partner.objects.create(name="Strikk og Sokk")
    classes = {
        name: ProductClass.objects.create(name=name, track_stock=False, requires_shipping=True)
        for name in VAT
    }
    products = {}
    for index, (name, (class_name, price, colour)) in enumerate(PRODUCTS.items()):
        product = Product.objects.create(
            title=name, product_class=classes[class_name], upc=f"UPC-{index + 1}"
        )
        StockRecord.objects.create(
            product=product, partner=partner, partner_sku=f"SKU-{index + 1}", price=price
        )
        if colour is not None:
            image = ProductImage(product=product, display_order=0)
            image.original.save(f"{product.upc}.png", ContentFile(png(colour)), save=False)
            image.save()
        products[name] = product

    food = Range.objects.create(name="Food")
    food.classes.add(classes["Food"])
    clothing = Range.objects.create(name="Clothing")
    clothing.classes.add(classes["Clothing"])
    everything = Range.objects.create(name="Everything", includes_all_products=True)

    def offer(name: str, condition: Any, benefit: Any, priority: int = 0) -> Any:
        return ConditionalOffer.objects.create(
            name=name,
            offer_type=ConditionalOffer.SITE,
            condition=condition,
            benefit=benefit,
            priority=priority,
        )

    percentage = offer(
        "10 % off food",
        Condition.objects.create(range=food, type=Condition.COUNT, value=1),
        Benefit.objects.create(range=food, type=Benefit.PERCENTAGE, value=D(10)),
        priority=2,
    )
    absolute = offer(
        "50 kr off two pieces of clothing",
        Condition.objects.create(range=clothing, type=Condition.COUNT, value=2),
        Benefit.objects.create(range=clothing, type=Benefit.FIXED, value=D(50)),
        priority=1,
    )
    shipping = offer(
        "Half-price shipping over 1000 kr",
        Condition.objects.create(range=everything, type=Condition.VALUE, value=D(1000)),
        Benefit.objects.create(type=Benefit.SHIPPING_PERCENTAGE, value=D(50)),
    )
    return Catalogue(products, partner, percentage, absolute, shipping)


SHIPPING = FixedPrice(charge_excl_tax=D("79.20"), charge_incl_tax=D("99.00"))
INVOICE_FEE = FlatCharge(excl_tax=D("15.92"), incl_tax=D("19.90"))


def vipps_source_type() -> Any:
    source_type, _ = SourceType.objects.get_or_create(
        code="vipps", defaults={"name": "Vipps MobilePay"}
    )
    return source_type


def place_order(
    user: Any,
    items: list[tuple[Any, int]],
    *,
    shipping: bool = True,
    invoice_fee: bool = False,
    pay_with_vipps: bool = True,
    paid: D | None = None,
    number: str | None = None,
) -> Any:
    """An order placed through Oscar's machinery, then paid (a Vipps payment ``Source`` of
    ``paid``, by default Oscar's total)."""
    basket = Basket.objects.create(owner=user)
    basket.strategy = NordicStrategy()
    for product, quantity in items:
        basket.add_product(product, quantity)
    Applicator().apply(basket, user)
    method = SHIPPING if shipping else Free()
    if basket.has_shipping_discounts:
        method = ShippingRepository().apply_shipping_offers(basket, [method])[0]
    shipping_charge = method.calculate(basket)
    surcharges = None
    if invoice_fee:
        surcharges = SurchargeList([SurchargePrice(INVOICE_FEE, INVOICE_FEE.calculate(basket))])
    total = OrderTotalCalculator().calculate(basket, shipping_charge, surcharges)
    order = OrderCreator().place_order(
        basket=basket,
        total=total,
        shipping_method=method,
        shipping_charge=shipping_charge,
        user=user,
        order_number=number,
        surcharges=surcharges,
    )
    basket.set_as_submitted()
    if pay_with_vipps:
        # As Oscar's checkout does: the payment source is saved after the order's transaction.
        Source.objects.create(
            order=order,
            source_type=vipps_source_type(),
            currency=order.currency,
            amount_allocated=total.incl_tax if paid is None else paid,
            amount_debited=total.incl_tax if paid is None else paid,
            reference=f"oscar-{order.number}",
        )
    return type(order).objects.get(pk=order.pk)  # as stored: Oscar's figures in øre
