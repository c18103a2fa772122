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
* error bodies turned into the typed exceptions of :mod:`.exceptions`
  (:mod:`.transport.answers`);
* payloads validated locally first: an invalid body never reaches the network.

Secrets and tokens never appear in logs, reprs or exception messages
(:mod:`.transport.credentials`).
"""

from __future__ import annotations

import json
import logging
import platform
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3

from . import __version__
from .exceptions import (
    ImageValidationError,
    PayloadValidationError,
    VippsAPIError,
    VippsAuthError,
    VippsNotFound,
    VippsTransientError,
)
from .link_policy import STRICT, LinkPolicy
from .payloads import Category, Image, OrderView, PaymentType, Receipt, order_id_errors
from .transport import credentials
from .transport.access_tokens import (
    AccessToken,
    CacheTokenStore,
    MemoryTokenStore,
    TokenStore,
    store_key,
    token_from_answer,
)
from .transport.answers import Answer, already_there, as_id, error_for, success_body
from .transport.credentials import Secret, SecretHeaders, credential_problem
from .transport.session import clean_base_url, os_reason, pooled_session

__all__ = [
    "AccessToken",
    "ApiCall",
    "CacheTokenStore",
    "Endpoint",
    "MemoryTokenStore",
    "OrderManagementClient",
    "Secret",
    "TokenStore",
    "clean_base_url",
    "credential_problem",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
MAX_IMAGE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of the API: its method and its path with ``{placeholders}``.

    The template is what the call log and :class:`ApiCall` name; :meth:`path` fills it in.
    """

    method: str
    template: str

    def path(self, **segments: str) -> str:
        """The template with each placeholder one quoted path segment (never ``.`` or ``..``)."""
        return self.template.format(
            **{name: _segment(value, name) for name, value in segments.items()}
        )


