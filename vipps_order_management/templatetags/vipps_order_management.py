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

Only links the link policy allows become an ``href`` (:mod:`~vipps_order_management.link_policy`,
the same rule as for the links sent to Vipps): ``javascript:``, ``data:``, ``http:``, links to
this machine and malformed links are dropped, whatever a row or an adapter holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django import template
from django.db import models
from django.utils import formats
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from ..adapters import Link, get_adapter
from ..conf import link_policy
from ..display import MoneyStyle, format_money, icon_path
from ..engine.plan import SyncPlan, plan, plans_for
from ..engine.status import customer_status_of, status_of
from ..exceptions import VippsConfigurationError
from ..models import CustomerStatus, LinkCategory, OrderImage, OutboxItem, SyncStatus, VippsOrder
from ..money import CURRENCY_EXPONENTS
from ..order_rows import attached_rows

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

#: Static path of each category's icon (the app preview inlines the same files).
ICONS: dict[str, str] = {category.value: icon_path(category.value) for category in LinkCategory}


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
    #: Whether the order has a Vipps payment, when its plan was at hand.
    has_payment: bool | None = None

    @property
    def status(self) -> SyncStatus:
        """The staff word (*Failed*, *Differs from Vipps*...), for templates of your own."""
        return status_of(self.record, self.outbox)

    @property
    def customer_status(self) -> CustomerStatus:
        """What the order means to its customer: what the badge shows."""
        return customer_status_of(self.record, self.outbox, has_payment=self.has_payment)

    @property
    def label(self) -> Promise:
        return self.customer_status.label


def is_safe_link(url: Any) -> bool:
    """Whether ``url`` may become an ``href``: https with a host, or an app's own scheme."""
    return isinstance(url, str) and link_policy().clean(url) is not None


def display_links(links: Iterable[Link | tuple[str, str]]) -> list[DisplayLink]:
    """``Link`` objects (or ``(category, url)`` pairs) as :class:`DisplayLink`, by the link
    policy: each as it is sent to Vipps, those it refuses left out."""
    policy = link_policy()
    result = []
    for link in links:
        category, url = (
            (str(link.category), link.url) if isinstance(link, Link) else (str(link[0]), link[1])
        )
        cleaned = policy.clean(url)
        if category in ICONS and cleaned is not None:
            result.append(DisplayLink(category, cleaned))
    return result


# ---------------------------------------------------------------------- loading


#: What :func:`prefetch_vipps` attaches to each order (the last three are documented).
_PLAN, _LINKS, _IMAGE, _STATE = "_vipps_plan", "vipps_links", "vipps_image", "vipps_state"


def _plan(order: models.Model) -> SyncPlan | None:
    attached: SyncPlan | None = getattr(order, _PLAN, None)
    if attached is not None:
        return attached
    try:
        return plan(order)
    except VippsConfigurationError:
        return None


def _image_of(sync_plan: SyncPlan | None, order: models.Model) -> DisplayImage | None:
    """The first stored image, else the first product image the adapter has a URL for."""
    name = sync_plan.display_name if sync_plan is not None else str(order)
    alt = gettext("Image for %(order)s") % {"order": name}
    row: OrderImage | None = next(iter(attached_rows(order).images), None)
    if row is None or not row.image:
        if sync_plan is None:
            return None
        try:
            sources = sync_plan.adapter.get_product_images(order)
            source = next((s for s in sources if s.url), None)
        except Exception:  # the shop's adapter must not break the shop's page
            logger.warning("No product image for %r", order, exc_info=True)
            return None
        return DisplayImage(source.url, alt) if source is not None else None
    try:
        url = row.image.url
    except Exception:  # a storage that cannot make a URL must not break the shop's page
        logger.warning("No URL for the image %s of %r", row.image.name, order, exc_info=True)
        return None
    return DisplayImage(url, row.description or alt)


