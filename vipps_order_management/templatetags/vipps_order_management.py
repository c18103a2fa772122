"""Template tags for a shop's own pages ("My orders"): an order's Vipps links, image and status.

::

    {% load vipps_order_management %}
    {% vipps_prefetch orders as orders %}          {# 4 queries for the whole list #}
    {% for order in orders %}
      {% vipps_order_status order %} {% vipps_order_links order %} {% vipps_order_image order %}
    {% endfor %}
    {{ line.total_amount|vipps_money:currency }}

Each tag renders an overridable template (``vipps_order_management/tags/*.html``, or the one
named by ``template=``). Without ``vipps_prefetch`` each tag loads what it needs for its order;
after it they use the data attached to the orders and make no queries at all.

Only links a browser can open safely become an ``href``: ``https://`` and app schemes, the same
rule as for the links sent to Vipps. ``javascript:``, ``data:``, ``http:`` and malformed links
are dropped, whatever a row or an adapter holds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django import template
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import formats
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from ..adapters import Link, OrderAdapter, get_adapter
from ..conf import app_settings
from ..exceptions import VippsConfigurationError
from ..models import (
    LinkCategory,
    OrderImage,
    OrderLink,
    OutboxItem,
    SyncStatus,
    VippsOrder,
    sync_status,
)
from ..money import CURRENCY_EXPONENTS, from_minor_units
from ..payloads import link_errors

__all__ = [
    "DisplayImage",
    "DisplayLink",
    "VippsState",
    "display_links",
    "is_safe_link",
    "order_image",
    "order_links",
    "order_state",
    "prefetch_vipps",
    "vipps_money",
]

logger = logging.getLogger(__name__)
register = template.Library()

LINKS_TEMPLATE = "vipps_order_management/tags/links.html"
IMAGE_TEMPLATE = "vipps_order_management/tags/image.html"
STATUS_TEMPLATE = "vipps_order_management/tags/status.html"

#: Static path of each category's icon (the admin's preview reads the same files).
ICONS: dict[str, str] = {
    category.value: f"vipps_order_management/icons/{category.value.lower().replace('_', '-')}.svg"
    for category in LinkCategory
}


# ---------------------------------------------------------------------- display objects


@dataclass(frozen=True)
class DisplayLink:
    """A link ready for a template: its category, a safe URL, a lazy label and an icon path."""

    category: str
    url: str

    @property
    def label(self) -> Promise:
        """The category's translated name, evaluated in the language active when rendered."""
        return LinkCategory(self.category).label

    @property
    def icon(self) -> str:
        """The icon's static path, for ``{% static link.icon %}``."""
        return ICONS[self.category]

    @property
    def slug(self) -> str:
        return self.category.lower().replace("_", "-")


@dataclass(frozen=True)
class DisplayImage:
    url: str
    alt: str


@dataclass(frozen=True)
class VippsState:
    """An order's sync state: its ``VippsOrder`` row (if any) and its outbox rows."""

    record: VippsOrder | None = None
    outbox: tuple[OutboxItem, ...] = field(default=())

    @property
    def status(self) -> SyncStatus:
        return sync_status(self.record, self.outbox)

    @property
    def label(self) -> Promise:
        return self.status.label


def is_safe_link(url: Any) -> bool:
    """Whether ``url`` may become an ``href``: https with a host, or an app's own scheme."""
    return isinstance(url, str) and not link_errors(
        "url", url, http_hosts=app_settings.DEVELOPMENT_LINK_HOSTS
    )


def display_links(links: Iterable[Link | tuple[str, str]]) -> list[DisplayLink]:
    """``Link`` objects (or ``(category, url)`` pairs) as :class:`DisplayLink`; unsafe ones dropped."""
    result = []
    for link in links:
        category, url = (
            (str(link.category), link.url) if isinstance(link, Link) else (str(link[0]), link[1])
        )
        if category in ICONS and is_safe_link(url):
            result.append(DisplayLink(category, url))
    return result


