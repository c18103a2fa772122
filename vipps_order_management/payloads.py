"""The Order Management API's request and response bodies as plain dataclasses.

Each class maps snake_case attributes to the API's camelCase JSON with ``to_api()`` and
``from_api()``. Nothing here imports Django or does I/O, so the same objects serve the client,
the services layer, the fake server and a shop's own code (``receipt_for_epayment``).

Validation collects every problem at once as ``(json_path, message)`` pairs, so a shop owner
fixing an order sees the whole list instead of one error per retry::

    receipt.validate()  # raises ReceiptValidationError
    receipt.errors()    # [("orderLines[1].totalTaxAmount", "...")]
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self, TypeGuard

from .exceptions import PayloadValidationError, ReceiptValidationError
from .link_policy import STRICT, LinkPolicy, normalise
from .money import (
    INT64_MAX,
    QUANTITY_MAX_LENGTH,
    QUANTITY_PATTERN,
    TAX_RATE_MAX,
    AmountLike,
    format_quantity,
    from_minor_units,
    round_half_up,
    split_gross,
    tax_rate_from_percent,
    to_decimal,
    to_minor_units,
)

__all__ = [
    "BARCODE_DATA_MAX_LENGTH",
    "IMAGE_ID_PATTERN",
    "LINE_ID_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "ORDER_ID_MAX_LENGTH",
    "ORDER_ID_PATTERN",
    "POS_ID_MAX_LENGTH",
    "RECEIPT_NUMBER_MAX_LENGTH",
    "Barcode",
    "BarcodeFormat",
    "BottomLine",
    "Category",
    "CategoryType",
    "Currency",
    "Difference",
    "Image",
    "OrderLine",
    "OrderView",
    "PaymentSources",
    "PaymentType",
    "QuantityUnit",
    "Receipt",
    "UnitInfo",
    "link_errors",
    "order_id_errors",
]

# Anchored with \A and \Z, not ^ and $: "$" also matches before a trailing newline, so
# ``match("order-1\n")`` would pass. They are used with ``fullmatch`` here all the same.
ORDER_ID_PATTERN = re.compile(r"\A[0-9A-Za-z_.\-]+\Z")
IMAGE_ID_PATTERN = re.compile(r"\A[0-9A-Za-z_.\-]{1,128}\Z")

ORDER_ID_MAX_LENGTH = 128
"""The longest ``orderId`` accepted. Vipps's pattern sets no length, but the id is stored in
``VippsOrder.reference`` (128 characters), and the payment APIs that issue it give at most 50
(ePayment reference, eCom orderId, Recurring chargeId): anything longer is a mistake that would
otherwise pass here and fail in the database."""

NAME_MAX_LENGTH = 255
"""The longest order line ``name``. The spec sets no limit; a name is one line on a phone
screen, and shop platforms keep product titles within 255 characters (django-oscar's title,
Shopify, Magento), so a longer name is a bug in the shop's code, not a product."""

LINE_ID_MAX_LENGTH = 255
"""The longest order line ``id``: a SKU, product number or line key, the same bound as names."""

RECEIPT_NUMBER_MAX_LENGTH = 128
"""The longest ``bottomLine.receiptNumber``: a number from the shop's books or till."""

POS_ID_MAX_LENGTH = 128
"""The longest ``bottomLine.posId`` (and the deprecated ``terminalId``): a till's code."""

BARCODE_DATA_MAX_LENGTH = 128
"""The longest ``bottomLine.barcode.data``. EAN-13 is 13 digits; a CODE 39 or CODE 128 code of
more than 128 characters is too dense to scan off a phone screen."""

#: Characters no single line of receipt text may hold, by Unicode category: control characters
#: (Cc: NUL, tab, newline, DEL...), unpaired surrogates (Cs: not text at all, they cannot be
#: encoded as UTF-8), and the line and paragraph separators (Zl, Zp). A receipt line is one line,
#: so even a tab or newline pasted into a product name is refused, not sent.
_REFUSED_TEXT_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: Bidirectional embeddings, overrides and isolates: they reorder the text around them, so a
#: line would not read as it is stored ("Trojan source"). The plain marks (U+200E, U+200F,
#: U+061C) only nudge neutral characters, and mixed Norwegian and Arabic text needs them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Characters that show nothing although Unicode files them as letters or symbols (Hangul
#: fillers, the braille blank...): text made of them looks empty.
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")
#: Categories that show nothing on their own: spaces, formatting (zero-width space, soft
#: hyphen, direction marks), combining marks without a base, unassigned and private code points.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Cf", "Mn", "Me", "Cn", "Co"})

Errors = list[tuple[str, str]]


class PaymentType(StrEnum):
    """Which payment API the order was paid through; ECOM covers both eCom and ePayment."""

    ECOM = "ECOM"
    RECURRING = "RECURRING"

    @classmethod
    def parse(cls, value: str | PaymentType) -> PaymentType:
        """Case-insensitive: ``"ecom"``, ``"eCom"`` and ``PaymentType.ECOM`` all work."""
        try:
            return cls(str(value).upper())
        except ValueError:
            raise ValueError(f"paymentType: {value!r} is not one of ECOM, RECURRING") from None


