"""The per-order Vipps page: the order's plan beside what Vipps holds, previewed as the app.

Everything the page says the shop "would send" comes from the order's plan
(:func:`~vipps_order_management.engine.plan.plan`), the same object the worker sends from;
a receipt whose total differs from what was paid is shown with both figures
(``payment_check``), for staff to send as it is (:data:`.operations.ACCEPT_RECEIPT`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import models
from django.views.decorators.debug import sensitive_variables

from .. import services
from ..conf import app_settings
from ..display.labels import app_labels
from ..display.preview import PreviewLink, render_preview
from ..engine.plan import SyncPlan, plan
from ..engine.status import status_of
from ..exceptions import VippsError
from ..models import SyncAttempt, attached_rows
from ..payloads import Category, OrderView
from .operations import ACCEPT_RECEIPT, ACCEPT_RECEIPT_LABEL

__all__ = ["order_page_context"]

logger = logging.getLogger(__name__)


def _preview(
    receipt: dict | None, links: list[PreviewLink], reference: str, image: bytes | None
) -> str:
    return render_preview(
        receipt=receipt,
        links=links,
        image=image,
        merchant=app_settings.SELLER_NAME,
        reference=reference,
        labels=app_labels(),
    )


def _json(body: dict | None) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) if body else ""


@sensitive_variables()  # it reaches the client: no frame below it is shown on an error page
def order_page_context(order: models.Model, *, fetch_remote: bool) -> dict[str, Any]:
    """What the page shows; a failure to reach Vipps is a message on it, never an error page."""
    sync_plan = plan(order)
    rows = attached_rows(order)
    target = sync_plan.target
    reference = target.reference if target is not None else ""
    context: dict[str, Any] = {
        "state": rows.state,
        "status": status_of(rows.state, rows.outbox),
        "outbox_rows": rows.outbox,
        "attempts": list(SyncAttempt.objects.for_order(order)[:25]),
        "reference": reference,
        "target_problem": sync_plan.target_problem,
        "remote_error": "",
    }
    remote: OrderView | None = None
    differences: list = []
    fetched = False
    if fetch_remote and target is not None:
        try:
            comparison = services.compare_with_vipps(order, sync_plan)
        except Exception as exc:  # the page must show, whatever Vipps or the network did
            # Vipps being unreachable is one line; only our own bugs deserve a traceback.
            logger.warning(
                "Could not fetch %s from Vipps: %s",
                reference,
                exc,
                exc_info=not isinstance(exc, VippsError),
            )
            context["remote_error"] = str(exc) or type(exc).__name__
        else:
            fetched, remote, differences = True, comparison.remote, comparison.differences
    local_receipt = sync_plan.receipt if target is not None else None
    local_links = sync_plan.links if target is not None else []
    local_category: Category | None = local_links[0].category_payload() if local_links else None
    local_body = local_receipt.to_api() if local_receipt is not None else None
    remote_body = remote.receipt.to_api() if remote is not None and remote.receipt else None
    prepared = services.order_image(order, sync_plan) if target is not None else None
    remote_links = (
        [PreviewLink(str(remote.category.category), remote.category.url, remote.category.image_id)]
        if remote is not None and remote.category is not None
        else []
    )
    context.update(
        {
            "local_error": str(sync_plan.receipt_problem or "") if target is not None else "",
            **_payment_check(sync_plan),
            "links_error": str(sync_plan.links_problem or "") if target is not None else "",
            "local_json": _json(local_body),
            "remote_json": _json(remote_body),
            "remote_fetched": fetched,
            "remote_category": remote.category if remote is not None else None,
            "local_category": (str(local_category.category), local_category.url)
            if local_category
            else None,
            "differences": differences,
            "local_preview": _preview(
                local_body,
                [PreviewLink(str(c.category), c.url) for c in local_links[:1]],
                reference,
                prepared.data if prepared else None,
            ),
            # Vipps never gives an image back; when it holds the very image the shop would
            # send (same content-addressed id), that image is what the app shows.
            "remote_preview": _preview(
                remote_body,
                remote_links,
                reference,
                prepared.data
                if prepared and remote_links and remote_links[0].image_id == prepared.image_id
                else None,
            )
            if fetched
            else "",
            "fake_preview_url": _fake_preview_url(sync_plan),
        }
    )
    return context


def _payment_check(sync_plan: SyncPlan) -> dict[str, Any]:
    """The receipt's total beside what was paid when they differ (held, or accepted), and
    the operation that sends a held receipt as it is."""
    check = sync_plan.payment_check if sync_plan.target is not None else None
    return {
        "payment_check": check if check is not None and check.difference else None,
        "accept_receipt": (ACCEPT_RECEIPT, ACCEPT_RECEIPT_LABEL),
    }


def _fake_preview_url(sync_plan: SyncPlan) -> str:
    """The fake Vipps's own preview page, when the project talks to the fake (development)."""
    base = app_settings.get("BASE_URL", "")  # refused: the page shows the plan's error
    target = sync_plan.target
    if target is None or not base.startswith(("http://127.0.0.1", "http://localhost")):
        return ""
    return (
        f"{base}/preview/{target.merchant_serial_number}/"
        f"{target.payment_type.value}/{target.reference}"
    )
