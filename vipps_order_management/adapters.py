"""The one place that knows the shop's order model.

A shop subclasses :class:`OrderAdapter` for each order model it syncs and names it in
``ORDER_ADAPTERS``::

    VIPPS_ORDER_MANAGEMENT = {"ORDER_ADAPTERS": {"shop.Order": "shop.vipps.ShopOrderAdapter"}}

    class ShopOrderAdapter(OrderAdapter):
        def get_reference(self, order):
            return order.vipps_reference  # None until the order has a Vipps payment

        def is_final(self, order):
            return order.status in {"paid", "shipped", "delivered"}

        def get_currency(self, order):
            return order.currency  # "NOK" (the default), "DKK" or "EUR"

        def get_order_lines(self, order):
            return [
                OrderLine.from_gross(name=item.product.name, id=item.product.sku,
                                     unit_price=item.unit_price, quantity=item.quantity,
                                     vat_rate=item.vat_rate, currency=order.currency)
                for item in order.items.all()
            ]

Everything else has a default that works: links and images come from the rows staff add in the
admin, and the receipt number is the order's primary key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .conf import SETTINGS_NAME, app_settings, configured_class
from .exceptions import VippsConfigurationError
from .money import AmountLike
from .payloads import (
    BottomLine,
    CategoryType,
    OrderLine,
    PaymentSources,
    PaymentType,
    Receipt,
)
from .storage import read_from_storage, read_stored_image

__all__ = [
    "ImageSource",
    "Link",
    "OrderAdapter",
    "adapter_for",
    "get_adapter",
    "registered_models",
    "resolve_adapter",
    "resolve_model",
    "returned_list",
]

logger = logging.getLogger(__name__)

#: Field names tried, in order, for when an order was placed (``get_order_date`` and the
#: date filters of ``vipps_om_sync``).
ORDER_DATE_FIELDS = ("date_placed", "created_at", "created", "placed_at", "ordered_at", "date")

T = TypeVar("T")


def returned_list(value: Any, kind: type[T], method: str) -> list[T]:  # noqa: UP047 - 3.11 tools read this
    """What an adapter's ``method`` returned, as a list of ``kind``.

    The one check of what a shop's hook gives back before anything uses it: a ``TypeError``
    naming the method and the first item that is not a ``kind`` (a string is no list of
    links), which the sync turns into that order waiting for staff, never a crash.
    """
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise TypeError(
            f"{method}() returned {type(value).__name__}, not a list of {kind.__name__}"
        )
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            raise TypeError(
                f"{method}()[{index}] is {type(item).__name__} {item!r:.60}, not {kind.__name__}"
            )
    return items


#: Which link the v2 API shows when an order has several: the most useful one to the customer.
PRIMARY_LINK_PRECEDENCE: tuple[CategoryType, ...] = (
    CategoryType.TICKET,
    CategoryType.BOOKING,
    CategoryType.RECEIPT,
    CategoryType.DELIVERY,
    CategoryType.ORDER_CONFIRMATION,
    CategoryType.GENERAL,
)


@dataclass(frozen=True)
class ImageSource:
    """Image bytes read only when needed, with a name for error messages.

    ``url``, when known, lets the shop's own pages show the same image (template tags).
    ``identity`` says which sources hold the same bytes, so a batch reads each picture once:
    the content's hash for bytes at hand, the storage and file name for a stored file. Two
    sources are never taken for one by their name alone (``ticket.png`` made for two orders).
    ``None``: this source is read on its own.
    """

    name: str
    read: Callable[[], bytes] = field(repr=False, compare=False)
    url: str = field(default="", compare=False)
    identity: Hashable | None = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ImageSource:
        return cls(name, lambda: data, identity=("bytes", hashlib.sha256(data).hexdigest()))

    @classmethod
    def from_storage(cls, name: str, storage_alias: str | None = None) -> ImageSource:
        """A file in one of the project's ``STORAGES`` (``IMAGE_STORAGE`` by default)."""
        alias = storage_alias or app_settings.IMAGE_STORAGE
        return cls(name, partial(read_stored_image, name, alias), identity=("alias", alias, name))

    @classmethod
    def from_field(cls, field_file: Any) -> ImageSource:
        """A ``FieldFile`` of an ``ImageField``/``FileField``, e.g. ``product.image``.

        Reading is bounded, and a missing file is an ``ImageValidationError`` naming it.
        """
        try:
            url = field_file.url
        except Exception:  # a storage that cannot make URLs still has bytes to upload
            url = ""
        storage, name = field_file.storage, field_file.name
        return cls(
            name,
            partial(read_from_storage, storage, name),
            url,
            identity=("storage", id(storage), name),
        )

    def content_hash(self) -> str:
        return hashlib.sha256(self.read()).hexdigest()