# ---------------------------------------------------------------------- loading


def _adapter(order: models.Model) -> OrderAdapter | None:
    try:
        return get_adapter(order)
    except VippsConfigurationError:
        return None


def _uses_default_get_links(adapter: OrderAdapter) -> bool:
    return type(adapter).get_links is OrderAdapter.get_links


def _combine(
    order: models.Model, adapter: OrderAdapter | None, stored: Sequence[OrderLink]
) -> list[DisplayLink]:
    """What ``adapter.get_links`` returns, given the order's stored rows (no query by itself)."""
    pairs: list[tuple[str, str]] = [(row.category, row.url) for row in stored]
    if adapter is not None:
        pairs += [(str(link.category), link.url) for link in adapter.get_default_links(order)]
    return display_links(pairs)


def _image_of(
    order: models.Model, adapter: OrderAdapter | None, row: OrderImage | None
) -> DisplayImage | None:
    """The stored image, else the first product image the adapter has a URL for."""
    name = adapter.get_display_name(order) if adapter is not None else str(order)
    alt = gettext("Image for %(order)s") % {"order": name}
    if row is None or not row.image:
        if adapter is None:
            return None
        source = next((s for s in adapter.get_product_images(order) if s.url), None)
        return DisplayImage(source.url, alt) if source is not None else None
    try:
        url = row.image.url
    except Exception:  # a storage that cannot make a URL must not break the shop's page
        logger.warning("No URL for the image %s of %r", row.image.name, order, exc_info=True)
        return None
    return DisplayImage(url, row.description or alt)


def order_links(order: models.Model) -> list[DisplayLink]:
    """The order's links (stored rows, then the adapter's defaults), safe ones only.

    Uses what :func:`prefetch_vipps` attached, else queries (one query, or whatever an adapter
    that overrides ``get_links`` costs).
    """
    attached = getattr(order, "vipps_links", None)
    if attached is not None:
        return list(attached)
    adapter = _adapter(order)
    if adapter is not None and not _uses_default_get_links(adapter):
        return display_links(adapter.get_links(order))
    # The default get_links, from rows read here: a row with an unknown category is skipped
    # rather than breaking the shop's page.
    return _combine(order, adapter, list(OrderLink.objects.for_order(order)))


def order_image(order: models.Model) -> DisplayImage | None:
    """The order's first stored image, or ``None``."""
    if hasattr(order, "vipps_image"):
        return order.vipps_image
    return _image_of(order, _adapter(order), OrderImage.objects.for_order(order).first())


def order_state(order: models.Model) -> VippsState:
    """The order's :class:`VippsState`, from :func:`prefetch_vipps` or two queries."""
    attached = getattr(order, "vipps_state", None)
    if attached is not None:
        return attached
    return VippsState(
        VippsOrder.objects.for_order(order).first(),
        tuple(OutboxItem.objects.for_order(order)),
    )


