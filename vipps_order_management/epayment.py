"""The receipt inside an ePayment payment, as Vipps recommends, instead of posted afterwards.

A shop that creates its ePayment payments itself (with its own client) adds
:func:`payment_fields` to its create-payment body: the order's ``receipt``, built and validated
by the same plan as every receipt the app sends, and ``receiptUrl``, the signed page where the
customer can view and print it. Once Vipps has answered 201 it calls :func:`payment_created`:
the receipt that came with the payment *is* the Order Management receipt (Vipps answers a
second one with 409), so the app records it as sent and from then on sends only the order's
links and images. A complete create-payment call is in the documentation ("ePayment").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models

from . import public_links, signals
from .conf import link_policy
from .engine.plan import plan
from .engine.receipts import mark_sent
from .exceptions import PayloadValidationError, ReceiptValidationError
from .models import VippsOrder
from .payloads import Receipt

__all__ = ["mark_receipt_sent", "payment_created", "payment_fields", "receipt_for_epayment"]


def _receipt(order: models.Model) -> Receipt:
    """The order's receipt as the plan builds it; its errors name the fields under ``receipt``."""
    try:
        return plan(order).require_receipt()
    except ReceiptValidationError as error:
        raise ReceiptValidationError(
            [(f"receipt.{path}" if path else "receipt", message) for path, message in error.errors]
        ) from error


def _amount_errors(receipt: Receipt, amount: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Why the payment's ``amount`` is not what the receipt says was bought (it is proof of it)."""
    currency = str(receipt.bottom_line.currency)
    errors = []
    if amount.get("currency") != currency:
        errors.append(
            ("amount.currency", f"is {amount.get('currency')!r}, but the receipt is in {currency}")
        )
    value = amount.get("value")
    if type(value) is not int:
        errors.append(("amount.value", f"must be an integer in minor units, not {value!r}"))
    elif value != receipt.total_amount:
        errors.append(
            (
                "amount.value",
                f"is {value}, but the receipt's lines add up to {receipt.total_amount} (minor "
                "units); the receipt must be what the customer pays",
            )
        )
    return errors


def payment_fields(
    order: models.Model, *, receipt_url: bool = True, amount: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The fields to add to the ePayment create-payment body for ``order``.

    ``{"receipt": {...}, "receiptUrl": "https://..."}``: the receipt (only for ``WALLET``
    payments) and the absolute signed URL of its printable page (needs ``SITE_URL``; left out
    with ``receipt_url=False``). Given the body's ``amount`` (``{"currency", "value"}``), the
    receipt must add up to it. Raises :class:`~.exceptions.ReceiptValidationError` or
    :class:`~.exceptions.PayloadValidationError` naming each field (``receipt.orderLines[0].name``,
    ``receiptUrl``, ``amount.value``), or the shop's own exception from its adapter.
    """
    receipt = _receipt(order)
    fields: dict[str, Any] = {"receipt": receipt.to_api()}
    errors = _amount_errors(receipt, amount) if amount is not None else []
    if receipt_url:
        url, url_errors = link_policy().check(public_links.receipt_url(order), path="receiptUrl")
        errors.extend(url_errors)
        fields["receiptUrl"] = url
    if errors:
        raise PayloadValidationError(errors, subject="ePayment payment")
    return fields


def payment_created(order: models.Model) -> VippsOrder:
    """Record that Vipps created the payment with the receipt of :func:`payment_fields`.

    Call it once Vipps answered the create-payment call with 201. The outbox then never posts
    that receipt: Order Management gets only the order's links and images.
    """
    return mark_receipt_sent(order, via="epayment")


def receipt_for_epayment(order: models.Model) -> dict[str, Any]:
    """The ``receipt`` object to embed in an ePayment create-payment request (validated).

    :func:`payment_fields` gives it with ``receiptUrl``; call :func:`mark_receipt_sent` (or
    :func:`payment_created`) once the payment is created, so it is never posted again.
    """
    return plan(order).require_receipt().to_api()


def mark_receipt_sent(order: models.Model, via: str = "epayment") -> VippsOrder:
    """Remember that the order's receipt reached Vipps another way (ePayment, Checkout)."""
    sync_plan = plan(order)
    receipt = sync_plan.require_receipt()
    content_type_id, object_id = sync_plan.key
    state, _ = VippsOrder.objects.get_or_create(
        content_type_id=content_type_id, object_id=object_id
    )
    target = sync_plan.target
    if target is not None:
        state.reference = target.reference
        state.payment_type = target.payment_type.value
        state.merchant_serial_number = target.merchant_serial_number
    mark_sent(state, receipt.content_hash(), via)
    state.save()
    signals.receipt_sent.send_robust(type(order), order=order, receipt=receipt, via=via)
    return state
