"""ePayment, as far as a shop's web checkout needs: create, get and capture a payment.

``POST /epayment/v1/payments`` validates the body (``epayment_rules``), stores the payment in
state ``CREATED`` and answers 201 with its ``redirectUrl``: the fake's own landing page
(``landing``), where the developer approves or rejects it in the browser, which then returns
to the shop's ``returnUrl``. A ``receipt`` in the body becomes the order's Order Management
receipt at once (a later ``POST .../receipts/{reference}`` gets 409), as at Vipps.

As ePayment's spec says, the state is ``CREATED``, ``ABORTED`` or ``AUTHORIZED`` (``EXPIRED``
and ``TERMINATED`` are never reached here), and a capture leaves an authorised payment
``AUTHORIZED``: what was captured is ``aggregate.capturedAmount``. Every call that changes a
payment needs an ``Idempotency-Key``: the same key with the same body answers what the first
call answered, with another body 409. Refusals use ePayment's problem shape (``extraDetails``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from .auth import Auth
from .config import FakeConfig
from .endpoints import json_body
from .epayment_rules import (
    capture_problems,
    create_problems,
    idempotency_key_problems,
    reference_problems,
)
from .http import Request, Response
from .problems import Problem
from .state import FakeState

__all__ = [
    "DETAILS_KEY",
    "LANDING_PATH",
    "EPaymentApi",
    "decide",
    "new_record",
    "public_view",
]

LANDING_PATH = "/landing"
DETAILS_KEY = "extraDetails"
#: What the customer's decision on the landing page makes of a CREATED payment.
DECISIONS = {"approve": "AUTHORIZED", "reject": "ABORTED"}


def _invalid(problems: list[tuple[str, str]]) -> Problem:
    return Problem.invalid(problems, details_key=DETAILS_KEY)


def _fingerprint(body: Any) -> str:
    """What makes two requests "the same body" for an Idempotency-Key: the JSON, not its bytes."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _zero(currency: str) -> dict[str, Any]:
    return {"currency": currency, "value": 0}


def new_record(body: Mapping[str, Any], *, root: str, key: str, now: float) -> dict[str, Any]:
    """A just-created payment as the fake stores it (and its state file keeps it)."""
    currency = body["amount"]["currency"]
    token = secrets.token_urlsafe(18)
    return {
        "reference": body["reference"],
        "state": "CREATED",
        "amount": dict(body["amount"]),
        "paymentMethod": {"type": body["paymentMethod"]["type"]},
        "aggregate": {
            name: _zero(currency)
            for name in ("authorizedAmount", "cancelledAmount", "capturedAmount", "refundedAmount")
        },
        "pspReference": str(secrets.randbelow(9 * 10**9) + 10**9),
        "redirectUrl": f"{root}{LANDING_PATH}?token={token}",
        "returnUrl": body.get("returnUrl"),
        "landingToken": token,
        "idempotencyKey": key,
        "requestFingerprint": _fingerprint(body),
        "captures": {},
        "request": dict(body),
        "createdAt": now,
    }


def public_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The payment as ``GET /epayment/v1/payments/{reference}`` answers (no receipt in it)."""
    view = {
        "aggregate": record["aggregate"],
        "amount": record["amount"],
        "state": record["state"],
        "paymentMethod": record["paymentMethod"],
        "profile": {},
        "pspReference": record["pspReference"],
        "redirectUrl": record["redirectUrl"],
        "reference": record["reference"],
    }
    metadata = record["request"].get("metadata")
    if metadata is not None:
        view["metadata"] = metadata
    return view


def decide(state: FakeState, msn: str, reference: str, decision: str) -> dict[str, Any]:
    """Approve or reject a ``CREATED`` payment (``decision`` "approve" or "reject").

    Returns the changed record; ``ValueError`` for an unknown payment or one already decided.
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision must be 'approve' or 'reject', not {decision!r}")
    with state.lock:
        record = state.payment(msn, reference)
        if record is None:
            raise ValueError(f"no payment {reference!r} for merchant serial number {msn}")
        if record["state"] != "CREATED":
            raise ValueError(f"payment {reference!r} is {record['state']}, no longer CREATED")
        record["state"] = DECISIONS[decision]
        if decision == "approve":  # the whole amount is authorised
            record["aggregate"]["authorizedAmount"] = dict(record["amount"])
        state.put_payment(msn, reference, record)
    return record


