"""The order's links at Vipps: one category (v2, last write wins) or several (v3).

v2 is a PUT that replaces whatever was there, so sending it again is harmless. v3 categories
cannot be changed, only created and deleted, and creating is not idempotent, so the order's
categories are reconciled against what Vipps lists: matching ones are kept, stale ones deleted,
missing ones created, and if two workers ever created the same link at once, every copy but
one (the lowest id, which every worker picks alike) is deleted again.

HTTP only, on a snapshot of the order's state that the pipeline writes back in bulk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from .. import signals
from ..client import OrderManagementClient
from ..conf import CategoryAPI
from ..exceptions import ImageMissingAtVipps, VippsNotFound
from ..models import VippsOrder
from ..payloads import Category, PaymentType
from .plan import Target
from .receipts import Events

__all__ = ["fingerprint", "sync_links"]


def fingerprint(api: CategoryAPI, target: Target, categories: Sequence[Category]) -> str:
    """What identifies a set of links as sent, so unchanged links are not sent again."""
    value = [
        api.value,
        target.payment_type.value,
        target.reference,
        [c.to_api() for c in categories],
    ]
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def sync_links(
    client: OrderManagementClient,
    target: Target,
    state: VippsOrder,
    *,
    api: CategoryAPI,
    categories: Sequence[Category],
    notes: Sequence[str],
    force: bool,
    events: Events,
) -> str:
    """Make the order's links at Vipps ``categories``; returns what happened.

    ``notes`` are problems that did not stop the links (an image left out), kept on the state.
    """
    if not categories:
        return "No links to send."
    digest = fingerprint(api, target, categories)
    if not force and state.links_state == VippsOrder.LinkState.SENT and state.links_hash == digest:
        return "Links unchanged."
    try:
        if api is CategoryAPI.V3:
            message = _reconcile_v3(client, target, categories)
        else:
            client.put_category(  # the plan validated it, with the same rules
                target.payment_type, target.reference, categories[0], validate=False
            )
            message = f"Sent the {categories[0].category} link."
    except VippsNotFound as exc:
        # Vipps never 404s for an order it does not know; here it lost an image we named.
        image_id = next((c.image_id for c in categories if c.image_id), None)
        if image_id is None:
            raise
        raise ImageMissingAtVipps(image_id, target.merchant_serial_number, exc) from None
    state.links_state = VippsOrder.LinkState.SENT
    state.links_hash = digest
    state.links_sent_at = timezone.now()
    state.links_error = "\n".join(dict.fromkeys(notes))
    events.append((signals.category_sent, {"categories": list(categories), "api": api.value}))
    return message


def _remote(client: OrderManagementClient, target: Target) -> list[Category]:
    return [
        category
        for category in client.list_categories(target.reference)
        if category.payment_type is None
        or PaymentType.parse(category.payment_type) == target.payment_type
    ]


def _reconcile_v3(
    client: OrderManagementClient, target: Target, desired: Sequence[Category]
) -> str:
    # What Vipps holds is the truth: a create whose answer was lost is found here, not repeated.
    remote = _remote(client, target)
    created = deleted = 0
    for category in desired:
        match = next((r for r in remote if r.same_link(category)), None)
        if match is not None:
            remote.remove(match)
            category.category_id = match.category_id
        else:
            category.category_id = None
    for stale in remote:
        deleted += _delete(client, stale)
    for category in desired:
        if category.category_id is None:
            category.category_id = client.create_category(
                target.payment_type, target.reference, category
            )
            created += 1
    if created:
        deleted += _remove_duplicates(client, target, desired)
    return f"Links in sync: {created} created, {deleted} removed, {len(desired)} in all."


def _remove_duplicates(
    client: OrderManagementClient, target: Target, desired: Sequence[Category]
) -> int:
    """Another worker may have created the same links at the same moment: keep one of each."""
    groups: dict[Any, list[Category]] = {}
    for category in _remote(client, target):
        key = (str(category.category), category.url, category.image_id)
        groups.setdefault(key, []).append(category)
    deleted = 0
    for copies in groups.values():
        copies.sort(key=lambda c: str(c.category_id))
        for extra in copies[1:]:
            deleted += _delete(client, extra)
        for category in desired:
            if category.same_link(copies[0]):
                category.category_id = copies[0].category_id
    return deleted


def _delete(client: OrderManagementClient, category: Category) -> int:
    if not category.category_id:
        return 0
    with contextlib.suppress(VippsNotFound):  # already gone is what we wanted
        client.delete_category(category.category_id)
    return 1
