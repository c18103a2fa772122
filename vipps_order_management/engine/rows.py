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
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

__all__ = ["Forward", "write"]


@dataclass(frozen=True)
class Forward:
    """A state that only moves forward: while the stored ``field`` is one of ``reached`` and the
    written one is not, the ``fields`` keep what is stored (``field`` itself among them); once
    the stored one is reached, the ``arrival`` fields (when and how it got there) keep theirs.

    For what another process may have recorded between this batch's read and its write, e.g.
    a receipt that reached Vipps inside the ePayment payment while a worker decided to wait.
    """

    field: str
    reached: tuple[str, ...]
    fields: tuple[str, ...]
    arrival: tuple[str, ...] = ()


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
    forward: Forward | None = None,
) -> None:
    """Insert ``rows`` (values in the order of the field ``names``); on a conflict on the
    ``conflict`` fields, set the ``update`` fields to the new values instead, except where
    ``forward`` says the stored state is ahead."""
    rows = list(rows)
    if not rows:
        return
    qn = connection.ops.quote_name
    fields = [_concrete(model, name) for name in names]
    adapters = [_adapter(field) for field, _column in fields]
    columns = ", ".join(qn(column) for _field, column in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = qn(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    extra: list[Any] = []
    if conflict:
        targets = ", ".join(qn(_concrete(model, name)[1]) for name in conflict)
        if update:
            assignments = []
            for name in update:
                column = qn(_concrete(model, name)[1])
                if forward is not None and name in (*forward.fields, *forward.arrival):
                    state = qn(_concrete(model, forward.field)[1])
                    held, params = _held(table, state, forward, name in forward.arrival)
                    assignments.append(
                        f"{column} = CASE WHEN {held} THEN {table}.{column} "
                        f"ELSE excluded.{column} END"
                    )
                    extra += params
                else:
                    assignments.append(f"{column} = excluded.{column}")
            sql += f" ON CONFLICT ({targets}) DO UPDATE SET {', '.join(assignments)}"
        else:
            sql += f" ON CONFLICT ({targets}) DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [*(adapt(value) for adapt, value in zip(adapters, row, strict=True)), *extra]
                for row in rows
            ],
        )


def _held(table: str, column: str, forward: Forward, arrival: bool) -> tuple[str, list[Any]]:
    """The SQL condition for keeping the stored value, with its parameters: the stored state
    is reached (``arrival``), or is reached and the written one is not."""
    marks = ", ".join(["%s"] * len(forward.reached))
    if arrival:
        return f"{table}.{column} IN ({marks})", list(forward.reached)
    condition = f"{table}.{column} IN ({marks}) AND excluded.{column} NOT IN ({marks})"
    return condition, [*forward.reached, *forward.reached]
