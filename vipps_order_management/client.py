"""HTTP client for the Vipps MobilePay Order Management API.

This module knows HTTP and the API's quirks, and nothing of Django's ORM or settings: the
services layer builds a client from the settings and hands it payload objects. What it does:

* one pooled ``requests.Session`` with explicit timeouts;
* the access token fetched once, shared through a :class:`TokenStore` (the Django cache in a
  Django project, so worker processes share it), refreshed shortly before it expires, and
  fetched again once when Vipps answers 401;
* ``Merchant-Serial-Number``, the subscription key and the four ``Vipps-System-*`` headers on
  every call;
* success bodies read as JSON, as a bare id in ``text/plain``, or as nothing;
* error bodies (``application/problem+json``, Azure's ``{"statusCode", "message"}``, the token
  endpoint's ``{"error"}``) turned into the typed exceptions of :mod:`.exceptions`;
* payloads validated locally first: an invalid body never reaches the network.

Secrets and tokens never appear in logs, reprs or exception messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import platform
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import __version__
from .exceptions import (
    ImageValidationError,
    InvalidParam,
    PayloadValidationError,
    VippsAPIError,
    VippsAuthError,
    VippsConfigurationError,
    VippsConflict,
    VippsNotFound,
    VippsTransientError,
)
from .link_policy import STRICT, LinkPolicy
from .outcomes import Outcome, classify_status
from .payloads import Category, Image, OrderView, PaymentType, Receipt, order_id_errors

__all__ = [
    "AccessToken",
    "ApiCall",
    "CacheTokenStore",
    "MemoryTokenStore",
    "OrderManagementClient",
    "Secret",
    "TokenStore",
    "credential_problem",
]

logger = logging.getLogger(__name__)

SYSTEM_HEADER_MAX_LENGTH = 30
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: Refresh a token when less than this share of its lifetime, or 60 s, is left.
REFRESH_FRACTION = 0.1
REFRESH_MINIMUM_SECONDS = 60.0
MAX_IMAGE_BYTES = 2 * 1024 * 1024
_ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the epoch second it stops being used (a margin before real expiry)."""

    value: str = field(repr=False)
    refresh_at: float

    def usable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.refresh_at

    def __repr__(self) -> str:
        return f"AccessToken(value='***', refresh_at={self.refresh_at:.0f})"