class CategoryType(StrEnum):
    """The six link categories; each has its own button text and icon in the app."""

    RECEIPT = "RECEIPT"
    ORDER_CONFIRMATION = "ORDER_CONFIRMATION"
    DELIVERY = "DELIVERY"
    TICKET = "TICKET"
    BOOKING = "BOOKING"
    GENERAL = "GENERAL"


class Currency(StrEnum):
    NOK = "NOK"
    DKK = "DKK"
    EUR = "EUR"


class QuantityUnit(StrEnum):
    PCS = "PCS"
    KG = "KG"
    KM = "KM"
    MINUTE = "MINUTE"
    LITRE = "LITRE"
    KWH = "KWH"


class BarcodeFormat(StrEnum):
    EAN_13 = "EAN-13"
    CODE_39 = "CODE 39"
    CODE_128 = "CODE 128"


# --------------------------------------------------------------------------- field checks


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(
    errors: Errors,
    path: str,
    value: Any,
    *,
    required: bool = True,
    minimum: int | None = 0,
    maximum: int | None = None,
) -> None:
    if value is None:
        if required:
            errors.append((path, "is required"))
        return
    if not _is_int(value):
        errors.append((path, f"must be an integer in minor units, not {value!r}"))
        return
    if minimum is not None and value < minimum:
        errors.append((path, f"must be {minimum} or more, not {value}"))
    if maximum is not None and value > maximum:
        errors.append((path, f"must be {maximum} or less, not {value}"))
    elif not -INT64_MAX - 1 <= value <= INT64_MAX:
        errors.append((path, f"must fit in a 64-bit integer (at most {INT64_MAX}), not {value}"))


def _check_text(errors: Errors, path: str, value: Any, *, required: bool = True) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append((path, "is required"))
        return
    if not isinstance(value, str):
        errors.append((path, f"must be a string, not {type(value).__name__}"))


def _shown(value: str, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: how a refusal quotes a long value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _refused_character(text: str) -> tuple[int, str] | None:
    """The position and character of the first character one line of text may not hold."""
    if text.isascii() and text.isprintable():
        return None
    for position, char in enumerate(text):
        if unicodedata.category(char) in _REFUSED_TEXT_CATEGORIES or char in _BIDI_CONTROLS:
            return position, char
    return None


def _visible(text: str) -> bool:
    """Whether ``text`` shows anything: one character that is not a space, a format character,
    a lone combining mark or a blank look-alike."""
    if text.isascii():
        return bool(text.strip())
    return any(
        char not in _BLANK_CHARACTERS
        and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        and not char.isspace()
        for char in text
    )


def _check_line_text(
    errors: Errors, path: str, value: Any, *, max_length: int, required: bool = True
) -> None:
    """A text shown as one line in the app: required or not, at most ``max_length`` long,
    without control characters or line breaks."""
    found: Errors = []
    _check_text(found, path, value, required=required)
    errors.extend(found)
    if found or value is None:
        return
    if len(value) > max_length:
        errors.append((path, f"is {len(value)} characters long; at most {max_length} are allowed"))
    refused = _refused_character(value)
    if refused is not None:
        position, char = refused
        where = f"U+{ord(char):04X} at position {position}"
        errors.append(
            (
                path,
                f"must not hold direction overrides ({where}): they make the text read "
                "otherwise than it is stored"
                if char in _BIDI_CONTROLS
                else f"must not hold control characters or line breaks ({where}); a receipt "
                "line is one line of text",
            )
        )
    elif not _visible(value):
        errors.append(
            (
                path,
                f"shows nothing: {_shown(value)} holds only spaces or invisible characters "
                "(zero-width spaces, soft hyphens, direction marks...)",
            )
        )


def _check_bool(errors: Errors, path: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        errors.append((path, f"must be true, false or null, not {value!r}"))


def _check_enum(
    errors: Errors, path: str, value: Any, enum: type[StrEnum], *, required: bool = True
) -> None:
    if value is None:
        if required:
            errors.append((path, "is required"))
        return
    allowed = [member.value for member in enum]
    if value not in allowed:
        errors.append((path, f"must be one of {', '.join(allowed)}, not {value!r}"))


def link_errors(
    path: str, url: Any, *, required: bool = True, policy: LinkPolicy | None = None
) -> Errors:
    """Problems with a link the app opens, by the one link policy (:mod:`.link_policy`).

    ``policy`` is Vipps's own strict rule unless given: the project's, from
    :func:`vipps_order_management.conf.link_policy`, adds the development allowances.
    """
    return (policy or STRICT).errors(path, url, required=required)


def order_id_errors(order_id: Any, path: str = "orderId") -> Errors:
    """Problems with an orderId (the ePayment reference, eCom orderId or Recurring chargeId).

    Vipps's pattern, matched in full, at most :data:`ORDER_ID_MAX_LENGTH` characters, and at
    least one letter or digit (so never the path segments ``.`` and ``..``).
    """
    errors: Errors = []
    _check_text(errors, path, order_id)
    if errors:
        return errors
    if len(order_id) > ORDER_ID_MAX_LENGTH:
        errors.append(
            (
                path,
                f"is {len(order_id)} characters long; at most {ORDER_ID_MAX_LENGTH} are allowed",
            )
        )
    elif not ORDER_ID_PATTERN.fullmatch(order_id):
        errors.append(
            (path, f"may only hold letters, digits, '-', '_' and '.', not {_shown(order_id)}")
        )
    elif not any(char.isalnum() for char in order_id):
        # "." and ".." are path segments every HTTP client folds into another endpoint's
        # path; no payment API issues an id without a letter or digit.
        errors.append((path, f"must hold a letter or a digit, not only {_shown(order_id)}"))
    return errors


def _image_id_errors(path: str, image_id: Any, *, required: bool = False) -> Errors:
    errors: Errors = []
    _check_text(errors, path, image_id, required=required)
    if not errors and image_id is not None and not IMAGE_ID_PATTERN.fullmatch(image_id):
        errors.append((path, "must be 1-128 letters, digits, '-', '_' or '.'"))
    return errors


def _line_id(value: Any) -> Any:
    """An order line's id as text: ``None`` and ``""`` stay as they are, for validation to
    refuse with the line's path, rather than becoming the string ``"None"``."""
    if value is None or isinstance(value, str | bool):
        return value
    return str(value)


def _ean13_check_digit(first_twelve: str) -> int:
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first_twelve))
    return (10 - total % 10) % 10


