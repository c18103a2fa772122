"""What the commands print about a run: the summaries, in the words staff read (translated)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

__all__ = [
    "dry_run_summary",
    "left_out_summary",
    "queued_summary",
    "reupload_summary",
    "sent_summary",
    "unsent_error",
    "verified",
    "verify_summary",
]


def queued_summary(count: int, kinds: Sequence[str]) -> str:
    return ngettext(
        "Queued %(count)d order for sending (%(kinds)s).",
        "Queued %(count)d orders for sending (%(kinds)s).",
        count,
    ) % {"count": count, "kinds": ", ".join(kinds)}


def left_out_summary(count: int) -> str:
    """Orders ``--since``/``--until`` could not judge: the adapter's date raised or was none."""
    return ngettext(
        "Left out %(count)d order: the adapter's get_order_date could not give its date.",
        "Left out %(count)d orders: the adapter's get_order_date could not give their dates.",
        count,
    ) % {"count": count}


def reupload_summary(images: int, count: int) -> str:
    return _(
        "Forgot %(images)d uploaded images; queued the links of %(count)d orders, "
        "which upload their images again."
    ) % {"images": images, "count": count}


def sent_summary(ok: int, failed: int) -> str:
    return ngettext(
        "Sent %(count)d order: %(ok)d in sync, %(failed)d not.",
        "Sent %(count)d orders: %(ok)d in sync, %(failed)d not.",
        ok + failed,
    ) % {"count": ok + failed, "ok": ok, "failed": failed}


def unsent_error(count: int, *, checked: bool) -> str:
    """Why the command exits non-zero: orders that could not be sent (or checked)."""
    if checked:
        return ngettext(
            "%(count)d order could not be checked or sent; see the lines above.",
            "%(count)d orders could not be checked or sent; see the lines above.",
            count,
        ) % {"count": count}
    return ngettext(
        "%(failed)d order could not be sent now; see the lines above. If it will be "
        "retried, it stays in the outbox.",
        "%(failed)d orders could not be sent now; see the lines above. Those that "
        "will be retried stay in the outbox.",
        count,
    ) % {"failed": count}


def verified(status: str) -> str:
    """How each outcome of ``--verify`` reads, per order."""
    return {
        "in_sync": _("in sync"),
        "repair": _("resent"),
        "drift": _("differs from Vipps"),
        "failed": _("not checked"),
        "skipped": _("skipped"),
    }[status]


def verify_summary(counts: Mapping[str, int], now: bool) -> list[str]:
    """The summary of ``--verify``, and what it cannot check."""
    summary = _(
        "Checked %(count)d orders against Vipps: %(in_sync)d in sync, %(repair)d "
        "%(resent)s, %(drift)d differ from Vipps (a receipt cannot be changed), "
        "%(failed)d could not be checked or sent, %(skipped)d without a Vipps payment."
    ) % {
        "count": sum(counts.values()),
        "in_sync": counts.get("in_sync", 0),
        "repair": counts.get("repair", 0),
        "resent": _("sent again") if now else _("queued to be sent again"),
        "drift": counts.get("drift", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
    }
    caveat = _(
        "Images cannot be checked: Vipps does not give them back. Links sent again here "
        "upload their images again; if the app still shows no image for an order that "
        "is in sync, run the same selection with --reupload-images."
    )
    return [summary, caveat]


def dry_run_summary(count: int, invalid: int) -> str:
    return ngettext(
        "Dry run: %(count)d order, %(invalid)d with problems; nothing was sent or queued.",
        "Dry run: %(count)d orders, %(invalid)d with problems; nothing was sent or queued.",
        count,
    ) % {"count": count, "invalid": invalid}
