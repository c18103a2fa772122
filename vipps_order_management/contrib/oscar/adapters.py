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
  every figure is read as stored and rounded as Oscar rounds (:mod:`.figures`), so a SQLite
  shop's receipts add up to Oscar's totals as a PostgreSQL shop's do;
* shipping (after shipping discounts) and surcharges are lines too, so the receipt adds up to
  ``order.total_incl_tax``;
* what the customer paid is the Vipps payment sources' ``amount_allocated`` (the order total
  when the shop recorded none): a receipt that differs from it waits for staff;
* the link follows ``order.status`` through ``OSCAR['STATUS_CATEGORIES']``;
* the image is each product's ``primary_image()`` (a collage when there are several).

Everything it reads is in :meth:`~OscarOrderAdapter.stored_prefetches` and
:attr:`~OscarOrderAdapter.prefetch_related`, so a batch of orders, or a page of them, costs a
fixed number of queries. Oscar's models are found with
``get_model``, so forked Oscar apps keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch
from django.utils.translation import gettext

from ...adapters import ImageSource, Link, OrderAdapter
from ...conf import app_settings, link_policy
from ...conf_oscar import OscarSettings
from ...exceptions import VippsConfigurationError
from ...money import AmountLike
from ...payloads import CategoryType, OrderLine
from ...public_links import order_status_url, receipt_url
from .figures import FIGURES, as_stored, figure, read_stored

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
#: An Oscar order: django-oscar ships no type information, so its fields are unknown to mypy.
OscarOrder = Any