def _booked_amounts(
    gross: Decimal, net: Decimal, vat: Decimal | None, currency: str
) -> tuple[int, int, int]:
    """A booked line's total, total excluding VAT and VAT in minor units, which must add up
    (``ValueError`` naming the fields when they do not)."""
    minor_total = to_minor_units(gross, currency, field="total")
    minor_net = to_minor_units(net, currency, field="total_excluding_vat")
    if minor_net > minor_total:
        raise ValueError(
            f"total_excluding_vat: {net} is more than the total {gross}; "
            "give the total including VAT as total"
        )
    minor_tax = minor_total - minor_net
    if vat is not None and to_minor_units(vat, currency, field="vat") != minor_tax:
        raise ValueError(
            f"vat: total {gross} - total_excluding_vat {net} is "
            f"{from_minor_units(minor_tax, currency)}, not {vat}; Vipps refuses a line "
            "whose amounts do not add up to the minor unit"
        )
    return minor_total, minor_net, minor_tax


def _not_negative(**values: Decimal | None) -> None:
    """Amounts are never negative in a receipt: returns are lines marked ``is_return``."""
    for label, value in values.items():
        if value is not None and value < 0:
            raise ValueError(
                f"{label}: {value} is negative; amounts are never negative, "
                "mark returned goods with is_return=True"
            )


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


# --------------------------------------------------------------------------- receipt parts


@dataclass(slots=True)
class UnitInfo:
    """Price per unit (incl. VAT, before discount) and a display quantity such as ``"2.5"`` KG."""

    unit_price: int
    quantity: str
    quantity_unit: QuantityUnit | str | None = QuantityUnit.PCS

    def to_api(self) -> dict[str, Any]:
        return _drop_none(
            {
                "unitPrice": self.unit_price,
                "quantity": self.quantity,
                "quantityUnit": None if self.quantity_unit is None else str(self.quantity_unit),
            }
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            unit_price=data.get("unitPrice"),  # type: ignore[arg-type]
            quantity=data.get("quantity"),  # type: ignore[arg-type]
            quantity_unit=data.get("quantityUnit"),
        )

    def collect_errors(self, path: str) -> Errors:
        errors: Errors = []
        _check_int(errors, f"{path}.unitPrice", self.unit_price)
        quantity = self.quantity
        if quantity is None:
            errors.append((f"{path}.quantity", "is required"))
        elif not isinstance(quantity, str):
            errors.append((f"{path}.quantity", f'must be a string such as "2.5", not {quantity!r}'))
        elif len(quantity) > QUANTITY_MAX_LENGTH or not QUANTITY_PATTERN.fullmatch(quantity):
            errors.append(
                (
                    f"{path}.quantity",
                    f"must be digits with up to 8 decimals and at most {QUANTITY_MAX_LENGTH} "
                    f"characters, not {_shown(quantity)}",
                )
            )
        elif Decimal(quantity) == 0:
            # The spec's pattern allows "0", but a receipt is proof of what was bought: a line
            # of which nothing was bought is a mistake. A free item is quantity 1, amount 0.
            errors.append(
                (
                    f"{path}.quantity",
                    "must be more than 0; leave out lines of which nothing was bought",
                )
            )
        _check_enum(
            errors, f"{path}.quantityUnit", self.quantity_unit, QuantityUnit, required=False
        )
        return errors


