"""``FakeVippsServer``: the pieces wired together, and the public face tests use.

It owns the state, the switches, the fault injector and the socket; it maps each path to a
handler (``auth``, ``endpoints``, ``epayment``, ``landing``, ``preview``, ``inspection``) and
runs every request through one pipeline: faults first, then the handler, then the request log.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .auth import Auth
from .config import FakeConfig
from .endpoints import OrderManagementApi
from .epayment import LANDING_PATH, EPaymentApi, decide
from .faults import Decision, FaultInjector
from .http import Abort, Headers, HTTPServer, Match, Request, Response, Router
from .inspection import STATE_PATH, InspectionPages
from .landing import PAYMENTS_PATH, LandingPages
from .preview import PreviewPages
from .problems import Problem, azure
from .state import FakeMerchant, FakeState, IssuedToken, RecordedRequest
from .statefile import StateFile
from .validation import PAYMENT_TYPES

__all__ = ["REDACTED", "FakeVippsServer"]

# The name projects configure to see or silence the one-line-per-request log.
logger = logging.getLogger("vipps_order_management.testing.fake_server")

REDACTED = "<redacted>"
_REDACTED_HEADERS = frozenset({"authorization", "client_secret", "ocp-apim-subscription-key"})


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


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _is_token_path(path: str) -> bool:
    return path.lower().rstrip("/") == "/accesstoken/get"


class _Setting:
    """A server attribute that lives in its ``FakeConfig``, where handlers read it per request."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, server: FakeVippsServer | None, owner: type | None = None) -> Any:
        if server is None:
            return self
        return getattr(server._config, self.name)

    def __set__(self, server: FakeVippsServer, value: Any) -> None:
        # Checked as the constructor checks it: a typo fails here, not in a handler later.
        checked = dataclasses.replace(server._config, **{self.name: value})
        setattr(server._config, self.name, getattr(checked, self.name))


