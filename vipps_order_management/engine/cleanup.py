"""Our rows go when their order goes: links, images, state, outbox, call log and link key.

The receivers call :func:`forget_orders` from the order's ``post_delete``, in the deleting
transaction; the drain calls it for orders it finds gone; :func:`sweep` finds the rows that
outlived their order some other way (raw SQL, a database cascade, an import that replaced the
table) and is run by ``vipps_om_sweep`` and now and then by the worker. Without this, an order
that takes a deleted order's primary key would inherit its staff-added tracking link, its
images and its state at Vipps.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from ..adapters import registered_models
from ..models import (
    OrderImage,
    OrderKey,
    OrderLink,
    OutboxItem,
    PublicLinkKey,
    SyncAttempt,
    VippsOrder,
    keys_condition,
)
from . import outbox

__all__ = ["SweepResult", "forget_orders", "forgetting", "missing_orders", "sweep"]

#: Set while our rows of deleted orders are removed: the receivers that would record a change
#: of a link or image stay quiet (there is no order left to send).
forgetting: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "vipps_order_management_forgetting", default=False
)

#: Our tables that hang off an order, in the order they are emptied (the call log points at
#: outbox rows, links at images).
ORDER_TABLES: tuple[type[models.Model], ...] = (
    SyncAttempt,
    OutboxItem,
    OrderLink,
    OrderImage,
    VippsOrder,
    PublicLinkKey,
)


@contextmanager
def _quiet() -> Iterator[None]:
    token = forgetting.set(True)
    try:
        yield
    finally:
        forgetting.reset(token)


def forget_orders(keys: Iterable[OrderKey]) -> int:
    """Delete every row of ours of these orders (and their stored image files, once the
    transaction commits); returns how many rows went. One statement or two per table."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return 0
    condition = keys_condition(keys)
    deleted = 0
    with transaction.atomic(), _quiet():
        files = [
            (row.image.storage, row.image.name)
            for row in OrderImage.objects.filter(condition)
            if row.image
        ]
        for model in ORDER_TABLES:
            count, _by_model = model._default_manager.filter(condition).delete()
            deleted += count
        if files:
            transaction.on_commit(lambda: _delete_files(files), robust=True)
    outbox.forget_recorded(keys)  # an order that takes one of these keys records itself anew
    return deleted


def _delete_files(files: list[tuple[object, str]]) -> None:
    for storage, name in files:
        storage.delete(name)  # type: ignore[attr-defined]


def missing_orders(content_type_id: int, object_ids: Iterable[str]) -> list[str]:
    """Which of these ids no order of the model has, by its base manager (never the adapter's
    queryset, which may leave out orders that exist: archived ones, say)."""
    model = ContentType.objects.get_for_id(content_type_id).model_class()
    ids = list(dict.fromkeys(object_ids))
    if model is None or not ids:
        return []
    field_ = model._meta.pk
    parsed: dict[str, object] = {}
    gone = []
    for object_id in ids:
        try:
            parsed[object_id] = field_.to_python(object_id)
        except (ValidationError, ValueError, TypeError):
            gone.append(object_id)  # no order can have such a key
    existing = {
        str(pk)
        for pk in model._base_manager.filter(pk__in=list(parsed.values())).values_list(
            "pk", flat=True
        )
    }
    return gone + [object_id for object_id, pk in parsed.items() if str(pk) not in existing]


@dataclass
class SweepResult:
    """What a sweep found: orders gone, and our rows removed with them."""

    orders: int = 0
    rows: int = 0
    by_model: dict[str, int] = field(default_factory=dict)


def sweep(*, chunk_size: int = 1000, dry_run: bool = False) -> SweepResult:
    """Remove our rows of orders that no longer exist, for every configured order model.

    Reads our order ids table by table in chunks, asks the shop's table which of them exist,
    and forgets the rest at once, so memory holds a chunk (and the ids found gone), never the
    shop's whole order list. ``dry_run`` counts without deleting.
    """
    result = SweepResult()
    for model in registered_models():
        content_type_id = ContentType.objects.get_for_model(model, for_concrete_model=False).pk
        gone: set[str] = set()
        for chunk in _our_ids(content_type_id, chunk_size):
            found = [i for i in missing_orders(content_type_id, chunk) if i not in gone]
            gone.update(found)
            keys = [(content_type_id, object_id) for object_id in found]
            result.rows += _count(keys) if dry_run else forget_orders(keys)
        if gone:
            result.by_model[model._meta.label] = len(gone)
            result.orders += len(gone)
    return result


def _our_ids(content_type_id: int, chunk_size: int) -> Iterator[list[str]]:
    """The distinct order ids each of our tables holds for one model, in chunks."""
    for model in ORDER_TABLES:
        last = ""
        while True:
            ids = list(
                model._default_manager.filter(content_type_id=content_type_id, object_id__gt=last)
                .order_by("object_id")
                .values_list("object_id", flat=True)
                .distinct()[:chunk_size]
            )
            if not ids:
                break
            last = ids[-1]
            yield ids


def _count(keys: list[OrderKey]) -> int:
    if not keys:
        return 0
    condition = keys_condition(keys)
    return sum(model._default_manager.filter(condition).count() for model in ORDER_TABLES)