@dataclass(slots=True)
class OrderLine:
    """One line of the receipt. Amounts are integers in minor units (øre, cents)."""

    name: str
    id: str
    total_amount: int
    total_amount_excluding_tax: int
    total_tax_amount: int
    tax_rate: int | None = None
    unit_info: UnitInfo | None = None
    discount: int | None = 0
    product_url: str | None = None
    is_return: bool | None = False
    is_shipping: bool | None = False
    #: Deprecated by Vipps in favour of ``tax_rate``; read from old receipts, never sent by us.
    tax_percentage: int | None = None
    #: The currency the amounts were computed in (set by ``from_gross``/``from_books``; ``None``
    #: when unknown, as for a line read from Vipps). Never sent and not compared: the receipt's
    #: currency is ``bottomLine.currency``, and :meth:`Receipt.errors` refuses a line in another.
    currency: Currency | str | None = field(default=None, compare=False)

    @classmethod
    def from_gross(
        cls,
        *,
        name: str,
        id: str,
        unit_price: AmountLike | None = None,
        quantity: AmountLike = 1,
        vat_rate: AmountLike,
        discount: AmountLike = 0,
        total: AmountLike | None = None,
        currency: str = "NOK",
        quantity_unit: QuantityUnit | str = QuantityUnit.PCS,
        is_shipping: bool = False,
        is_return: bool = False,
        product_url: str | None = None,
    ) -> Self:
        """A line from a gross price and a VAT rate, for shops that keep no VAT per line.

        The line total is ``total`` when given (what the shop charged for the line, after
        ``discount``), else ``unit_price * quantity - discount``; it is rounded half up to minor
        units once. The amount excluding VAT is ``round(total / (1 + rate))`` and the VAT is the
        difference, so the three amounts always satisfy Vipps's identity. Pass ``total`` when
        the unit price has more decimals than the currency (12.5125 x 3 is 37.54, not 3 x
        12.51). Where the shop's books hold their own VAT per line, use :meth:`from_books`.
        Returns keep positive amounts and set ``is_return``.
        """
        if unit_price is None and total is None:
            raise ValueError("unit_price: give the unit price, or the line's total")
        amount = to_decimal(quantity, field="quantity")
        reduction = to_decimal(discount, field="discount")
        line_total = None if total is None else to_decimal(total, field="total")
        price = None if unit_price is None else to_decimal(unit_price, field="unit_price")
        _not_negative(unit_price=price, quantity=amount, discount=reduction, total=line_total)
        if line_total is None:
            assert price is not None
            gross = price * amount
            if reduction > gross:
                raise ValueError(f"discount: {reduction} is larger than the line's {gross}")
            line_total = gross - reduction
        tax_rate = tax_rate_from_percent(vat_rate)
        minor_total = to_minor_units(line_total, currency, field="total" if total else "unit_price")
        excluding, tax = split_gross(minor_total, tax_rate)
        return cls._with_unit(
            name=name,
            id=id,
            total=minor_total,
            excluding=excluding,
            tax=tax,
            tax_rate=tax_rate,
            unit_price=price,
            quantity=amount,
            discount=reduction,
            currency=currency,
            quantity_unit=quantity_unit,
            is_shipping=is_shipping,
            is_return=is_return,
            product_url=product_url,
        )

    @classmethod
    def from_books(
        cls,
        *,
        name: str,
        id: str,
        total: AmountLike,
        total_excluding_vat: AmountLike,
        vat_rate: AmountLike,
        vat: AmountLike | None = None,
        quantity: AmountLike = 1,
        unit_price: AmountLike | None = None,
        discount: AmountLike = 0,
        currency: str = "NOK",
        quantity_unit: QuantityUnit | str = QuantityUnit.PCS,
        is_shipping: bool = False,
        is_return: bool = False,
        product_url: str | None = None,
    ) -> Self:
        """A line with the shop's own figures, as its books (or its platform) computed them.

        A receipt is proof of purchase: it should say what the shop's accounts say, to the
        minor unit, rather than a VAT derived again from the gross. ``total`` (incl. VAT, after
        ``discount``), ``total_excluding_vat`` and ``vat`` are the line's amounts in major
        units; ``vat`` may be left out when the books hold only the two totals. Nothing is
        rounded but each amount to the currency's minor unit, and the three must add up as
        Vipps demands (``total - total_excluding_vat == vat``): a ``ValueError`` names the
        fields when they do not. ``unit_price`` (incl. VAT, before discount) is shown in the
        app; without it the app shows ``(total + discount) / quantity``.
        """
        amount = to_decimal(quantity, field="quantity")
        reduction = to_decimal(discount, field="discount")
        gross = to_decimal(total, field="total")
        net = to_decimal(total_excluding_vat, field="total_excluding_vat")
        price = None if unit_price is None else to_decimal(unit_price, field="unit_price")
        tax_value = None if vat is None else to_decimal(vat, field="vat")
        _not_negative(
            total=gross,
            total_excluding_vat=net,
            vat=tax_value,
            quantity=amount,
            unit_price=price,
            discount=reduction,
        )
        minor_total, minor_net, minor_tax = _booked_amounts(gross, net, tax_value, currency)
        return cls._with_unit(
            name=name,
            id=id,
            total=minor_total,
            excluding=minor_net,
            tax=minor_tax,
            tax_rate=tax_rate_from_percent(vat_rate),
            unit_price=price,
            quantity=amount,
            discount=reduction,
            currency=currency,
            quantity_unit=quantity_unit,
            is_shipping=is_shipping,
            is_return=is_return,
            product_url=product_url,
        )

    @classmethod
    def _with_unit(
        cls,
        *,
        name: str,
        id: str,
        total: int,
        excluding: int,
        tax: int,
        tax_rate: int,
        unit_price: Decimal | None,
        quantity: Decimal,
        discount: Decimal,
        currency: str,
        quantity_unit: QuantityUnit | str,
        is_shipping: bool,
        is_return: bool,
        product_url: str | None,
    ) -> Self:
        """The line, with the unit price shown in the app (given, else from the total)."""
        minor_discount = to_minor_units(discount, currency, field="discount")
        if unit_price is not None:
            shown_price = to_minor_units(unit_price, currency, field="unit_price")
        elif quantity > 0:
            shown_price = round_half_up((Decimal(total + minor_discount)) / quantity)
        else:
            shown_price = 0
        return cls(
            name=name,
            id=_line_id(id),
            total_amount=total,
            total_amount_excluding_tax=excluding,
            total_tax_amount=tax,
            tax_rate=tax_rate,
            unit_info=UnitInfo(
                unit_price=shown_price,
                quantity=format_quantity(quantity),
                quantity_unit=QuantityUnit(str(quantity_unit)),
            ),
            discount=minor_discount,
            product_url=product_url,
            is_return=is_return,
            is_shipping=is_shipping,
            currency=str(currency),
        )

    @property
    def vat_percent(self) -> Decimal | None:
        """The VAT rate in percent (``Decimal("25.5")``), from ``taxRate`` or the old ``taxPercentage``."""
        if _is_int(self.tax_rate):
            return (Decimal(self.tax_rate) / 100).normalize()
        if _is_int(self.tax_percentage):
            return Decimal(self.tax_percentage)
        return None

    @property
    def signed_total(self) -> int:
        """``total_amount`` counted negative for returned lines, as the app sums them."""
        return -self.total_amount if self.is_return else self.total_amount

    def to_api(self) -> dict[str, Any]:
        return _drop_none(
            {
                "name": self.name,
                "id": self.id,
                "totalAmount": self.total_amount,
                "totalAmountExcludingTax": self.total_amount_excluding_tax,
                "totalTaxAmount": self.total_tax_amount,
                "taxRate": self.tax_rate,
                "taxPercentage": self.tax_percentage,
                "unitInfo": self.unit_info.to_api() if self.unit_info is not None else None,
                "discount": self.discount,
                "productUrl": normalise(self.product_url),
                "isReturn": self.is_return,
                "isShipping": self.is_shipping,
            }
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        unit_info = data.get("unitInfo")
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]
            id=data.get("id"),  # type: ignore[arg-type]
            total_amount=data.get("totalAmount"),  # type: ignore[arg-type]
            total_amount_excluding_tax=data.get("totalAmountExcludingTax"),  # type: ignore[arg-type]
            total_tax_amount=data.get("totalTaxAmount"),  # type: ignore[arg-type]
            tax_rate=data.get("taxRate"),
            tax_percentage=data.get("taxPercentage"),
            unit_info=UnitInfo.from_api(unit_info) if isinstance(unit_info, Mapping) else None,
            discount=data.get("discount"),
            product_url=data.get("productUrl"),
            is_return=data.get("isReturn"),
            is_shipping=data.get("isShipping"),
        )

    def collect_errors(self, path: str, *, policy: LinkPolicy | None = None) -> Errors:
        errors: Errors = []
        _check_line_text(errors, f"{path}.name", self.name, max_length=NAME_MAX_LENGTH)
        _check_line_text(errors, f"{path}.id", self.id, max_length=LINE_ID_MAX_LENGTH)
        _check_int(errors, f"{path}.totalAmount", self.total_amount)
        _check_int(errors, f"{path}.totalAmountExcludingTax", self.total_amount_excluding_tax)
        _check_int(errors, f"{path}.totalTaxAmount", self.total_tax_amount)
        amounts = (self.total_amount, self.total_amount_excluding_tax, self.total_tax_amount)
        if all(_is_int(value) for value in amounts):
            total, excluding, tax = amounts
            if total - excluding != tax:
                errors.append(
                    (
                        f"{path}.totalTaxAmount",
                        f"totalAmount - totalAmountExcludingTax is {total - excluding}, "
                        f"but totalTaxAmount is {tax}; they must match exactly",
                    )
                )
        if self.tax_rate is None and self.tax_percentage is None:
            errors.append(
                (f"{path}.taxRate", "is required (VAT in hundredths of a percent, 2500 = 25 %)")
            )
        _check_int(errors, f"{path}.taxRate", self.tax_rate, required=False, maximum=TAX_RATE_MAX)
        _check_int(
            errors, f"{path}.taxPercentage", self.tax_percentage, required=False, maximum=100
        )
        _check_int(errors, f"{path}.discount", self.discount, required=False)
        if self.unit_info is not None:
            errors.extend(self.unit_info.collect_errors(f"{path}.unitInfo"))
        errors.extend(
            link_errors(f"{path}.productUrl", self.product_url, required=False, policy=policy)
        )
        _check_bool(errors, f"{path}.isReturn", self.is_return)
        _check_bool(errors, f"{path}.isShipping", self.is_shipping)
        return errors


