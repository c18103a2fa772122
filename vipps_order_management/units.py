"""Sales units: each merchant serial number (MSN) and the keys that act for it.

Vipps MobilePay gives every sales unit (a store, a brand, a country) its own API keys: a client
id, a client secret and a subscription key. A token belongs to one unit's keys, and a call for
another MSN with it is refused. So a shop with a Norwegian and a Danish storefront names both::

    VIPPS_ORDER_MANAGEMENT = {
        "SALES_UNITS": {
            "123456": {"NAME": "Strikk og Sokk Norge", "CLIENT_ID": "...",
                       "CLIENT_SECRET": "...", "SUBSCRIPTION_KEY": "..."},
            "654321": {"NAME": "Strikk og Sokk Danmark"},  # keys from the environment
        },
    }

Any of a unit's keys may come from the environment instead, as
``VIPPS_ORDER_MANAGEMENT_SALES_UNIT_<MSN>_<KEY>`` (``..._654321_CLIENT_SECRET``), and whole units
may be named there: ``VIPPS_ORDER_MANAGEMENT_SALES_UNITS=123456,654321``. The single-unit
settings (``CLIENT_ID``, ``CLIENT_SECRET``, ``SUBSCRIPTION_KEY``, ``MERCHANT_SERIAL_NUMBER``)
keep working as they are: they are the unit of ``MERCHANT_SERIAL_NUMBER``. Partners, whose one
set of keys acts for many MSNs, say so with ``PARTNER_KEYS = True``; their units then carry
only a name.

This module parses the setting (pure: no Django); :func:`~.engine.clients.sales_unit` decides
which keys serve an MSN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .client import Secret, credential_problem
from .schema import Context, Invalid, Problem

__all__ = [
    "MSN_PATTERN",
    "UNIT_KEYS",
    "SalesUnit",
    "environment_name",
    "parse_sales_units",
]

#: A merchant serial number as the access token API takes it.
MSN_PATTERN = re.compile(r"\A[0-9]{4,6}\Z")
#: The keys of one unit's entry; the three credentials are all given, or none (partner keys).
CREDENTIALS = ("CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY")
UNIT_KEYS = ("NAME", *CREDENTIALS)
_SECRETS = frozenset({"CLIENT_SECRET", "SUBSCRIPTION_KEY"})


@dataclass(frozen=True)
class SalesUnit:
    """One merchant serial number, its name for staff, and the keys that act for it.

    ``client_secret`` and ``subscription_key`` are :class:`~.client.Secret` objects: they never
    show in a repr, a log or a traceback.
    """

    merchant_serial_number: str
    name: str = ""
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    subscription_key: Secret | None = field(default=None, repr=False)
    #: Whether the keys are a partner's, acting for this unit among others.
    partner: bool = False

    @property
    def label(self) -> str:
        """How staff see the unit: its name and MSN, or the MSN alone."""
        msn = self.merchant_serial_number
        return f"{self.name} ({msn})" if self.name else msn

    @property
    def has_keys(self) -> bool:
        return bool(self.client_id and self.client_secret and self.subscription_key)


def environment_name(prefix: str, msn: str, key: str) -> str:
    """The variable that may hold a unit's key: ``VIPPS_ORDER_MANAGEMENT_SALES_UNIT_<MSN>_<KEY>``."""
    return f"{prefix}SALES_UNIT_{msn}_{key}"


def parse_sales_units(value: Any, context: Context) -> Mapping[str, SalesUnit]:
    """``SALES_UNITS`` (and the units named in the environment) as ``{msn: SalesUnit}``.

    Each problem names its unit and key; a secret's value is never quoted.
    """
    entries: dict[str, Any] = {}
    problems: list[Problem] = []
    if value:
        if not isinstance(value, Mapping):
            raise Invalid(f"is a {type(value).__name__}, not a dict of merchant serial numbers")
        for raw_msn, entry in value.items():
            entries[str(raw_msn)] = entry
    listed = context.environ.get(f"{context.environment_prefix}SALES_UNITS", "")
    for msn in (part.strip() for part in listed.split(",")):
        if msn:
            entries.setdefault(msn, {})
    units = {}
    for msn, entry in entries.items():
        unit = _unit(msn, entry, context, problems)
        if unit is not None:
            units[msn] = unit
    if problems:
        raise Invalid(*problems)
    return MappingProxyType(units)


def _unit(msn: str, entry: Any, context: Context, problems: list[Problem]) -> SalesUnit | None:
    if not MSN_PATTERN.fullmatch(msn):
        problems.append(
            Problem(f"names {msn!r}, which is not a merchant serial number (4 to 6 digits)", (msn,))
        )
        return None
    if not isinstance(entry, Mapping):
        problems.append(
            Problem(f"is a {type(entry).__name__}, not a dict of {', '.join(UNIT_KEYS)}", (msn,))
        )
        return None
    for key in entry:
        if key not in UNIT_KEYS:
            problems.append(
                Problem(
                    f"is not a key of a sales unit; use {', '.join(UNIT_KEYS)}", (msn, str(key))
                )
            )
    values: dict[str, str | None] = {}
    for key in UNIT_KEYS:
        given = entry.get(key)
        if given is None or given == "":
            given = (
                context.environ.get(environment_name(context.environment_prefix, msn, key)) or None
            )
        if given is not None and not isinstance(given, str):
            problems.append(Problem(f"is a {type(given).__name__}, not text", (msn, key)))
            given = None
        elif given is not None and key != "NAME" and (problem := credential_problem(given)):
            problems.append(Problem(problem, (msn, key), check_id="E025"))  # never the value
            given = None
        values[key] = given
    present = [key for key in CREDENTIALS if values[key]]
    if present and len(present) < len(CREDENTIALS):
        for key in CREDENTIALS:
            if not values[key]:
                problems.append(
                    Problem(
                        f"is not set, although this unit's {', '.join(present)} is; set it here or in "
                        f"the environment variable {environment_name(context.environment_prefix, msn, key)}",
                        (msn, key),
                        check_id="E003",
                    )
                )
        return None
    return SalesUnit(
        merchant_serial_number=msn,
        name=values["NAME"] or "",
        client_id=values["CLIENT_ID"],
        client_secret=Secret(values["CLIENT_SECRET"]) if values["CLIENT_SECRET"] else None,
        subscription_key=Secret(values["SUBSCRIPTION_KEY"]) if values["SUBSCRIPTION_KEY"] else None,
    )
