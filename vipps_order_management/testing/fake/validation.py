"""What Vipps accepts, checked on the raw JSON and the raw image bytes.

The fake validates bodies on its own, without importing ``payloads`` or Pillow: it is the
reference our payload and image code are tested against, so sharing their code would let their
bugs pass. Every check reports ``(json_path, reason)`` pairs in the API's JSON spelling
(``orderLines[1].totalTaxAmount``), all of them at once, as Vipps's ``invalidParams`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeGuard
from urllib.parse import urlsplit

__all__ = [
    "BARCODE_FORMATS",
    "CATEGORY_TYPES",
    "CURRENCIES",
    "IDENTITY_MISMATCH",
    "IMAGE_ID_HINT",
    "IMAGE_ID_RE",
    "INT64_MAX",
    "INT64_MIN",
    "JPEG_MAGIC",
    "MSN_RE",
    "ORDER_ID_HINT",
    "ORDER_ID_RE",
    "PAYMENT_TYPES",
    "PNG_MAGIC",
    "QUANTITY_RE",
    "QUANTITY_UNITS",
    "REFUSED_LINK_SCHEMES",
    "UUID_RE",
    "Fields",
    "Problems",
    "category_v2_problems",
    "category_v3_problems",
    "image_dimensions",
    "image_problems",
    "receipt_problems",
    "shown",
]

Problems = list[tuple[str, str]]

ORDER_ID_RE = re.compile(r"[0-9A-Za-z_.\-]+")
IMAGE_ID_RE = re.compile(r"[0-9A-Za-z_.\-]{1,128}")
QUANTITY_RE = re.compile(r"[0-9]+(\.[0-9]{1,8})?")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MSN_RE = re.compile(r"[0-9]{4,7}")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.+)", re.DOTALL)

PAYMENT_TYPES = ("ECOM", "RECURRING")
CATEGORY_TYPES = ("GENERAL", "RECEIPT", "ORDER_CONFIRMATION", "DELIVERY", "TICKET", "BOOKING")
CURRENCIES = ("NOK", "DKK", "EUR")
QUANTITY_UNITS = ("PCS", "KG", "KM", "MINUTE", "LITRE", "KWH")
BARCODE_FORMATS = ("EAN-13", "CODE 39", "CODE 128")
#: Schemes that are neither https nor an app's own; a link with one of them is refused.
REFUSED_LINK_SCHEMES = frozenset({"http", "javascript", "data", "file", "vbscript"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

IDENTITY_MISMATCH = (
    "Total amount - total amount excluding tax don't match order line total tax amount"
)
ORDER_ID_HINT = "must hold only letters, digits, '-', '_' and '.'"
IMAGE_ID_HINT = "must be 1-128 letters, digits, '-', '_' or '.'"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def shown(value: Any) -> str:
    """``value`` as JSON, cut to 60 characters: how a refusal quotes what it refused."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int  # bool is an int subclass, and JSON true is no amount


