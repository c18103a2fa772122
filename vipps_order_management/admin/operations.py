"""What staff can do to an order, from the admin or from Oscar's dashboard: one sentence each.

Every operation goes through :mod:`vipps_order_management.services` and returns a sentence
for staff and whether it went well; :func:`run_for_orders` turns each order's outcome, and any
exception, into a message through the surface's own way of telling staff, so a failure at
Vipps (or in the shop's adapter) is never an error page.

Up to :data:`SEND_IN_REQUEST_MAX` orders are sent while staff wait, each with its own message.
More are queued for the runner in one go, with one message (:data:`QUEUED_OPERATIONS`), so an
action over a whole page of orders costs the same few queries and no call to Vipps in the
request; comparing with Vipps, which can only ask Vipps about each order, is refused for that
many.

A receipt held because its total differs from what was paid is sent as it is only from the
order's own page, where staff see both figures (:func:`accept_held_receipt`); never in bulk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import messages
from django.db import models
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from .. import services
from ..adapters import get_adapter
from ..engine.plan import plan
from ..models import OrderKey, OutboxItem, keys_condition, order_key

__all__ = [
    "ACCEPT_RECEIPT",
    "ACCEPT_RECEIPT_LABEL",
    "ORDER_OPERATIONS",
    "QUEUED_OPERATIONS",
    "SEND_IN_REQUEST_MAX",
    "Follow",
    "Notify",
    "Operation",
    "accept_held_receipt",
    "refused_in_bulk",
    "run_for_orders",
]

logger = logging.getLogger(__name__)

#: An operation on one order returns what to tell staff and whether it went well.
Operation = Callable[[models.Model], tuple[str, bool]]
#: How a surface tells staff: ``notify(level, text)`` (a ``django.contrib.messages`` level).
Notify = Callable[[int, str], None]
#: Where staff follow orders that were queued: ``(url, link text)``.
Follow = tuple[str, Any]

#: Above this many orders an action does not send inside the request: the orders are queued,
#: due now, and the runner sends them (a page of 100 orders would keep staff waiting minutes).
SEND_IN_REQUEST_MAX = 5


def _send_now(order: models.Model) -> tuple[str, bool]:
    return describe_results(services.sync_now(order))


def _resend_links(order: models.Model) -> tuple[str, bool]:
    return describe_results(services.sync_now(order, force=True, kinds=["links"]))


def _reupload_image(order: models.Model) -> tuple[str, bool]:
    forgotten = services.forget_images(order)
    message, ok = describe_results(services.sync_now(order, force=True, kinds=["links"]))
    note = ngettext(
        "%(count)d remembered upload dropped first",
        "%(count)d remembered uploads dropped first",
        forgotten,
    ) % {"count": forgotten}
    return f"{message} ({note})", ok


def _requeue(order: models.Model) -> tuple[str, bool]:
    count = services.requeue(
        OutboxItem.objects.for_order(order).filter(status=OutboxItem.Status.DEAD)
    )
    if not count:
        return str(_("nothing had failed")), True
    message = ngettext(
        "%(count)d failed send queued again", "%(count)d failed sends queued again", count
    ) % {"count": count}
    return message, True


def _compare(order: models.Model) -> tuple[str, bool]:
    comparison = services.compare_with_vipps(order)
    if comparison.local_error and comparison.remote is None:
        return comparison.local_error, False
    if comparison.remote is None:
        return str(_("Vipps holds nothing for this order")), False
    if comparison.remote.receipt is None:
        return str(_("Vipps holds a link but no receipt")), True
    if not comparison.differences:
        return str(_("the receipt matches what Vipps holds")), True
    count = len(comparison.differences)
    message = ngettext(
        "differs from Vipps in %(count)d field: %(fields)s",
        "differs from Vipps in %(count)d fields: %(fields)s",
        count,
    ) % {"count": count, "fields": ", ".join(d.path for d in comparison.differences[:5])}
    return message, False


#: What the per-order page's buttons and the bulk actions do, by key: (label, operation).
ORDER_OPERATIONS: dict[str, tuple[Any, Operation]] = {
    "send": (_("Send to Vipps now"), _send_now),
    "links": (_("Resend links"), _resend_links),
    "image": (_("Re-upload image"), _reupload_image),
    "requeue": (_("Requeue failed"), _requeue),
    "compare": (_("Fetch from Vipps and compare"), _compare),
}


def describe_results(results: Iterable[services.SyncResult]) -> tuple[str, bool]:
    """The results of sending one order, as one sentence for staff, and whether all went."""
    parts, ok = [], True
    for result in results:
        kind = _("links") if result.kind == "links" else _("receipt")
        if result.ok:
            parts.append(f"{kind}: {result.message.rstrip('.')}")
            continue
        ok = False
        if result.status == "retry":
            text = _("%(kind)s: will retry (%(error)s)")
        elif result.status == "dead":
            text = _("%(kind)s: failed (%(error)s)")
        else:
            text = _("%(kind)s: another worker is sending it right now")
        parts.append(str(text) % {"kind": kind, "error": result.message})
    return "; ".join(parts) or str(_("nothing to send")), ok


# ---------------------------------------------------------------------- many orders: queued


def _keys(orders: Sequence[models.Model]) -> list[OrderKey]:
    for model in {type(order) for order in orders}:
        get_adapter(model)  # a model without adapter is refused before anything is recorded
    return [order_key(order) for order in orders]


def _queue_send(orders: Sequence[models.Model]) -> tuple[str, int]:
    count = services.enqueue_many(_keys(orders), due_now=True)
    text = ngettext("%(count)d order queued", "%(count)d orders queued", count)
    return text % {"count": count}, count


def _queue_links(orders: Sequence[models.Model]) -> tuple[str, int]:
    count = services.enqueue_many(_keys(orders), kinds=["links"], force=True, due_now=True)
    text = ngettext(
        "the links of %(count)d order queued", "the links of %(count)d orders queued", count
    )
    return text % {"count": count}, count


def _queue_reupload(orders: Sequence[models.Model]) -> tuple[str, int]:
    forgotten = services.forget_images_many(orders)
    note = ngettext(
        "%(count)d remembered upload dropped first",
        "%(count)d remembered uploads dropped first",
        forgotten,
    ) % {"count": forgotten}
    text, count = _queue_links(orders)
    return f"{text} ({note})", count


def _queue_requeue(orders: Sequence[models.Model]) -> tuple[str, int]:
    failed = OutboxItem.objects.filter(keys_condition(_keys(orders)), status=OutboxItem.Status.DEAD)
    count = services.requeue(failed)
    if not count:
        return str(_("nothing had failed")), 0
    text = ngettext(
        "%(count)d failed send queued again", "%(count)d failed sends queued again", count
    )
    return text % {"count": count}, count


#: What the actions do for more than :data:`SEND_IN_REQUEST_MAX` orders: record them all in the
#: outbox in one statement and wake the runner once; each says what it did and how many rows
#: it queued. "Fetch from Vipps and compare" is not here: only Vipps can answer it, order by
#: order, so it is refused for that many.
QUEUED_OPERATIONS: dict[str, Callable[[Sequence[models.Model]], tuple[str, int]]] = {
    "send": _queue_send,
    "links": _queue_links,
    "image": _queue_reupload,
    "requeue": _queue_requeue,
}


def refused_in_bulk(key: str, count: int) -> bool:
    """Whether the operation cannot be done for ``count`` orders at once (select fewer)."""
    return count > SEND_IN_REQUEST_MAX and key not in QUEUED_OPERATIONS


def _run_queued(
    orders: Sequence[models.Model], key: str, notify: Notify, follow: Follow | None
) -> None:
    """One message for the lot: what was queued, and where to follow it."""
    label = ORDER_OPERATIONS[key][0]
    if refused_in_bulk(key, len(orders)):
        notify(
            messages.WARNING,
            _(
                "“%(action)s” asks Vipps about each order while you wait: select at most "
                "%(max)d orders (%(count)d were selected)."
            )
            % {"action": label, "max": SEND_IN_REQUEST_MAX, "count": len(orders)},
        )
        return
    try:
        done, queued = QUEUED_OPERATIONS[key](orders)
    except Exception as exc:  # the shop's adapter or the database: a message, never a 500
        logger.warning("%s on %d orders failed", label, len(orders), exc_info=True)
        notify(messages.ERROR, f"{label}: {exc or type(exc).__name__}")
        return
    if not queued:
        notify(messages.INFO, f"{label}: {done}.")
        return
    text = _("%(action)s: %(done)s; the worker sends them to Vipps.") % {
        "action": label,
        "done": done,
    }
    if follow is not None:
        text = format_html('{} <a href="{}">{}</a>', text, *follow)
    notify(messages.SUCCESS, text)


# ---------------------------------------------------------------------- the entry point


@sensitive_variables()  # every frame below it reaches the client: none shown on error pages
def run_for_orders(
    orders: Iterable[models.Model], key: str, notify: Notify, *, follow: Follow | None = None
) -> None:
    """Run one operation per order: a message for each, then a summary. Never raises.

    More than :data:`SEND_IN_REQUEST_MAX` orders are queued instead, with one message that
    links to ``follow`` (where the surface shows queued orders), or refused.
    """
    orders = list(orders)
    if len(orders) > SEND_IN_REQUEST_MAX:
        _run_queued(orders, key, notify, follow)
        return
    label, function = ORDER_OPERATIONS[key]
    done = failed = 0
    for order in orders:
        name = str(order)
        try:
            name = plan(order).display_name
            message, ok = function(order)
        except Exception as exc:  # one order's trouble is a message, never an error page
            logger.warning("%s on %s failed", label, name, exc_info=True)
            failed += 1
            notify(messages.ERROR, f"{name}: {exc or type(exc).__name__}")
            continue
        if ok:
            done += 1
        else:
            failed += 1
        notify(messages.SUCCESS if ok else messages.WARNING, f"{name}: {message}")
    if done + failed > 1:
        notify(
            messages.INFO,
            _("%(action)s: %(done)d done, %(failed)d with problems.")
            % {"action": label, "done": done, "failed": failed},
        )


# ---------------------------------------------------------------------- a held receipt

#: The key of "Send the receipt as it is" on an order's own page, and its label.
ACCEPT_RECEIPT = "accept_receipt"
ACCEPT_RECEIPT_LABEL = _("Send the receipt as it is")


@sensitive_variables()  # it reaches the client: no frame below it is shown on an error page
def accept_held_receipt(
    order: models.Model, receipt_hash: str, notify: Notify, *, by: str = ""
) -> None:
    """Send the order's held receipt as it is, with its link, once; staff saw the receipt of
    ``receipt_hash`` and both figures. One message; never raises."""
    name = str(order)
    try:
        sync_plan = plan(order)
        name = sync_plan.display_name
        check = sync_plan.payment_check
        if check is None or not check.held:
            text = _("the receipt is not held; nothing to accept")
            notify(messages.INFO, f"{name}: {text}")
            return
        if check.receipt_hash != receipt_hash:
            text = _("the receipt changed since the page was shown; look at its figures again")
            notify(messages.WARNING, f"{name}: {text}")
            return
        services.accept_receipt(order, receipt_hash, by=by)
        message, ok = describe_results(services.sync_now(order, kinds=["links", "receipt"]))
    except Exception as exc:  # the shop's adapter or Vipps: a message, never an error page
        logger.warning("%s on %s failed", ACCEPT_RECEIPT_LABEL, name, exc_info=True)
        notify(messages.ERROR, f"{name}: {exc or type(exc).__name__}")
        return
    notify(messages.SUCCESS if ok else messages.WARNING, f"{name}: {message}")