class EPaymentApi:
    """Route handlers for ``/epayment/v1/payments...``; each merchant sees its own payments."""

    def __init__(self, state: FakeState, config: FakeConfig, auth: Auth) -> None:
        self._state = state
        self._config = config
        self._auth = auth

    @staticmethod
    def _reference(request: Request) -> str:
        reference = request.param("reference")
        problems = reference_problems(reference)
        if problems:
            raise _invalid(problems)
        return reference

    def _record(self, msn: str, reference: str) -> dict[str, Any]:
        record = self._state.payment(msn, reference)
        if record is None:
            raise Problem(
                404,
                f"No payment with reference {reference!r} for merchant serial number {msn}",
                details_key=DETAILS_KEY,
            )
        return record

    def _checked_body(self, request: Request, check: Any) -> tuple[str, Any]:
        """The Idempotency-Key and the JSON body, both checked; one 400 for all problems."""
        key = request.headers.get("Idempotency-Key")
        body = json_body(request, details_key=DETAILS_KEY)
        problems = idempotency_key_problems(key) + check(body)
        if problems:
            raise _invalid(problems)
        assert key is not None
        return key, body

    def create_payment(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        msn = merchant.msn
        key, body = self._checked_body(
            request, lambda body: create_problems(body, self._config.http_link_hosts)
        )
        reference = body["reference"]
        root = f"http://{request.headers.get('Host') or '127.0.0.1'}"
        with self._state.lock:  # the checks and both writes at once, as one payment
            earlier = self._state.find_payment(
                lambda owner, record: owner == msn and record.get("idempotencyKey") == key
            )
            if earlier is not None:
                return self._replay_create(earlier[2], body)
            if self._state.payment(msn, reference) is not None:
                raise _conflict(f"A payment with reference {reference!r} already exists")
            receipt = body.get("receipt")
            receipt_key = (msn, "ECOM", reference)
            if receipt is not None and self._state.has_receipt(receipt_key):
                raise _conflict(f"A receipt already exists for reference {reference!r}")
            record = new_record(body, root=root, key=key, now=self._state.now())
            self._state.put_payment(msn, reference, record)
            if receipt is not None:
                self._state.add_receipt(receipt_key, receipt)
        return Response.json(201, {"reference": reference, "redirectUrl": record["redirectUrl"]})

    @staticmethod
    def _replay_create(record: Mapping[str, Any], body: Any) -> Response:
        if record.get("requestFingerprint") != _fingerprint(body):
            raise _conflict(
                "This Idempotency-Key was used for another request; use a new key for a new payment"
            )
        return Response.json(
            201, {"reference": record["reference"], "redirectUrl": record["redirectUrl"]}
        )

    def get_payment(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        reference = self._reference(request)
        return Response.json(200, public_view(self._record(merchant.msn, reference)))

    def capture_payment(self, request: Request) -> Response:
        merchant = self._auth.authenticate(request)
        reference = self._reference(request)
        key, body = self._checked_body(request, capture_problems)
        fingerprint = _fingerprint(body)
        with self._state.lock:
            record = self._record(merchant.msn, reference)
            earlier = record["captures"].get(key)
            if earlier is not None:
                if earlier["fingerprint"] != fingerprint:
                    raise _conflict("This Idempotency-Key was used for another capture")
                return Response.json(200, earlier["response"])
            _capture(record, body["modificationAmount"])
            response = {
                "amount": record["amount"],
                "state": record["state"],
                "aggregate": record["aggregate"],
                "pspReference": record["pspReference"],
                "reference": reference,
            }
            record["captures"][key] = {"fingerprint": fingerprint, "response": response}
            self._state.put_payment(merchant.msn, reference, record)
        return Response.json(200, response)


def _conflict(detail: str) -> Problem:
    return Problem(409, detail, details_key=DETAILS_KEY)


def _capture(record: dict[str, Any], amount: Mapping[str, Any]) -> None:
    """Add ``amount`` to what was captured; a problem when the payment cannot give it."""
    if record["state"] != "AUTHORIZED":
        raise _invalid(
            [("reference", f"the payment is {record['state']}; only an AUTHORIZED one is captured")]
        )
    aggregate = record["aggregate"]
    currency = record["amount"]["currency"]
    if amount["currency"] != currency:
        raise _invalid(
            [
                (
                    "modificationAmount.currency",
                    f"must be the payment's {currency}, not {amount['currency']}",
                )
            ]
        )
    left = (
        aggregate["authorizedAmount"]["value"]
        - aggregate["capturedAmount"]["value"]
        - aggregate["cancelledAmount"]["value"]
    )
    if amount["value"] > left:
        raise _invalid(
            [
                (
                    "modificationAmount.value",
                    f"is {amount['value']}, more than the {left} left to capture",
                )
            ]
        )
    aggregate["capturedAmount"] = {
        "currency": currency,
        "value": aggregate["capturedAmount"]["value"] + amount["value"],
    }
