"""Exact minor-unit arithmetic, including properties that must hold for every input."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipps_order_management.money import (
    INT64_MAX,
    format_quantity,
    from_minor_units,
    split_gross,
    tax_rate_from_percent,
    to_decimal,
    to_minor_units,
)
from vipps_order_management.payloads import OrderLine


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("12.345"), 1235),  # half up, not banker's rounding
        (Decimal("12.335"), 1234),
        (Decimal("0.005"), 1),
        ("199.99", 19999),
        (5, 500),
    ],
)
def test_to_minor_units_rounds_half_up(amount, expected):
    assert to_minor_units(amount, "NOK") == expected


def test_floats_are_refused_naming_the_field():
    with pytest.raises(TypeError, match=r"unit_price: pass a Decimal.*float"):
        to_decimal(19.99, field="unit_price")


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity"])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError, match="price"):
        to_decimal(value, field="price")


def test_unknown_currency_is_refused():
    with pytest.raises(ValueError, match=r"currency: 'SEK' is not one of NOK, DKK, EUR"):
        to_minor_units(Decimal(1), "SEK")


@pytest.mark.parametrize(
    ("amount", "ok"),
    [
        (Decimal("92233720368547758.07"), True),  # 2**63 - 1 minor units: the spec's int64
        (Decimal("92233720368547758.08"), False),
        (Decimal("1e30"), False),  # would overflow the decimal context while rounding
        (Decimal("-92233720368547758.08"), False),
    ],
)
def test_minor_units_beyond_the_specs_int64_are_refused_naming_the_field(amount, ok):
    if ok:
        assert to_minor_units(amount, "NOK", field="unit_price") == INT64_MAX
        return
    with pytest.raises(ValueError, match=r"unit_price: .* minor units Vipps can hold"):
        to_minor_units(amount, "NOK", field="unit_price")


def test_from_minor_units_is_exact():
    assert from_minor_units(19999, "EUR") == Decimal("199.99")
    assert str(from_minor_units(5, "NOK")) == "0.05"


@pytest.mark.parametrize(
    ("percent", "rate"),
    [
        (Decimal("25"), 2500),
        (Decimal("25.5"), 2550),
        ("15", 1500),
        (0, 0),
        (Decimal("11.11"), 1111),
    ],
)
def test_tax_rate_in_hundredths(percent, rate):
    assert tax_rate_from_percent(percent) == rate


@pytest.mark.parametrize(
    ("percent", "message"),
    [
        (Decimal("25.555"), "more than two decimals"),
        (Decimal("101"), "outside 0-100"),
        (-1, "outside"),
    ],
)
def test_tax_rate_refuses_what_the_api_cannot_hold(percent, message):
    with pytest.raises(ValueError, match=message):
        tax_rate_from_percent(percent)


def test_split_gross_known_values():
    assert split_gross(12500, 2500) == (10000, 2500)
    assert split_gross(1000, 1500) == (870, 130)  # 869.565... rounds to 870
    assert split_gross(29000, 2550) == (23108, 5892)  # Finland's 25.5 %
    assert split_gross(999, 0) == (999, 0)


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(3, "3"), (Decimal("2.500"), "2.5"), (Decimal("0.822"), "0.822"), ("1E+2", "100")],
)
def test_format_quantity(quantity, text):
    assert format_quantity(quantity) == text


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (Decimal("-1"), "negative"),
        (Decimal("1.123456789"), "8 decimals"),
        (Decimal("12345678901"), "10 characters"),
    ],
)
def test_format_quantity_refuses(quantity, message):
    with pytest.raises(ValueError, match=message):
        format_quantity(quantity)


# --------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=0, max_value=Decimal("100000"), places=2, allow_nan=False)
# No zero: a line of which nothing was bought is refused (see test_payloads).
quantities = st.one_of(
    st.integers(min_value=1, max_value=10_000).map(Decimal),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("9999"), places=3, allow_nan=False),
)
vat_rates = st.one_of(
    st.sampled_from([Decimal(x) for x in ("0", "6", "10", "12", "14", "15", "24", "25", "25.5")]),
    st.integers(min_value=0, max_value=10_000).map(lambda hundredths: Decimal(hundredths) / 100),
)


@given(
    unit_price=amounts, quantity=quantities, vat_rate=vat_rates, discount_share=st.fractions(0, 1)
)
def test_from_gross_always_satisfies_the_vipps_identity(
    unit_price, quantity, vat_rate, discount_share
):
    gross = unit_price * quantity
    discount = (
        gross * Decimal(discount_share.numerator) / Decimal(discount_share.denominator)
    ).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    line = OrderLine.from_gross(
        name="thing",
        id="sku",
        unit_price=unit_price,
        quantity=quantity,
        vat_rate=vat_rate,
        discount=discount,
    )
    assert line.total_amount - line.total_amount_excluding_tax == line.total_tax_amount
    assert 0 <= line.total_tax_amount <= line.total_amount
    assert line.tax_rate == int(vat_rate * 100)
    # One rounding of the whole line: the total is within half a minor unit of the exact value.
    assert abs(Decimal(line.total_amount) - (gross - discount) * 100) <= Decimal("0.5")
    # The tax is what the rate gives, to within one minor unit.
    exact_tax = Decimal(line.total_amount) * vat_rate / (100 + vat_rate)
    assert abs(Decimal(line.total_tax_amount) - exact_tax) <= 1
    assert not line.collect_errors("line")


@given(
    gross=st.integers(min_value=0, max_value=10**12),
    rate=st.integers(min_value=0, max_value=10_000),
)
def test_split_gross_parts_add_up(gross, rate):
    excluding, tax = split_gross(gross, rate)
    assert excluding + tax == gross
    assert excluding >= 0
    assert tax >= 0