@dataclass(frozen=True)
class Link:
    """A link to show on the order in the app; ``image`` overrides the order's own image."""

    category: CategoryType
    url: str
    image: ImageSource | None = None
    position: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", CategoryType(str(self.category)))
        if self.image is not None and not isinstance(self.image, ImageSource):
            raise TypeError(
                f"Link.image is {type(self.image).__name__}, not an ImageSource or None "
                "(ImageSource.from_field(product.image), for instance)"
            )
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise TypeError(f"Link.position is {self.position!r}, not a whole number")


class OrderAdapter:
    """Maps one order model to what Vipps needs. Override what your model does differently.

    Only :meth:`get_reference` and :meth:`get_order_lines` have no useful default.
    """

    #: The currency of every order of this model, unless :attr:`currency_field` names the
    #: order's own field or :meth:`get_currency` says otherwise.
    currency: str = "NOK"
    #: The order's field that holds its currency (``"NOK"``, ``"DKK"``, ``"EUR"``), for shops
    #: that sell in several; ``None``: every order is in :attr:`currency`.
    currency_field: str | None = None
    #: The order's field that names its owner, a foreign key to the user model: who sees the
    #: order on their own pages and through the API (:meth:`user_can_view`,
    #: :meth:`get_orders_for_user`). ``None``: no customer sees these orders on their own
    #: pages, unless you override both methods.
    owner_field: str | None = "user"
    #: ECOM for eCom and ePayment payments, RECURRING for Recurring charges.
    payment_type: PaymentType = PaymentType.ECOM
    #: Other models whose changes mean the order changed: ``{"shop.OrderItem": "order"}`` maps
    #: a model label to the attribute path from its instance to the order.
    sync_on: dict[str, str] = {}

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model

    # -- identity -----------------------------------------------------------------------

    #: Relations the adapter reads, loaded with the orders (``select_related``): one join
    #: instead of one query per order, when syncing and on "My orders" pages.
    select_related: tuple[str, ...] = ()
    #: Related rows the adapter reads (``prefetch_related`` lookups or ``Prefetch`` objects),
    #: e.g. ``("items__product",)``: a constant number of queries for a whole batch or page.
    prefetch_related: tuple[Any, ...] = ()

    def get_queryset(self) -> models.QuerySet[Any]:
        """Where orders are loaded from, with :attr:`select_related` and :attr:`prefetch_related`."""
        queryset = self.model._default_manager.all()
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        if self.prefetch_related:
            queryset = queryset.prefetch_related(*self.prefetch_related)
        return queryset

    def prefetch(self, orders: Sequence[models.Model]) -> None:
        """Load what the adapter reads for orders that were loaded elsewhere (a shop's own list).

        Applies :attr:`select_related` and :attr:`prefetch_related` as prefetches, so the
        template tags stay at a constant number of queries on any order list.
        """
        lookups = [*self.select_related, *self.prefetch_related]
        if orders and lookups:
            models.prefetch_related_objects(list(orders), *lookups)

    #: The order's field that holds its Vipps reference (the ePayment reference): the default
    #: :meth:`get_reference` reads it, and ``vipps_om_sync --order`` finds orders by it.
    reference_field: str | None = None
    #: The order's field that holds the shop's own order number ("1001"): the receipt number
    #: in the app, and how staff name an order to ``vipps_om_sync --order``.
    number_field: str | None = None

    def get_reference(self, order: models.Model) -> str | None:
        """The Vipps orderId: the ePayment reference, eCom orderId or Recurring chargeId.

        Return ``None`` while the order has no Vipps payment; nothing is sent until it has one.
        The default reads :attr:`reference_field` (empty means no payment yet).
        """
        if self.reference_field:
            return getattr(order, self.reference_field) or None
        raise NotImplementedError(
            f"{type(self).__name__}.get_reference() must return the order's Vipps reference; "
            "or set reference_field to the order's field that holds it"
        )

    def get_payment_type(self, order: models.Model) -> PaymentType | None:
        """ECOM or RECURRING; ``None`` while the order has no Vipps payment."""
        return self.payment_type

    #: The merchant serial numbers :meth:`get_merchant_serial_number` may return, when the shop
    #: knows them: the system checks then say which of them has no API keys (check E028).
    merchant_serial_numbers: tuple[str, ...] = ()

    def get_merchant_serial_number(self, order: models.Model) -> str | None:
        """The sales unit the payment belongs to; ``None`` (the default) means the configured one.

        Override it when the shop has several sales units (one per country or brand, say),
        each with its keys in ``SALES_UNITS``; list them in :attr:`merchant_serial_numbers`.
        """
        return None

    # -- what is ready ------------------------------------------------------------------

    def is_final(self, order: models.Model) -> bool:
        """Whether the order lines can no longer change; a receipt can be sent only once."""
        return True

    # -- receipt ------------------------------------------------------------------------

    def get_currency(self, order: models.Model) -> str:
        """The order's :attr:`currency_field`, else :attr:`currency`."""
        if self.currency_field:
            return str(getattr(order, self.currency_field))
        return self.currency

    def get_order_lines(self, order: models.Model) -> list[OrderLine]:
        """The receipt's lines; build them with :meth:`OrderLine.from_gross`."""
        raise NotImplementedError(
            f"{type(self).__name__}.get_order_lines() must return the order's lines"
        )

    def get_receipt_number(self, order: models.Model) -> str | None:
        """The shop's own order number, shown on the receipt in the app: :attr:`number_field`,
        else the primary key."""
        if self.number_field:
            return str(getattr(order, self.number_field))
        return str(order.pk)

    #: The model's field that says when an order was placed; ``None``: the first of
    #: :data:`ORDER_DATE_FIELDS` the model has. ``vipps_om_sync --since`` filters on it.
    order_date_field: str | None = None

    def get_order_date(self, order: models.Model) -> datetime | None:
        """When the order was placed, for the printable receipt and ``vipps_om_sync --since``.

        Reads :attr:`order_date_field`, else the first of :data:`ORDER_DATE_FIELDS` the order
        has. Override it when the date is computed; ``--since`` then asks it order by order.
        """
        names = (self.order_date_field,) if self.order_date_field else ORDER_DATE_FIELDS
        for name in names:
            value = getattr(order, name, None)
            if isinstance(value, datetime):
                return value
        return None

    def get_display_name(self, order: models.Model) -> str:
        """How the order is named to customers and staff, e.g. "Order 1001"."""
        return str(order)

    def get_payment_sources(self, order: models.Model) -> PaymentSources | None:
        """How the total was paid (card, gift card...); makes the receipt a sales receipt."""
        return None

    def get_paid_amount(self, order: models.Model) -> AmountLike | None:
        """What the customer paid for the order, including VAT (``Decimal``, major units).

        The receipt's total must equal it to the minor unit: a receipt that does not is never
        sent, and waits for staff with both figures. ``None`` (the default): not checked.
        """
        return None

    def get_bottom_line(self, order: models.Model) -> BottomLine:
        return BottomLine(
            currency=self.get_currency(order),
            receipt_number=self.get_receipt_number(order),
            payment_sources=self.get_payment_sources(order),
        )

    def get_receipt(self, order: models.Model) -> Receipt:
        return Receipt(self.get_order_lines(order), self.get_bottom_line(order))

    # -- links and images -----------------------------------------------------------------

    def get_links(self, order: models.Model) -> list[Link]:
        """Stored links (from the admin or the API) first, then :meth:`get_default_links`."""
        from .order_rows import attached_rows  # models need the app registry; adapters do not

        stored = []
        for row in attached_rows(order).links:
            if row.category not in CategoryType.__members__:
                logger.warning("Ignoring %s: unknown category %r", row, row.category)
                continue
            stored.append(
                Link(
                    category=CategoryType(row.category),
                    url=row.url,
                    image=ImageSource.from_field(row.image.image) if row.image else None,
                    position=row.position,
                )
            )
        return stored + returned_list(self.get_default_links(order), Link, "get_default_links")

    def get_default_links(self, order: models.Model) -> Iterable[Link]:
        """Links every order gets without a stored row: its signed status page.

        By default an ``ORDER_CONFIRMATION`` link to the order's status page, which works
        without a login, once ``SITE_URL`` is set and the app's URLs are included (none
        otherwise). Override it to give your own links; add the status page beside them with
        :func:`~vipps_order_management.public_links.order_status_url` if you want it.
        """
        if not app_settings.refusals("SITE_URL") and app_settings.SITE_URL is None:
            return ()  # not set; a refused one is logged below, by the error reading it raises
        from .tokens import make_token, url_for_token  # tokens need the models; adapters do not

        try:
            token = make_token(order, str(self.get_public_link_secret(order) or ""))
            url = url_for_token("order_status", token)
        except VippsConfigurationError as exc:  # the app's URLs not included, SITE_URL refused
            logger.warning("No status page link for %s: %s", order, exc)
            return ()
        return (Link(CategoryType.ORDER_CONFIRMATION, url),)

    def get_public_link_secret(self, order: models.Model) -> str:
        """A value whose change revokes the order's customer links (e.g. a stored random token).

        Empty by default: links then last ``PUBLIC_LINK_MAX_AGE`` and die with a rotated
        ``SECRET_KEY`` or ``PUBLIC_LINK_SALT``.
        """
        return ""

    def get_primary_link(self, order: models.Model, links: Sequence[Link]) -> Link | None:
        """The one link the v2 API shows: by :data:`PRIMARY_LINK_PRECEDENCE`, then position."""
        if not links:
            return None
        rank = {category: index for index, category in enumerate(PRIMARY_LINK_PRECEDENCE)}
        return min(links, key=lambda link: (rank[link.category], -link.position))

    def get_images(self, order: models.Model) -> list[ImageSource]:
        """Images for the order: stored rows, else :meth:`get_product_images`."""
        from .order_rows import attached_rows

        stored = [ImageSource.from_field(row.image) for row in attached_rows(order).images]
        return stored or returned_list(
            self.get_product_images(order), ImageSource, "get_product_images"
        )

    def get_product_images(self, order: models.Model) -> Iterable[ImageSource]:
        """Images of the products bought; several are combined into one collage."""
        return ()

    # -- customers ------------------------------------------------------------------------

    def user_can_view(self, order: models.Model, user: Any) -> bool:
        """Whether ``user`` may see this order's links: staff, and the order's owner (the user
        its :attr:`owner_field` names)."""
        if not getattr(user, "is_authenticated", False):
            return False
        if user.is_staff:
            return True
        field = self._owner()
        owner_id = getattr(order, field.attname, None) if field is not None else None
        return owner_id is not None and owner_id == user.pk

    def get_orders_for_user(self, user: Any) -> models.QuerySet[Any]:
        """The orders a customer sees on their own pages and through the API: those whose
        :attr:`owner_field` is the customer."""
        field = self._owner()
        if field is None or not getattr(user, "is_authenticated", False):
            return self.get_queryset().none()
        return self.get_queryset().filter(**{field.name: user})

    def _owner(self) -> models.Field[Any, Any] | None:
        if not self.owner_field:
            return None
        try:
            field = self.model._meta.get_field(self.owner_field)
        except FieldDoesNotExist:
            return None
        return field if isinstance(field, models.Field) else None  # a reverse relation owns nothing

    def configuration_problems(self) -> list[tuple[str, str]]:
        """What in this adapter cannot work with its model, as ``(attribute, reason)`` pairs.

        For the system checks: an :attr:`owner_field` or :attr:`currency_field` the model does
        not have, unless the methods that read it are overridden. Never raises.
        """
        problems = []
        overrides_owner = (
            type(self).user_can_view is not OrderAdapter.user_can_view
            and type(self).get_orders_for_user is not OrderAdapter.get_orders_for_user
        )
        label = self.model._meta.label
        if self.owner_field and not overrides_owner:
            field = self._owner()
            if field is None:
                problems.append(
                    (
                        "owner_field",
                        f"{label} has no field {self.owner_field!r}, so no customer sees their "
                        "orders; set owner_field to the field that names the customer (e.g. "
                        "'customer'), or override user_can_view and get_orders_for_user",
                    )
                )
            elif not field.many_to_one:
                problems.append(
                    (
                        "owner_field",
                        f"{label}.{field.name} is not a foreign key to the user model; set "
                        "owner_field to one, or override user_can_view and get_orders_for_user",
                    )
                )
        if self.currency_field and type(self).get_currency is OrderAdapter.get_currency:
            try:
                self.model._meta.get_field(self.currency_field)
            except FieldDoesNotExist:
                problems.append(
                    (
                        "currency_field",
                        f"{label} has no field {self.currency_field!r}; name the field that "
                        "holds each order's currency, or set currency for a fixed one",
                    )
                )
        return problems

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.model._meta.label}>"


