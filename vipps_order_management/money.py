"""Exact money arithmetic: ``Decimal`` major units in, integer minor units out.

Vipps refuses a line whose ``totalAmount - totalAmountExcludingTax`` differs from
``totalTaxAmount`` by even one minor unit, which is what float rounding produces. So every amount
is a ``Decimal`` (floats are refused outright), a line is rounded once with ROUND_HALF_UP, and the
tax is derived as the difference, never rounded on its own.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CURRENCY_EXPONENTS",
    "INT64_MAX",
    "QUANTITY_PATTERN",
    "format_quantity",
    "from_minor_units",
    "round_half_up",
    "split_gross",
    "tax_rate_from_percent",
    "to_decimal",
    "to_minor_units",
]

#: Digits after the decimal point for each currency Vipps accepts.
CURRENCY_EXPONENTS: dict[str, int] = {"NOK": 2, "DKK": 2, "EUR": 2}

#: The spec's pattern for ``unitInfo.quantity``; the value is also at most 10 characters.
#: ASCII digits only (``\d`` would take any script's digits) and anchored with ``\A``/``\Z``,
#: so that ``match`` cannot accept a trailing newline as ``$`` would.
QUANTITY_PATTERN = re.compile(r"\A[0-9]+(\.[0-9]{1,8})?\Z")
QUANTITY_MAX_LENGTH = 10

INT64_MAX = 2**63 - 1
"""The largest amount the API takes: every integer in the spec is ``format: int64``."""

TAX_RATE_SCALE = 100  # taxRate is the percentage in hundredths: 25.5 % -> 2550
TAX_RATE_MAX = 100 * TAX_RATE_SCALE

AmountLike = Decimal | int | str


def to_decimal(value: AmountLike, *, field: str = "amount") -> Decimal:
    """Return ``value`` as a finite Decimal; floats and booleans are refused, naming ``field``."""
    if isinstance(value, bool | float):
        raise TypeError(
            f"{field}: pass a Decimal, int or str, not {type(value).__name__} "
            f"({value!r}); floats cannot represent money exactly"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not a number") from None
    else:
        raise TypeError(f"{field}: expected a Decimal, int or str, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def _exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[str(currency)]
    except KeyError:
        allowed = ", ".join(CURRENCY_EXPONENTS)
        raise ValueError(f"currency: {currency!r} is not one of {allowed}") from None


def round_half_up(value: Decimal) -> int:
    """The nearest integer, halves away from zero: the one rounding money ever gets here."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_minor_units(amount: AmountLike, currency: str = "NOK", *, field: str = "amount") -> int:
    """``Decimal("12.345")`` NOK -> ``1235`` (rounded half up, once).

    Refuses, naming ``field``, an amount whose minor units a 64-bit integer cannot hold: Vipps
    could not read it, and rounding it would first overflow the decimal context.
    """
    value = to_decimal(amount, field=field).scaleb(_exponent(currency))
    if abs(value) > INT64_MAX:
        raise ValueError(
            f"{field}: {amount} {currency} is more than the {INT64_MAX} minor units Vipps can hold"
        )
    return round_half_up(value)


def from_minor_units(minor: int, currency: str = "NOK") -> Decimal:
    """``1235`` NOK -> ``Decimal("12.35")``; for display and comparisons."""
    exponent = _exponent(currency)
    return Decimal(int(minor)).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def tax_rate_from_percent(vat_rate: AmountLike, *, field: str = "vat_rate") -> int:
    """VAT in percent -> the API's ``taxRate`` in hundredths: ``Decimal("25.5")`` -> ``2550``."""
    value = to_decimal(vat_rate, field=field)
    scaled = value * TAX_RATE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{field}: {vat_rate} % has more than two decimals; Vipps takes VAT in hundredths of a percent"
        )
    rate = int(scaled)
    if not 0 <= rate <= TAX_RATE_MAX:
        raise ValueError(f"{field}: {vat_rate} % is outside 0-100 %")
    return rate


def split_gross(gross_minor: int, tax_rate: int) -> tuple[int, int]:
    """Split a gross amount into ``(excluding_tax, tax)`` so that they add up exactly.

    ``excluding = round_half_up(gross / (1 + rate))``; ``tax = gross - excluding``.
    """
    if gross_minor < 0:
        raise ValueError("gross amount must not be negative; mark returns with is_return instead")
    if not 0 <= tax_rate <= TAX_RATE_MAX:
        raise ValueError(f"taxRate {tax_rate} is outside 0-{TAX_RATE_MAX}")
    divisor = Decimal(TAX_RATE_MAX + tax_rate)
    excluding = round_half_up(Decimal(gross_minor) * TAX_RATE_MAX / divisor)
    return excluding, gross_minor - excluding


def format_quantity(quantity: AmountLike, *, field: str = "quantity") -> str:
    """A quantity as the API's display string: ``Decimal("2.500")`` -> ``"2.5"``.

    Raises ``ValueError`` when it is negative or cannot fit the spec's 10 characters.
    """
    value = to_decimal(quantity, field=field)
    if value < 0:
        raise ValueError(f"{field}: {quantity} is negative; mark returns with is_return instead")
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    if "." in text:
        whole, _, fraction = text.partition(".")
        if len(fraction) > 8:
            raise ValueError(f"{field}: {quantity} has more than 8 decimals")
        text = f"{whole}.{fraction.rstrip('0')}".rstrip(".")
    if len(text) > QUANTITY_MAX_LENGTH or not QUANTITY_PATTERN.match(text):
        raise ValueError(f"{field}: {quantity} does not fit in {QUANTITY_MAX_LENGTH} characters")
    return text