class Secret:
    """A credential that prints as ``***``: in reprs, logs, error pages and frame dumps.

    The client keeps its client secret, subscription key and tokens in these; the raw value is
    taken out (:meth:`reveal`) only where a header is built for the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash((Secret, hashlib.sha256(self._value.encode()).digest()))


#: Headers whose values are secrets: shown as ``***`` when a header set is printed.
_SECRET_HEADERS = frozenset({"authorization", "client_secret", "ocp-apim-subscription-key"})


class _Headers(dict):
    """The headers of one request; printing them (an error page, a log) masks the secrets."""

    def __repr__(self) -> str:
        shown = {
            name: "***" if name.lower() in _SECRET_HEADERS else value
            for name, value in self.items()
        }
        return f"_Headers({shown!r})"


def credential_problem(value: Any) -> str | None:
    """Why ``value`` cannot be sent as a credential in an HTTP header, or ``None`` if it can.

    Never quotes the value: the answer goes into messages, logs and system checks.
    """
    text = "" if value is None else str(value)
    if not text:
        return "is empty"
    if text != text.strip():
        return "starts or ends with a space or line break; copy it again without them"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return (
            "contains a character HTTP headers cannot carry (a typographic quote or another "
            "character pasted from a document?); copy it again from the Vipps MobilePay "
            "business portal"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "contains a control character; copy it again from the portal"
    return None


def _credential(name: str, value: Any) -> str:
    """A credential as HTTP headers can carry it; a configuration error naming it otherwise.

    Checked where it enters, so a secret pasted with a typographic quote never fails halfway
    through building a request (where an error page would show it).
    """
    problem = credential_problem(value)
    if problem is not None:
        raise VippsConfigurationError(f"{name} {problem}")
    return str(value)


class TokenStore(Protocol):
    """Where access tokens live between calls; share one store between processes if you can."""

    def get(self, key: str) -> AccessToken | None: ...

    def set(self, key: str, token: AccessToken) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryTokenStore:
    """Per-process token store: the default outside Django."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class CacheTokenStore:
    """Token store over any cache with Django's ``get``/``set``/``delete`` signature."""

    def __init__(self, cache: Any, *, prefix: str = "vipps_order_management:token:") -> None:
        self.cache = cache
        self.prefix = prefix

    def get(self, key: str) -> AccessToken | None:
        value = self.cache.get(self.prefix + key)
        if isinstance(value, list | tuple) and len(value) == 2:
            return AccessToken(str(value[0]), float(value[1]))
        return None

    def set(self, key: str, token: AccessToken) -> None:
        timeout = max(1, int(token.refresh_at - time.time()))
        self.cache.set(self.prefix + key, (token.value, token.refresh_at), timeout)

    def delete(self, key: str) -> None:
        self.cache.delete(self.prefix + key)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What Vipps answered: status, the whole body, headers (case-insensitive) and reason."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]
    reason: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One HTTP exchange, reported to ``on_call`` for audit logs. Carries no headers or bodies."""

    method: str
    endpoint: str  # the path template, e.g. "/order-management/v2/{paymentType}/receipts/{orderId}"
    path: str
    status_code: int | None
    duration: float
    error: str | None = None
    #: The sales unit the call was made for.
    merchant_serial_number: str = ""


class OrderManagementClient:
    """Client for one merchant serial number (sales unit) of the Order Management API.

    ``base_url`` is the API root (``https://api.vipps.no``); the paths ``/accesstoken/get`` and
    ``/order-management/...`` are appended. ``payment_type`` arguments take ``"ECOM"`` or
    ``"RECURRING"`` in any case, or a :class:`~.payloads.PaymentType`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        merchant_serial_number: str,
        system_name: str = "python",
        system_version: str = platform.python_version(),
        plugin_name: str = "vipps-order-management",
        plugin_version: str = __version__,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        token_store: TokenStore | None = None,
        on_call: Callable[[ApiCall], None] | None = None,
        link_policy: LinkPolicy | None = None,
        pool_size: int = 16,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("subscription_key", subscription_key),
                ("merchant_serial_number", merchant_serial_number),
            )
            if value is None or not str(value)
        ]
        if missing:
            raise VippsConfigurationError(
                f"Missing Vipps credentials: {', '.join(missing)}. Find them in the Vipps MobilePay "
                "business portal under Utvikler/Developer -> API keys."
            )
        self.base_url = clean_base_url(base_url)
        self.client_id = _credential("client_id", client_id)
        self._client_secret = Secret(_credential("client_secret", client_secret))
        self._subscription_key = Secret(_credential("subscription_key", subscription_key))
        self.merchant_serial_number = _credential("merchant_serial_number", merchant_serial_number)
        self.timeout = timeout
        self.system_headers = {
            "Vipps-System-Name": system_name,
            "Vipps-System-Version": system_version,
            "Vipps-System-Plugin-Name": plugin_name,
            "Vipps-System-Plugin-Version": plugin_version,
        }
        self.system_headers = {
            name: _credential(name, value)[:SYSTEM_HEADER_MAX_LENGTH]
            for name, value in self.system_headers.items()
        }
        self._owns_session = session is None
        self.session = session or _pooled_session(self.base_url, pool_size)
        self._session_headers = dict(self.session.headers)
        self._connection_pool: Any = None
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._urllib3_timeout = urllib3.Timeout(connect=connect, read=read)
        self.token_store: TokenStore = token_store or MemoryTokenStore()
        #: The token in use, kept here too: a shared store (a cache, Redis) is asked only when
        #: it runs out, not on every call.
        self._token: AccessToken | None = None
        self.on_call = on_call
        #: Which links pass local validation: Vipps's own strict rule unless the project's
        #: (:func:`vipps_order_management.conf.link_policy`) adds development allowances.
        self.link_policy = link_policy or STRICT
        self._token_lock = threading.Lock()
        fingerprint = "\0".join(
            (
                self.base_url,
                self.client_id,
                self._subscription_key.reveal(),
                self.merchant_serial_number,
            )
        )
        self._token_key = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]

    def __repr__(self) -> str:
        return (
            f"<OrderManagementClient {self.base_url} client_id={self.client_id!r} "
            f"msn={self.merchant_serial_number!r}>"
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> OrderManagementClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoints

    def upload_image(self, image_id: str, data: bytes) -> str:
        """Upload PNG or JPEG bytes under ``image_id``; returns the image id.

        Raises :class:`VippsConflict` when the id exists (images can never be overwritten).
        """
        image = Image(image_id, bytes(data))
        errors = image.errors()
        if errors:
            raise PayloadValidationError(errors, subject="image")
        if not (data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff"):
            raise ImageValidationError("Vipps only accepts PNG or JPEG images", source=image_id)
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageValidationError(
                f"the image is {len(data)} bytes; Vipps accepts at most 2 MB", source=image_id
            )
        body = self._call(
            "POST",
            "/order-management/v1/images",
            "/order-management/v1/images",
            json_body=image.to_api(),
        )
        if isinstance(body, Mapping) and body.get("imageId"):
            return str(body["imageId"])
        return image_id

    def put_category(
        self,
        payment_type: PaymentType | str,
        order_id: str,
        category: Category,
        *,
        validate: bool = True,
    ) -> str | None:
        """Set the order's one v2 category (link), replacing any earlier one.

        ``validate=False`` skips the local check for a body the caller has just validated.
        """
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        if validate:
            category.validate(policy=self.link_policy)
        body = self._call(
            "PUT",
            f"/order-management/v2/{kind}/categories/{_segment(order_id, 'orderId')}",
            "/order-management/v2/{paymentType}/categories/{orderId}",
            json_body=category.to_api(),
        )
        return _as_id(body)

    def create_category(
        self, payment_type: PaymentType | str, order_id: str, category: Category
    ) -> str:
        """Add one more v3 category to the order; returns its ``categoryId``."""
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        category.validate(v3=True, policy=self.link_policy)
        body = self._call(
            "POST",
            "/order-management/v3/categories",
            "/order-management/v3/categories",
            json_body=category.to_api_v3(order_id, kind),
        )
        if isinstance(body, Mapping) and body.get("categoryId"):
            return str(body["categoryId"])
        category_id = _as_id(body)
        if not category_id:
            raise VippsAPIError(
                "Vipps created a category but returned no categoryId",
                method="POST",
                path="/order-management/v3/categories",
            )
        return category_id

    def list_categories(self, order_id: str) -> list[Category]:
        """The order's v3 categories (an empty list when there are none)."""
        _validate_order_id(order_id)
        body = self._call(
            "GET",
            "/order-management/v3/categories",
            "/order-management/v3/categories",
            params={"orderId": order_id},
        )
        items = body.get("categories") if isinstance(body, Mapping) else None
        return [Category.from_api(item) for item in items or () if isinstance(item, Mapping)]

    def get_category(self, category_id: str) -> Category | None:
        """One v3 category by id, or ``None`` when Vipps does not know it."""
        try:
            body = self._call(
                "GET",
                f"/order-management/v3/categories/{_segment(category_id)}",
                "/order-management/v3/categories/{categoryId}",
            )
        except VippsNotFound:
            return None
        return Category.from_api(body) if isinstance(body, Mapping) else None

    def delete_category(self, category_id: str) -> None:
        """Remove a v3 category. Raises :class:`VippsNotFound` when it is already gone."""
        self._call(
            "DELETE",
            f"/order-management/v3/categories/{_segment(category_id)}",
            "/order-management/v3/categories/{categoryId}",
        )

    def post_receipt(
        self,
        payment_type: PaymentType | str,
        order_id: str,
        receipt: Receipt,
        *,
        validate: bool = True,
    ) -> str | None:
        """Send the order's receipt. It can be sent once: a second one raises :class:`VippsConflict`.

        ``validate=False`` skips the local check for a receipt the caller has just validated.
        """
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        if validate:
            receipt.validate(policy=self.link_policy)
        body = self._call(
            "POST",
            f"/order-management/v2/{kind}/receipts/{_segment(order_id, 'orderId')}",
            "/order-management/v2/{paymentType}/receipts/{orderId}",
            json_body=receipt.to_api(),
        )
        return _as_id(body)

    def get_order(self, payment_type: PaymentType | str, order_id: str) -> OrderView | None:
        """What Vipps holds for the order (category and receipt), or ``None`` when nothing."""
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        try:
            body = self._call(
                "GET",
                f"/order-management/v2/{kind}/{_segment(order_id, 'orderId')}",
                "/order-management/v2/{paymentType}/{orderId}",
            )
        except VippsNotFound:
            return None
        return OrderView.from_api(body) if isinstance(body, Mapping) else OrderView(None, None)

    # ------------------------------------------------------------------ access token

    def access_token(self, *, refresh: bool = False) -> str:
        """A valid access token, fetched only when the stored one is missing or nearly expired."""
        if not refresh:
            token = self._token
            if token is not None and token.usable():
                return token.value
            token = self.token_store.get(self._token_key)
            if token is not None and token.usable():
                self._token = token
                return token.value
        with self._token_lock:
            token = self.token_store.get(self._token_key)
            if token is None or not token.usable() or refresh:
                token = self._fetch_token()
                self.token_store.set(self._token_key, token)
            self._token = token
            return token.value

    def _discard_token(self, value: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None
            stored = self.token_store.get(self._token_key)
            if stored is not None and stored.value == value:
                self.token_store.delete(self._token_key)

    def _fetch_token(self) -> AccessToken:
        headers = _Headers(
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret.reveal(),
                "Ocp-Apim-Subscription-Key": self._subscription_key.reveal(),
                "Merchant-Serial-Number": self.merchant_serial_number,
                **self.system_headers,
            }
        )
        path = "/accesstoken/get"
        response = self._send("POST", path, path, headers=headers)
        if response.status_code != 200:
            error = self._error(response, "POST", path)
            if isinstance(error, VippsAuthError | VippsNotFound) or response.status_code == 400:
                raise VippsAuthError(
                    f"Vipps refused the access token request ({response.status_code}): "
                    f"{error.detail or error.title or 'no details'}. Check CLIENT_ID, CLIENT_SECRET, "
                    "SUBSCRIPTION_KEY and MERCHANT_SERIAL_NUMBER for this sales unit.",
                    status_code=response.status_code,
                    title=error.title,
                    detail=error.detail,
                    method="POST",
                    path=path,
                ) from None
            raise error
        try:
            data = response.json()
            value = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise VippsAPIError(
                "Vipps answered the access token request without an access_token",
                status_code=response.status_code,
                method="POST",
                path=path,
            ) from None
        now = time.time()
        lifetime = _number(data.get("expires_in"))
        if lifetime is None:
            expires_on = _number(data.get("expires_on")) or _jwt_expiry(value)
            lifetime = (expires_on - now) if expires_on else 3600.0
        # Refresh at 10 % (at least 60 s) before expiry, but never later than half-way, so a
        # short-lived token is still reused.
        margin = min(max(REFRESH_MINIMUM_SECONDS, lifetime * REFRESH_FRACTION), lifetime / 2)
        return AccessToken(value, now + lifetime - margin)

    # ------------------------------------------------------------------ transport

    def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send an authenticated call; on 401 fetch a new token and try exactly once more."""
        for attempt in range(2):
            token = Secret(self.access_token(refresh=attempt > 0))
            headers = _Headers(
                {
                    "Authorization": f"Bearer {token.reveal()}",
                    "Ocp-Apim-Subscription-Key": self._subscription_key.reveal(),
                    "Merchant-Serial-Number": self.merchant_serial_number,
                    **self.system_headers,
                }
            )
            response = self._send(
                method, path, endpoint, headers=headers, json_body=json_body, params=params
            )
            if response.status_code == 401 and attempt == 0:
                logger.info("%s %s: token refused (401); fetching a new one", method, path)
                self._discard_token(token.reveal())
                continue
            if response.status_code >= 400:
                raise self._error(response, method, path)
            return _success_body(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> _Answer:
        started = time.monotonic()
        data = None
        headers = _Headers({"Accept": "application/json", **headers})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        response: _Answer | None = None
        failure: tuple[str, str] | None = None
        try:
            response = self._exchange(method, self.base_url + path, headers, data, params)
        except urllib3.exceptions.NewConnectionError as exc:
            # urllib3 files a refused connection under its timeouts; it is not one.
            failure = ("connection", _os_reason(exc))
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            failure = ("timeout", "")
        except (requests.exceptions.SSLError, urllib3.exceptions.SSLError) as exc:
            failure = ("tls", _os_reason(exc))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = ("connection", _os_reason(exc))
        if response is None:
            # Raised here, outside the handler: the library's exception (whose frames hold
            # the request's headers) is not chained to ours, so no traceback shows them.
            assert failure is not None
            kind, name = failure
            message = (
                f"{method} {path}: no answer from Vipps within {self.timeout} seconds"
                if kind == "timeout"
                else f"{method} {path}: could not reach Vipps ({name})"
            )
            error = VippsTransientError(message, method=method, path=path, network_error=kind)
            self._report(method, endpoint, path, None, started, message)
            raise error
        problem = None if response.status_code < 400 else f"HTTP {response.status_code}"
        self._report(method, endpoint, path, response.status_code, started, problem)
        return response

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
    ) -> _Answer:
        """One request and its whole answer.

        A session you passed is used as it is (its hooks, auth, cookies, proxies). The client's
        own session sends through the connection pool of its mounted transport adapter, with
        the adapter's TLS settings: ``Session.request`` would also prepare cookies, hooks, auth
        and redirects and build a response object on every call, none of which the API uses,
        and skipping that halves the CPU a call costs, which a worker sending thousands of
        calls, many threads at once, feels.
        """
        session = self.session
        if not self._owns_session or session.proxies:
            answer = session.request(
                method,
                url,
                data=data,
                params=params,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            return _Answer(answer.status_code, answer.content, answer.headers, answer.reason or "")
        target = urlsplit(url)
        path = target.path + (f"?{urlencode(params)}" if params else "")
        response = self._pool().urlopen(
            method,
            path,
            body=data,
            headers=_Headers({**self._session_headers, **headers}),
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=self._urllib3_timeout,
            preload_content=True,
        )
        return _Answer(response.status, response.data, response.headers, response.reason or "")

    def _pool(self) -> Any:
        """The pooled connections to the API's host, as the session's adapter keeps them."""
        pool = self._connection_pool
        if pool is None:
            template = requests.Request("GET", self.base_url).prepare()
            adapter = self.session.get_adapter(self.base_url)
            pool = adapter.get_connection_with_tls_context(
                template, verify=self.session.verify, cert=self.session.cert
            )
            self._connection_pool = pool
        return pool

    def _report(
        self,
        method: str,
        endpoint: str,
        path: str,
        status: int | None,
        started: float,
        error: str | None,
    ) -> None:
        duration = time.monotonic() - started
        logger.debug("%s %s -> %s in %.0f ms", method, path, status or error, duration * 1000)
        if self.on_call is not None:
            self.on_call(
                ApiCall(
                    method,
                    endpoint,
                    path,
                    status,
                    duration,
                    self._redact(error),
                    self.merchant_serial_number,
                )
            )

    def _redact(self, text: str | None) -> str | None:
        if not text:
            return text
        for secret in (self._client_secret, self._subscription_key):
            text = text.replace(secret.reveal(), "***")
        return text

    def _error(self, response: _Answer, method: str, path: str) -> VippsAPIError:
        status = response.status_code
        title, detail, instance, params = _problem_details(response)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        text = " ".join(f"{title}:{detail}".split()).lower()
        if status in (401, 403):
            cls: type[VippsAPIError] = VippsAuthError
        elif status == 404:
            cls = VippsNotFound
        elif status == 409 or (status == 400 and "duplicate" in text):
            cls = VippsConflict
        elif classify_status(status) is Outcome.RETRY:
            cls = VippsTransientError
        else:
            cls = VippsAPIError
        summary = ": ".join(part for part in (title, detail) if part) or response.reason or ""
        message = f"{method} {path}: Vipps answered {status}"
        if summary:
            message += f" ({summary})"
        if params:
            message += ": " + "; ".join(str(param) for param in params)
        if retry_after is not None:
            message += f"; retry after {retry_after:g} s"
        return cls(
            self._redact(message) or "",
            status_code=status,
            title=self._redact(title) or "",
            detail=self._redact(detail) or "",
            invalid_params=params,
            retry_after=retry_after,
            instance=instance,
            method=method,
            path=path,
        )


# ---------------------------------------------------------------------- helpers


def _os_reason(error: BaseException) -> str:
    """The operating system's words (``[Errno 111] Connection refused``), else the error's type.

    Never the library's whole message, which may quote the request.
    """
    found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(error))
    return found.group(0).strip() if found else type(error).__name__


def _pooled_session(base_url: str, pool_size: int = 16) -> requests.Session:
    """A session for one API root, with the environment's settings read once, not per call.

    Proxies (``HTTPS_PROXY``, ``NO_PROXY``) and a CA bundle (``REQUESTS_CA_BUNDLE``) from the
    environment apply as they would by default; requests would otherwise look them (and
    ``~/.netrc``) up again on every call, which costs a worker a tenth of its time.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    # No transport retries here: the outbox retries with backoff, and a blind retry of a
    # receipt POST is exactly what must not happen. One kept connection per thread that shares
    # the session (``vipps_om_worker --concurrency``).
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = (
        f"vipps-order-management/{__version__} {requests.utils.default_user_agent()}"
    )
    return session


def clean_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; a configuration error when it is not an API root."""
    url = (base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise VippsConfigurationError(
            f"BASE_URL must be an absolute URL such as https://api.vipps.no, not {base_url!r}"
        )
    if parts.path.lower().endswith("/order-management"):
        raise VippsConfigurationError(
            f"BASE_URL is the API root without /order-management: use {url[: -len('/order-management')]!r}"
        )
    return url


def _payment_type(value: PaymentType | str) -> str:
    try:
        return PaymentType.parse(value).value
    except ValueError as exc:
        raise PayloadValidationError([("paymentType", str(exc).partition(": ")[2])]) from None


def _validate_order_id(order_id: str) -> None:
    errors = order_id_errors(order_id)
    if errors:
        raise PayloadValidationError(errors, subject="orderId")


def _segment(value: str, name: str = "categoryId") -> str:
    """``value`` as one path segment; never ``.`` or ``..``, which clients fold into the path."""
    text = str(value)
    if not text or not text.strip("."):
        raise PayloadValidationError([(name, f"{text!r} cannot name a resource")])
    return quote(text, safe="")


def _success_body(response: _Answer) -> Any:
    """JSON when it parses, else the stripped text (a bare id), else ``None`` for no body."""
    raw = response.content
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return response.text.strip()


def _as_id(body: Any) -> str | None:
    if isinstance(body, str):
        return body.strip().strip('"') or None
    if isinstance(body, Mapping):
        for key in ("id", "categoryId", "imageId"):
            if body.get(key):
                return str(body[key])
    return None


def _problem_details(
    response: _Answer,
) -> tuple[str, str, str, tuple[InvalidParam, ...]]:
    """``(title, detail, instance, invalid params)`` from any error body shape Vipps uses."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:_ERROR_TEXT_LIMIT]
        return "", text, "", ()
    if isinstance(body, str):
        return "", body[:_ERROR_TEXT_LIMIT], "", ()
    if not isinstance(body, Mapping):
        return "", "", "", ()
    title = str(body.get("title") or "")
    detail = body.get("detail") or body.get("message") or body.get("error_description") or ""
    if not detail and isinstance(body.get("error"), str):
        detail = body["error"]
    instance = str(body.get("instance") or body.get("traceId") or "")
    params: list[InvalidParam] = []
    for key in ("invalidParams", "extraDetails"):
        value = body.get(key)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    params.append(
                        InvalidParam(
                            str(item.get("name") or item.get("field") or ""),
                            str(item.get("reason") or item.get("message") or ""),
                        )
                    )
        elif isinstance(value, Mapping):
            for name, reasons in value.items():
                for reason in reasons if isinstance(reasons, list) else [reasons]:
                    params.append(InvalidParam(str(name), str(reason)))
    return title, str(detail)[:_ERROR_TEXT_LIMIT], instance, tuple(params)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying (we only need to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None