class Fields:
    """Checks the members of one JSON object, appending ``(json_path, reason)`` problems."""

    def __init__(self, problems: Problems, data: Mapping[str, Any], base: str) -> None:
        self.problems = problems
        self.data = data
        self.base = base

    def path(self, key: str) -> str:
        return f"{self.base}.{key}" if self.base else key

    def add(self, key: str, reason: str) -> None:
        self.problems.append((self.path(key), reason))

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
        amount: bool = False,
    ) -> int | None:
        """The value when it is a valid integer, else ``None`` (and a problem unless optional)."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not _is_int(value) or not INT64_MIN <= value <= INT64_MAX:
            kind = "an integer amount in minor units (1.00 = 100)" if amount else "an integer"
            self.add(key, f"must be {kind}, not {shown(value)}")
            return None
        if minimum is not None and value < minimum:
            self.add(key, f"must be {minimum} or more, not {value}")
            return None
        if maximum is not None and value > maximum:
            self.add(key, f"must be {maximum} or less, not {value}")
            return None
        return value

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None or (required and value == ""):
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, str):
            self.add(key, f"must be a string, not {shown(value)}")
            return None
        return value

    def boolean(self, key: str) -> None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            self.add(key, f"must be true, false or null, not {shown(value)}")

    def enum(self, key: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, str) or value not in allowed:
            self.add(key, f"must be one of {', '.join(allowed)}, not {shown(value)}")
            return None
        return value

    def object(self, key: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, dict):
            self.add(key, f"must be a JSON object, not {shown(value)}")
            return None
        return value

    def pattern(
        self, key: str, regex: re.Pattern[str], hint: str, *, required: bool = False
    ) -> str | None:
        value = self.string(key, required=required)
        if value is not None and not regex.fullmatch(value):
            self.add(key, f"{hint}, not {shown(value)}")
            return None
        return value

    def link(
        self, key: str, *, required: bool = False, http_hosts: Collection[str] = ()
    ) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        reason = _link_problem(value, http_hosts)
        if reason:
            self.add(key, reason)
            return None
        return value


def _link_problem(url: str, http_hosts: Collection[str] = ()) -> str | None:
    """Why the app would not open ``url``: it must be https:// or an app's own scheme.

    ``http_hosts`` is the fake's development allowance (``http_link_hosts``), never Vipps's.
    """
    if not url:
        return "is required"
    if any(char.isspace() or ord(char) < 32 for char in url):
        return "must be an absolute URI without spaces or control characters"
    found = _SCHEME_RE.fullmatch(url)
    if not found:
        return f"must be an absolute URI (https://... or an app link such as myapp://...), not {shown(url)}"
    scheme = found.group(1).lower()
    if scheme not in ("http", "https"):
        refused = scheme in REFUSED_LINK_SCHEMES
        return f"must use https or an app scheme, not {scheme}:" if refused else None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        return f"must be an absolute https URL with a host, not {shown(url)}"
    if scheme == "http" and host not in http_hosts:
        return (
            "must use https (or an app scheme), not plain http: Vipps opens only https links. "
            f"For local development, allow {host} with VIPPS_ORDER_MANAGEMENT"
            "['DEVELOPMENT_LINK_HOSTS'] (which manage.py vipps_om_fake_server reads) or with "
            f"the fake's --allow-http-link-host {host}"
        )
    return None


def _ean13_valid(data: str) -> bool:
    if not (len(data) == 13 and data.isascii() and data.isdigit()):
        return False
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(data[:12]))
    return (10 - total % 10) % 10 == int(data[12])


def _barcode_problem(barcode_format: str, data: str) -> str | None:
    if barcode_format == "EAN-13":
        if not _ean13_valid(data):
            return "must be an EAN-13 barcode: 13 digits with a valid check digit"
    elif barcode_format == "CODE 39":
        if not re.fullmatch(r"[0-9A-Z \-.$/+%]+", data):
            return "CODE 39 data holds only digits, capital letters, space and - . $ / + %"
    elif not all(32 <= ord(char) < 127 for char in data):
        return "CODE 128 data holds only printable ASCII characters"
    return None


def _order_line_problems(problems: Problems, line: Any, base: str) -> None:
    if not isinstance(line, dict):
        problems.append((base, f"must be a JSON object, not {shown(line)}"))
        return
    fields = Fields(problems, line, base)
    fields.string("name", required=True)
    fields.string("id", required=True)
    total = fields.integer("totalAmount", required=True, minimum=0, amount=True)
    excluding = fields.integer("totalAmountExcludingTax", required=True, minimum=0, amount=True)
    tax = fields.integer("totalTaxAmount", required=True, minimum=0, amount=True)
    if total is not None and excluding is not None and tax is not None and total - excluding != tax:
        fields.add("totalTaxAmount", IDENTITY_MISMATCH)
    if line.get("taxRate") is None and line.get("taxPercentage") is None:
        fields.add("taxRate", "either taxRate (0-10000) or taxPercentage (0-100) must be set")
    fields.integer("taxRate", minimum=0, maximum=10000)
    fields.integer("taxPercentage", minimum=0, maximum=100)
    fields.integer("discount", minimum=0, amount=True)
    fields.string("productUrl")
    fields.boolean("isReturn")
    fields.boolean("isShipping")
    unit_info = fields.object("unitInfo")
    if unit_info is not None:
        unit = Fields(problems, unit_info, fields.path("unitInfo"))
        unit.integer("unitPrice", required=True, minimum=0, amount=True)
        quantity = unit.string("quantity", required=True)
        if quantity is not None and (len(quantity) > 10 or not QUANTITY_RE.fullmatch(quantity)):
            unit.add(
                "quantity",
                f"must be digits with up to 8 decimals, at most 10 characters, not {shown(quantity)}",
            )
        unit.enum("quantityUnit", QUANTITY_UNITS)


def _bottom_line_problems(problems: Problems, bottom: dict[str, Any], base: str) -> None:
    fields = Fields(problems, bottom, base)
    fields.enum("currency", CURRENCIES, required=True)
    fields.integer("tipAmount", minimum=0, amount=True)
    for key in ("posId", "receiptNumber"):
        fields.string(key)
    sources = fields.object("paymentSources")
    if sources is not None:
        source_fields = Fields(problems, sources, fields.path("paymentSources"))
        for key in ("giftCard", "card", "voucher", "cash"):
            source_fields.integer(key, amount=True)
    barcode = fields.object("barcode")
    if barcode is not None:
        barcode_fields = Fields(problems, barcode, fields.path("barcode"))
        barcode_format = barcode_fields.enum("format", BARCODE_FORMATS, required=True)
        data = barcode_fields.string("data", required=True)
        if barcode_format is not None and data is not None:
            reason = _barcode_problem(barcode_format, data)
            if reason:
                barcode_fields.add("data", reason)
    # Deprecated: accepted and ignored (never cross-checked), but they must still deserialize.
    for key in ("totalAmount", "totalTax", "totalDiscount", "shippingAmount", "giftCardAmount"):
        fields.integer(key, amount=True)
    fields.string("terminalId")
    fields.object("shippingInfo")


def receipt_problems(body: Any, prefix: str = "") -> Problems:
    """Every problem with a raw receipt body, as ``(json_path, reason)`` pairs; ``[]`` when valid.

    Paths use the API's JSON spelling (``orderLines[1].totalTaxAmount``); ``prefix`` nests them,
    as in ``receipt.orderLines[0].name`` for an ePayment body.
    """
    problems: Problems = []
    if not isinstance(body, dict):
        problems.append(
            (prefix.rstrip(".") or "body", "must be a JSON object with orderLines and bottomLine")
        )
        return problems
    lines = body.get("orderLines")
    if lines is None:
        problems.append((f"{prefix}orderLines", "is required"))
    elif not isinstance(lines, list):
        problems.append((f"{prefix}orderLines", f"must be an array, not {shown(lines)}"))
    elif not lines:
        problems.append((f"{prefix}orderLines", "must hold at least one order line"))
    else:
        for index, line in enumerate(lines):
            _order_line_problems(problems, line, f"{prefix}orderLines[{index}]")
    bottom = body.get("bottomLine")
    if bottom is None:
        problems.append((f"{prefix}bottomLine", "is required"))
    elif not isinstance(bottom, dict):
        problems.append((f"{prefix}bottomLine", f"must be a JSON object, not {shown(bottom)}"))
    else:
        _bottom_line_problems(problems, bottom, f"{prefix}bottomLine")
    return problems


def category_v2_problems(body: Any, http_hosts: Collection[str] = ()) -> Problems:
    """Problems with a raw v2 category body (``category``, ``orderDetailsUrl``, ``imageId``)."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object with category and orderDetailsUrl")]
    problems: Problems = []
    fields = Fields(problems, body, "")
    fields.enum("category", CATEGORY_TYPES, required=True)
    fields.link("orderDetailsUrl", required=True, http_hosts=http_hosts)
    fields.pattern("imageId", IMAGE_ID_RE, IMAGE_ID_HINT)
    return problems