# ---------------------------------------------------------------------- registry


@cache
def _registry() -> dict[type[models.Model], OrderAdapter]:
    configured = app_settings.ORDER_ADAPTERS
    registry: dict[type[models.Model], OrderAdapter] = {}
    for model_label, adapter_path in configured.items():
        model = resolve_model(model_label)
        registry[model] = resolve_adapter(model_label, adapter_path)
    return registry


def resolve_model(label: str) -> type[models.Model]:
    """The installed model named ``label`` in ``ORDER_ADAPTERS``, or a configuration error."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}['ORDER_ADAPTERS'] names the model {label!r}, which is not "
            "installed; use 'app_label.ModelName'"
        ) from None


def resolve_adapter(label: str, path: str | type[OrderAdapter]) -> OrderAdapter:
    """An instance of the adapter named for ``label`` in ``ORDER_ADAPTERS``, or a configuration error."""
    model = resolve_model(label)
    adapter_class = configured_class(
        path, base=OrderAdapter, key=f"'ORDER_ADAPTERS'][{label!r}", kind="an OrderAdapter subclass"
    )
    try:
        adapter: OrderAdapter = adapter_class(model)
    except Exception as exc:
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}['ORDER_ADAPTERS'][{label!r}]: {path!r} could not be created "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return adapter


def registered_models() -> list[type[models.Model]]:
    """The order models configured in ``ORDER_ADAPTERS``."""
    return list(_registry())


def get_adapter(model_or_order: type[models.Model] | models.Model) -> OrderAdapter:
    """The adapter for an order (or order model); raises when the model is not configured."""
    model = model_or_order if isinstance(model_or_order, type) else type(model_or_order)
    registry = _registry()
    for candidate in (
        model,
        model._meta.concrete_model,
        getattr(model._meta, "proxy_for_model", None),
    ):
        if candidate in registry:
            return registry[candidate]
    raise VippsConfigurationError(
        f"{model._meta.label} has no adapter; add it to {SETTINGS_NAME}['ORDER_ADAPTERS']"
    )


def adapter_for(content_type: ContentType) -> OrderAdapter:
    model = content_type.model_class()
    if model is None:
        raise VippsConfigurationError(f"the model of content type {content_type} is not installed")
    return get_adapter(model)


app_settings.on_reload("adapters", _registry.cache_clear)