class FakeVippsServer:
    """The fake Vipps API on a real socket; a context manager that starts and stops it.

    ``url`` is the API root (``/accesstoken/get``, ``/order-management/...`` and
    ``/epayment/v1/payments`` are under it) and ``credentials`` the default merchant's keys.
    State is kept per merchant serial number and can be inspected with :meth:`receipt`,
    :meth:`category`, :meth:`categories_v3`, :meth:`images`, :meth:`payments` and
    :attr:`requests` (or over HTTP at ``/_fake/state``); :attr:`faults` injects failures.
    Configuration attributes (the keyword arguments) may be changed on a running server;
    :meth:`reset` restores them. With ``state_file`` what it stores is read from that file
    (when it exists) and written to it after every change, so it outlives the process.
    """

    token_lifetime = _Setting()
    max_image_bytes = _Setting()
    min_image_height = _Setting()
    duplicate_image_status = _Setting()
    success_body = _Setting()
    unknown_image_status = _Setting()
    v3_category_cap = _Setting()
    problem_details_key = _Setting()
    http_link_hosts = _Setting()

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
        unknown_image_status: int | None = 404,
        v3_category_cap: int | None = None,
        problem_details_key: str = "invalidParams",
        http_link_hosts: Collection[str] = (),
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._config = FakeConfig(
            token_lifetime=token_lifetime,
            max_image_bytes=max_image_bytes,
            min_image_height=min_image_height,
            duplicate_image_status=duplicate_image_status,
            success_body=success_body,
            unknown_image_status=unknown_image_status,
            v3_category_cap=v3_category_cap,
            problem_details_key=problem_details_key,
            http_link_hosts=http_link_hosts,
        )
        self._initial_config = dataclasses.replace(self._config)
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._lifecycle = threading.Lock()
        self._connection_numbers = itertools.count(1)
        self._state = FakeState(merchants if merchants is not None else [FakeMerchant()])
        self._state_file = StateFile(state_file) if state_file is not None else None
        if self._state_file is not None:
            self._state_file.attach(self._state)
        self.faults = FaultInjector()
        self.router = Router()
        self._add_routes()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _add_routes(self) -> None:
        auth = Auth(self._state, self._config)
        api = OrderManagementApi(self._state, self._config, auth)
        epayment = EPaymentApi(self._state, self._config, auth)
        landing = LandingPages(self._state)
        previews = PreviewPages(self._state)
        inspection = InspectionPages(self._state)
        add = self.router.add
        om = "/order-management"
        segment = r"[^/]+"
        add("POST", r"/accesstoken/get", auth.token)
        add("POST", rf"{om}/v1/images", api.upload_image)
        add("*", rf"{om}/v1/(?:orders|receipts)/{segment}", api.deprecated)
        add(
            "PUT",
            rf"{om}/v2/(?P<paymentType>{segment})/categories/(?P<orderId>{segment})",
            api.put_category,
        )
        add(
            "POST",
            rf"{om}/v2/(?P<paymentType>{segment})/receipts/(?P<orderId>{segment})",
            api.post_receipt,
        )
        add("GET", rf"{om}/v2/(?P<paymentType>{segment})/(?P<orderId>{segment})", api.get_order)
        add("POST", rf"{om}/v3/categories", api.create_category_v3)
        add("GET", rf"{om}/v3/categories", api.list_categories_v3)
        add("GET", rf"{om}/v3/categories/(?P<categoryId>{segment})", api.get_category_v3)
        add("DELETE", rf"{om}/v3/categories/(?P<categoryId>{segment})", api.delete_category_v3)
        payments = "/epayment/v1/payments"
        add("POST", payments, epayment.create_payment)
        add("GET", rf"{payments}/(?P<reference>{segment})", epayment.get_payment)
        add("POST", rf"{payments}/(?P<reference>{segment})/capture", epayment.capture_payment)
        add("GET", rf"{LANDING_PATH}/?", landing.page, inspection=True)
        add("POST", rf"{LANDING_PATH}/?", landing.decide, inspection=True)
        add("GET", rf"{PAYMENTS_PATH}/?", landing.index, inspection=True)
        add("GET", r"/", inspection.index, inspection=True)
        add("GET", rf"{STATE_PATH}/?", inspection.state, inspection=True)
        add("GET", rf"{STATE_PATH}/(?P<msn>{segment})", inspection.merchant_state, inspection=True)
        add("GET", r"/preview/?", previews.index, inspection=True)
        add(
            "GET",
            rf"/preview/(?P<msn>{segment})/(?P<paymentType>{segment})/(?P<orderId>{segment})",
            previews.order,
            inspection=True,
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeVippsServer:
        """Bind and serve in a daemon thread; a restarted server keeps its port. Idempotent."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            port = self._bound_port if self._bound_port is not None else self._requested_port
            httpd = HTTPServer(
                (self.host, port),
                process=self._process,
                body_limit=lambda: self.max_request_bytes,
                connection_numbers=self._connection_numbers,
            )
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
        return self._config.max_request_bytes

    @property
    def state_file(self) -> Path | None:
        """The file that keeps what is stored across restarts (absolute), or ``None``."""
        return self._state_file.path if self._state_file is not None else None

    # ---------------------------------------------------------------- merchants and clock

    @property
    def merchant(self) -> FakeMerchant:
        """The default merchant (the first one)."""
        return self._state.merchants[0]

    @property
    def merchants(self) -> tuple[FakeMerchant, ...]:
        return self._state.merchants

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
        return self._state.add_merchant(merchant)

    def now(self) -> float:
        """The fake's clock (epoch seconds): the wall clock plus :meth:`advance_clock` offsets."""
        return self._state.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the fake's clock forward (tokens expire by it) and return the new time."""
        return self._state.advance_clock(seconds)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far; clients must fetch new ones."""
        self._state.expire_tokens()

    # ---------------------------------------------------------------- inspection and seeding

    def issued_token(self, jti: str) -> IssuedToken | None:
        """What the fake issued as the token ``jti`` (a recorded request's ``token_jti``): the
        sales unit (``msn``) it belongs to and when it expires; ``None`` if it issued none."""
        return self._state.token(jti)

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
        return self._state.receipt((self._msn(msn), self._payment_type(payment_type), order_id))

    def category(
        self, order_id: str, payment_type: str = "ECOM", msn: str | int | None = None
    ) -> dict[str, Any] | None:
        """The current v2 category (``category``, ``orderDetailsUrl``, ``imageId``) or ``None``."""
        return self._state.category((self._msn(msn), self._payment_type(payment_type), order_id))

    def categories_v3(self, order_id: str, msn: str | int | None = None) -> list[dict[str, Any]]:
        """The order's v3 categories (any payment type), oldest first."""
        return self._state.categories_v3(self._msn(msn), order_id)

    def images(self, msn: str | int | None = None) -> dict[str, bytes]:
        """``{image_id: bytes}`` uploaded for the merchant."""
        return self._state.images(self._msn(msn))

    def payments(self, msn: str | int | None = None) -> dict[str, dict[str, Any]]:
        """``{reference: record}`` of the ePayment payments created for the merchant.

        A record holds ``state``, ``amount``, ``aggregate`` (authorised, captured... amounts),
        ``redirectUrl`` (its landing page), ``returnUrl`` and ``request``: the create-payment
        body as it was sent, ``receipt`` included.
        """
        return self._state.payments(self._msn(msn))

    def payment(self, reference: str, msn: str | int | None = None) -> dict[str, Any] | None:
        """The record of one ePayment payment (see :meth:`payments`), or ``None``."""
        return self._state.payment(self._msn(msn), reference)

    def approve_payment(self, reference: str, msn: str | int | None = None) -> dict[str, Any]:
        """Approve a ``CREATED`` payment as the customer would on its landing page."""
        return decide(self._state, self._msn(msn), reference, "approve")

    def reject_payment(self, reference: str, msn: str | int | None = None) -> dict[str, Any]:
        """Reject a ``CREATED`` payment (it becomes ``ABORTED``), as on its landing page."""
        return decide(self._state, self._msn(msn), reference, "reject")

    def store_receipt(
        self,
        order_id: str,
        body: Mapping[str, Any],
        payment_type: str = "ECOM",
        msn: str | int | None = None,
    ) -> None:
        """Seed a receipt as if sent earlier (for example through ePayment); not validated."""
        key = (self._msn(msn), self._payment_type(payment_type), order_id)
        self._state.add_receipt(key, body, replace=True)

    def store_image(self, image_id: str, data: bytes, msn: str | int | None = None) -> None:
        """Seed an image as if uploaded earlier; not validated."""
        self._state.add_image(self._msn(msn), image_id, data, replace=True)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (copies)."""
        return self._state.requests

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
        return self._state.count_in_flight(method, path_contains)

    def clear_requests(self) -> None:
        self._state.clear_requests()

    def reset(self) -> None:
        """Forget all state, tokens, faults and requests, rewind the clock, restore the
        configuration given to the constructor. Merchants stay registered; a state file is
        emptied too."""
        with self._state.lock:
            self._config.restore(self._initial_config)
            self._state.clear()
        self.faults.clear()

    def preview_url(
        self, order_id: str, payment_type: str = "ECOM", msn: str | int | None = None
    ) -> str:
        """Where the phone-sized preview of an order is served (no authentication: a dev tool)."""
        merchant_msn = str(msn) if msn is not None else self.merchant.msn
        return (
            f"{self.url}/preview/{merchant_msn}/{payment_type.upper()}/{quote(order_id, safe='')}"
        )

    def _preview_keys(self) -> list[tuple[str, str, str]]:
        # The example project's demo reads this: every (msn, paymentType, orderId) held.
        return self._state.order_keys()

    # ---------------------------------------------------------------- request processing

    def _process(self, request: Request, early: Response | None) -> Response | None:
        """Apply faults, dispatch, record; ``None`` means: close the connection unanswered."""
        found = self.router.resolve(request.method, request.path)
        if early is None and found.route is not None and found.route.inspection:
            response = self._dispatch(request, found)
            logger.info("%s %s %s", request.method, request.path, response.status)
            return response
        with self._state.in_flight(request.method, request.path):
            return self._process_request(request, found, early=early)

    def _process_request(
        self, request: Request, found: Match, *, early: Response | None
    ) -> Response | None:
        fault: str | None = None
        deliver = True
        response: Response | None
        generation = self._state.generation
        if early is not None:
            response = early
        else:
            decision = self.faults.decide(request.path, token_endpoint=_is_token_path(request.path))
            fault = decision.name
            if decision.delay:
                time.sleep(decision.delay)
                if generation != self._state.generation:
                    # reset() ran while this request slept: it belongs to a finished test and
                    # must neither change nor appear in the new state.
                    return None
            if decision.status is not None:
                response = self._fault_response(decision)
            elif decision.drop and not decision.after_processing:
                response = None
            else:
                response = self._dispatch(request, found)
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
        # Recorded before the reply leaves, so tests never race the log.
        self._state.record(record, generation)
        logger.info(
            "%s %s %s%s",
            request.method,
            request.path,
            status if status is not None else "-",
            f" [{fault}]" if fault else "",
        )
        return response if deliver else None

    def _dispatch(self, request: Request, found: Match) -> Response:
        try:
            if found.route is None:
                if found.allowed:
                    raise Problem(
                        405,
                        f"{request.method} is not allowed here; use {', '.join(found.allowed)}",
                        headers=[("Allow", ", ".join(found.allowed))],
                    )
                return azure(404, "Resource not found")
            request.params = found.params
            return found.route.handler(request)
        except Abort as abort:
            return abort.response
        except Problem as problem:
            return problem.response(self._config.problem_details_key)
        except Exception as error:
            name = found.route.name if found.route else request.path
            logger.exception("fake Vipps server: handler %s failed", name)
            return Problem(500, f"The fake Vipps server failed: {error!r}").response(
                self._config.problem_details_key
            )

    def _fault_response(self, decision: Decision) -> Response:
        headers = []
        if decision.retry_after is not None:
            headers.append(("Retry-After", _format_seconds(decision.retry_after)))
        if decision.status == 429:
            seconds = _format_seconds(decision.retry_after or 1)
            return azure(
                429,
                f"Rate limit is exceeded. Try again in {seconds} seconds.",
                headers=headers,
                note=decision.name,
            )
        status = int(decision.status or 503)
        problem = Problem(status, f"Injected fault ({decision.name})", headers=headers)
        return problem.response(self._config.problem_details_key)