def category_v3_problems(body: Any, http_hosts: Collection[str] = ()) -> Problems:
    """Problems with a raw v3 category body (``orderId``, ``paymentType``, ``type``, ``url``...)."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object with orderId, paymentType, type and url")]
    problems: Problems = []
    fields = Fields(problems, body, "")
    fields.pattern("orderId", ORDER_ID_RE, ORDER_ID_HINT, required=True)
    fields.enum("paymentType", PAYMENT_TYPES, required=True)
    fields.enum("type", CATEGORY_TYPES, required=True)
    fields.link("url", required=True, http_hosts=http_hosts)
    fields.pattern("imageId", IMAGE_ID_RE, IMAGE_ID_HINT)
    return problems


# --------------------------------------------------------------------------- image headers


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    index, size = 2, len(data)
    while index < size:
        if data[index] != 0xFF:
            raise ValueError("corrupt JPEG: expected a segment marker")
        while index < size and data[index] == 0xFF:  # fill bytes
            index += 1
        if index >= size:
            break
        marker = data[index]
        index += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image or image data before any frame header
            break
        if index + 2 > size:
            break
        length = int.from_bytes(data[index : index + 2], "big")
        if length < 2:
            raise ValueError("corrupt JPEG: bad segment length")
        if marker in _JPEG_SOF_MARKERS:
            if index + 7 > size:
                break
            height = int.from_bytes(data[index + 3 : index + 5], "big")
            width = int.from_bytes(data[index + 5 : index + 7], "big")
            if height == 0 or width == 0:
                raise ValueError("JPEG frame header gives no size")
            return width, height
        index += length
    raise ValueError("JPEG has no frame header (SOF) with its size")


def image_dimensions(data: bytes) -> tuple[str, int, int]:
    """``("PNG" | "JPEG", width, height)`` read from the file header, without Pillow.

    Raises ``ValueError`` for anything else or a truncated header; Vipps accepts only these two.
    """
    if data.startswith(PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("PNG has no IHDR header")
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return "PNG", width, height
    if data.startswith(JPEG_MAGIC):
        width, height = _jpeg_dimensions(data)
        return "JPEG", width, height
    raise ValueError("neither PNG nor JPEG")


def image_problems(data: bytes, *, max_bytes: int, min_height: int) -> Problems:
    """Problems with decoded image bytes: the format first (alone), then size and height."""
    try:
        _format, _width, height = image_dimensions(data)
    except ValueError as error:
        if data.startswith((PNG_MAGIC, JPEG_MAGIC)):
            return [("src", f"is not a readable image: {error}")]
        return [("src", "must be a PNG or JPEG image; other formats are not accepted")]
    problems: Problems = []
    if len(data) > max_bytes:
        problems.append(
            ("src", f"image size {len(data)} bytes exceeds the maximum size of {max_bytes} bytes")
        )
    if height < min_height:
        problems.append(
            ("src", f"image height {height}px is below the minimum height of {min_height}px")
        )
    return problems
