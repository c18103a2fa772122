"""A fake Vipps MobilePay API (access token, Order Management, a sliver of ePayment) over real HTTP.

Order Management runs only in production, so this fake is the only way to exercise a client end
to end: it listens on loopback in a background thread, issues real JWT access tokens, stores
receipts, categories and images per merchant serial number, and answers with the status codes,
bodies and quirks listed at the end of ``API-NOTES.md`` (text/plain ids, Azure-style 401 bodies,
409 on a second receipt, duplicate images refused). It validates the raw JSON on its own, without
importing ``payloads``, so that it can catch bugs in our own payload code.

Faults (5xx, 429 with Retry-After, dropped connections, latency) are injected through
``server.faults`` to test retry and backoff. Run it by hand with::

    python -m vipps_order_management.testing.fake_server --port 8765

Standard library only (Python 3.12+), so host projects can use it in their own tests.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import copy
import dataclasses
import hashlib
import hmac
import html
import itertools
import json
import logging
import random
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from . import jwt

__all__ = [
    "FakeMerchant",
    "FakeVippsServer",
    "FaultInjector",
    "Headers",
    "RecordedRequest",
    "Request",
    "Response",
    "Route",
    "Router",
    "category_v2_problems",
    "category_v3_problems",
    "image_dimensions",
    "main",
    "receipt_problems",
]

logger = logging.getLogger("vipps_order_management.testing.fake_server")

Problems = list[tuple[str, str]]

ORDER_ID_RE = re.compile(r"[0-9A-Za-z_.\-]+")
IMAGE_ID_RE = re.compile(r"[0-9A-Za-z_.\-]{1,128}")
EPAYMENT_REFERENCE_RE = re.compile(r"[a-zA-Z0-9-]{8,50}")
QUANTITY_RE = re.compile(r"[0-9]+(\.[0-9]{1,8})?")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MSN_RE = re.compile(r"[0-9]{4,7}")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.+)", re.DOTALL)

PAYMENT_TYPES = ("ECOM", "RECURRING")
CATEGORY_TYPES = ("GENERAL", "RECEIPT", "ORDER_CONFIRMATION", "DELIVERY", "TICKET", "BOOKING")
CURRENCIES = ("NOK", "DKK", "EUR")
QUANTITY_UNITS = ("PCS", "KG", "KM", "MINUTE", "LITRE", "KWH")
BARCODE_FORMATS = ("EAN-13", "CODE 39", "CODE 128")
EPAYMENT_METHODS = ("WALLET", "CARD")
#: Schemes that are neither https nor an app's own; a link with one of them is refused.
REFUSED_LINK_SCHEMES = frozenset({"http", "javascript", "data", "file", "vbscript"})

TOKEN_RESOURCE = "00000002-0000-0000-c000-000000000000"  # noqa: S105 - a public, fixed id
TOKEN_ISSUER = "https://fake-vipps.invalid/"  # noqa: S105 - not a secret
IDENTITY_MISMATCH = (
    "Total amount - total amount excluding tax don't match order line total tax amount"
)
MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
INVALID_TOKEN_MESSAGE = "Unauthorized. Access token is missing or invalid."  # noqa: S105
SYSTEM_HEADER_PREFIX = "vipps-system-"
SYSTEM_HEADER_MAX = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
REDACTED = "<redacted>"
_REDACTED_HEADERS = frozenset({"authorization", "client_secret", "ocp-apim-subscription-key"})

_PROBLEM_TYPES = {
    400: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.1",
    401: "https://datatracker.ietf.org/doc/html/rfc7235#section-3.1",
    403: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.3",
    404: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.4",
    405: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.5",
    409: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.8",
    413: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.11",
    415: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.13",
    500: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.1",
    502: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.3",
    503: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.4",
    504: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.5",
}
VALIDATION_TITLE = "One or more validation errors occurred."


# --------------------------------------------------------------------------- small value types


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping; names keep the client's spelling.

    HTTP header names are case-insensitive, so tests can write ``headers["authorization"]``
    whatever the client sent. A repeated header keeps its first value.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            self._items.setdefault(name.lower(), (name, value))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class FakeMerchant:
    """One sales unit: its API keys and merchant serial number. ``FakeMerchant()`` is the default."""

    client_id: str = "fake-client-id"
    client_secret: str = field(default="fake-client-secret", repr=False)
    subscription_key: str = field(default="fake-subscription-key", repr=False)
    merchant_serial_number: str = "123456"
    #: Shown on the app preview; the MSN when empty.
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "subscription_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"FakeMerchant.{name} must be a non-empty string")
        msn = self.merchant_serial_number
        if not isinstance(msn, str) or not MSN_RE.fullmatch(msn):
            raise ValueError(f"FakeMerchant.merchant_serial_number must be 4-7 digits, not {msn!r}")

    @classmethod
    def generate(cls, *, msn: str | int | None = None) -> FakeMerchant:
        """A merchant with random keys (and a random 6-digit MSN unless ``msn`` is given)."""
        return cls(
            client_id=str(uuid.uuid4()),
            client_secret=secrets.token_urlsafe(24),
            subscription_key=secrets.token_hex(16),
            merchant_serial_number=str(msn)
            if msn is not None
            else str(secrets.randbelow(900000) + 100000),
        )

    @property
    def msn(self) -> str:
        return self.merchant_serial_number

    @property
    def credentials(self) -> dict[str, str]:
        """The four values a client needs, keyed as in ``FakeVippsServer.credentials``."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "subscription_key": self.subscription_key,
            "merchant_serial_number": self.merchant_serial_number,
        }


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it, with the access token and client secret redacted.

    ``status`` is what the fake answered, or ``None`` when the connection was dropped before any
    processing; for ``drop_next(after_processing=True)`` it is the status that was computed (and
    stored) but never delivered. ``note`` says why the fake refused a request, for debugging;
    ``connection`` numbers the TCP connection, so tests can check keep-alive reuse.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    json: Any
    status: int | None
    token_jti: str | None
    fault: str | None
    time: float
    connection: int = 0
    note: str | None = None


@dataclass(slots=True)
class _IssuedToken:
    jti: str
    msn: str
    subscription_key: str
    not_before: int
    expires_on: int


# --------------------------------------------------------------------------- fault injection


def _path_matches(filter_: str | None, path: str, *, token_endpoint: bool) -> bool:
    # An unfiltered fault never hits the token call: a test that says "fail the next request"
    # means the API call, not the token fetch a fresh client makes first.
    if filter_ is None:
        return not token_endpoint
    return filter_.lower() in path.lower()


@dataclass(slots=True)
class _Shot:
    kind: str  # "fail" or "drop"
    remaining: int
    path: str | None
    status: int | None = None
    retry_after: float | None = None
    after_processing: bool = False

    @property
    def name(self) -> str:
        if self.kind == "fail":
            return f"fail:{self.status}"
        return "drop:after_processing" if self.after_processing else "drop"


@dataclass(slots=True)
class _RandomRule:
    rate: float
    kinds: tuple[str, ...]
    rng: random.Random
    retry_after: float | None
    path: str | None


@dataclass(frozen=True, slots=True)
class _Decision:
    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    drop: bool = False
    after_processing: bool = False
    name: str | None = None


