"""The fake's landing page: where a payment's ``redirectUrl`` leads, approved or rejected by hand.

At Vipps the ``redirectUrl`` opens the app (or the landing page that asks for a phone number),
and the customer approves there. Here it opens a page served by the fake, without a login (the
token in the URL is the payment's): the merchant, the amount, the receipt's lines, and two
buttons. *Approve payment* makes the payment ``AUTHORIZED``, *Reject* ``ABORTED``; either way
the browser is sent (303) to the shop's ``returnUrl``, as from the app. ``/payments/`` lists
every payment with a link to its page. Like the other pages for looking at the fake, these
are the customer's side, not an API call: never faulted, never in the request log.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ...display import format_money
from .epayment import LANDING_PATH, decide
from .http import Request, Response
from .state import FakeState

__all__ = ["PAYMENTS_PATH", "LandingPages"]

PAYMENTS_PATH = "/payments"

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}.brand{color:#ff5b24;font-weight:700}"
    ".amount{font-size:2rem;font-weight:700;margin:.25rem 0}table{width:100%;"
    "border-collapse:collapse}td{border-bottom:1px solid #eee;padding:.3rem 0}"
    "td.num{text-align:right}button{font-size:1rem;padding:.6rem 1.2rem;margin:.5rem .5rem 0 0;"
    "border-radius:6px;border:1px solid #ccc;cursor:pointer}"
    "button.approve{background:#ff5b24;color:#fff;border-color:#ff5b24}.muted{color:#666}"
)


def money(amount: Mapping[str, Any]) -> str:
    """An ePayment ``amount`` as the fake's pages show it: ``178.00 NOK``."""
    return format_money(int(amount["value"]), str(amount["currency"]))


def _page(title: str, body: str, status: int = 200) -> Response:
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<p class="brand">Vipps MobilePay (fake)</p>{body}</body></html>'
    )
    return Response.text(status, page, content_type="text/html; charset=utf-8")


def _receipt_rows(receipt: Any) -> str:
    if not isinstance(receipt, Mapping):
        return ""
    currency = (receipt.get("bottomLine") or {}).get("currency", "")
    rows = []
    for line in receipt.get("orderLines") or []:
        quantity = (line.get("unitInfo") or {}).get("quantity", "1")
        total = {"currency": currency, "value": line.get("totalAmount", 0)}
        rows.append(
            f"<tr><td>{html.escape(str(quantity))} &times; {html.escape(str(line.get('name', '')))}"
            f'</td><td class="num">{html.escape(money(total))}</td></tr>'
        )
    return f"<table>{''.join(rows)}</table>" if rows else ""


class LandingPages:
    """Route handlers for ``/landing`` and ``/payments/``."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def _found(self, request: Request) -> tuple[str, str, dict[str, Any]] | None:
        token = request.query.get("token", "")
        if not token:
            return None
        return self._state.find_payment(lambda msn, record: record.get("landingToken") == token)

    def _merchant_name(self, msn: str) -> str:
        merchant = self._state.merchant(msn)
        return (merchant.name if merchant is not None else "") or f"Merchant {msn}"

    def page(self, request: Request) -> Response:
        found = self._found(request)
        if found is None:
            return _page("No such payment", "<h1>No such payment</h1>", status=404)
        msn, reference, record = found
        request_body = record["request"]
        description = request_body.get("paymentDescription")
        head = (
            f"<h1>{html.escape(self._merchant_name(msn))}</h1>"
            f'<p class="amount">{html.escape(money(record["amount"]))}</p>'
            + (f"<p>{html.escape(description)}</p>" if description else "")
            + _receipt_rows(request_body.get("receipt"))
            + f'<p class="muted">Reference {html.escape(reference)}</p>'
        )
        if record["state"] != "CREATED":
            back = record.get("returnUrl")
            link = f'<p><a href="{html.escape(back)}">Back to the shop</a></p>' if back else ""
            return _page("Payment", f"{head}<p>This payment is {record['state']}.</p>{link}")
        token = html.escape(request.query["token"])
        form = (
            f'<form method="post" action="{LANDING_PATH}?token={token}">'
            '<button type="submit" name="decision" value="approve" class="approve">'
            "Approve payment</button>"
            '<button type="submit" name="decision" value="reject">Reject</button></form>'
            '<p class="muted">A stand-in for the Vipps MobilePay app: no money moves.</p>'
        )
        return _page(f"Pay {money(record['amount'])}", head + form)

    def decide(self, request: Request) -> Response:
        found = self._found(request)
        if found is None:
            return _page("No such payment", "<h1>No such payment</h1>", status=404)
        msn, reference, record = found
        decision = dict(parse_qsl(request.body.decode("utf-8", "replace"))).get("decision", "")
        try:
            record = decide(self._state, msn, reference, decision)
        except ValueError as error:
            return _page("Payment", f"<p>{html.escape(str(error))}</p>", status=409)
        back = record.get("returnUrl")
        if not back:
            return _page("Payment", f"<p>The payment is {record['state']}.</p>")
        return Response(303, headers=[("Location", back)])

    def index(self, request: Request) -> Response:
        items = []
        for msn, reference in self._state.payment_keys():
            record = self._state.payment(msn, reference)
            if record is None:
                continue
            items.append(
                f'<li><a href="{html.escape(record["redirectUrl"])}">{html.escape(reference)}</a>'
                f" {html.escape(money(record['amount']))} · {record['state']}"
                f" <small>MSN {html.escape(msn)}</small></li>"
            )
        return _page(
            "Fake Vipps: payments",
            "<h1>ePayment payments</h1>"
            f"<ul>{''.join(items) or '<li>No payment has been created yet.</li>'}</ul>",
        )