def order_links(order: models.Model) -> list[DisplayLink]:
    """The order's links as customers see them everywhere (:attr:`SyncPlan.customer_links`).

    Uses what :func:`prefetch_vipps` attached, else loads them.
    """
    attached = getattr(order, _LINKS, None)
    if attached is not None:
        return list(attached)
    sync_plan = _plan(order)
    return display_links(sync_plan.customer_links) if sync_plan is not None else []


def order_image(order: models.Model) -> DisplayImage | None:
    """The order's first stored image (else a product image), or ``None``."""
    if hasattr(order, _IMAGE):
        attached: DisplayImage | None = getattr(order, _IMAGE)
        return attached
    return _image_of(_plan(order), order)


def order_state(order: models.Model) -> VippsState:
    """The order's :class:`VippsState`, from :func:`prefetch_vipps` or two queries."""
    attached: VippsState | None = getattr(order, _STATE, None)
    if attached is not None:
        return attached
    sync_plan = _plan(order)
    return VippsState(
        VippsOrder.objects.for_order(order).first(),
        tuple(OutboxItem.objects.for_order(order)),
        has_payment=sync_plan.target is not None if sync_plan is not None else None,
    )


def prefetch_vipps(orders: Iterable[models.Model]) -> list[models.Model]:
    """Load links, image and sync state for many orders at once; returns them as a list.

    A constant number of queries for the whole list, however long: our link, image, state and
    outbox rows, plus what each order's adapter declares it reads (``select_related`` and
    ``prefetch_related``), so product images and default links cost nothing per order. Attaches
    ``order.vipps_links`` (list of :class:`DisplayLink`), ``order.vipps_image``
    (:class:`DisplayImage` or ``None``) and ``order.vipps_state`` (:class:`VippsState`).
    Orders of models without an adapter get empty values.
    """
    orders = [order for order in orders if order is not None and order.pk is not None]
    configured = [order for order in orders if _configured(order)]
    plans = {id(p.order): p for p in plans_for(configured, outbox=True)}
    for order in orders:
        sync_plan = plans.get(id(order))
        if sync_plan is None:
            _attach(order, [], None, VippsState())
            continue
        setattr(order, _PLAN, sync_plan)
        rows = attached_rows(order)
        _attach(
            order,
            display_links(sync_plan.customer_links),
            _image_of(sync_plan, order),
            VippsState(rows.state, tuple(rows.outbox), has_payment=sync_plan.target is not None),
        )
    return orders


def _attach(
    order: models.Model,
    links: list[DisplayLink],
    image: DisplayImage | None,
    state: VippsState,
) -> None:
    setattr(order, _LINKS, links)
    setattr(order, _IMAGE, image)
    setattr(order, _STATE, state)


def _configured(order: models.Model) -> bool:
    try:
        get_adapter(order)
    except VippsConfigurationError:
        return False
    return True


# ---------------------------------------------------------------------- tags


def _render(context: template.Context, name: str, values: dict[str, Any]) -> SafeString:
    """Render ``name`` with the calling template's engine and settings (autoescape, l10n).

    Surrounding whitespace is dropped, so a tag that has nothing to show renders nothing.
    """
    # A Context rendered by hand, outside any template, has none: use the default engine.
    engine = context.template.engine if context.template else template.Engine.get_default()
    rendered = engine.get_template(name).render(context.new(values))
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
    """``{% vipps_order_status order %}``: for the customer, "In the Vipps app" or "On its way
    to the Vipps app"; nothing otherwise (no Vipps payment, or a problem for staff)."""
    if not _is_order(order):
        return ""
    state = order_state(order)
    status = state.customer_status
    return _render(
        context,
        template or STATUS_TEMPLATE,
        {
            "order": order,
            "state": state,
            "status": status.value,
            "slug": status.value.replace("_", "-"),
            "label": status.label,
        },
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
    style = MoneyStyle(
        decimal=str(formats.get_format("DECIMAL_SEPARATOR")),
        thousands=str(formats.get_format("THOUSAND_SEPARATOR")),
        space="\u00a0",
    )
    return format_money(value, code, style)
