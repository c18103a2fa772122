"""The parser of the django-oscar settings, ``OSCAR`` (declared in :data:`.conf.SCHEMA`): the
code of the Vipps payment's ``SourceType`` and the link category of each order status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .payloads import CategoryType
from .schema import Context, Invalid, Problem, closest, sub_dict

__all__ = ["OSCAR_DEFAULT", "OscarSettings", "parse_oscar"]


@dataclass(frozen=True)
class OscarSettings:
    """django-oscar shops (``OSCAR``): the payment source type's code and each status's link."""

    payment_source_type: str
    status_categories: Mapping[str, CategoryType | None]


OSCAR_DEFAULT = {
    "PAYMENT_SOURCE_TYPE": "vipps",
    "STATUS_CATEGORIES": {
        "Pending": "ORDER_CONFIRMATION",
        "Being processed": "ORDER_CONFIRMATION",
        "Shipped": "DELIVERY",
        "Complete": "RECEIPT",
    },
}


def parse_oscar(value: Any, context: Context) -> OscarSettings:
    oscar = sub_dict(value, OSCAR_DEFAULT, "OSCAR")
    source_type, categories = oscar["PAYMENT_SOURCE_TYPE"], oscar["STATUS_CATEGORIES"]
    problems: list[Problem] = []
    if not (isinstance(source_type, str) and source_type.strip()):
        problems.append(
            Problem(
                f"is {source_type!r}, not the code of a payment SourceType",
                ("PAYMENT_SOURCE_TYPE",),
                "Use the code your checkout gives the Vipps payment's SourceType, e.g. 'vipps'.",
            )
        )
    if not isinstance(categories, Mapping):
        problems.append(
            Problem(
                f"must be a dict of order status -> link category, not {type(categories).__name__}",
                ("STATUS_CATEGORIES",),
                "E.g. {'Pending': 'ORDER_CONFIRMATION', 'Shipped': 'DELIVERY'}.",
            )
        )
        categories = {}
    allowed = [category.value for category in CategoryType]
    for status, category in categories.items():
        if category is None or category in allowed:
            continue
        problems.append(
            Problem(
                f"is {category!r}, not a link category",
                ("STATUS_CATEGORIES", status),
                f"Use one of {', '.join(allowed)}, or None for no link.",
                suggestion=closest(str(category), allowed),
            )
        )
    if problems:
        raise Invalid(*problems)
    return OscarSettings(
        source_type,
        MappingProxyType(
            {s: None if c is None else CategoryType(c) for s, c in categories.items()}
        ),
    )
