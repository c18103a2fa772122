"""Looking at the fake from outside: its front page and a JSON view of what it stores.

A shop's end-to-end tests may run the fake in another process (``make demo``, a CI service),
where ``server.receipt(...)`` cannot be called; ``GET /_fake/state`` answers the same question
over HTTP. Both routes are unauthenticated (the fake listens on loopback), are never faulted
and never recorded, so inspecting cannot change what a test then asserts on.

The document, stable in shape (fields may be added, none removed)::

    GET /_fake/state          -> {"merchants": {msn: <merchant>, ...}}
    GET /_fake/state/{msn}    -> <merchant>, or 404

    <merchant> = {
      "msn": "123456", "name": "",
      "receipts":     {"ECOM": {orderId: <receipt body as sent>}, "RECURRING": {...}},
      "categories":   {"ECOM": {orderId: {"category", "orderDetailsUrl", "imageId"}}, ...},
      "categoriesV3": {"ECOM": {orderId: [<v3 category>, ...oldest first]}, ...},
      "images":       {imageId: {"format", "width", "height", "size", "sha256"}},
      "payments":     {reference: <ePayment payment: state, amount, aggregate, request...>}
    }
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

from .http import Request, Response
from .problems import Problem
from .state import FakeState, MerchantData
from .validation import PAYMENT_TYPES, image_dimensions

__all__ = ["STATE_PATH", "InspectionPages", "merchant_document", "state_document"]

STATE_PATH = "/_fake/state"


def _image_facts(data: bytes) -> dict[str, Any]:
    try:
        image_format, width, height = image_dimensions(data)
    except ValueError:  # seeded with store_image, which does not validate
        image_format, width, height = None, None, None
    return {
        "format": image_format,
        "width": width,
        "height": height,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def merchant_document(data: MerchantData) -> dict[str, Any]:
    """One merchant's stored data as the JSON document of ``GET /_fake/state/{msn}``."""
    by_order: dict[str, dict[str, dict[str, Any]]] = {
        "receipts": {kind: {} for kind in PAYMENT_TYPES},
        "categories": {kind: {} for kind in PAYMENT_TYPES},
        "categoriesV3": {kind: {} for kind in PAYMENT_TYPES},
    }
    for (kind, order_id), body in sorted(data.receipts.items()):
        by_order["receipts"][kind][order_id] = body
    for (kind, order_id), category in sorted(data.categories.items()):
        by_order["categories"][kind][order_id] = category
    for category in data.categories_v3:  # stored oldest first
        orders = by_order["categoriesV3"].setdefault(category["paymentType"], {})
        orders.setdefault(category["orderId"], []).append(category)
    return {
        "msn": data.msn,
        "name": data.name,
        **by_order,
        "images": {
            image_id: _image_facts(image) for image_id, image in sorted(data.images.items())
        },
        "payments": data.payments,
    }


def state_document(state: FakeState) -> dict[str, Any]:
    """Every merchant's document, keyed by merchant serial number (``GET /_fake/state``)."""
    merchants = {}
    for merchant in state.merchants:
        data = state.merchant_data(merchant.msn)
        if data is not None:
            merchants[merchant.msn] = merchant_document(data)
    return {"merchants": merchants}


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}code,pre{background:#f3f3f3;border-radius:4px}"
    "pre{padding:.75rem;overflow-x:auto}code{padding:0 .2rem}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.25rem .75rem;"
    "text-align:left}"
)

_STATE_EXAMPLE = """{"merchants": {"123456": {
  "msn": "123456",
  "name": "",
  "receipts":     {"ECOM": {"order-1": {"orderLines": [...], "bottomLine": {...}}},
                   "RECURRING": {}},
  "categories":   {"ECOM": {"order-1": {"category": "RECEIPT",
                                        "orderDetailsUrl": "https://...",
                                        "imageId": null}},
                   "RECURRING": {}},
  "categoriesV3": {"ECOM": {"order-1": [{"categoryId": "...", "orderId": "order-1",
                                         "paymentType": "ECOM", "type": "TICKET",
                                         "url": "https://...", "imageId": "..."}]},
                   "RECURRING": {}},
  "images":       {"img-1": {"format": "PNG", "width": 1024, "height": 1024,
                             "size": 48213, "sha256": "..."}}
}}}"""


class InspectionPages:
    """Route handlers for ``/`` and ``/_fake/state``."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def state(self, request: Request) -> Response:
        return Response.json(200, state_document(self._state))

    def merchant_state(self, request: Request) -> Response:
        msn = request.param("msn")
        data = self._state.merchant_data(msn)
        if data is None:
            raise Problem(404, f"No merchant with serial number {msn!r} is registered here")
        return Response.json(200, merchant_document(data))

    def index(self, request: Request) -> Response:
        host = request.headers.get("Host")
        root = f"<p>API root: <code>http://{html.escape(host)}</code></p>" if host else ""
        rows = []
        for merchant in self._state.merchants:
            data = self._state.merchant_data(merchant.msn)
            receipts = len(data.receipts) if data else 0
            images = len(data.images) if data else 0
            msn = html.escape(merchant.msn)
            rows.append(
                f'<tr><td><a href="{STATE_PATH}/{msn}">{msn}</a></td>'
                f"<td>{html.escape(merchant.name) or '—'}</td>"
                f"<td>{receipts}</td><td>{images}</td></tr>"
            )
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fake Vipps MobilePay API</title><style>{_STYLE}</style></head>
<body>
<h1>Fake Vipps MobilePay API</h1>
<p>A stand-in for the Vipps MobilePay Order Management API, its access token call and as much
of ePayment as a web checkout needs, served by <code>vipps-order-management</code> for development and tests. It validates what it
is sent as Vipps does and keeps it in memory until it stops. Nothing sent here reaches Vipps or
a customer.</p>
{root}
<h2>Merchants</h2>
<table><thead><tr><th>Merchant serial number</th><th>Name</th><th>Receipts</th>
<th>Images</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p>Their keys were printed by the command that started this server.</p>
<h2>What was sent</h2>
<p><a href="/preview/">App previews</a>: every order, drawn as the Vipps app would show it.</p>
<p><a href="/payments/">ePayment payments</a>: each with its landing page, where a payment is
approved or rejected by hand.</p>
<h2>Inspection endpoint</h2>
<p><a href="{STATE_PATH}"><code>GET {STATE_PATH}</code></a> answers, as JSON and without
authentication, what this server stores for every merchant;
<code>GET {STATE_PATH}/{{msn}}</code> answers for one (404 for an unknown one). Receipts and
categories are the bodies as they were sent; images are described, not included. Looking is
never faulted nor recorded in the request log.</p>
<pre>{html.escape(_STATE_EXAMPLE)}</pre>
</body></html>
"""
        return Response.text(200, page, content_type="text/html; charset=utf-8")
