"""The options of the commands, each declared once with its help text: which orders (shared by
``vipps_om_sync`` and ``vipps_om_requeue``), since when, what to do, and the output.

The commands turn the parsed values into a selection through
:mod:`vipps_order_management.engine.selection`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from ..adapters import ORDER_DATE_FIELDS
from ..engine.outbox import ALL_KINDS

__all__ = [
    "add_date_arguments",
    "add_order_arguments",
    "add_output_arguments",
    "add_sync_actions",
    "parse_kinds",
    "parse_when",
]


def add_order_arguments(group: Any, *, of_rows: bool = False, every: bool = True) -> None:
    """``--order`` and ``--model`` (and ``--all``); ``of_rows`` words them for outbox rows."""
    group.add_argument(
        "--order",
        action="append",
        default=[],
        metavar="ORDER",
        help=(
            _("Only rows of this order. Repeatable.")
            if of_rows
            else _("One order. Repeat for several.")
        )
        + " "
        + _(
            "Write app_label.Model:KEY (shop.Order:17), the shop's order number or the Vipps "
            "reference, with or without the model (shop.Order:1001, order-1001)."
        ),
    )
    group.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="APP_LABEL.MODEL",
        help=_("Only rows of orders of this model. Repeatable.")
        if of_rows
        else _("Every order of this model (one of ORDER_ADAPTERS). Repeatable."),
    )
    if every:
        group.add_argument(
            "--all", action="store_true", help=_("Every order of every model in ORDER_ADAPTERS.")
        )


def add_date_arguments(group: Any, *, of_rows: bool = False) -> None:
    """``--since`` and ``--until`` (and, for orders, ``--date-field``)."""
    since, until = (
        (
            _("Only rows that failed (or finished) on or after this ISO date or date-time."),
            _("Only rows that failed (or finished) on or before this ISO date or date-time."),
        )
        if of_rows
        else (
            _("Only orders placed on or after this ISO date or date-time."),
            _("Only orders placed on or before this ISO date (the whole day) or date-time."),
        )
    )
    group.add_argument("--since", metavar="DATE", help=since)
    group.add_argument("--until", metavar="DATE", help=until)
    if not of_rows:
        group.add_argument(
            "--date-field",
            metavar="NAME",
            help=_(
                "The model's date field that --since/--until filter on (default: the first of "
                "%(fields)s that the model has)."
            )
            % {"fields": ", ".join(ORDER_DATE_FIELDS)},
        )


def parse_when(value: str | None, option: str) -> date | datetime | None:
    """An ISO date (2024-01-31) or date-time (2024-01-31T12:00, with or without an offset)."""
    if value is None:
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _(
                "%(option)s %(value)r: not a date; use YYYY-MM-DD or an ISO date-time such as "
                "2024-01-31T12:00+01:00."
            )
            % {"option": option, "value": value}
        ) from None
    if timezone.is_naive(moment) and timezone.is_aware(timezone.now()):
        moment = timezone.make_aware(moment)
    return moment


def add_sync_actions(parser: Any) -> None:
    """What ``vipps_om_sync`` does with the orders: queue (the default), ``--now``,
    ``--dry-run``, ``--verify``, ``--reupload-images``; ``--kinds`` and ``--force``."""
    what = parser.add_argument_group(_("what to do"))
    what.add_argument(
        "--kinds",
        default=",".join(ALL_KINDS),
        help=_("What to sync, comma-separated: %(kinds)s (default: both).")
        % {"kinds": ", ".join(ALL_KINDS)},
    )
    what.add_argument(
        "--force",
        action="store_true",
        help=_(
            "Send links even if unchanged, and compare receipts already sent with Vipps's copy."
        ),
    )
    mode = what.add_mutually_exclusive_group()
    mode.add_argument(
        "--now",
        action="store_true",
        help=_("Send in this process, now, and report each order (instead of queuing)."),
    )
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help=_("Print the JSON that would be sent; send and queue nothing."),
    )
    what.add_argument(
        "--reupload-images",
        action="store_true",
        help=_(
            "Forget that the orders' images are at Vipps and queue their links, so the "
            "images are uploaded again (Vipps cannot be asked which images it holds)."
        ),
    )
    what.add_argument(
        "--verify",
        action="store_true",
        help=_(
            "Ask Vipps what it holds for each order and resend only what is missing or "
            "stale there (after Vipps lost data); with --now, send it here. Safe to repeat."
        ),
    )


def add_output_arguments(parser: Any, *, chunk_size: int) -> None:
    """``--chunk-size`` and ``--progress`` / ``--no-progress``."""
    output = parser.add_argument_group(_("output"))
    output.add_argument(
        "--chunk-size",
        type=int,
        default=chunk_size,
        help=_("Orders read from the database at a time (default %(default)s)."),
    )
    bar = output.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help=_("Show a progress bar on stderr even when it is not a terminal."),
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help=_("Never show a progress bar.")
    )


def parse_kinds(value: str) -> list[str]:
    """``--kinds links,receipt`` as a list of known kinds, each once."""
    kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
    if not kinds or any(kind not in ALL_KINDS for kind in kinds):
        raise CommandError(
            _("--kinds %(value)r: use %(kinds)s, comma-separated.")
            % {"value": value, "kinds": ", ".join(ALL_KINDS)}
        )
    return list(dict.fromkeys(kinds))