TOKEN = Endpoint("POST", "/accesstoken/get")
UPLOAD_IMAGE = Endpoint("POST", "/order-management/v1/images")
PUT_CATEGORY = Endpoint("PUT", "/order-management/v2/{paymentType}/categories/{orderId}")
POST_RECEIPT = Endpoint("POST", "/order-management/v2/{paymentType}/receipts/{orderId}")
GET_ORDER = Endpoint("GET", "/order-management/v2/{paymentType}/{orderId}")
CREATE_CATEGORY = Endpoint("POST", "/order-management/v3/categories")
LIST_CATEGORIES = Endpoint("GET", "/order-management/v3/categories")
GET_CATEGORY = Endpoint("GET", "/order-management/v3/categories/{categoryId}")
DELETE_CATEGORY = Endpoint("DELETE", "/order-management/v3/categories/{categoryId}")


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
    #: Refused because what it creates is already at Vipps (``transport.answers.already_there``).
    already_there: bool = False


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
        credentials.require(
            client_id=client_id,
            client_secret=client_secret,
            subscription_key=subscription_key,
            merchant_serial_number=merchant_serial_number,
        )
        self.base_url = clean_base_url(base_url)
        self.client_id = credentials.checked("client_id", client_id)
        self._client_secret = Secret(credentials.checked("client_secret", client_secret))
        self._subscription_key = Secret(credentials.checked("subscription_key", subscription_key))
        self.merchant_serial_number = credentials.checked(
            "merchant_serial_number", merchant_serial_number
        )
        self.timeout = timeout
        self.system_headers = credentials.system_headers(
            system_name, system_version, plugin_name, plugin_version
        )
        self._owns_session = session is None
        self.session = session or pooled_session(self.base_url, pool_size)
        self._session_headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in self.session.headers.items()
        }
        self._connection_pool: Any = None
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._urllib3_timeout = urllib3.Timeout(connect=connect, read=read)
        self.token_store: TokenStore = token_store or MemoryTokenStore()
        #: The token in use, kept here too: a shared store (a cache, Redis) is asked only when
        #: it runs out, not on every call.
        self._token: AccessToken | None = None
        self._token_lock = threading.Lock()
        self._token_key = store_key(
            self.base_url,
            self.client_id,
            self._subscription_key.reveal(),
            self.merchant_serial_number,
        )
        self.on_call = on_call
        #: Which links pass local validation: Vipps's own strict rule unless the project's
        #: (:func:`vipps_order_management.conf.link_policy`) adds development allowances.
        self.link_policy = link_policy or STRICT

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
        body = self._call(UPLOAD_IMAGE, json_body=image.to_api())
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
        return self._send_for_order(PUT_CATEGORY, payment_type, order_id, category, validate)

    def create_category(
        self, payment_type: PaymentType | str, order_id: str, category: Category
    ) -> str:
        """Add one more v3 category to the order; returns its ``categoryId``."""
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        category.validate(v3=True, policy=self.link_policy)
        body = self._call(CREATE_CATEGORY, json_body=category.to_api_v3(order_id, kind))
        if isinstance(body, Mapping) and body.get("categoryId"):
            return str(body["categoryId"])
        category_id = as_id(body)
        if not category_id:
            raise VippsAPIError(
                "Vipps created a category but returned no categoryId",
                method=CREATE_CATEGORY.method,
                path=CREATE_CATEGORY.template,
            )
        return category_id

    def list_categories(self, order_id: str) -> list[Category]:
        """The order's v3 categories (an empty list when there are none)."""
        _validate_order_id(order_id)
        body = self._call(LIST_CATEGORIES, params={"orderId": order_id})
        items = body.get("categories") if isinstance(body, Mapping) else None
        return [Category.from_api(item) for item in items or () if isinstance(item, Mapping)]

    def get_category(self, category_id: str) -> Category | None:
        """One v3 category by id, or ``None`` when Vipps does not know it."""
        try:
            body = self._call(GET_CATEGORY, categoryId=category_id)
        except VippsNotFound:
            return None
        return Category.from_api(body) if isinstance(body, Mapping) else None

    def delete_category(self, category_id: str) -> None:
        """Remove a v3 category. Raises :class:`VippsNotFound` when it is already gone."""
        self._call(DELETE_CATEGORY, categoryId=category_id)

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
        return self._send_for_order(POST_RECEIPT, payment_type, order_id, receipt, validate)

    def _send_for_order(
        self,
        endpoint: Endpoint,
        payment_type: PaymentType | str,
        order_id: str,
        payload: Category | Receipt,
        validate: bool,
    ) -> str | None:
        """A v2 body for one order's path: checked here first unless the caller just did."""
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        if validate:
            payload.validate(policy=self.link_policy)
        body = self._call(endpoint, paymentType=kind, orderId=order_id, json_body=payload.to_api())
        return as_id(body)

    def get_order(self, payment_type: PaymentType | str, order_id: str) -> OrderView | None:
        """What Vipps holds for the order (category and receipt), or ``None`` when nothing."""
        kind = _payment_type(payment_type)
        _validate_order_id(order_id)
        try:
            body = self._call(GET_ORDER, paymentType=kind, orderId=order_id)
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
        headers = SecretHeaders(
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret.reveal(),
                **self._unit_headers(),
            }
        )
        path = TOKEN.template
        response = self._send(TOKEN, path, headers=headers)
        if response.status_code != 200:
            error = self._error(response, TOKEN.method, path)
            if isinstance(error, VippsAuthError | VippsNotFound) or response.status_code == 400:
                raise VippsAuthError(
                    f"Vipps refused the access token request ({response.status_code}): "
                    f"{error.detail or error.title or 'no details'}. Check CLIENT_ID, CLIENT_SECRET, "
                    "SUBSCRIPTION_KEY and MERCHANT_SERIAL_NUMBER for this sales unit.",
                    status_code=response.status_code,
                    title=error.title,
                    detail=error.detail,
                    method=TOKEN.method,
                    path=path,
                ) from None
            raise error
        try:
            return token_from_answer(response.json())
        except (ValueError, KeyError, TypeError):
            raise VippsAPIError(
                "Vipps answered the access token request without an access_token",
                status_code=response.status_code,
                method=TOKEN.method,
                path=path,
            ) from None

    # ------------------------------------------------------------------ transport

    def _unit_headers(self) -> SecretHeaders:
        """What every request carries: the subscription key, the sales unit, who is calling."""
        return SecretHeaders(
            {
                "Ocp-Apim-Subscription-Key": self._subscription_key.reveal(),
                "Merchant-Serial-Number": self.merchant_serial_number,
                **self.system_headers,
            }
        )

    def _call(
        self,
        endpoint: Endpoint,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        **segments: str,
    ) -> Any:
        """Send an authenticated call; on 401 fetch a new token and try exactly once more."""
        path = endpoint.path(**segments)
        for attempt in range(2):
            token = Secret(self.access_token(refresh=attempt > 0))
            headers = SecretHeaders(
                {"Authorization": f"Bearer {token.reveal()}", **self._unit_headers()}
            )
            response = self._send(
                endpoint, path, headers=headers, json_body=json_body, params=params
            )
            if response.status_code == 401 and attempt == 0:
                logger.info("%s %s: token refused (401); fetching a new one", endpoint.method, path)
                self._discard_token(token.reveal())
                continue
            if response.status_code >= 400:
                raise self._error(response, endpoint.method, path)
            return success_body(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        started = time.monotonic()
        method = endpoint.method
        data = None
        headers = SecretHeaders({"Accept": "application/json", **headers})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        response: Answer | None = None
        failure: tuple[str, str] | None = None
        try:
            response = self._exchange(method, self.base_url + path, headers, data, params)
        except urllib3.exceptions.NewConnectionError as exc:
            # urllib3 files a refused connection under its timeouts; it is not one.
            failure = ("connection", os_reason(exc))
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            failure = ("timeout", "")
        except (requests.exceptions.SSLError, urllib3.exceptions.SSLError) as exc:
            failure = ("tls", os_reason(exc))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = ("connection", os_reason(exc))
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
            self._report(endpoint, path, None, started, message)
            raise error
        problem = None if response.status_code < 400 else f"HTTP {response.status_code}"
        conflict = already_there(response)
        self._report(endpoint, path, response.status_code, started, problem, conflict)
        return response

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
    ) -> Answer:
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
            return Answer(answer.status_code, answer.content, answer.headers, answer.reason or "")
        target = urlsplit(url)
        path = target.path + (f"?{urlencode(params)}" if params else "")
        response = self._pool().urlopen(
            method,
            path,
            body=data,
            headers=SecretHeaders({**self._session_headers, **headers}),
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=self._urllib3_timeout,
            preload_content=True,
        )
        return Answer(response.status, response.data, response.headers, response.reason or "")

    def _pool(self) -> Any:
        """The pooled connections to the API's host, as the session's adapter keeps them."""
        pool = self._connection_pool
        if pool is None:
            template = requests.Request("GET", self.base_url).prepare()
            # Only the client's own session comes here, and pooled_session mounts an HTTPAdapter.
            adapter = cast(requests.adapters.HTTPAdapter, self.session.get_adapter(self.base_url))
            pool = adapter.get_connection_with_tls_context(
                template, verify=self.session.verify, cert=self.session.cert
            )
            self._connection_pool = pool
        return pool

    def _report(
        self,
        endpoint: Endpoint,
        path: str,
        status: int | None,
        started: float,
        error: str | None,
        conflict: bool = False,
    ) -> None:
        duration = time.monotonic() - started
        logger.debug(
            "%s %s -> %s in %.0f ms", endpoint.method, path, status or error, duration * 1000
        )
        if self.on_call is not None:
            self.on_call(
                ApiCall(
                    endpoint.method,
                    endpoint.template,
                    path,
                    status,
                    duration,
                    self._redact(error) if error else error,
                    self.merchant_serial_number,
                    conflict,
                )
            )

    def _redact(self, text: str) -> str:
        for secret in (self._client_secret, self._subscription_key):
            text = text.replace(secret.reveal(), "***")
        return text

    def _error(self, answer: Answer, method: str, path: str) -> VippsAPIError:
        return error_for(answer, method, path, self._redact)


# ---------------------------------------------------------------------- arguments


def _payment_type(value: PaymentType | str) -> str:
    try:
        return PaymentType.parse(value).value
    except ValueError as exc:
        raise PayloadValidationError([("paymentType", str(exc).partition(": ")[2])]) from None


def _validate_order_id(order_id: str) -> None:
    errors = order_id_errors(order_id)
    if errors:
        raise PayloadValidationError(errors, subject="orderId")


def _segment(value: str, name: str) -> str:
    """``value`` as one path segment; never ``.`` or ``..``, which clients fold into the path.

    The floor for every segment, ids Vipps returns included; what an orderId may hold is
    :func:`~vipps_order_management.payloads.order_id_errors`, checked before a call is built.
    """
    text = str(value)
    if not text or not text.strip("."):
        raise PayloadValidationError([(name, f"{text!r} cannot name a resource")])
    return quote(text, safe="")
