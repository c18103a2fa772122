"""Bulk writes of our own rows on the hot path, with as little ORM as they need.

A batch writes a state row per order and a call-log row per call. Through ``bulk_create`` and
``bulk_update`` every value of every row passes Django's field machinery and every update
becomes a CASE per column per row, which cost a worker more than its calls to Vipps. These
helpers send the same rows as one ``executemany`` of a plain ``INSERT ... ON CONFLICT``,
adapting only the values that need it (date-times, JSON) with the backend's own functions.

Our tables only, whose columns are known; SQLite and PostgreSQL (both speak ``ON CONFLICT``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models

__all__ = ["write"]


def _adapter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField):
        return lambda value: field.get_db_prep_save(value, connection)
    return lambda value: value


def _concrete(model: type[models.Model], name: str) -> tuple[models.Field[Any, Any], str]:
    """The field ``name`` of ``model`` and its column; a relation's reverse side has none."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a field with a column of its own")
    return field, field.column


def write(
    model: type[models.Model],
    names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in the order of the field ``names``); on a conflict on the
    ``conflict`` fields, set the ``update`` fields to the new values instead."""
    rows = list(rows)
    if not rows:
        return
    qn = connection.ops.quote_name
    fields = [_concrete(model, name) for name in names]
    adapters = [_adapter(field) for field, _column in fields]
    columns = ", ".join(qn(column) for _field, column in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    if conflict:
        targets = ", ".join(qn(_concrete(model, name)[1]) for name in conflict)
        if update:
            assignments = ", ".join(
                f"{qn(column)} = excluded.{qn(column)}"
                for column in (_concrete(model, name)[1] for name in update)
            )
            sql += f" ON CONFLICT ({targets}) DO UPDATE SET {assignments}"
        else:
            sql += f" ON CONFLICT ({targets}) DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [[adapt(value) for adapt, value in zip(adapters, row, strict=True)] for row in rows],
        )