class FaultInjector:
    """Arms faults for the next matching requests; thread-safe (tests arm, handler threads consume).

    ``path`` filters by a case-insensitive substring of the request path. Without ``path`` a fault
    applies to every request except ``/accesstoken/get``; pass ``path="accesstoken"`` to fault the
    token call itself. One-shot faults (``fail_next``, ``drop_next``) are consumed in the order
    they were armed; ``delay`` and ``random`` stay until :meth:`clear`.
    """

    RANDOM_KINDS = ("5xx", "429", "drop", "lost")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shots: list[_Shot] = []
        self._delays: list[tuple[float, str | None]] = []
        self._randoms: list[_RandomRule] = []

    @staticmethod
    def _check_count(count: int) -> None:
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` without processing them.

        429 gets an Azure-style body and a ``Retry-After`` header (1 s unless given); other
        statuses get a problem body, with ``Retry-After`` only when ``retry_after`` is given.
        """
        self._check_count(count)
        if not 400 <= int(status) <= 599:
            raise ValueError(f"status must be a 4xx or 5xx code, not {status!r}")
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._shots.append(_Shot("fail", count, path, int(status), retry_after))

    def drop_next(
        self, count: int = 1, *, path: str | None = None, after_processing: bool = False
    ) -> None:
        """Close the connection of the next ``count`` matching requests without any response.

        With ``after_processing`` the request is handled first, so its effect (a stored receipt,
        an uploaded image) persists although the client never hears about it.
        """
        self._check_count(count)
        with self._lock:
            self._shots.append(_Shot("drop", count, path, after_processing=after_processing))

    def delay(self, seconds: float, *, path: str | None = None) -> None:
        """Sleep ``seconds`` before handling every matching request (until :meth:`clear`)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._delays.append((float(seconds), path))

    def random(
        self,
        rate: float,
        *,
        kinds: Sequence[str] = ("5xx", "429", "drop"),
        seed: int | None = None,
        retry_after: float | None = 1,
        path: str | None = None,
    ) -> None:
        """Fail each matching request with probability ``rate``, as one of ``kinds``.

        ``"5xx"`` answers 500, 502 or 503; ``"429"`` answers 429 with ``Retry-After:
        retry_after``; ``"drop"`` closes the connection before processing; ``"lost"`` processes
        the request and then closes the connection, so the effect stays but the answer is lost.
        ``seed`` makes the sequence reproducible.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        kinds = tuple(kinds)
        unknown = set(kinds) - set(self.RANDOM_KINDS)
        if not kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {self.RANDOM_KINDS}")
        with self._lock:
            self._randoms.append(
                _RandomRule(float(rate), kinds, random.Random(seed), retry_after, path)
            )

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._shots.clear()
            self._delays.clear()
            self._randoms.clear()

    @property
    def pending(self) -> int:
        """How many one-shot faults are still armed."""
        with self._lock:
            return sum(shot.remaining for shot in self._shots)

    def _decide(self, path: str, *, token_endpoint: bool) -> _Decision:
        with self._lock:
            delay = sum(
                seconds
                for seconds, filter_ in self._delays
                if _path_matches(filter_, path, token_endpoint=token_endpoint)
            )
            names = [f"delay:{delay:g}"] if delay else []
            for shot in self._shots:
                if not _path_matches(shot.path, path, token_endpoint=token_endpoint):
                    continue
                shot.remaining -= 1
                if shot.remaining <= 0:
                    self._shots.remove(shot)
                names.append(shot.name)
                return _Decision(
                    delay=delay,
                    status=shot.status,
                    retry_after=shot.retry_after,
                    drop=shot.kind == "drop",
                    after_processing=shot.after_processing,
                    name="+".join(names),
                )
            for rule in self._randoms:
                if not _path_matches(rule.path, path, token_endpoint=token_endpoint):
                    continue
                if rule.rng.random() >= rule.rate:
                    continue
                kind = rule.rng.choice(rule.kinds)
                if kind in ("drop", "lost"):
                    names.append(f"random:{kind}")
                    return _Decision(
                        delay=delay,
                        drop=True,
                        after_processing=kind == "lost",
                        name="+".join(names),
                    )
                if kind == "429":
                    names.append("random:429")
                    return _Decision(
                        delay=delay, status=429, retry_after=rule.retry_after, name="+".join(names)
                    )
                status = rule.rng.choice((500, 502, 503))
                names.append(f"random:{status}")
                return _Decision(delay=delay, status=status, name="+".join(names))
            return _Decision(delay=delay, name="+".join(names) or None)


# --------------------------------------------------------------------------- routing


@dataclass(slots=True)
class Request:
    """What a route handler receives. ``params`` are the route's named groups, still %-encoded."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    connection: int = 0
    params: dict[str, str] = field(default_factory=dict)
    token_jti: str | None = None

    def param(self, name: str) -> str:
        """A path parameter, %-decoded."""
        return unquote(self.params[name])


@dataclass(slots=True)
class Response:
    """What a route handler returns; ``note`` is recorded (never sent) to explain refusals."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None
    close: bool = False

    @classmethod
    def json(
        cls,
        status: int,
        data: Any,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
        note: str | None = None,
    ) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status, body, content_type, list(headers), note)

    @classmethod
    def text(
        cls, status: int, text: str, *, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return cls(status, text.encode("utf-8"), content_type)


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


@dataclass(frozen=True, slots=True)
class _Match:
    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()


class Router:
    """Method + regular expression -> handler; paths match case-insensitively, first match wins.

    Adding an endpoint (say an HTML preview page) is one ``add`` call; a path that matches a route
    under another method answers 405 with ``Allow``, an unknown path 404.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register ``handler`` for ``method`` (``"*"`` for any) and a full-match ``pattern``."""
        route = Route(
            method.upper(),
            re.compile(pattern, re.IGNORECASE),
            handler,
            name or getattr(handler, "__name__", pattern),
        )
        self._routes.append(route)
        return route

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def resolve(self, method: str, path: str) -> _Match:
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method in ("*", method.upper()):
                return _Match(route, found.groupdict())
            allowed.append(route.method)
        return _Match(None, {}, tuple(dict.fromkeys(allowed)))


class _Abort(Exception):
    """Raised inside a handler to answer with ``response`` at once (auth and body checks)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


# --------------------------------------------------------------------------- raw JSON validation


def _is_int(value: Any) -> bool:
    return type(value) is int


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Fields:
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
            self.add(key, f"must be {kind}, not {_show(value)}")
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
            self.add(key, f"must be a string, not {_show(value)}")
            return None
        return value

    def boolean(self, key: str) -> None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            self.add(key, f"must be true, false or null, not {_show(value)}")

    def enum(self, key: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if value not in allowed:
            self.add(key, f"must be one of {', '.join(allowed)}, not {_show(value)}")
            return None
        return value

    def object(self, key: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.add(key, "is required")
            return None
        if not isinstance(value, dict):
            self.add(key, f"must be a JSON object, not {_show(value)}")
            return None
        return value

    def pattern(
        self, key: str, regex: re.Pattern[str], hint: str, *, required: bool = False
    ) -> str | None:
        value = self.string(key, required=required)
        if value is not None and not regex.fullmatch(value):
            self.add(key, f"{hint}, not {_show(value)}")
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
        return f"must be an absolute URI (https://... or an app link such as myapp://...), not {_show(url)}"
    scheme = found.group(1).lower()
    if scheme == "http" and http_hosts and urlsplit(url).hostname in http_hosts:
        return None
    if scheme == "http":
        return "must use https (or an app scheme); plain http links are not allowed"
    if scheme in REFUSED_LINK_SCHEMES:
        return f"must use https or an app scheme, not {scheme}:"
    if scheme == "https":
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
        if not host:
            return f"must be an absolute https URL with a host, not {_show(url)}"
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
        problems.append((base, f"must be a JSON object, not {_show(line)}"))
        return
    fields = _Fields(problems, line, base)
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
        unit = _Fields(problems, unit_info, fields.path("unitInfo"))
        unit.integer("unitPrice", required=True, minimum=0, amount=True)
        quantity = unit.string("quantity", required=True)
        if quantity is not None and (len(quantity) > 10 or not QUANTITY_RE.fullmatch(quantity)):
            unit.add(
                "quantity",
                f"must be digits with up to 8 decimals, at most 10 characters, not {_show(quantity)}",
            )
        unit.enum("quantityUnit", QUANTITY_UNITS)


def _bottom_line_problems(problems: Problems, bottom: dict[str, Any], base: str) -> None:
    fields = _Fields(problems, bottom, base)
    fields.enum("currency", CURRENCIES, required=True)
    fields.integer("tipAmount", minimum=0, amount=True)
    for key in ("posId", "receiptNumber"):
        fields.string(key)
    sources = fields.object("paymentSources")
    if sources is not None:
        source_fields = _Fields(problems, sources, fields.path("paymentSources"))
        for key in ("giftCard", "card", "voucher", "cash"):
            source_fields.integer(key, amount=True)
    barcode = fields.object("barcode")
    if barcode is not None:
        barcode_fields = _Fields(problems, barcode, fields.path("barcode"))
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
        problems.append((f"{prefix}orderLines", f"must be an array, not {_show(lines)}"))
    elif not lines:
        problems.append((f"{prefix}orderLines", "must hold at least one order line"))
    else:
        for index, line in enumerate(lines):
            _order_line_problems(problems, line, f"{prefix}orderLines[{index}]")
    bottom = body.get("bottomLine")
    if bottom is None:
        problems.append((f"{prefix}bottomLine", "is required"))
    elif not isinstance(bottom, dict):
        problems.append((f"{prefix}bottomLine", f"must be a JSON object, not {_show(bottom)}"))
    else:
        _bottom_line_problems(problems, bottom, f"{prefix}bottomLine")
    return problems


_ORDER_ID_HINT = "must hold only letters, digits, '-', '_' and '.'"
_IMAGE_ID_HINT = "must be 1-128 letters, digits, '-', '_' or '.'"


def category_v2_problems(body: Any, http_hosts: Collection[str] = ()) -> Problems:
    """Problems with a raw v2 category body (``category``, ``orderDetailsUrl``, ``imageId``)."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object with category and orderDetailsUrl")]
    problems: Problems = []
    fields = _Fields(problems, body, "")
    fields.enum("category", CATEGORY_TYPES, required=True)
    fields.link("orderDetailsUrl", required=True, http_hosts=http_hosts)
    fields.pattern("imageId", IMAGE_ID_RE, _IMAGE_ID_HINT)
    return problems


def category_v3_problems(body: Any, http_hosts: Collection[str] = ()) -> Problems:
    """Problems with a raw v3 category body (``orderId``, ``paymentType``, ``type``, ``url``...)."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object with orderId, paymentType, type and url")]
    problems: Problems = []
    fields = _Fields(problems, body, "")
    fields.pattern("orderId", ORDER_ID_RE, _ORDER_ID_HINT, required=True)
    fields.enum("paymentType", PAYMENT_TYPES, required=True)
    fields.enum("type", CATEGORY_TYPES, required=True)
    fields.link("url", required=True, http_hosts=http_hosts)
    fields.pattern("imageId", IMAGE_ID_RE, _IMAGE_ID_HINT)
    return problems


# --------------------------------------------------------------------------- image headers

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


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
    if data.startswith(_PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("PNG has no IHDR header")
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return "PNG", width, height
    if data.startswith(_JPEG_MAGIC):
        width, height = _jpeg_dimensions(data)
        return "JPEG", width, height
    raise ValueError("neither PNG nor JPEG")


# --------------------------------------------------------------------------- HTTP plumbing


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _azure(
    status: int, message: str, *, headers: Iterable[tuple[str, str]] = (), note: str | None = None
) -> Response:
    """The body Azure API Management sends for its own refusals (not a problem document)."""
    return Response.json(
        status, {"statusCode": status, "message": message}, headers=headers, note=note or message
    )


def _token_error(status: int, error: str, description: str) -> Response:
    return Response.json(
        status, {"error": error, "error_description": description}, note=description
    )


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _is_token_path(path: str) -> bool:
    return path.lower().rstrip("/") == "/accesstoken/get"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _key_hash(subscription_key: str) -> str:
    return hashlib.sha256(subscription_key.encode("utf-8")).hexdigest()[:16]


def _redact(headers: Headers) -> Headers:
    items = []
    for name, value in headers.items():
        if name.lower() in _REDACTED_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest and name.lower() == "authorization" else REDACTED
        items.append((name, value))
    return Headers(items)


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeVippsServer) -> None:
        self.fake = fake
        self._open: dict[int, socket.socket] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall startup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> int:
        number = self.fake._next_connection()
        with self._open_lock:
            self._open[number] = connection
        return number

    def untrack(self, number: int) -> None:
        with self._open_lock:
            self._open.pop(number, None)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections so they exit."""
        with self._open_lock:
            connections = list(self._open.values())
            self._open.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away; nothing to report
            logger.debug("connection from %s ended: %r", client_address, error)
            return
        logger.exception("fake Vipps server: unexpected error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so requests.Session pooling is exercised
    server_version = "FakeVipps/1.0"
    timeout = 120  # an idle keep-alive connection is closed eventually
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to every keep-alive reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_number = self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection_number)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the fake logs one line per request itself, without client noise."""

    def _serve(self) -> None:
        fake = self.server.fake
        raw_path, _, query = self.path.partition("?")
        query = query.partition("#")[0]
        request = Request(
            method=self.command.upper(),
            path=raw_path or "/",
            query=dict(reversed(parse_qsl(query, keep_blank_values=True))),
            headers=Headers(self.headers.items()),
            body=b"",
            connection=self.connection_number,
        )
        body, early = self._read_body(fake.max_request_bytes)
        request.body = body
        response = fake._process(request, early=early)
        if response is None:  # an injected drop: close without a word
            self.close_connection = True
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def _read_body(self, limit: int) -> tuple[bytes, Response | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if not length:
            return b"", None
        try:
            size = int(length)
            if size < 0:
                raise ValueError(length)
        except ValueError:
            return b"", _bad_framing()
        if size > limit:
            return b"", _too_large(limit)
        return self.rfile.read(size), None

    def _read_chunked(self, limit: int) -> tuple[bytes, Response | None]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return b"", _bad_framing()
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks), None
            total += size
            if total > limit:
                return b"", _too_large(limit)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            if response.close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True


def _bad_framing() -> Response:
    response = Response.json(400, {"statusCode": 400, "message": "Malformed request body framing"})
    response.close = True
    return response


def _too_large(limit: int) -> Response:
    response = Response.json(
        413, {"statusCode": 413, "message": f"Request body is larger than {limit} bytes"}
    )
    response.close = True
    return response


# --------------------------------------------------------------------------- the server


_CONFIG_KEYS = (
    "token_lifetime",
    "max_image_bytes",
    "min_image_height",
    "duplicate_image_status",
    "success_body",
    "unknown_image_status",
    "v3_category_cap",
    "problem_details_key",
    "http_link_hosts",
)


class FakeVippsServer:
    """The fake Vipps API on a real socket; a context manager that starts and stops it.

    ``url`` is the API root (``/accesstoken/get`` and ``/order-management/...`` are under it) and
    ``credentials`` the default merchant's keys. State is kept per merchant serial number and can
    be inspected with :meth:`receipt`, :meth:`category`, :meth:`categories_v3`, :meth:`images` and
    :attr:`requests`; :attr:`faults` injects failures. Configuration attributes (the keyword
    arguments) may be changed on a running server; :meth:`reset` restores them.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        merchants: Iterable[FakeMerchant] | None = None,
        token_lifetime: int = 3600,
        max_image_bytes: int = 2 * 1024 * 1024,
        min_image_height: int = 167,
        duplicate_image_status: int = 409,
        success_body: str = "text",
        unknown_image_status: int | None = None,
        v3_category_cap: int | None = None,
        problem_details_key: str = "invalidParams",
        http_link_hosts: Collection[str] = (),
    ) -> None:
        if duplicate_image_status not in (400, 409):
            raise ValueError("duplicate_image_status must be 409 or 400")
        if success_body not in ("text", "json"):
            raise ValueError('success_body must be "text" or "json"')
        if unknown_image_status not in (None, 400, 404):
            raise ValueError("unknown_image_status must be None, 400 or 404")
        if problem_details_key not in ("invalidParams", "extraDetails"):
            raise ValueError('problem_details_key must be "invalidParams" or "extraDetails"')
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self.token_lifetime = token_lifetime
        self.max_image_bytes = max_image_bytes
        self.min_image_height = min_image_height
        self.duplicate_image_status = duplicate_image_status
        self.success_body = success_body
        self.unknown_image_status = unknown_image_status
        self.v3_category_cap = v3_category_cap
        self.problem_details_key = problem_details_key
        #: Hosts whose plain-http links are accepted: a development allowance (the example shop
        #: on http://127.0.0.1). Empty by default, like Vipps, which opens https links only.
        self.http_link_hosts = frozenset(http_link_hosts)
        self._initial_config = {key: getattr(self, key) for key in _CONFIG_KEYS}

        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self._connection_numbers = itertools.count(1)
        self._merchants: dict[str, FakeMerchant] = {}
        for merchant in merchants if merchants is not None else [FakeMerchant()]:
            self.add_merchant(merchant)
        if not self._merchants:
            raise ValueError("a FakeVippsServer needs at least one merchant")
        self.faults = FaultInjector()
        self.router = Router()
        self._add_routes()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clear_state()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeVippsServer:
        """Bind and serve in a daemon thread; a restarted server keeps its port. Idempotent."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            port = self._bound_port if self._bound_port is not None else self._requested_port
            httpd = _HTTPServer((self.host, port), self)
            self._bound_port = int(httpd.server_address[1])
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-vipps-{self._bound_port}",
                daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the socket, join the thread. Idempotent."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeVippsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the fake Vipps server has not been started")
        return self._bound_port

    @property
    def url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def max_request_bytes(self) -> int:
        """Bodies above this are refused with 413 unread: room for a max-size image in base64."""
        return self.max_image_bytes * 4 // 3 * 2 + 1024 * 1024

    # ---------------------------------------------------------------- merchants and clock

    @property
    def merchant(self) -> FakeMerchant:
        """The default merchant (the first one)."""
        return next(iter(self._merchants.values()))

    @property
    def merchants(self) -> tuple[FakeMerchant, ...]:
        return tuple(self._merchants.values())

    @property
    def credentials(self) -> dict[str, str]:
        """The default merchant's ``client_id``, ``client_secret``, ``subscription_key``, MSN."""
        return self.merchant.credentials

    def add_merchant(
        self, merchant: FakeMerchant | None = None, *, msn: str | None = None
    ) -> FakeMerchant:
        """Register another sales unit (random keys unless given) and return it."""
        if merchant is None:
            merchant = FakeMerchant.generate(msn=msn)
        with self._lock:
            for other in self._merchants.values():
                if other.msn == merchant.msn:
                    raise ValueError(f"merchant serial number {merchant.msn} is already registered")
                if other.subscription_key == merchant.subscription_key:
                    raise ValueError("that subscription key belongs to another merchant")
                if other.client_id == merchant.client_id:
                    raise ValueError("that client_id belongs to another merchant")
            self._merchants[merchant.msn] = merchant
        return merchant

    def _merchant_for_key(self, subscription_key: str) -> FakeMerchant | None:
        with self._lock:
            for merchant in self._merchants.values():
                if _same(subscription_key, merchant.subscription_key):
                    return merchant
        return None

    def now(self) -> float:
        """The fake's clock (epoch seconds): the wall clock plus :meth:`advance_clock` offsets."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the fake's clock forward (tokens expire by it) and return the new time."""
        with self._lock:
            self._clock_offset += seconds
        return self.now()

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far; clients must fetch new ones."""
        with self._lock:
            self._tokens.clear()

    def _next_connection(self) -> int:
        return next(self._connection_numbers)

    # ---------------------------------------------------------------- inspection and seeding

    def _msn(self, msn: str | int | None) -> str:
        return self.merchant.msn if msn is None else str(msn)

    @staticmethod
    def _payment_type(payment_type: str) -> str:
        value = str(payment_type).upper()
        if value not in PAYMENT_TYPES:
            raise ValueError(f"payment_type must be ECOM or RECURRING, not {payment_type!r}")
        return value

    def receipt(
        self, order_id: str, payment_type: str = "ECOM", msn: str | int | None = None
    ) -> dict[str, Any] | None:
        """The receipt body stored for the order, as it was sent, or ``None``."""
        key = (self._msn(msn), self._payment_type(payment_type), order_id)
        with self._lock:
            return copy.deepcopy(self._receipts.get(key))

    def category(
        self, order_id: str, payment_type: str = "ECOM", msn: str | int | None = None
    ) -> dict[str, Any] | None:
        """The current v2 category (``category``, ``orderDetailsUrl``, ``imageId``) or ``None``."""
        key = (self._msn(msn), self._payment_type(payment_type), order_id)
        with self._lock:
            return copy.deepcopy(self._categories_v2.get(key))

    def categories_v3(self, order_id: str, msn: str | int | None = None) -> list[dict[str, Any]]:
        """The order's v3 categories (any payment type), oldest first."""
        with self._lock:
            stored = self._categories_v3.get(self._msn(msn), {})
            return [copy.deepcopy(item) for item in stored.values() if item["orderId"] == order_id]

    def images(self, msn: str | int | None = None) -> dict[str, bytes]:
        """``{image_id: bytes}`` uploaded for the merchant."""
        with self._lock:
            return dict(self._images.get(self._msn(msn), {}))

    def payments(self, msn: str | int | None = None) -> dict[str, dict[str, Any]]:
        """``{reference: body}`` of the fake ePayment payments created for the merchant."""
        msn = self._msn(msn)
        with self._lock:
            return {
                ref: copy.deepcopy(body)
                for (owner, ref), body in self._payments.items()
                if owner == msn
            }

    def store_receipt(
        self,
        order_id: str,
        body: Mapping[str, Any],
        payment_type: str = "ECOM",
        msn: str | int | None = None,
    ) -> None:
        """Seed a receipt as if sent earlier (for example through ePayment); not validated."""
        key = (self._msn(msn), self._payment_type(payment_type), order_id)
        with self._lock:
            self._receipts[key] = copy.deepcopy(dict(body))

    def store_image(self, image_id: str, data: bytes, msn: str | int | None = None) -> None:
        """Seed an image as if uploaded earlier; not validated."""
        with self._lock:
            self._images.setdefault(self._msn(msn), {})[image_id] = bytes(data)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (copies)."""
        with self._lock:
            records = list(self._requests)
        return [dataclasses.replace(record, json=copy.deepcopy(record.json)) for record in records]

    def requests_for(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and a case-insensitive path substring."""
        return [
            record
            for record in self.requests
            if (method is None or record.method == method.upper())
            and (path_contains is None or path_contains.lower() in record.path.lower())
        ]

    def in_flight(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many matching requests have arrived and are not answered yet (e.g. delayed).

        The request log records a request once it is answered; this sees it while it waits,
        so a test can act at that moment (kill the client mid-send, say).
        """
        with self._lock:
            return sum(
                1
                for verb, path in self._in_flight
                if (method is None or verb == method.upper())
                and (path_contains is None or path_contains.lower() in path.lower())
            )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget all state, tokens, faults and requests, rewind the clock, restore the
        configuration given to the constructor. Merchants stay registered."""
        with self._lock:
            for key, value in self._initial_config.items():
                setattr(self, key, value)
            self._clear_state()
        self.faults.clear()

    def _clear_state(self) -> None:
        with self._lock:
            self._generation = getattr(self, "_generation", 0) + 1
            self._clock_offset = 0.0
            self._tokens: dict[str, _IssuedToken] = {}
            self._receipts: dict[tuple[str, str, str], dict[str, Any]] = {}
            self._categories_v2: dict[tuple[str, str, str], dict[str, Any]] = {}
            self._categories_v3: dict[str, dict[str, dict[str, Any]]] = {}
            self._images: dict[str, dict[str, bytes]] = {}
            self._payments: dict[tuple[str, str], dict[str, Any]] = {}
            self._requests: list[RecordedRequest] = []
            self._in_flight: list[tuple[str, str]] = getattr(self, "_in_flight", [])

    # ---------------------------------------------------------------- request processing

    def _process(self, request: Request, *, early: Response | None = None) -> Response | None:
        """Apply faults, dispatch, record; ``None`` means: close the connection unanswered."""
        entry = (request.method, request.path)
        with self._lock:
            self._in_flight.append(entry)
        try:
            return self._process_request(request, early=early)
        finally:
            with self._lock:
                self._in_flight.remove(entry)

    def _process_request(self, request: Request, *, early: Response | None) -> Response | None:
        fault: str | None = None
        deliver = True
        response: Response | None
        generation = self._generation
        if early is not None:
            response = early
        else:
            decision = self.faults._decide(
                request.path, token_endpoint=_is_token_path(request.path)
            )
            fault = decision.name
            if decision.delay:
                time.sleep(decision.delay)
                if generation != self._generation:
                    # reset() ran while this request slept: it belongs to a finished test and
                    # must neither change nor appear in the new state.
                    return None
            if decision.status is not None:
                response = self._fault_response(decision)
            elif decision.drop and not decision.after_processing:
                response = None
            else:
                response = self._dispatch(request)
                deliver = not decision.drop
        status = response.status if response is not None else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=_redact(request.headers),
            json=_json_or_none(request.body),
            status=status,
            token_jti=request.token_jti,
            fault=fault,
            time=self.now(),
            connection=request.connection,
            note=response.note if response is not None else None,
        )
        with self._lock:  # recorded before the reply leaves, so tests never race the log
            if generation == self._generation:
                self._requests.append(record)
        logger.info(
            "%s %s %s%s",
            request.method,
            request.path,
            status if status is not None else "-",
            f" [{fault}]" if fault else "",
        )
        return response if deliver else None

    def _dispatch(self, request: Request) -> Response:
        found = self.router.resolve(request.method, request.path)
        if found.route is None:
            if found.allowed:
                return self._problem(
                    405,
                    f"{request.method} is not allowed here; use {', '.join(found.allowed)}",
                    headers=[("Allow", ", ".join(found.allowed))],
                )
            return _azure(404, "Resource not found")
        request.params = found.params
        try:
            return found.route.handler(request)
        except _Abort as abort:
            return abort.response
        except Exception as error:
            logger.exception("fake Vipps server: handler %s failed", found.route.name)
            return self._problem(500, f"The fake Vipps server failed: {error!r}")

    def _fault_response(self, decision: _Decision) -> Response:
        headers = []
        if decision.retry_after is not None:
            headers.append(("Retry-After", _format_seconds(decision.retry_after)))
        if decision.status == 429:
            seconds = _format_seconds(decision.retry_after or 1)
            return _azure(
                429,
                f"Rate limit is exceeded. Try again in {seconds} seconds.",
                headers=headers,
                note=decision.name,
            )
        status = int(decision.status or 503)
        return self._problem(status, f"Injected fault ({decision.name})", headers=headers)

    # ---------------------------------------------------------------- responses

    def _problem(
        self,
        status: int,
        detail: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        title: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        body: dict[str, Any] = {
            "type": _PROBLEM_TYPES.get(status, "about:blank"),
            "title": title or HTTPStatus(status).phrase,
            "detail": detail,
            "instance": _trace_id(),
            self.problem_details_key: [{"name": name, "reason": reason} for name, reason in params],
        }
        if self.problem_details_key == "extraDetails":
            body["status"] = status
        return Response.json(
            status,
            body,
            content_type="application/problem+json; charset=utf-8",
            headers=headers,
            note=detail,
        )

    def _invalid(self, problems: Sequence[tuple[str, str]], status: int = 400) -> Response:
        """One 400 listing every problem; the detail is the reason itself when there is only one."""
        reasons = list(dict.fromkeys(reason for _, reason in problems))
        if len(reasons) == 1:
            detail = reasons[0]
        else:
            detail = "; ".join(f"{name}: {reason}" if name else reason for name, reason in problems)
        return self._problem(status, detail, problems, title=VALIDATION_TITLE)

    def _created_id(self, status: int) -> Response:
        """Vipps really answers a bare id as text/plain; ``success_body="json"`` follows the spec."""
        new_id = str(uuid.uuid4())
        if self.success_body == "json":
            return Response.json(status, new_id)
        return Response.text(status, new_id)

    # ---------------------------------------------------------------- request checks

    def _authenticate(self, request: Request) -> FakeMerchant:
        """Subscription key, then Bearer token, then Merchant-Serial-Number, as APIM orders them."""
        headers = request.headers
        key = headers.get("Ocp-Apim-Subscription-Key")
        if not key:
            raise _Abort(_azure(401, MISSING_KEY_MESSAGE))
        merchant = self._merchant_for_key(key)
        if merchant is None:
            raise _Abort(_azure(401, INVALID_KEY_MESSAGE))
        token = self._check_bearer(request, merchant)
        msn = headers.get("Merchant-Serial-Number")
        if not msn:
            raise _Abort(
                self._invalid(
                    [("Merchant-Serial-Number", "The Merchant-Serial-Number header is required")]
                )
            )
        if msn.strip() != token.msn:
            raise _Abort(
                _azure(
                    401,
                    INVALID_TOKEN_MESSAGE,
                    note=f"Merchant-Serial-Number {msn!r} does not belong to the token's merchant",
                )
            )
        too_long = [
            (name, f"must be at most {SYSTEM_HEADER_MAX} characters, not {len(value)}")
            for name, value in headers.items()
            if name.lower().startswith(SYSTEM_HEADER_PREFIX) and len(value) > SYSTEM_HEADER_MAX
        ]
        if too_long:
            raise _Abort(self._invalid(too_long))
        return merchant

    def _check_bearer(self, request: Request, merchant: FakeMerchant) -> _IssuedToken:
        def refuse(why: str) -> _Abort:
            return _Abort(
                _azure(
                    401, INVALID_TOKEN_MESSAGE, headers=[("WWW-Authenticate", "Bearer")], note=why
                )
            )

        authorization = request.headers.get("Authorization")
        if not authorization:
            raise refuse("no Authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise refuse("Authorization is not 'Bearer <token>'")
        try:
            claims = jwt.decode(token, self._signing_key)
        except jwt.JWTError as error:
            raise refuse(f"token was not issued by this server ({error})") from None
        jti = claims.get("jti")
        request.token_jti = jti if isinstance(jti, str) else None
        with self._lock:
            issued = self._tokens.get(jti) if isinstance(jti, str) else None
        if issued is None:
            raise refuse("token is unknown or was revoked")
        now = self.now()
        if now >= issued.expires_on:
            raise refuse("token has expired")
        if now < issued.not_before:
            raise refuse("token is not valid yet")
        if not _same(issued.subscription_key, merchant.subscription_key):
            raise refuse("token was issued for another subscription key")
        return issued

    def _json_body(self, request: Request) -> Any:
        if not request.body.strip():
            raise _Abort(self._invalid([("body", "A non-empty JSON request body is required")]))
        content_type = request.headers.get("Content-Type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise _Abort(
                self._problem(415, f"Content-Type must be application/json, not {content_type!r}")
            )
        try:
            return json.loads(request.body, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as error:
            raise _Abort(self._invalid([("body", f"is not valid JSON: {error}")])) from None

    def _order_key(self, request: Request, merchant: FakeMerchant) -> tuple[str, str, str]:
        problems: Problems = []
        raw_type = request.param("paymentType")
        payment_type = raw_type.upper()
        if payment_type not in PAYMENT_TYPES:
            problems.append(
                ("paymentType", f"must be ECOM or RECURRING (any case), not {_show(raw_type)}")
            )
        order_id = request.param("orderId")
        if not ORDER_ID_RE.fullmatch(order_id):
            problems.append(("orderId", f"{_ORDER_ID_HINT}, not {_show(order_id)}"))
        if problems:
            raise _Abort(self._invalid(problems))
        return merchant.msn, payment_type, order_id

    def _check_image_known(self, msn: str, image_id: str | None) -> None:
        if image_id is None or self.unknown_image_status is None:
            return
        with self._lock:
            known = image_id in self._images.get(msn, {})
        if not known:
            detail = f"Image {image_id!r} was not found; upload it before referencing it"
            raise _Abort(self._problem(self.unknown_image_status, detail, [("imageId", detail)]))

    # ---------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        add = self.router.add
        om = "/order-management"
        segment = r"[^/]+"
        add("POST", r"/accesstoken/get", self._handle_token)
        add("POST", rf"{om}/v1/images", self._handle_upload_image)
        add("*", rf"{om}/v1/(?:orders|receipts)/{segment}", self._handle_deprecated)
        add(
            "PUT",
            rf"{om}/v2/(?P<paymentType>{segment})/categories/(?P<orderId>{segment})",
            self._handle_put_category,
        )
        add(
            "POST",
            rf"{om}/v2/(?P<paymentType>{segment})/receipts/(?P<orderId>{segment})",
            self._handle_post_receipt,
        )
        add(
            "GET",
            rf"{om}/v2/(?P<paymentType>{segment})/(?P<orderId>{segment})",
            self._handle_get_order,
        )
        add("POST", rf"{om}/v3/categories", self._handle_create_category_v3)
        add("GET", rf"{om}/v3/categories", self._handle_list_categories_v3)
        add("GET", rf"{om}/v3/categories/(?P<categoryId>{segment})", self._handle_get_category_v3)
        add(
            "DELETE",
            rf"{om}/v3/categories/(?P<categoryId>{segment})",
            self._handle_delete_category_v3,
        )
        add("POST", r"/epayment/v1/payments", self._handle_create_payment)
        add("GET", r"/preview/?", self._handle_preview_index)
        add(
            "GET",
            rf"/preview/(?P<msn>{segment})/(?P<paymentType>{segment})/(?P<orderId>{segment})",
            self._handle_preview,
        )

    # ---------------------------------------------------------------- app preview (development)

    def preview_url(
        self, order_id: str, payment_type: str = "ECOM", msn: str | int | None = None
    ) -> str:
        """Where the phone-sized preview of an order is served (no authentication: a dev tool)."""
        merchant_msn = str(msn) if msn is not None else self.merchant.msn
        return (
            f"{self.url}/preview/{merchant_msn}/{payment_type.upper()}/{quote(order_id, safe='')}"
        )

    def _preview_keys(self) -> list[tuple[str, str, str]]:
        with self._lock:
            keys = set(self._receipts) | set(self._categories_v2)
            for msn, categories in self._categories_v3.items():
                keys |= {(msn, c["paymentType"], c["orderId"]) for c in categories.values()}
        return sorted(keys)

    def _handle_preview_index(self, request: Request) -> Response:
        items = "".join(
            f'<li><a href="/preview/{quote(msn)}/{kind}/{quote(order_id, safe="")}">'
            f"{html.escape(order_id)}</a> <small>{kind} · MSN {html.escape(msn)}</small></li>"
            for msn, kind, order_id in self._preview_keys()
        )
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Fake Vipps: '
            'orders</title></head><body style="font-family: system-ui, sans-serif">'
            "<h1>Orders in the fake Vipps</h1>"
            f"<ul>{items or '<li>Nothing has been sent yet.</li>'}</ul></body></html>"
        )
        return Response.text(200, page, content_type="text/html; charset=utf-8")

    def _handle_preview(self, request: Request) -> Response:
        from ..preview import PreviewLink, render_preview

        msn = request.param("msn")
        kind = request.param("paymentType").upper()
        order_id = request.param("orderId")
        key = (msn, kind, order_id)
        with self._lock:
            receipt = copy.deepcopy(self._receipts.get(key))
            category = copy.deepcopy(self._categories_v2.get(key))
            v3 = [
                copy.deepcopy(c)
                for c in self._categories_v3.get(msn, {}).values()
                if c["orderId"] == order_id and c["paymentType"] == kind
            ]
            images = dict(self._images.get(msn, {}))
        if receipt is None and category is None and not v3:
            return self._problem(404, f"Nothing was sent for orderId {order_id!r} ({kind})")
        links = [PreviewLink(c["type"], c["url"], c.get("imageId")) for c in v3]
        if category is not None:
            links.insert(
                0,
                PreviewLink(
                    category["category"], category["orderDetailsUrl"], category.get("imageId")
                ),
            )
        image_id = next((link.image_id for link in links if link.image_id), None)
        page = render_preview(
            receipt=receipt,
            links=links,
            image=images.get(image_id) if image_id else None,
            merchant=getattr(self._merchants.get(msn), "name", "") or f"Merchant {msn}",
            reference=order_id,
        )
        return Response.text(200, page, content_type="text/html; charset=utf-8")

    def _handle_token(self, request: Request) -> Response:
        headers = request.headers
        key = headers.get("Ocp-Apim-Subscription-Key")
        if not key:
            return _azure(401, MISSING_KEY_MESSAGE)
        merchant = self._merchant_for_key(key)
        if merchant is None:
            return _azure(401, INVALID_KEY_MESSAGE)
        client_id, client_secret = headers.get("client_id"), headers.get("client_secret")
        if not client_id or not client_secret:
            missing = [
                name
                for name, value in (("client_id", client_id), ("client_secret", client_secret))
                if not value
            ]
            return _token_error(
                400, "invalid_request", f"Missing required header: {', '.join(missing)}"
            )
        if not (
            _same(client_id, merchant.client_id) and _same(client_secret, merchant.client_secret)
        ):
            return _token_error(
                401,
                "unauthorized_client",
                "Wrong client_id or client_secret for this subscription key",
            )
        msn = headers.get("Merchant-Serial-Number")
        if msn and msn.strip() != merchant.msn:
            return _token_error(
                401, "unauthorized_client", "Merchant-Serial-Number does not belong to these keys"
            )
        now = int(self.now())
        lifetime = int(self.token_lifetime)
        expires = now + lifetime
        jti = uuid.uuid4().hex
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_RESOURCE,
            "sub": merchant.client_id,
            "appid": merchant.client_id,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": jti,
            "msn": merchant.msn,
            "skh": _key_hash(merchant.subscription_key),
        }
        access_token = jwt.encode(claims, self._signing_key, headers={"kid": "fake-vipps"})
        with self._lock:
            self._tokens[jti] = _IssuedToken(
                jti, merchant.msn, merchant.subscription_key, now, expires
            )
        request.token_jti = jti
        body = {
            "token_type": "Bearer",
            "expires_in": str(lifetime),
            "ext_expires_in": "0",
            "expires_on": str(expires),
            "not_before": str(now),
            "resource": TOKEN_RESOURCE,
            "access_token": access_token,
        }
        return Response.json(200, body, content_type="application/json;charset=UTF-8")

    def _handle_deprecated(self, request: Request) -> Response:
        return self._problem(
            404,
            "The v1 orders and receipts endpoints are no longer available; use the v2 endpoints",
        )

    def _handle_upload_image(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        body = self._json_body(request)
        if not isinstance(body, dict):
            return self._invalid([("body", "must be a JSON object with imageId, src and type")])
        problems: Problems = []
        fields = _Fields(problems, body, "")
        image_id = fields.pattern("imageId", IMAGE_ID_RE, _IMAGE_ID_HINT, required=True)
        src = fields.string("src", required=True)
        image_type = body.get("type")
        if image_type is None:
            fields.add("type", "is required")
        elif image_type != "base64":
            fields.add("type", f'must be "base64", not {_show(image_type)}')
        if problems or image_id is None or src is None:
            return self._invalid(problems)
        try:
            data = base64.b64decode("".join(src.split()), validate=True)
        except (binascii.Error, ValueError):
            return self._invalid(
                [("src", "is not valid base64 (send the raw base64 text, not a data: URL)")]
            )
        try:
            image_format, _width, height = image_dimensions(data)
        except ValueError as error:
            if data.startswith((_PNG_MAGIC, _JPEG_MAGIC)):
                return self._invalid([("src", f"is not a readable image: {error}")])
            return self._invalid(
                [("src", "must be a PNG or JPEG image; other formats are not accepted")]
            )
        if len(data) > self.max_image_bytes:
            problems.append(
                (
                    "src",
                    f"image size {len(data)} bytes exceeds the maximum size of {self.max_image_bytes} bytes",
                )
            )
        if height < self.min_image_height:
            problems.append(
                (
                    "src",
                    f"image height {height}px is below the minimum height of {self.min_image_height}px",
                )
            )
        if problems:
            return self._invalid(problems)
        with self._lock:
            stored = self._images.setdefault(merchant.msn, {})
            if image_id in stored:
                status = self.duplicate_image_status
                detail = (
                    f"An image with imageId {image_id!r} already exists (duplicate); "
                    "images cannot be overwritten, upload under a new imageId"
                )
                return self._problem(status, detail, [("imageId", "duplicate imageId")])
            stored[image_id] = data
        logger.debug("stored %s image %s (%d bytes)", image_format, image_id, len(data))
        return Response.json(200, {"imageId": image_id})

    def _handle_put_category(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        key = self._order_key(request, merchant)
        body = self._json_body(request)
        problems = category_v2_problems(body, self.http_link_hosts)
        if problems:
            return self._invalid(problems)
        self._check_image_known(merchant.msn, body.get("imageId"))
        category = {
            "category": body["category"],
            "orderDetailsUrl": body["orderDetailsUrl"],
            "imageId": body.get("imageId"),
        }
        with self._lock:
            self._categories_v2[key] = category  # upsert: the previous one is gone
        return self._created_id(200)

    def _handle_post_receipt(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        key = self._order_key(request, merchant)
        body = self._json_body(request)
        problems = receipt_problems(body)
        if problems:
            return self._invalid(problems)
        with self._lock:
            if key in self._receipts:
                return self._problem(
                    409,
                    f"A receipt already exists for orderId {key[2]!r} ({key[1]}); "
                    "receipts can be sent once and never changed",
                )
            self._receipts[key] = copy.deepcopy(body)
        return self._created_id(201)

    def _handle_get_order(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        key = self._order_key(request, merchant)
        with self._lock:
            category = copy.deepcopy(self._categories_v2.get(key))
            receipt = copy.deepcopy(self._receipts.get(key))
        if category is None and receipt is None:
            return self._problem(
                404, f"No category or receipt found for orderId {key[2]!r} ({key[1]})"
            )
        return Response.json(200, {"category": category, "receipt": receipt})

    def _handle_create_category_v3(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        body = self._json_body(request)
        problems = category_v3_problems(body, self.http_link_hosts)
        if problems:
            return self._invalid(problems)
        self._check_image_known(merchant.msn, body.get("imageId"))
        category_id = str(uuid.uuid4())
        category = {
            "categoryId": category_id,
            "orderId": body["orderId"],
            "paymentType": body["paymentType"],
            "type": body["type"],
            "url": body["url"],
        }
        if body.get("imageId") is not None:
            category["imageId"] = body["imageId"]
        with self._lock:
            stored = self._categories_v3.setdefault(merchant.msn, {})
            if self.v3_category_cap is not None:
                count = sum(
                    1
                    for item in stored.values()
                    if item["orderId"] == category["orderId"]
                    and item["paymentType"] == category["paymentType"]
                )
                if count >= self.v3_category_cap:
                    return self._invalid(
                        [
                            (
                                "orderId",
                                f"the order already has the maximum of {self.v3_category_cap} categories",
                            )
                        ]
                    )
            stored[category_id] = category
        return Response.json(201, {"categoryId": category_id})

    def _handle_list_categories_v3(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        order_id = request.query.get("orderId")
        if not order_id:
            return self._invalid([("orderId", "The orderId query parameter is required")])
        if not ORDER_ID_RE.fullmatch(order_id):
            return self._invalid([("orderId", f"{_ORDER_ID_HINT}, not {_show(order_id)}")])
        return Response.json(200, {"categories": self.categories_v3(order_id, msn=merchant.msn)})

    def _category_id(self, request: Request) -> str:
        raw = request.param("categoryId")
        if not UUID_RE.fullmatch(raw):
            raise _Abort(self._invalid([("categoryId", f"must be a UUID, not {_show(raw)}")]))
        return raw.lower()

    def _handle_get_category_v3(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        category_id = self._category_id(request)
        with self._lock:
            category = copy.deepcopy(self._categories_v3.get(merchant.msn, {}).get(category_id))
        if category is None:
            return self._problem(404, f"Category {category_id} was not found")
        return Response.json(200, category)

    def _handle_delete_category_v3(self, request: Request) -> Response:
        merchant = self._authenticate(request)
        category_id = self._category_id(request)
        with self._lock:
            removed = self._categories_v3.get(merchant.msn, {}).pop(category_id, None)
        if removed is None:
            return self._problem(404, f"Category {category_id} was not found")
        return Response(200)

    def _handle_create_payment(self, request: Request) -> Response:
        """Just enough ePayment to model ``createPayment.receipt`` becoming the OM receipt."""
        merchant = self._authenticate(request)
        body = self._json_body(request)
        if not isinstance(body, dict):
            return self._invalid([("body", "must be a JSON object")])
        problems: Problems = []
        fields = _Fields(problems, body, "")
        reference = fields.pattern(
            "reference", EPAYMENT_REFERENCE_RE, "must be 8-50 letters, digits or '-'", required=True
        )
        amount = fields.object("amount", required=True)
        if amount is not None:
            amount_fields = _Fields(problems, amount, "amount")
            amount_fields.enum("currency", CURRENCIES, required=True)
            amount_fields.integer("value", required=True, minimum=1, amount=True)
        method = fields.object("paymentMethod", required=True)
        method_type = None
        if method is not None:
            method_type = _Fields(problems, method, "paymentMethod").enum(
                "type", EPAYMENT_METHODS, required=True
            )
        receipt = body.get("receipt")
        if receipt is not None:
            if method_type is not None and method_type != "WALLET":
                problems.append(("receipt", "a receipt is only allowed for WALLET payments"))
            problems.extend(receipt_problems(receipt, prefix="receipt."))
        if problems or reference is None:
            return self._invalid(problems)
        with self._lock:
            if (merchant.msn, reference) in self._payments:
                return self._problem(409, f"A payment with reference {reference!r} already exists")
            receipt_key = (merchant.msn, "ECOM", reference)
            if receipt is not None and receipt_key in self._receipts:
                return self._problem(409, f"A receipt already exists for reference {reference!r}")
            self._payments[(merchant.msn, reference)] = copy.deepcopy(body)
            if receipt is not None:
                self._receipts[receipt_key] = copy.deepcopy(receipt)
        redirect = f"https://landing.fake-vipps.invalid/?reference={reference}"
        return Response.json(201, {"reference": reference, "redirectUrl": redirect})


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the fake's command line, shared with ``manage.py vipps_om_fake_server``."""
    default = FakeMerchant()
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (0 picks a free one; default 8765)"
    )
    parser.add_argument("--client-id", default=default.client_id, help="client_id to accept")
    parser.add_argument(
        "--client-secret", default=default.client_secret, help="client_secret to accept"
    )
    parser.add_argument(
        "--subscription-key",
        default=default.subscription_key,
        help="Ocp-Apim-Subscription-Key to accept",
    )
    parser.add_argument(
        "--msn", default=default.merchant_serial_number, help="merchant serial number (4-7 digits)"
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=3600, help="access token lifetime, seconds"
    )
    parser.add_argument("--duplicate-image-status", type=int, choices=(400, 409), default=409)
    parser.add_argument("--success-body", choices=("text", "json"), default="text")
    parser.add_argument(
        "--problem-details-key", choices=("invalidParams", "extraDetails"), default="invalidParams"
    )
    parser.add_argument(
        "--allow-http-link-host",
        action="append",
        default=[],
        metavar="HOST",
        help="accept plain-http links to HOST (development only; Vipps opens https links only)",
    )


def server_from_options(options: Mapping[str, Any]) -> FakeVippsServer:
    """A (not yet started) server configured by the options of :func:`add_arguments`."""
    merchant = FakeMerchant(
        options["client_id"], options["client_secret"], options["subscription_key"], options["msn"]
    )
    return FakeVippsServer(
        host=options["host"],
        port=options["port"],
        merchants=[merchant],
        token_lifetime=options["token_lifetime"],
        duplicate_image_status=options["duplicate_image_status"],
        success_body=options["success_body"],
        problem_details_key=options["problem_details_key"],
        http_link_hosts=options.get("allow_http_link_host") or (),
    )


def serve_until_stopped(server: FakeVippsServer, announce: Callable[[], None]) -> None:
    """Start ``server``, call ``announce``, and serve until SIGINT or SIGTERM; then stop it."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        announce()
        while not stopping.wait(0.2):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake until SIGINT or SIGTERM; print the URL and credentials, log one line per request."""
    parser = argparse.ArgumentParser(
        prog="python -m vipps_order_management.testing.fake_server",
        description="Serve a fake Vipps MobilePay Order Management API for local development.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    server = server_from_options(vars(args))

    def announce() -> None:
        credentials = server.credentials
        print(f"Fake Vipps API listening on {server.url}")
        print(f"BASE_URL={server.url}")
        print(f"CLIENT_ID={credentials['client_id']}")
        print(f"CLIENT_SECRET={credentials['client_secret']}")
        print(f"SUBSCRIPTION_KEY={credentials['subscription_key']}")
        print(f"MERCHANT_SERIAL_NUMBER={credentials['merchant_serial_number']}")
        print(f"App preview of what was sent: {server.url}/preview/")
        print("Press Ctrl+C to stop.", flush=True)

    serve_until_stopped(server, announce)
    print("Fake Vipps API stopped.", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
