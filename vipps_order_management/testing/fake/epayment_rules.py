"""What ePayment accepts, for the fields a shop's web checkout uses, checked on the raw JSON.

From ePayment's own spec (``vippsas/vipps-epayment-api`` ``docs/epayment.v1.yml``): the
reference pattern, amounts as integers in minor units (at most 65 000 000) in NOK, DKK or EUR,
``paymentMethod.type`` WALLET or CARD, a ``userFlow``, an ``Idempotency-Key`` of at most 50
characters, ``paymentDescription`` of 3-100 characters, at most five ``metadata`` pairs, and
the receipt only for WALLET payments (the Order Management ``Receipt``). Where the spec is loose
the fake is strict: a member the spec does not name is refused (a typo such as ``receiptURL``
would otherwise be ignored silently), the amount must be positive, and ``returnUrl`` of a
``WEB_REDIRECT`` payment, where a browser goes back to the shop, must be ``https`` (or plain
http to a development host the fake allows). Only ``WEB_REDIRECT`` is modelled; the other
flows are refused as not supported by the fake, never accepted and left to do nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from .validation import CURRENCIES, Fields, Problems, receipt_problems, shown

__all__ = [
    "AMOUNT_MAX",
    "CREATE_FIELDS",
    "IDEMPOTENCY_KEY_MAX",
    "METHODS",
    "REFERENCE_HINT",
    "REFERENCE_RE",
    "SUPPORTED_USER_FLOWS",
    "USER_FLOWS",
    "amount_problems",
    "capture_problems",
    "create_problems",
    "idempotency_key_problems",
    "reference_problems",
]

REFERENCE_RE = re.compile(r"[a-zA-Z0-9-]{8,50}")
REFERENCE_HINT = "must be 8-50 letters (a-z, A-Z), digits or '-'"
METHODS = ("WALLET", "CARD")
USER_FLOWS = ("PUSH_MESSAGE", "NATIVE_REDIRECT", "WEB_REDIRECT", "QR")
SUPPORTED_USER_FLOWS = ("WEB_REDIRECT",)
AMOUNT_MAX = 65_000_000
IDEMPOTENCY_KEY_MAX = 50
_METADATA_MAX = 5
#: The members of ``CreatePaymentRequest``; the fake validates those a web checkout uses and
#: accepts the others as they are.
CREATE_FIELDS = frozenset(
    {
        "amount",
        "customer",
        "customerInteraction",
        "expiresAt",
        "industryData",
        "metadata",
        "minimumUserAge",
        "paymentDescription",
        "paymentMethod",
        "profile",
        "qrFormat",
        "receipt",
        "receiptUrl",
        "reference",
        "returnUrl",
        "shipping",
        "userFlow",
    }
)


def reference_problems(reference: str) -> Problems:
    """Problems with a ``{reference}`` path segment."""
    if REFERENCE_RE.fullmatch(reference):
        return []
    return [("reference", f"{REFERENCE_HINT}, not {shown(reference)}")]


def idempotency_key_problems(key: str | None) -> Problems:
    """The ``Idempotency-Key`` header is required on every call that changes a payment."""
    if not key or not key.strip():
        return [("Idempotency-Key", "The Idempotency-Key header is required")]
    if len(key) > IDEMPOTENCY_KEY_MAX:
        return [
            (
                "Idempotency-Key",
                f"must be at most {IDEMPOTENCY_KEY_MAX} characters, not {len(key)}",
            )
        ]
    return []


def amount_problems(fields: Fields, key: str) -> dict[str, Any] | None:
    """Check ``{currency, value}`` under ``key``; the amount when it is valid."""
    amount = fields.object(key, required=True)
    if amount is None:
        return None
    inner = Fields(fields.problems, amount, fields.path(key))
    currency = inner.enum("currency", CURRENCIES, required=True)
    value = inner.integer("value", required=True, minimum=1, maximum=AMOUNT_MAX, amount=True)
    if currency is None or value is None:
        return None
    return {"currency": currency, "value": value}


def _user_flow(fields: Fields) -> str | None:
    flow = fields.enum("userFlow", USER_FLOWS, required=True)
    if flow is not None and flow not in SUPPORTED_USER_FLOWS:
        fields.add("userFlow", f"{flow} is not supported by the fake; use WEB_REDIRECT")
        return None
    return flow


def _return_url(fields: Fields, http_hosts: Collection[str]) -> None:
    """The page the browser goes back to: https, or plain http to a development host."""
    url = fields.link("returnUrl", required=True, http_hosts=http_hosts)
    if url is not None and not url.lower().startswith(("https://", "http://")):
        fields.add(
            "returnUrl",
            f"must be an https URL for WEB_REDIRECT (a browser returns to it), not {shown(url)}",
        )


def _optional_members(fields: Fields, body: Mapping[str, Any], http_hosts: Collection[str]) -> None:
    description = fields.string("paymentDescription")
    if description is not None and not 3 <= len(description) <= 100:
        fields.add("paymentDescription", f"must be 3-100 characters, not {len(description)}")
    fields.link("receiptUrl", http_hosts=http_hosts)
    metadata = fields.object("metadata")
    if metadata is not None:
        if len(metadata) > _METADATA_MAX:
            fields.add("metadata", f"holds at most {_METADATA_MAX} pairs, not {len(metadata)}")
        for name, value in metadata.items():
            if len(name) > 100 or not isinstance(value, str) or len(value) > 500:
                fields.add(
                    f"metadata.{name}",
                    "keys are at most 100 characters, values strings of at most 500",
                )
    if body.get("expiresAt") is not None:
        fields.add("expiresAt", "can only be combined with userFlow PUSH_MESSAGE or QR")
    for name in sorted(set(body) - CREATE_FIELDS):
        fields.add(name, "is not a member of ePayment's CreatePaymentRequest")


def create_problems(body: Any, http_hosts: Collection[str] = ()) -> Problems:
    """Every problem with a raw create-payment body, as ``(json_path, reason)`` pairs."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object (CreatePaymentRequest)")]
    problems: Problems = []
    fields = Fields(problems, body, "")
    fields.pattern("reference", REFERENCE_RE, REFERENCE_HINT, required=True)
    amount_problems(fields, "amount")
    method = fields.object("paymentMethod", required=True)
    method_type = None
    if method is not None:
        method_type = Fields(problems, method, "paymentMethod").enum("type", METHODS, required=True)
    if _user_flow(fields) == "WEB_REDIRECT":
        _return_url(fields, http_hosts)
    _optional_members(fields, body, http_hosts)
    receipt = body.get("receipt")
    if receipt is not None:
        if method_type is not None and method_type != "WALLET":
            fields.add("receipt", "a receipt is only allowed for WALLET payments")
        problems.extend(receipt_problems(receipt, prefix="receipt."))
    return problems


def capture_problems(body: Any) -> Problems:
    """Problems with a raw capture body (``{"modificationAmount": {currency, value}}``)."""
    if not isinstance(body, dict):
        return [("body", "must be a JSON object with modificationAmount")]
    problems: Problems = []
    amount_problems(Fields(problems, body, ""), "modificationAmount")
    return problems
