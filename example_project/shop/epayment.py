"""The shop's own ePayment client: the payment with its receipt inside, read back, captured.

A shop brings its own ePayment client; this one is a page of ``requests``. The app gives it
the ``receipt`` and ``receiptUrl`` fields (``payment_fields``) and is told when the payment
exists (``payment_created``), so Order Management then gets only the order's links and images.

Every call goes to the order's own sales unit: the adapter's merchant serial number and that
unit's keys (``sales_unit_credentials``), in the order's currency. A second storefront with a
sales unit of its own therefore needs configuration, not code.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import requests

from vipps_order_management.adapters import get_adapter
from vipps_order_management.conf import app_settings
from vipps_order_management.epayment import payment_created, payment_fields
from vipps_order_management.money import from_minor_units, to_minor_units
from vipps_order_management.sales_units import SalesUnitCredentials, sales_unit_credentials

from .models import Order

TIMEOUT = 10
PAYMENTS = "/epayment/v1/payments"

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class PaymentError(Exception):
    """Vipps refused a call or could not be reached; the message says what it answered."""


def _unit(order: Order) -> SalesUnitCredentials:
    return sales_unit_credentials(get_adapter(order).get_merchant_serial_number(order))


def _token(unit: SalesUnitCredentials) -> str:
    """An access token for the unit, fetched once and kept until a minute before it expires."""
    key = (unit.base_url, unit.client_id, unit.merchant_serial_number)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached is not None and cached[1] > time.time() + 60:
            return cached[0]
        answer = _checked(
            requests.post(
                f"{unit.base_url}/accesstoken/get", headers=unit.token_headers(), timeout=TIMEOUT
            )
        )
        _tokens[key] = (answer["access_token"], float(answer["expires_on"]))
        return answer["access_token"]


def _checked(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        detail = problem.get("detail") or problem.get("message") or response.reason
        raise PaymentError(f"{response.status_code}: {detail}")
    return response.json()


def _call(
    order: Order, method: str, path: str, *, body: Any = None, key: str | None = None
) -> dict[str, Any]:
    unit = _unit(order)
    headers = {
        "Authorization": f"Bearer {_token(unit)}",
        "Ocp-Apim-Subscription-Key": unit.subscription_key,
        "Merchant-Serial-Number": unit.merchant_serial_number,
        "Vipps-System-Name": app_settings.SYSTEM_NAME,
        "Vipps-System-Version": app_settings.SYSTEM_VERSION,
        "Vipps-System-Plugin-Name": "strikk-og-sokk",
        "Vipps-System-Plugin-Version": "1.0",
    }
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        response = requests.request(
            method, unit.base_url + path, json=body, headers=headers, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        raise PaymentError(f"Vipps could not be reached ({type(error).__name__})") from None
    return _checked(response)


def _amount(order: Order) -> dict[str, Any]:
    currency = get_adapter(order).get_currency(order)
    return {"currency": currency, "value": to_minor_units(order.total, currency)}


def create_payment(order: Order, return_url: str) -> str:
    """Create the order's payment, its receipt inside; returns where to send the browser.

    The order's reference (set, not yet saved) is saved only after ``payment_created``: until
    then the adapter gives the saved order no reference, so a worker looking at the new order
    at that moment leaves its receipt alone, and cannot note it as "waiting" over what
    ``payment_created`` records.
    """
    amount = _amount(order)
    body = {
        "amount": amount,
        "paymentMethod": {"type": "WALLET"},
        "reference": order.vipps_reference,
        "returnUrl": return_url,
        "userFlow": "WEB_REDIRECT",
        "paymentDescription": str(order),
        **payment_fields(order, amount=amount),
    }
    # The reference as the key: a retry of this call is this payment, never a second one.
    created = _call(order, "POST", PAYMENTS, body=body, key=order.vipps_reference)
    payment_created(order)
    order.save(update_fields=["vipps_reference"])
    return created["redirectUrl"]


def get_payment(order: Order) -> dict[str, Any]:
    return _call(order, "GET", f"{PAYMENTS}/{order.vipps_reference}")


def settle(order: Order) -> dict[str, Any]:
    """Read the payment; once the customer approved it, capture it and mark the order paid.

    Returns the payment as ePayment last answered. A captured payment stays ``AUTHORIZED``:
    what was captured is ``aggregate.capturedAmount``. Safe to call again (a reload of the
    return page): the capture is idempotent by its key.
    """
    payment = get_payment(order)
    if payment["state"] != "AUTHORIZED":
        return payment
    aggregate = payment["aggregate"]
    left = aggregate["authorizedAmount"]["value"] - aggregate["capturedAmount"]["value"]
    if left > 0:
        body = {"modificationAmount": {"currency": payment["amount"]["currency"], "value": left}}
        path = f"{PAYMENTS}/{order.vipps_reference}/capture"
        payment = _call(order, "POST", path, body=body, key=f"capture-{order.vipps_reference}")
    order.mark_paid(
        authorized=_decimal(payment["aggregate"]["authorizedAmount"]),
        captured=_decimal(payment["aggregate"]["capturedAmount"]),
    )
    return payment


def _decimal(amount: dict[str, Any]) -> Decimal:
    return from_minor_units(amount["value"], amount["currency"])
