"""Oscar's money figures as Oscar computed them, on every database: one helper, one place.

Oscar keeps some figures unrounded: a 10 % offer on 3 x 53.95 leaves a line at 145.665, and
Oscar rounds its totals half up (``round_half_up_two_dec``: 145.67). PostgreSQL's ``numeric``
column rounds what it stores the same way. SQLite has no fixed-point type: it keeps 145.665,
and Django reads a ``DecimalField`` back rounded half to even (145.66), so the lines no longer
add up to Oscar's own total. Hence every money field the adapter reads is read as the database
holds it (an annotation Django does not round) and rounded as Oscar rounds, here.

Rows come from the adapter's own queryset (annotated by :func:`as_stored`), or from anywhere
else (Oscar's dashboard prefetches ``lines`` its own way): :func:`read_stored` gives those
their stored figures in one query for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import models
from oscar.core.utils import round_half_up_two_dec

__all__ = ["FIGURES", "as_stored", "figure", "read_stored"]

#: The money fields the adapter reads, by the order's relation ("" for the order itself).
FIGURES: Mapping[str, tuple[str, ...]] = {
    "": ("total_incl_tax", "shipping_incl_tax", "shipping_excl_tax"),
    "lines": (
        "line_price_incl_tax",
        "line_price_excl_tax",
        "line_price_before_discounts_incl_tax",
        "line_price_before_discounts_excl_tax",
        "unit_price_incl_tax",
        "unit_price_excl_tax",
    ),
    "surcharges": ("incl_tax", "excl_tax"),
    "discounts": ("amount",),
    "sources": ("amount_allocated",),
}

_PREFIX = "vipps_stored_"
_UNSET: Any = object()


def _stored(field: str) -> str:
    return _PREFIX + field


def as_stored(queryset: models.QuerySet[Any], fields: Iterable[str]) -> models.QuerySet[Any]:
    """``queryset`` with each of ``fields`` also read as stored, which Django does not round."""
    annotated: models.QuerySet[Any] = queryset.annotate(
        **{
            _stored(name): models.ExpressionWrapper(
                models.F(name), output_field=models.DecimalField()
            )
            for name in fields
        }
    )
    return annotated


def read_stored(rows: Iterable[models.Model], fields: tuple[str, ...]) -> None:
    """Give rows loaded without :func:`as_stored` their stored figures: one query for all."""
    missing = {row.pk: row for row in rows if not hasattr(row, _stored(fields[0]))}
    if not missing:
        return
    model = type(next(iter(missing.values())))
    names = [_stored(name) for name in fields]
    stored = as_stored(model._default_manager.filter(pk__in=list(missing)), fields)
    for pk, *values in stored.values_list("pk", *names):
        for name, value in zip(names, values, strict=True):
            setattr(missing[pk], name, value)


def figure(row: models.Model, field: str) -> Decimal | None:
    """``row.<field>`` as Oscar computed it: as stored, rounded half up to the øre."""
    value = getattr(row, _stored(field), _UNSET)
    if value is _UNSET:
        value = getattr(row, field)
    return None if value is None else round_half_up_two_dec(Decimal(value))