@dataclass(slots=True)
class PaymentSources:
    """How the total was paid, in minor units; makes the receipt a valid sales receipt."""

    gift_card: int | None = None
    card: int | None = None
    voucher: int | None = None
    cash: int | None = None

    def to_api(self) -> dict[str, Any]:
        return _drop_none(
            {
                "giftCard": self.gift_card,
                "card": self.card,
                "voucher": self.voucher,
                "cash": self.cash,
            }
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            gift_card=data.get("giftCard"),
            card=data.get("card"),
            voucher=data.get("voucher"),
            cash=data.get("cash"),
        )

    def collect_errors(self, path: str) -> Errors:
        errors: Errors = []
        for attribute, key in (
            ("gift_card", "giftCard"),
            ("card", "card"),
            ("voucher", "voucher"),
            ("cash", "cash"),
        ):
            _check_int(errors, f"{path}.{key}", getattr(self, attribute), required=False)
        return errors


@dataclass(slots=True)
class Barcode:
    format: BarcodeFormat | str
    data: str

    def to_api(self) -> dict[str, Any]:
        return {"format": None if self.format is None else str(self.format), "data": self.data}

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(format=data.get("format"), data=data.get("data"))  # type: ignore[arg-type]

    def collect_errors(self, path: str) -> Errors:
        errors: Errors = []
        _check_enum(errors, f"{path}.format", self.format, BarcodeFormat)
        _check_text(errors, f"{path}.data", self.data)
        if errors:
            return errors
        data = self.data
        if len(data) > BARCODE_DATA_MAX_LENGTH:
            return [
                (
                    f"{path}.data",
                    f"is {len(data)} characters long; at most {BARCODE_DATA_MAX_LENGTH} "
                    "are allowed",
                )
            ]
        if self.format == BarcodeFormat.EAN_13:
            if not (len(data) == 13 and data.isascii() and data.isdigit()):
                errors.append((f"{path}.data", f"an EAN-13 barcode is 13 digits, not {data!r}"))
            elif _ean13_check_digit(data[:12]) != int(data[12]):
                expected = _ean13_check_digit(data[:12])
                errors.append(
                    (
                        f"{path}.data",
                        f"EAN-13 check digit is wrong: expected {expected}, got {data[12]}",
                    )
                )
        elif self.format == BarcodeFormat.CODE_39:
            if not re.fullmatch(r"[0-9A-Z \-.$/+%]+", data):
                errors.append(
                    (
                        f"{path}.data",
                        "CODE 39 holds only digits, capital letters, space and - . $ / + %",
                    )
                )
        elif not (data.isascii() and data.isprintable()):
            errors.append((f"{path}.data", "CODE 128 holds only printable ASCII characters"))
        return errors


