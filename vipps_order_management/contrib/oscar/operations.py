"""What staff can do to orders from Oscar's dashboard; each goes through :mod:`services`.

Every operation returns a sentence for staff and whether it went well; :func:`run` turns each
order's outcome, and any exception, into a message, so a Vipps failure never becomes an
error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.contrib import messages
from django.db import models
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ... import services
from ...engine.plan import plan
from ...models import OutboxItem

__all__ = ["OPERATIONS", "Operation", "run"]

logger = logging.getLogger(__name__)

#: One order in, a message for staff and whether it went well out.
Operation = Callable[[models.Model], tuple[str, bool]]


def _describe(results: Iterable[services.SyncResult]) -> tuple[str, bool]:
    parts, ok = [], True
    for result in results:
        kind = _("links") if result.kind == "links" else _("receipt")
        ok = ok and result.ok
        parts.append(f"{kind}: {result.message.rstrip('.')}")
    return "; ".join(parts) or str(_("nothing to send")), ok


def send_now(order: models.Model) -> tuple[str, bool]:
    return _describe(services.sync_now(order))


def resend_links(order: models.Model) -> tuple[str, bool]:
    return _describe(services.sync_now(order, force=True, kinds=["links"]))


def requeue(order: models.Model) -> tuple[str, bool]:
    count = services.requeue(
        OutboxItem.objects.for_order(order).filter(status=OutboxItem.Status.DEAD)
    )
    if not count:
        return str(_("nothing had failed")), True
    return ngettext(
        "%(count)d failed send queued again", "%(count)d failed sends queued again", count
    ) % {"count": count}, True


def compare(order: models.Model) -> tuple[str, bool]:
    comparison = services.compare_with_vipps(order)
    if comparison.remote is None:
        return comparison.local_error or str(_("Vipps holds nothing for this order")), False
    if comparison.remote.receipt is None:
        return str(_("Vipps holds a link but no receipt")), True
    if not comparison.differences:
        return str(_("the receipt matches what Vipps holds")), True
    fields = ", ".join(difference.path for difference in comparison.differences[:5])
    return str(_("differs from Vipps in: %(fields)s") % {"fields": fields}), False


#: The dashboard's operations by key: (label, function).
OPERATIONS: dict[str, tuple[Promise, Operation]] = {
    "send": (_("Send to Vipps now"), send_now),
    "links": (_("Resend links"), resend_links),
    "requeue": (_("Requeue failed"), requeue),
    "compare": (_("Fetch from Vipps and compare"), compare),
}


def run(request: HttpRequest, orders: Iterable[models.Model], key: str) -> None:
    """Run the operation ``key`` on each order, telling staff how each went. Never raises."""
    label, function = OPERATIONS[key]
    done = failed = 0
    for order in orders:
        name = str(order)
        try:
            name = plan(order).display_name
            message, ok = function(order)
        except Exception as exc:  # one order's trouble is a message, never an error page
            logger.warning("%s on %s failed", label, name, exc_info=True)
            message, ok = str(exc) or type(exc).__name__, False
            messages.error(request, f"{name}: {message}")
            failed += 1
            continue
        done, failed = (done + 1, failed) if ok else (done, failed + 1)
        level = messages.SUCCESS if ok else messages.WARNING
        messages.add_message(request, level, f"{name}: {message}")
    if done + failed > 1:
        messages.info(
            request,
            _("%(action)s: %(done)d done, %(failed)d with problems.")
            % {"action": label, "done": done, "failed": failed},
        )
