"""What staff can do to an order, from the admin or from Oscar's dashboard: one sentence each.

Every operation goes through :mod:`vipps_order_management.services` and returns a sentence
for staff and whether it went well; :func:`run_for_orders` turns each order's outcome, and any
exception, into a message through the surface's own way of telling staff, so a failure at
Vipps (or in the shop's adapter) is never an error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from .. import services
from ..engine.plan import plan
from ..models import OutboxItem

__all__ = ["ORDER_OPERATIONS", "Notify", "Operation", "run_for_orders"]

logger = logging.getLogger(__name__)

#: An operation on one order returns what to tell staff and whether it went well.
Operation = Callable[[models.Model], tuple[str, bool]]
#: How a surface tells staff: ``notify(level, text)`` (a ``django.contrib.messages`` level).
Notify = Callable[[int, str], None]


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


@sensitive_variables()  # every frame below it reaches the client: none shown on error pages
def run_for_orders(orders: Iterable[models.Model], key: str, notify: Notify) -> None:
    """Run one operation per order: a message for each, then a summary. Never raises."""
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
