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
from urllib.parse import urlsplit

from django.db import models
from django.views.decorators.debug import sensitive_variables

from .. import services
from ..conf import app_settings
from ..display.labels import app_labels
from ..display.preview import PreviewLink, render_preview
from ..engine.plan import SyncPlan, plan
from ..engine.status import status_of
from ..exceptions import VippsError
from ..images import PreparedImage
from ..link_policy import is_this_machine
from ..models import SyncAttempt
from ..order_rows import attached_rows
from ..payloads import OrderView
from .operations import ACCEPT_RECEIPT, ACCEPT_RECEIPT_LABEL

__all__ = ["order_page_context"]

logger = logging.getLogger(__name__)


def _preview(
    receipt: dict[str, Any] | None, links: list[PreviewLink], reference: str, image: bytes | None
) -> str:
    return render_preview(
        receipt=receipt,
        links=links,
        image=image,
        merchant=app_settings.SELLER_NAME,
        reference=reference,
        labels=app_labels(),
    )


def _json(body: dict[str, Any] | None) -> str:
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
        "fake_preview_url": _fake_preview_url(sync_plan),
    }
    if target is None:
        context.update(local_error="", links_error="", local_json="", local_category=None)
        context.update(local_preview=_preview(None, [], reference, None))
        context.update(remote_error="", remote_fetched=False, remote_json="", differences=[])
        context.update(remote_category=None, remote_preview="")
        return context
    local = sync_plan.as_json()  # exactly what would be sent, as vipps_om_sync --dry-run shows
    prepared = services.prepared_image(order, sync_plan)
    links = [PreviewLink(str(c.category), c.url) for c in sync_plan.links[:1]]
    context.update(
        local_error=str(sync_plan.receipt_problem or ""),
        **_payment_check(sync_plan),
        links_error=str(sync_plan.links_problem or ""),
        local_json=_json(local["receipt"]),
        local_category=(links[0].category, links[0].url) if links else None,
        local_preview=_preview(
            local["receipt"], links, reference, prepared.data if prepared else None
        ),
    )
    context.update(_remote(order, sync_plan, fetch_remote, prepared))
    return context


def _remote(
    order: models.Model, sync_plan: SyncPlan, fetch: bool, prepared: PreparedImage | None
) -> dict[str, Any]:
    """What Vipps holds beside the plan: its receipt, its link, the differences, a preview."""
    reference = sync_plan.target.reference if sync_plan.target is not None else ""
    found: dict[str, Any] = {
        "remote_error": "",
        "remote_fetched": False,
        "remote_json": "",
        "remote_category": None,
        "differences": [],
        "remote_preview": "",
    }
    if not fetch:
        return found
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
        found["remote_error"] = str(exc) or type(exc).__name__
        return found
    remote: OrderView | None = comparison.remote
    body = remote.receipt.to_api() if remote is not None and remote.receipt else None
    category = remote.category if remote is not None else None
    links = (
        [PreviewLink(str(category.category), category.url, category.image_id)] if category else []
    )
    # Vipps never gives an image back; when it holds the very image the shop would send
    # (same content-addressed id), that image is what the app shows.
    shown = (
        prepared
        if prepared is not None and links and links[0].image_id == prepared.image_id
        else None
    )
    found.update(
        remote_fetched=True,
        remote_json=_json(body),
        remote_category=category,
        differences=comparison.differences,
        remote_preview=_preview(body, links, reference, shown.data if shown else None),
    )
    return found


def _payment_check(sync_plan: SyncPlan) -> dict[str, Any]:
    """The receipt's total beside what was paid when they differ (held, or accepted), and
    the operation that sends a held receipt as it is."""
    check = sync_plan.payment_check if sync_plan.target is not None else None
    return {
        "payment_check": check if check is not None and check.difference else None,
        "accept_receipt": (ACCEPT_RECEIPT, ACCEPT_RECEIPT_LABEL),
    }


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # not a URL: not this machine
        return ""


def _fake_preview_url(sync_plan: SyncPlan) -> str:
    """The fake Vipps's own preview page, when the project talks to the fake (development)."""
    base = app_settings.get("BASE_URL", "")  # refused: the page shows the plan's error
    target = sync_plan.target
    if target is None or not base.startswith("http://") or not is_this_machine(_host_of(base)):
        return ""
    return (
        f"{base}/preview/{target.merchant_serial_number}/"
        f"{target.payment_type.value}/{target.reference}"
    )