def oscar_settings() -> OscarSettings:
    """``VIPPS_ORDER_MANAGEMENT['OSCAR']`` merged over its defaults."""
    merged: OscarSettings = app_settings.OSCAR
    return merged


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
    #: Besides these, the relations whose figures are read (:data:`.figures.FIGURES`: lines,
    #: surcharges, discounts, sources) are loaded first by :meth:`stored_prefetches`.
    prefetch_related = (
        "lines__product__images",
        "lines__product__parent__images",  # a child product shows its parent's image
        "lines__attributes__option",  # Line.description names the options chosen
        "sources__source_type",
        "status_changes",
    )
    #: ``tax_code`` (of a line, the shipping or a surcharge) -> VAT rate in percent, for
    #: strategies that set one; without a match the rate is read from Oscar's figures.
    tax_code_rates: Mapping[str, AmountLike] = {}
    #: The rates a rate read from Oscar's figures is snapped to; ``None``: by the currency
    #: (:data:`DEFAULT_VAT_RATES`).
    vat_rates: tuple[Decimal, ...] | None = None

    # -- Oscar's figures, as stored ---------------------------------------------------------

    def stored_prefetches(self) -> list[models.Prefetch[Any]]:
        """The relations whose figures are read, loaded with those figures as stored.

        They come before :attr:`prefetch_related`, whose lookups then go through them.
        """
        prefetches = []
        for relation, fields in FIGURES.items():
            if not relation:
                continue
            # FIGURES names relations of Oscar's Order, each to a model
            related = cast(type[models.Model], self.model._meta.get_field(relation).related_model)
            queryset = as_stored(related._default_manager.all(), fields)
            if relation == "sources":
                queryset = queryset.select_related("source_type")
            prefetches.append(models.Prefetch(relation, queryset=queryset))
        return prefetches

    def get_queryset(self) -> models.QuerySet[Any]:
        """Oscar's orders with their figures as stored, and everything the adapter reads."""
        queryset = as_stored(self.model._default_manager.all(), FIGURES[""])
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        return queryset.prefetch_related(*self.stored_prefetches(), *self.prefetch_related)

    def prefetch(self, orders: Sequence[OscarOrder]) -> None:
        """What the adapter reads, for orders loaded elsewhere (Oscar's own views): the
        relations, and the stored figures of rows such a view loaded its own way."""
        orders = list(orders)
        if not orders:
            return
        models.prefetch_related_objects(
            orders, *self.stored_prefetches(), *self.select_related, *self.prefetch_related
        )
        read_stored(orders, FIGURES[""])
        for relation, fields in FIGURES.items():
            if relation:
                read_stored(
                    [row for order in orders for row in self.related(order, relation)], fields
                )

    def related(self, order: OscarOrder, relation: str) -> list[Any]:
        """The order's ``relation`` rows (``"lines"``, ``"sources"``...) as loaded."""
        return list(getattr(order, relation).all())

    def rows(self, order: OscarOrder, relation: str) -> list[Any]:
        """The order's ``relation`` rows with their figures as stored (read now if need be)."""
        found = self.related(order, relation)
        read_stored(found, FIGURES[relation])
        return found

    def order_figure(self, order: OscarOrder, field: str) -> Decimal | None:
        """One of the order's own money fields (``"total_incl_tax"``...) as Oscar computed it."""
        read_stored([order], FIGURES[""])
        return figure(order, field)

    # -- identity ---------------------------------------------------------------------

    def get_payment_source(self, order: OscarOrder) -> Any:
        """The order's payment ``Source`` of type ``OSCAR['PAYMENT_SOURCE_TYPE']``, or ``None``."""
        code = oscar_settings().payment_source_type
        for source in order.sources.all():
            if source.source_type.code == code and source.reference:
                return source
        return None

    def get_reference(self, order: OscarOrder) -> str | None:
        """The Vipps orderId, kept by Oscar as the payment source's ``reference``."""
        source = self.get_payment_source(order)
        return str(source.reference) if source is not None else None

    def get_receipt_number(self, order: OscarOrder) -> str | None:
        return str(order.number)

    def get_display_name(self, order: OscarOrder) -> str:
        return gettext("Order %(number)s") % {"number": order.number}

    def get_currency(self, order: OscarOrder) -> str:
        return str(order.currency or getattr(settings, "OSCAR_DEFAULT_CURRENCY", self.currency))

    def get_paid_amount(self, order: OscarOrder) -> AmountLike | None:
        """What the customer paid: the ``amount_allocated`` of the order's Vipps payment
        sources (what the customer approved in the app; captures come later, and may come in
        parts), or Oscar's ``total_incl_tax`` when the shop recorded no Vipps source."""
        code = oscar_settings().payment_source_type
        sources = [s for s in self.rows(order, "sources") if s.source_type.code == code]
        if not sources:
            return self.order_figure(order, "total_incl_tax")
        return sum(
            (figure(source, "amount_allocated") or Decimal(0) for source in sources), Decimal(0)
        )

    # -- receipt ----------------------------------------------------------------------

    def known_vat_rates(self, order: OscarOrder) -> tuple[Decimal, ...]:
        if self.vat_rates is not None:
            return tuple(Decimal(rate) for rate in self.vat_rates)
        return DEFAULT_VAT_RATES.get(self.get_currency(order), ())

    def vat_rate(
        self,
        order: OscarOrder,
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

    def get_line_vat_rate(self, order: OscarOrder, line: Any) -> Decimal:
        """A line's VAT rate: its ``tax_code``, else its prices before discounts, else after."""
        return self.vat_rate(
            order,
            line.tax_code,
            (
                figure(line, "line_price_before_discounts_incl_tax"),
                figure(line, "line_price_before_discounts_excl_tax"),
                line.quantity,
            ),
            (figure(line, "unit_price_incl_tax"), figure(line, "unit_price_excl_tax"), 1),
            (
                figure(line, "line_price_incl_tax"),
                figure(line, "line_price_excl_tax"),
                line.quantity,
            ),
        )

    def get_product_url(self, order: OscarOrder, line: Any) -> str | None:
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

    def get_line(self, order: OscarOrder, line: Any) -> OrderLine:
        """One product line (of :meth:`rows`), with Oscar's totals after discounts and their VAT."""
        total = figure(line, "line_price_incl_tax") or Decimal(0)
        excluding = figure(line, "line_price_excl_tax") or Decimal(0)
        before = figure(line, "line_price_before_discounts_incl_tax") or total
        return OrderLine.from_books(
            name=line.description or line.title,
            id=self.get_line_id(line),
            total=total,
            total_excluding_vat=excluding,
            vat=total - excluding,
            vat_rate=self.get_line_vat_rate(order, line),
            quantity=line.quantity,
            unit_price=figure(line, "unit_price_incl_tax"),
            discount=max(before - total, Decimal(0)),
            currency=self.get_currency(order),
            product_url=self.get_product_url(order, line),
        )

    def shipping_discount(self, order: OscarOrder) -> Decimal:
        """The shipping offers' discounts (incl. VAT), from the prefetched ``discounts``."""
        return sum(
            (
                figure(discount, "amount") or Decimal(0)
                for discount in self.rows(order, "discounts")
                if discount.category == discount.SHIPPING
            ),
            Decimal(0),
        )

    def get_shipping_line(self, order: OscarOrder) -> OrderLine | None:
        """Shipping as Oscar charged it (after shipping offers); ``None`` without shipping."""
        discount = self.shipping_discount(order)
        charged = self.order_figure(order, "shipping_incl_tax") or Decimal(0)
        excluding = self.order_figure(order, "shipping_excl_tax") or Decimal(0)
        if order.shipping_code in NO_SHIPPING_CODES and not charged and not discount:
            return None
        if not (order.shipping_code or order.shipping_method or charged or discount):
            return None
        return OrderLine.from_books(
            name=order.shipping_method or gettext("Shipping"),
            id=order.shipping_code or "shipping",
            total=charged,
            total_excluding_vat=excluding,
            vat=charged - excluding,
            vat_rate=self.vat_rate(order, order.shipping_tax_code, (charged, excluding, 1)),
            quantity=1,
            unit_price=charged + discount,
            discount=discount,
            currency=self.get_currency(order),
            is_shipping=True,
        )

    def get_surcharge_lines(self, order: OscarOrder) -> list[OrderLine]:
        """Oscar's surcharges (payment fees and the like), each a line of its own."""
        lines = []
        for charge in self.rows(order, "surcharges"):
            total = figure(charge, "incl_tax") or Decimal(0)
            excluding = figure(charge, "excl_tax") or Decimal(0)
            lines.append(
                OrderLine.from_books(
                    name=charge.name,
                    id=charge.code or f"surcharge-{charge.pk}",
                    total=total,
                    total_excluding_vat=excluding,
                    vat=total - excluding,
                    vat_rate=self.vat_rate(order, charge.tax_code, (total, excluding, 1)),
                    currency=self.get_currency(order),
                )
            )
        return lines

    def get_order_lines(self, order: OscarOrder) -> list[OrderLine]:
        lines = [self.get_line(order, line) for line in self.rows(order, "lines")]
        shipping = self.get_shipping_line(order)
        if shipping is not None:
            lines.append(shipping)
        lines.extend(self.get_surcharge_lines(order))
        return lines

    # -- links and images ---------------------------------------------------------------

    def status_categories(self) -> Mapping[str, CategoryType | None]:
        return oscar_settings().status_categories

    def get_link_category(self, order: OscarOrder) -> CategoryType | None:
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

    def get_link_url(self, order: OscarOrder, category: CategoryType) -> str:
        """Where the link opens: the printable receipt, else the signed order status page."""
        if category == CategoryType.RECEIPT:
            return receipt_url(order)
        return order_status_url(order)

    def get_default_links(self, order: OscarOrder) -> Iterable[Link]:
        category = self.get_link_category(order)
        if category is None:
            return []
        try:
            url = self.get_link_url(order, category)
        except VippsConfigurationError as exc:  # SITE_URL unset, or the app's URLs missing
            logger.warning("No %s link for %s: %s", category, order, exc)
            return []
        return [Link(category, url)]

    def get_product_images(self, order: OscarOrder) -> Iterable[ImageSource]:
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

    def user_can_view(self, order: OscarOrder, user: Any) -> bool:
        """Staff, and the customer who placed the order (``order.user``)."""
        if not getattr(user, "is_authenticated", False):
            return False
        return bool(user.is_staff) or (order.user_id is not None and order.user_id == user.pk)

    def get_orders_for_user(self, user: Any) -> models.QuerySet[Any]:
        if not getattr(user, "is_authenticated", False):
            return self.get_queryset().none()
        return self.get_queryset().filter(user=user)
