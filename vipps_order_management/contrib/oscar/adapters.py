"""The adapter for django-oscar's order models: Oscar's own figures, as Oscar computed them.

Name it in the settings::

    VIPPS_ORDER_MANAGEMENT = {
        "ORDER_ADAPTERS": {"order.Order": "vipps_order_management.contrib.oscar.OscarOrderAdapter"},
    }

What it reads, and why:

* the Vipps reference is the ``reference`` of the order's payment ``Source`` whose type has
  the code ``OSCAR['PAYMENT_SOURCE_TYPE']``: Oscar's checkout records every payment that way;
* each receipt line carries Oscar's own stored totals (``line_price_incl_tax`` and
  ``line_price_excl_tax``, after discounts) and their difference as the VAT, never a VAT
  derived again from the gross: the receipt is proof of purchase and must match the books;
* shipping (after shipping discounts) and surcharges are lines too, so the receipt adds up to
  ``order.total_incl_tax``, which is what the customer paid;
* the link follows ``order.status`` through ``OSCAR['STATUS_CATEGORIES']``;
* the image is each product's ``primary_image()`` (a collage when there are several).

Everything it reads is in :attr:`~OscarOrderAdapter.prefetch_related`, so a batch of orders,
or a page of them, costs a fixed number of queries. Oscar's models are found with
``get_model``, so forked Oscar apps keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch
from django.utils.translation import gettext

from ...adapters import ImageSource, Link, OrderAdapter
from ...conf import OscarSettings, app_settings, link_policy
from ...exceptions import VippsConfigurationError
from ...money import AmountLike
from ...payloads import CategoryType, OrderLine
from ...public_links import order_status_url, receipt_url

__all__ = ["DEFAULT_VAT_RATES", "OscarOrderAdapter", "oscar_settings", "vat_rate_from"]

logger = logging.getLogger(__name__)

#: The VAT rates of each currency's country, in percent. A rate read back from Oscar's figures
#: is snapped to the nearest of these, since per-unit rounding blurs it on cheap items.
DEFAULT_VAT_RATES: dict[str, tuple[Decimal, ...]] = {
    "NOK": (Decimal(25), Decimal(15), Decimal(12), Decimal(0)),
    "DKK": (Decimal(25), Decimal(0)),
    "EUR": (Decimal("25.5"), Decimal(14), Decimal("13.5"), Decimal(10), Decimal(0)),
}
#: How far (in percentage points) a rate read back from the figures may at least be from a
#: known rate; more on cheap units, where the VAT rounded to the øre moves the rate further.
SNAP_TOLERANCE = Decimal("0.5")
#: Oscar's shipping method for baskets that need none; it is no receipt line.
NO_SHIPPING_CODES = frozenset({"no-shipping-required"})
_HUNDREDTH = Decimal("0.01")


def oscar_settings() -> OscarSettings:
    """``VIPPS_ORDER_MANAGEMENT['OSCAR']`` merged over its defaults."""
    return app_settings.OSCAR


def vat_rate_from(
    incl_tax: AmountLike | None,
    excl_tax: AmountLike | None,
    known_rates: Iterable[Decimal] = (),
    *,
    units: int = 1,
) -> Decimal | None:
    """The VAT rate in percent that turns ``excl_tax`` into ``incl_tax``; ``None`` if unknown.

    The figures are for ``units`` units whose VAT was each rounded to the øre, which blurs
    the rate they imply by up to ``50 * units / excl_tax`` points: the nearest of
    ``known_rates`` within that (or :data:`SNAP_TOLERANCE`) is taken, else the rate as read,
    to 0.01 %.
    """
    if incl_tax is None or excl_tax is None:
        return None
    incl, excl = Decimal(incl_tax), Decimal(excl_tax)
    if excl <= 0:
        return None
    rate = (incl - excl) / excl * 100
    tolerance = max(SNAP_TOLERANCE, Decimal("0.5") * max(units, 1) / excl)
    candidates = sorted(known_rates, key=lambda known: abs(known - rate))
    if candidates and abs(candidates[0] - rate) <= tolerance:
        return candidates[0]
    return max(rate, Decimal(0)).quantize(_HUNDREDTH)


class OscarOrderAdapter(OrderAdapter):
    """Oscar's ``order.Order`` as Vipps needs it. Subclass it to change one method."""

    order_date_field = "date_placed"
    #: Oscar's app labels stay the same in forked apps, so these labels name forks too.
    sync_on = {
        "order.Line": "order",
        "payment.Source": "order",  # saved after Oscar's order transaction: send at once
        "order.ShippingEvent": "order",
        "order.Surcharge": "order",
    }
    prefetch_related = (
        "lines__product__images",
        "lines__product__parent__images",  # a child product shows its parent's image
        "lines__attributes__option",  # Line.description names the options chosen
        "discounts",
        "surcharges",
        "sources__source_type",
        "status_changes",
    )
    #: ``tax_code`` (of a line, the shipping or a surcharge) -> VAT rate in percent, for
    #: strategies that set one; without a match the rate is read from Oscar's figures.
    tax_code_rates: Mapping[str, AmountLike] = {}
    #: The rates a rate read from Oscar's figures is snapped to; ``None``: by the currency
    #: (:data:`DEFAULT_VAT_RATES`).
    vat_rates: tuple[Decimal, ...] | None = None

    # -- identity ---------------------------------------------------------------------

    def get_payment_source(self, order: models.Model) -> Any:
        """The order's payment ``Source`` of type ``OSCAR['PAYMENT_SOURCE_TYPE']``, or ``None``."""
        code = oscar_settings().payment_source_type
        for source in order.sources.all():
            if source.source_type.code == code and source.reference:
                return source
        return None

    def get_reference(self, order: models.Model) -> str | None:
        """The Vipps orderId, kept by Oscar as the payment source's ``reference``."""
        source = self.get_payment_source(order)
        return str(source.reference) if source is not None else None

    def get_receipt_number(self, order: models.Model) -> str | None:
        return str(order.number)

    def get_display_name(self, order: models.Model) -> str:
        return gettext("Order %(number)s") % {"number": order.number}

    def get_currency(self, order: models.Model) -> str:
        return str(order.currency or getattr(settings, "OSCAR_DEFAULT_CURRENCY", self.currency))

    def get_paid_amount(self, order: models.Model) -> AmountLike | None:
        """What the customer paid: Oscar's ``total_incl_tax`` (lines, shipping, surcharges)."""
        return order.total_incl_tax

    # -- receipt ----------------------------------------------------------------------

    def known_vat_rates(self, order: models.Model) -> tuple[Decimal, ...]:
        if self.vat_rates is not None:
            return tuple(Decimal(rate) for rate in self.vat_rates)
        return DEFAULT_VAT_RATES.get(self.get_currency(order), ())

    def vat_rate(
        self,
        order: models.Model,
        tax_code: str | None,
        *figures: tuple[AmountLike | None, AmountLike | None, int],
    ) -> Decimal:
        """The rate for ``tax_code``, else read from the first (incl., excl., units) that has one."""
        if tax_code and tax_code in self.tax_code_rates:
            return Decimal(self.tax_code_rates[tax_code])
        known = self.known_vat_rates(order)
        for incl_tax, excl_tax, units in figures:
            rate = vat_rate_from(incl_tax, excl_tax, known, units=units)
            if rate is not None:
                return rate
        return Decimal(0)

    def get_line_vat_rate(self, order: models.Model, line: Any) -> Decimal:
        """A line's VAT rate: its ``tax_code``, else its prices before discounts, else after."""
        return self.vat_rate(
            order,
            line.tax_code,
            (
                line.line_price_before_discounts_incl_tax,
                line.line_price_before_discounts_excl_tax,
                line.quantity,
            ),
            (line.unit_price_incl_tax, line.unit_price_excl_tax, 1),
            (line.line_price_incl_tax, line.line_price_excl_tax, line.quantity),
        )

    def get_product_url(self, order: models.Model, line: Any) -> str | None:
        """The product's page on the shop, when it can be an absolute https link."""
        product = line.product
        site = app_settings.get("SITE_URL")  # refused: no product link, as the policy would
        if product is None or not site:
            return None
        try:
            url = site + product.get_absolute_url()
        except NoReverseMatch:
            return None
        return link_policy().clean(url)

    def get_line_id(self, line: Any) -> str:
        return str(line.upc or line.partner_sku or line.product_id or line.pk)

    def get_line(self, order: models.Model, line: Any) -> OrderLine:
        """One product line, with Oscar's stored totals (after discounts) and their VAT."""
        discount = line.line_price_before_discounts_incl_tax - line.line_price_incl_tax
        return OrderLine.from_books(
            name=line.description or line.title,
            id=self.get_line_id(line),
            total=line.line_price_incl_tax,
            total_excluding_vat=line.line_price_excl_tax,
            vat=line.line_price_incl_tax - line.line_price_excl_tax,
            vat_rate=self.get_line_vat_rate(order, line),
            quantity=line.quantity,
            unit_price=line.unit_price_incl_tax,
            discount=max(discount, Decimal(0)),
            currency=self.get_currency(order),
            product_url=self.get_product_url(order, line),
        )

    def shipping_discount(self, order: models.Model) -> Decimal:
        """The shipping offers' discounts (incl. VAT), from the prefetched ``discounts``."""
        return sum(
            (
                discount.amount
                for discount in order.discounts.all()
                if discount.category == discount.SHIPPING
            ),
            Decimal(0),
        )

    def get_shipping_line(self, order: models.Model) -> OrderLine | None:
        """Shipping as Oscar charged it (after shipping offers); ``None`` without shipping."""
        discount = self.shipping_discount(order)
        charged = order.shipping_incl_tax or Decimal(0)
        if order.shipping_code in NO_SHIPPING_CODES and not charged and not discount:
            return None
        if not (order.shipping_code or order.shipping_method or charged or discount):
            return None
        return OrderLine.from_books(
            name=order.shipping_method or gettext("Shipping"),
            id=order.shipping_code or "shipping",
            total=charged,
            total_excluding_vat=order.shipping_excl_tax or Decimal(0),
            vat=charged - (order.shipping_excl_tax or Decimal(0)),
            vat_rate=self.vat_rate(
                order, order.shipping_tax_code, (charged, order.shipping_excl_tax, 1)
            ),
            quantity=1,
            unit_price=charged + discount,
            discount=discount,
            currency=self.get_currency(order),
            is_shipping=True,
        )

    def get_surcharge_lines(self, order: models.Model) -> list[OrderLine]:
        """Oscar's surcharges (payment fees and the like), each a line of its own."""
        return [
            OrderLine.from_books(
                name=charge.name,
                id=charge.code or f"surcharge-{charge.pk}",
                total=charge.incl_tax,
                total_excluding_vat=charge.excl_tax,
                vat=charge.incl_tax - charge.excl_tax,
                vat_rate=self.vat_rate(
                    order, charge.tax_code, (charge.incl_tax, charge.excl_tax, 1)
                ),
                currency=self.get_currency(order),
            )
            for charge in order.surcharges.all()
        ]

    def get_order_lines(self, order: models.Model) -> list[OrderLine]:
        lines = [self.get_line(order, line) for line in order.lines.all()]
        shipping = self.get_shipping_line(order)
        if shipping is not None:
            lines.append(shipping)
        lines.extend(self.get_surcharge_lines(order))
        return lines

    # -- links and images ---------------------------------------------------------------

    def status_categories(self) -> Mapping[str, CategoryType | None]:
        return oscar_settings().status_categories

    def get_link_category(self, order: models.Model) -> CategoryType | None:
        """The category for the order's status; a status not listed keeps the one before it.

        An order that never had a listed status shows its order confirmation; a status
        mapped to ``None`` shows no link.
        """
        mapping = self.status_categories()
        statuses = [order.status]
        changes = sorted(
            order.status_changes.all(), key=lambda c: (c.date_created, c.pk), reverse=True
        )
        statuses.extend(change.old_status for change in changes)
        for status in statuses:
            if status in mapping:
                return mapping[status]
        return CategoryType.ORDER_CONFIRMATION

    def get_link_url(self, order: models.Model, category: CategoryType) -> str:
        """Where the link opens: the printable receipt, else the signed order status page."""
        if category == CategoryType.RECEIPT:
            return receipt_url(order)
        return order_status_url(order)

    def get_default_links(self, order: models.Model) -> Iterable[Link]:
        category = self.get_link_category(order)
        if category is None:
            return []
        try:
            url = self.get_link_url(order, category)
        except VippsConfigurationError as exc:  # SITE_URL unset, or the app's URLs missing
            logger.warning("No %s link for %s: %s", category, order, exc)
            return []
        return [Link(category, url)]

    def get_product_images(self, order: models.Model) -> Iterable[ImageSource]:
        """Each product's ``primary_image()`` once (Oscar's dict placeholder is skipped)."""
        sources: list[ImageSource] = []
        seen: set[str] = set()
        for line in order.lines.all():
            product = line.product
            if product is None:
                continue
            image = product.primary_image()
            if isinstance(image, dict) or not getattr(image, "original", None):
                continue
            if image.original.name in seen:
                continue
            seen.add(image.original.name)
            sources.append(ImageSource.from_field(image.original))
        return sources

    # -- customers ----------------------------------------------------------------------

    def user_can_view(self, order: models.Model, user: Any) -> bool:
        """Staff, and the customer who placed the order (``order.user``)."""
        if not getattr(user, "is_authenticated", False):
            return False
        return bool(user.is_staff) or (order.user_id is not None and order.user_id == user.pk)

    def get_orders_for_user(self, user: Any) -> models.QuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.get_queryset().none()
        return self.get_queryset().filter(user=user)