#: Bottom-line fields Vipps has deprecated; read from old receipts, never sent by this app.
_DEPRECATED_BOTTOM_LINE_FIELDS = {
    "gift_card_amount": "giftCardAmount",
    "terminal_id": "terminalId",
    "total_amount": "totalAmount",
    "total_tax": "totalTax",
    "total_discount": "totalDiscount",
    "shipping_amount": "shippingAmount",
    "shipping_info": "shippingInfo",
}


@dataclass(slots=True)
class BottomLine:
    """The receipt's summary. Vipps computes the sums from the lines; no totals are sent."""

    currency: Currency | str
    tip_amount: int | None = None
    pos_id: str | None = None
    payment_sources: PaymentSources | None = None
    barcode: Barcode | None = None
    receipt_number: str | None = None
    gift_card_amount: int | None = None
    terminal_id: str | None = None
    total_amount: int | None = None
    total_tax: int | None = None
    total_discount: int | None = None
    shipping_amount: int | None = None
    shipping_info: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        data = {
            "currency": None if self.currency is None else str(self.currency),
            "tipAmount": self.tip_amount,
            "posId": self.pos_id,
            "paymentSources": self.payment_sources.to_api() if self.payment_sources else None,
            "barcode": self.barcode.to_api() if self.barcode else None,
            "receiptNumber": self.receipt_number,
        }
        for attribute, key in _DEPRECATED_BOTTOM_LINE_FIELDS.items():
            data[key] = getattr(self, attribute)
        return _drop_none(data)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        sources = data.get("paymentSources")
        barcode = data.get("barcode")
        deprecated = {
            attribute: data.get(key) for attribute, key in _DEPRECATED_BOTTOM_LINE_FIELDS.items()
        }
        return cls(
            currency=data.get("currency"),  # type: ignore[arg-type]
            tip_amount=data.get("tipAmount"),
            pos_id=data.get("posId"),
            payment_sources=PaymentSources.from_api(sources)
            if isinstance(sources, Mapping)
            else None,
            barcode=Barcode.from_api(barcode) if isinstance(barcode, Mapping) else None,
            receipt_number=data.get("receiptNumber"),
            **deprecated,
        )

    def collect_errors(self, path: str) -> Errors:
        errors: Errors = []
        _check_enum(errors, f"{path}.currency", self.currency, Currency)
        _check_int(errors, f"{path}.tipAmount", self.tip_amount, required=False)
        _check_line_text(
            errors, f"{path}.posId", self.pos_id, max_length=POS_ID_MAX_LENGTH, required=False
        )
        _check_line_text(
            errors,
            f"{path}.receiptNumber",
            self.receipt_number,
            max_length=RECEIPT_NUMBER_MAX_LENGTH,
            required=False,
        )
        _check_line_text(
            errors,
            f"{path}.terminalId",
            self.terminal_id,
            max_length=POS_ID_MAX_LENGTH,
            required=False,
        )
        if self.payment_sources is not None:
            errors.extend(self.payment_sources.collect_errors(f"{path}.paymentSources"))
        if self.barcode is not None:
            errors.extend(self.barcode.collect_errors(f"{path}.barcode"))
        return errors


