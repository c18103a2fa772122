"""Our rows of many orders at once: links, images, state, outbox and link keys.

:func:`attach_rows` loads them for a batch or a page in a constant number of queries and
hangs them on each order; :func:`attached_rows` reads them back, or reads one order's rows
when they were not loaded in bulk.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from django.db import models

from .models import (
    OrderImage,
    OrderKey,
    OrderLink,
    OutboxItem,
    PublicLinkKey,
    VippsOrder,
    keys_condition,
    order_key,
)

__all__ = ["AttachedRows", "attach_rows", "attached_rows", "existing_link_key", "link_keys"]


@dataclass
class AttachedRows:
    """Our rows of one order, loaded for many orders at once by :func:`attach_rows`."""

    links: list[OrderLink] = field(default_factory=list)
    images: list[OrderImage] = field(default_factory=list)
    state: VippsOrder | None = None
    outbox: list[OutboxItem] = field(default_factory=list)
    #: The order's key in our tables, and the link keys of the orders loaded with it.
    key: OrderKey | None = None
    keys: _LinkKeys | None = field(default=None, repr=False)

    @property
    def link_key(self) -> str:
        """The key its customer links are signed with (:class:`PublicLinkKey`), read for every
        order loaded with it the first time one of them needs it (made if need be)."""
        assert self.keys is not None
        assert self.key is not None
        return self.keys.get(self.key)


#: The attribute :func:`attach_rows` sets on each order.
ATTACHED = "_vipps_attached"


def attach_rows(
    orders: Sequence[models.Model], *, outbox: bool = True
) -> dict[OrderKey, AttachedRows]:
    """Load links, images, state (and outbox rows) of many orders in a constant number of queries.

    Each order gets them as ``order._vipps_attached``, which :func:`attached_rows` (and so the
    adapter's default ``get_links``/``get_images``) reads instead of querying per order.
    Orders of several models may be mixed.
    """
    keyed = [(order_key(order), order) for order in orders if order is not None]
    keys = _LinkKeys([key for key, _order in keyed])
    found: dict[OrderKey, AttachedRows] = {
        key: AttachedRows(key=key, keys=keys) for key, _order in keyed
    }
    if not keyed:
        return found
    condition = keys_condition(found)
    for row in (
        OrderLink.objects.filter(condition).select_related("image").order_by("position", "pk")
    ):
        found[(row.content_type_id, row.object_id)].links.append(row)
    for row in OrderImage.objects.filter(condition).order_by("position", "pk"):
        found[(row.content_type_id, row.object_id)].images.append(row)
    for row in VippsOrder.objects.filter(condition):
        found[(row.content_type_id, row.object_id)].state = row
    if outbox:
        for row in OutboxItem.objects.filter(condition).order_by("kind"):
            found[(row.content_type_id, row.object_id)].outbox.append(row)
    for key, order in keyed:
        setattr(order, ATTACHED, found[key])
    return found


class _RowsOfOne(AttachedRows):
    """Rows of one order not loaded in bulk: each kind is read when first asked for.

    Each field of :class:`AttachedRows` is a cached property here, which mypy reports as an
    incompatible override (``# type: ignore[override]``): reading it gives the same type.
    """

    def __init__(self, order: models.Model) -> None:
        self._order = order

    @cached_property
    def links(self) -> list[OrderLink]:  # type: ignore[override]
        return list(OrderLink.objects.for_order(self._order).select_related("image"))

    @cached_property
    def images(self) -> list[OrderImage]:  # type: ignore[override]
        return list(OrderImage.objects.for_order(self._order))

    @cached_property
    def state(self) -> VippsOrder | None:  # type: ignore[override]
        return VippsOrder.objects.for_order(self._order).first()

    @cached_property
    def outbox(self) -> list[OutboxItem]:  # type: ignore[override]
        return list(OutboxItem.objects.for_order(self._order).order_by("kind"))

    @cached_property
    def link_key(self) -> str:
        return link_keys([order_key(self._order)])[order_key(self._order)]


class _LinkKeys:
    """The link keys of orders loaded together: none are read until one is needed, then all."""

    def __init__(self, keys: Sequence[OrderKey]) -> None:
        self._keys = keys
        self._found: dict[OrderKey, str] | None = None

    def get(self, key: OrderKey) -> str:
        if self._found is None:
            self._found = link_keys(self._keys)
        return self._found[key]


def link_keys(keys: Iterable[OrderKey]) -> dict[OrderKey, str]:
    """Each order's :class:`PublicLinkKey`, made (at random) for those that have none yet.

    At most three queries however many orders: read, insert the missing ones (another process
    may insert the same order's at the same moment: the first one stays), read those back.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    rows = PublicLinkKey.objects.filter(keys_condition(keys))
    found = {
        (ct, oid): key for ct, oid, key in rows.values_list("content_type_id", "object_id", "key")
    }
    missing = [key for key in keys if key not in found]
    if missing:
        PublicLinkKey.objects.bulk_create(
            [
                PublicLinkKey(content_type_id=ct, object_id=oid, key=secrets.token_urlsafe(24))
                for ct, oid in missing
            ],
            ignore_conflicts=True,
        )
        created = PublicLinkKey.objects.filter(keys_condition(missing))
        for ct, oid, key in created.values_list("content_type_id", "object_id", "key"):
            found[(ct, oid)] = key
    return found


def existing_link_key(order: models.Model) -> str:
    """The order's link key if it has one, without making one (for checking a link)."""
    content_type_id, object_id = order_key(order)
    row = PublicLinkKey.objects.filter(content_type_id=content_type_id, object_id=object_id)
    return row.values_list("key", flat=True).first() or ""


def attached_rows(order: models.Model) -> AttachedRows:
    """The order's rows from :func:`attach_rows`, else read now, each kind when asked for.

    Rows read now are not kept on the order, so a page that changes them and renders again
    sees the change; :func:`attach_rows` is the way to load many orders' rows at once.
    """
    attached = getattr(order, ATTACHED, None)
    return attached if attached is not None else _RowsOfOne(order)