def prefetch_vipps(orders: Iterable[models.Model]) -> list[models.Model]:
    """Load links, image and sync state for many orders in four queries; returns them as a list.

    Attaches ``order.vipps_links`` (list of :class:`DisplayLink`), ``order.vipps_image``
    (:class:`DisplayImage` or ``None``) and ``order.vipps_state`` (:class:`VippsState`). One query
    each for link rows, image rows, ``VippsOrder`` and ``OutboxItem`` rows, whatever the number of
    orders (of one or several models); adapter default links are computed from the orders. An
    adapter that overrides ``get_links`` itself is asked per order, at whatever that costs.
    """
    orders = [order for order in orders if order is not None and order.pk is not None]
    if not orders:
        return []
    content_types = ContentType.objects.get_for_models(
        *{type(order) for order in orders}, for_concrete_models=False
    )
    keys = {id(order): (content_types[type(order)].pk, str(order.pk)) for order in orders}
    by_type: dict[int, set[str]] = defaultdict(set)
    for content_type_id, object_id in keys.values():
        by_type[content_type_id].add(object_id)
    condition = reduce(
        or_,
        (
            models.Q(content_type_id=content_type_id, object_id__in=sorted(ids))
            for content_type_id, ids in by_type.items()
        ),
    )

    def grouped(queryset: models.QuerySet) -> dict[tuple[int, str], list[Any]]:
        rows: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for row in queryset.filter(condition):
            rows[(row.content_type_id, row.object_id)].append(row)
        return rows

    links = grouped(OrderLink.objects.order_by("position", "pk"))
    images = grouped(OrderImage.objects.order_by("position", "pk"))
    records = grouped(VippsOrder.objects.all())
    outbox = grouped(OutboxItem.objects.order_by("kind"))
    for order in orders:
        key = keys[id(order)]
        adapter = _adapter(order)
        if adapter is not None and not _uses_default_get_links(adapter):
            order.vipps_links = display_links(adapter.get_links(order))
        else:
            order.vipps_links = _combine(order, adapter, links.get(key, []))
        first_image = images.get(key, [None])[0]
        order.vipps_image = _image_of(order, adapter, first_image)
        order.vipps_state = VippsState((records.get(key) or [None])[0], tuple(outbox.get(key, ())))
    return orders


# ---------------------------------------------------------------------- tags


def _render(context: template.Context, name: str, values: dict[str, Any]) -> SafeString:
    """Render ``name`` with the calling template's engine and settings (autoescape, l10n).

    Surrounding whitespace is dropped, so a tag that has nothing to show renders nothing.
    """
    rendered = context.template.engine.get_template(name).render(context.new(values))
    return mark_safe(rendered.strip())  # noqa: S308 - template output, already escaped


def _is_order(value: Any) -> bool:
    return isinstance(value, models.Model) and value.pk is not None


@register.simple_tag(takes_context=True)
def vipps_order_links(
    context: template.Context, order: models.Model, template: str | None = None
) -> str:
    """``{% vipps_order_links order [template="..."] %}``: the order's links, icon and label."""
    if not _is_order(order):
        return ""
    return _render(
        context, template or LINKS_TEMPLATE, {"order": order, "links": order_links(order)}
    )


@register.simple_tag(takes_context=True)
def vipps_order_image(
    context: template.Context, order: models.Model, template: str | None = None
) -> str:
    """``{% vipps_order_image order %}``: the order's first image, or nothing."""
    if not _is_order(order):
        return ""
    image = order_image(order)
    if image is None:
        return ""
    return _render(context, template or IMAGE_TEMPLATE, {"order": order, "image": image})


@register.simple_tag(takes_context=True)
def vipps_order_status(
    context: template.Context, order: models.Model, template: str | None = None
) -> str:
    """``{% vipps_order_status order %}``: a badge, synced / pending / failed / drift."""
    if not _is_order(order):
        return ""
    state = order_state(order)
    return _render(
        context,
        template or STATUS_TEMPLATE,
        {"order": order, "state": state, "status": state.status.value, "label": state.label},
    )


@register.simple_tag
def vipps_prefetch(orders: Iterable[models.Model]) -> list[models.Model]:
    """``{% vipps_prefetch orders as orders %}``: see :func:`prefetch_vipps`."""
    return prefetch_vipps(orders if orders else ())


@register.filter(is_safe=False)
def vipps_money(value: Any, currency: Any) -> str:
    """``{{ 12990|vipps_money:"NOK" }}`` -> ``"129.90 NOK"`` in the active locale; "" if invalid.

    Minor units in (integers, as the API holds them), the currency's own decimals out; exact
    Decimal arithmetic, never floats. Amount and currency are joined by a no-break space.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return ""
    code = str(currency or "")
    if code not in CURRENCY_EXPONENTS:
        return ""
    amount = from_minor_units(value, code)
    number = formats.number_format(
        amount, decimal_pos=CURRENCY_EXPONENTS[code], force_grouping=True
    )
    return f"{number}\u00a0{code}"
