"""The app preview pages: each order the fake holds, drawn as the Vipps app would show it.

A development tool (no authentication): ``/preview/`` lists the orders, and
``/preview/{msn}/{paymentType}/{orderId}`` renders one with the app's own renderer,
``vipps_order_management.display.preview``, which the admin uses too.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from ...display.preview import PreviewLink, render_preview
from .http import Request, Response
from .problems import Problem
from .state import FakeState

__all__ = ["PreviewPages", "preview_path"]


def preview_path(msn: str, payment_type: str, order_id: str) -> str:
    """Where the preview of an order is served, relative to the server's root."""
    return f"/preview/{quote(msn, safe='')}/{payment_type.upper()}/{quote(order_id, safe='')}"


class PreviewPages:
    """Route handlers for ``/preview/``."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def index(self, request: Request) -> Response:
        items = "".join(
            f'<li><a href="{html.escape(preview_path(msn, kind, order_id))}">'
            f"{html.escape(order_id)}</a> <small>{kind} · MSN {html.escape(msn)}</small></li>"
            for msn, kind, order_id in self._state.order_keys()
        )
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Fake Vipps: '
            'orders</title></head><body style="font-family: system-ui, sans-serif">'
            "<h1>Orders in the fake Vipps</h1>"
            f"<ul>{items or '<li>Nothing has been sent yet.</li>'}</ul></body></html>"
        )
        return Response.text(200, page, content_type="text/html; charset=utf-8")

    def order(self, request: Request) -> Response:
        msn = request.param("msn")
        kind = request.param("paymentType").upper()
        order_id = request.param("orderId")
        key = (msn, kind, order_id)
        with self._state.lock:
            receipt = self._state.receipt(key)
            category = self._state.category(key)
            v3 = self._state.categories_v3(msn, order_id, kind)
            images = self._state.images(msn)
            merchant = self._state.merchant(msn)
        if receipt is None and category is None and not v3:
            raise Problem(404, f"Nothing was sent for orderId {order_id!r} ({kind})")
        links = [PreviewLink(c["type"], c["url"], c.get("imageId")) for c in v3]
        if category is not None:
            links.insert(
                0,
                PreviewLink(
                    category["category"], category["orderDetailsUrl"], category.get("imageId")
                ),
            )
        image_id = next((link.image_id for link in links if link.image_id), None)
        page = render_preview(
            receipt=receipt,
            links=links,
            image=images.get(image_id) if image_id else None,
            merchant=(merchant.name if merchant else "") or f"Merchant {msn}",
            reference=order_id,
        )
        return Response.text(200, page, content_type="text/html; charset=utf-8")