@dataclass(frozen=True, slots=True)
class Difference:
    """One field where two receipts disagree; ``None`` on a side means the field is absent."""

    path: str
    local: Any
    remote: Any

    def __str__(self) -> str:
        return f"{self.path}: {self.local!r} here, {self.remote!r} at Vipps"


@dataclass(slots=True)
class Receipt:
    """Order lines plus bottom line: the receipt (``orderLines`` / ``bottomLine``) for one order."""

    order_lines: list[OrderLine]
    bottom_line: BottomLine

    def to_api(self) -> dict[str, Any]:
        return {
            "orderLines": [line.to_api() for line in self.order_lines],
            "bottomLine": self.bottom_line.to_api(),
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        lines = data.get("orderLines")
        bottom = data.get("bottomLine")
        return cls(
            order_lines=[OrderLine.from_api(line) for line in lines if isinstance(line, Mapping)]
            if isinstance(lines, Sequence) and not isinstance(lines, str)
            else [],
            bottom_line=BottomLine.from_api(bottom)
            if isinstance(bottom, Mapping)
            else BottomLine(None),  # type: ignore[arg-type]
        )

    def errors(self, *, policy: LinkPolicy | None = None) -> Errors:
        """Every problem with this receipt, as ``(json_path, message)`` pairs; empty when valid."""
        errors: Errors = []
        if not self.order_lines:
            errors.append(("orderLines", "must hold at least one line"))
        bottom = self.bottom_line if isinstance(self.bottom_line, BottomLine) else None
        currency = None if bottom is None or bottom.currency is None else str(bottom.currency)
        total = 0
        for index, line in enumerate(self.order_lines):
            path = f"orderLines[{index}]"
            if not isinstance(line, OrderLine):
                errors.append((path, f"must be an OrderLine, not {type(line).__name__}"))
                continue
            if None not in (line.currency, currency) and str(line.currency) != currency:
                errors.append(
                    (
                        path,
                        f"was built in {line.currency}, but the receipt is in {currency} "
                        "(bottomLine.currency, the adapter's get_currency); build the lines "
                        "and the receipt in the order's one currency (an adapter whose orders "
                        "are in several names the order's field in currency_field)",
                    )
                )
            errors.extend(line.collect_errors(path, policy=policy))
            if _is_int(line.total_amount):
                total += abs(line.total_amount)
        if total > INT64_MAX:
            # Vipps sums the lines into the bottom line; each may fit and the sum still not.
            errors.append(("orderLines", f"the lines add up to more than {INT64_MAX}"))
        if bottom is not None:
            errors.extend(bottom.collect_errors("bottomLine"))
        else:
            errors.append(("bottomLine", "is required"))
        return errors

    def validate(self, *, policy: LinkPolicy | None = None) -> Self:
        """Raise :class:`ReceiptValidationError` listing every problem; return ``self`` when valid."""
        errors = self.errors(policy=policy)
        if errors:
            raise ReceiptValidationError(errors)
        return self

    # Totals as the app shows them: returned lines count negative.
    @property
    def total_amount(self) -> int:
        return sum(line.signed_total for line in self.order_lines)

    @property
    def total_tax_amount(self) -> int:
        return sum(
            -line.total_tax_amount if line.is_return else line.total_tax_amount
            for line in self.order_lines
        )

    def tax_by_rate(self) -> dict[Decimal | None, tuple[int, int]]:
        """``{vat_percent: (net amount, VAT)}`` over all lines, returns negative; for receipts."""
        summary: dict[Decimal | None, tuple[int, int]] = {}
        for line in self.order_lines:
            sign = -1 if line.is_return else 1
            net, tax = summary.get(line.vat_percent, (0, 0))
            summary[line.vat_percent] = (
                net + sign * line.total_amount_excluding_tax,
                tax + sign * line.total_tax_amount,
            )
        return summary

    def canonical(self) -> dict[str, Any]:
        """The body reduced to what it means, for hashing and for comparing with Vipps's copy.

        Defaults the API applies are made explicit, the deprecated ``taxPercentage`` becomes
        ``taxRate``, and the bottom-line sums Vipps recomputes from the lines are dropped.
        """
        lines = []
        for line in self.order_lines:
            data = line.to_api()
            if "taxRate" not in data and _is_int(data.get("taxPercentage")):
                data["taxRate"] = data["taxPercentage"] * 100
            data.pop("taxPercentage", None)
            data.setdefault("discount", 0)
            data.setdefault("isReturn", False)
            data.setdefault("isShipping", False)
            if "unitInfo" in data:
                data["unitInfo"].setdefault("quantityUnit", QuantityUnit.PCS.value)
            lines.append(data)
        bottom = self.bottom_line.to_api()
        for key in ("totalAmount", "totalTax", "totalDiscount"):
            bottom.pop(key, None)
        return {"orderLines": lines, "bottomLine": bottom}

    def content_hash(self) -> str:
        """SHA-256 of the canonical body: what was sent, without storing it."""
        encoded = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()

    def diff(self, remote: Receipt) -> list[Difference]:
        """Where this receipt and ``remote`` (Vipps's copy) differ, field by field."""
        return list(_diff(self.canonical(), remote.canonical(), ""))


def _diff(local: Any, remote: Any, path: str) -> Iterable[Difference]:
    if isinstance(local, Mapping) and isinstance(remote, Mapping):
        for key in sorted(set(local) | set(remote)):
            child = f"{path}.{key}" if path else key
            yield from _diff(local.get(key), remote.get(key), child)
    elif isinstance(local, list) and isinstance(remote, list):
        for index in range(max(len(local), len(remote))):
            yield from _diff(
                local[index] if index < len(local) else None,
                remote[index] if index < len(remote) else None,
                f"{path}[{index}]",
            )
    elif local != remote:
        yield Difference(path, local, remote)


# --------------------------------------------------------------------------- categories, images


@dataclass(slots=True)
class Category:
    """A link on the order in the app: what kind it is, where it goes, and an optional image.

    The v2 API keeps one per order (``to_api()``); the v3 API keeps several, each with its own
    ``category_id`` (``to_api_v3()``).
    """

    category: CategoryType | str
    url: str
    image_id: str | None = None
    category_id: str | None = None
    order_id: str | None = None
    payment_type: PaymentType | str | None = None

    def to_api(self) -> dict[str, Any]:
        """The v2 body for ``PUT /v2/{paymentType}/categories/{orderId}``."""
        return _drop_none(
            {
                "category": str(self.category),
                "orderDetailsUrl": normalise(self.url),
                "imageId": self.image_id,
            }
        )

    def to_api_v3(self, order_id: str, payment_type: PaymentType | str) -> dict[str, Any]:
        """The v3 body for ``POST /v3/categories``."""
        return _drop_none(
            {
                "orderId": order_id,
                "paymentType": str(PaymentType.parse(payment_type)),
                "type": str(self.category),
                "url": normalise(self.url),
                "imageId": self.image_id,
            }
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        """Read either shape: v2 (``category``, ``orderDetailsUrl``) or v3 (``type``, ``url``...)."""
        if "orderDetailsUrl" in data or "category" in data:
            # Reading never refuses: a missing field is named by validate(), not here.
            return cls(
                category=data.get("category"),  # type: ignore[arg-type]
                url=data.get("orderDetailsUrl"),  # type: ignore[arg-type]
                image_id=data.get("imageId"),
            )
        return cls(
            category=data.get("type"),  # type: ignore[arg-type]
            url=data.get("url"),  # type: ignore[arg-type]
            image_id=data.get("imageId"),
            category_id=data.get("categoryId"),
            order_id=data.get("orderId"),
            payment_type=data.get("paymentType"),
        )

    def errors(self, *, v3: bool = False, policy: LinkPolicy | None = None) -> Errors:
        errors: Errors = []
        _check_enum(errors, "type" if v3 else "category", self.category, CategoryType)
        errors.extend(link_errors("url" if v3 else "orderDetailsUrl", self.url, policy=policy))
        errors.extend(_image_id_errors("imageId", self.image_id))
        return errors

    def validate(self, *, v3: bool = False, policy: LinkPolicy | None = None) -> Self:
        errors = self.errors(v3=v3, policy=policy)
        if errors:
            raise PayloadValidationError(errors, subject="category")
        return self

    def same_link(self, other: Category) -> bool:
        """Whether two categories show the same button (ids assigned by Vipps are ignored)."""
        return (str(self.category), normalise(self.url), self.image_id) == (
            str(other.category),
            normalise(other.url),
            other.image_id,
        )


@dataclass(slots=True)
class Image:
    """An image upload: PNG or JPEG bytes under a merchant-chosen, never reused ``image_id``."""

    image_id: str
    data: bytes = field(repr=False)

    def to_api(self) -> dict[str, Any]:
        return {
            "imageId": self.image_id,
            "src": base64.b64encode(self.data).decode("ascii"),
            "type": "base64",
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(image_id=data.get("imageId"), data=base64.b64decode(data.get("src") or b""))  # type: ignore[arg-type]

    def errors(self) -> Errors:
        errors = _image_id_errors("imageId", self.image_id, required=True)
        if not self.data:
            errors.append(("src", "is empty"))
        return errors


@dataclass(slots=True)
class OrderView:
    """What ``GET /v2/{paymentType}/{orderId}`` returns: the current category and receipt, if any."""

    category: Category | None
    receipt: Receipt | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        category = data.get("category")
        receipt = data.get("receipt")
        return cls(
            category=Category.from_api(category) if isinstance(category, Mapping) else None,
            receipt=Receipt.from_api(receipt) if isinstance(receipt, Mapping) else None,
        )
