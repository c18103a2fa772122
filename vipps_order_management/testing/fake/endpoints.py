"""The Order Management endpoints (ePayment, whose receipt becomes an order's, is ``epayment``).

Each handler authenticates, validates the raw body (``validation``), changes ``FakeState`` and
answers as Vipps does, quirks included: ids as ``text/plain``, 409 on a second receipt even
when identical, a duplicate image refused and its first bytes kept, a v2 category PUT that
replaces the previous one. Refusals are raised as ``Problem`` and rendered by the server.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from typing import Any

from .auth import Auth
from .config import FakeConfig
from .http import Request, Response
from .problems import VALIDATION_TITLE, Problem
from .state import FakeState, OrderKey
from .validation import (
    IMAGE_ID_HINT,
    IMAGE_ID_RE,
    ORDER_ID_HINT,
    ORDER_ID_RE,
    PAYMENT_TYPES,
    UUID_RE,
    Fields,
    Problems,
    category_v2_problems,
    category_v3_problems,
    image_problems,
    receipt_problems,
    shown,
)

__all__ = ["OrderManagementApi", "json_body"]

logger = logging.getLogger(__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(request: Request, *, details_key: str | None = None) -> Any:
    """The request's JSON body; a problem for an empty, non-JSON or mistyped one."""
    if not request.body.strip():
        raise Problem.invalid(
            [("body", "A non-empty JSON request body is required")], details_key=details_key
        )
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(
            415,
            f"Content-Type must be application/json, not {content_type!r}",
            details_key=details_key,
        )
    try:
        return json.loads(request.body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise Problem.invalid(
            [("body", f"is not valid JSON: {error}")], details_key=details_key
        ) from None


class OrderManagementApi:
    """Route handlers for ``/order-management/...``."""

    def __init__(self, state: FakeState, config: FakeConfig, auth: Auth) -> None:
        self._state = state
        self._config = config
        self._auth = auth

    # ---------------------------------------------------------------- request checks

    @staticmethod
    def _order_key(request: Request, msn: str) -> OrderKey:
        problems: Problems = []
        raw_type = request.param("paymentType")
        payment_type = raw_type.upper()
        if payment_type not in PAYMENT_TYPES:
            problems.append(
                ("paymentType", f"must be ECOM or RECURRING (any case), not {shown(raw_type)}")
            )
        order_id = request.param("orderId")
        if not ORDER_ID_RE.fullmatch(order_id):
            problems.append(("orderId", f"{ORDER_ID_HINT}, not {shown(order_id)}"))
        if problems:
            raise Problem.invalid(problems)
        return msn, payment_type, order_id

    def _check_image_known(self, msn: str, image_id: str | None) -> None:
        status = self._config.unknown_image_status
        if image_id is None or status is None or self._state.has_image(msn, image_id):
            return
        detail = (
            f"No image with imageId {image_id!r} was uploaded for merchant serial number {msn}; "
            "it must be uploaded first with POST /order-management/v1/images"
        )
        title = VALIDATION_TITLE if status == 400 else None
        raise Problem(
            status, detail, [("imageId", "was never uploaded for this merchant")], title=title
        )

    def _created_id(self, status: int) -> Response:
        """Vipps really answers a bare id as text/plain; ``success_body="json"`` follows the spec."""
        new_id = str(uuid.uuid4())
        if self._config.success_body == "json":
            return Response.json(status, new_id)
        return Response.text(status, new_id)

    @staticmethod
    def _category_id(request: Request) -> str:
        raw = request.param("categoryId")
        if not UUID_RE.fullmatch(raw):
            raise Problem.invalid([("categoryId", f"must be a UUID, not {shown(raw)}")])
        return raw.lower()

    # ---------------------------------------------------------------- handlers

    def deprecated(self, request: Request) -> Response:
        raise Problem(
            404,
            "The v1 orders and receipts endpoints are no longer available; use the v2 endpoints",
        )

    def upload_image(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        body = json_body(request)
        if not isinstance(body, dict):
            raise Problem.invalid([("body", "must be a JSON object with imageId, src and type")])
        problems: Problems = []
        fields = Fields(problems, body, "")
        image_id = fields.pattern("imageId", IMAGE_ID_RE, IMAGE_ID_HINT, required=True)
        src = fields.string("src", required=True)
        image_type = body.get("type")
        if image_type is None:
            fields.add("type", "is required")
        elif image_type != "base64":
            fields.add("type", f'must be "base64", not {shown(image_type)}')
        if problems or image_id is None or src is None:
            raise Problem.invalid(problems)
        try:
            data = base64.b64decode("".join(src.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Problem.invalid(
                [("src", "is not valid base64 (send the raw base64 text, not a data: URL)")]
            ) from None
        problems = image_problems(
            data,
            max_bytes=self._config.max_image_bytes,
            min_height=self._config.min_image_height,
        )
        if problems:
            raise Problem.invalid(problems)
        if not self._state.add_image(merchant.msn, image_id, data):
            detail = (
                f"An image with imageId {image_id!r} already exists (duplicate); "
                "images cannot be overwritten, upload under a new imageId"
            )
            raise Problem(
                self._config.duplicate_image_status, detail, [("imageId", "duplicate imageId")]
            )
        logger.debug("stored image %s (%d bytes)", image_id, len(data))
        return Response.json(200, {"imageId": image_id})

    def put_category(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        key = self._order_key(request, merchant.msn)
        body = json_body(request)
        problems = category_v2_problems(body, self._config.http_link_hosts)
        if problems:
            raise Problem.invalid(problems)
        self._check_image_known(merchant.msn, body.get("imageId"))
        category = {
            "category": body["category"],
            "orderDetailsUrl": body["orderDetailsUrl"],
            "imageId": body.get("imageId"),
        }
        self._state.put_category(key, category)
        return self._created_id(200)

    def post_receipt(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        key = self._order_key(request, merchant.msn)
        body = json_body(request)
        problems = receipt_problems(body)
        if problems:
            raise Problem.invalid(problems)
        if not self._state.add_receipt(key, body):
            raise Problem(
                409,
                f"A receipt already exists for orderId {key[2]!r} ({key[1]}); "
                "receipts can be sent once and never changed",
            )
        return self._created_id(201)

    def get_order(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        key = self._order_key(request, merchant.msn)
        with self._state.lock:
            category = self._state.category(key)
            receipt = self._state.receipt(key)
        if category is None and receipt is None:
            raise Problem(404, f"No category or receipt found for orderId {key[2]!r} ({key[1]})")
        return Response.json(200, {"category": category, "receipt": receipt})

    def create_category_v3(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        body = json_body(request)
        problems = category_v3_problems(body, self._config.http_link_hosts)
        if problems:
            raise Problem.invalid(problems)
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
        cap = self._config.v3_category_cap
        if not self._state.add_category_v3(merchant.msn, category, cap=cap):
            raise Problem.invalid(
                [("orderId", f"the order already has the maximum of {cap} categories")]
            )
        return Response.json(201, {"categoryId": category_id})

    def list_categories_v3(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        order_id = request.query.get("orderId")
        if not order_id:
            raise Problem.invalid([("orderId", "The orderId query parameter is required")])
        if not ORDER_ID_RE.fullmatch(order_id):
            raise Problem.invalid([("orderId", f"{ORDER_ID_HINT}, not {shown(order_id)}")])
        categories = self._state.categories_v3(merchant.msn, order_id)
        return Response.json(200, {"categories": categories})

    def get_category_v3(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        category_id = self._category_id(request)
        category = self._state.category_v3(merchant.msn, category_id)
        if category is None:
            raise Problem(404, f"Category {category_id} was not found")
        return Response.json(200, category)

    def delete_category_v3(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        category_id = self._category_id(request)
        if not self._state.delete_category_v3(merchant.msn, category_id):
            raise Problem(404, f"Category {category_id} was not found")
        return Response(200)
