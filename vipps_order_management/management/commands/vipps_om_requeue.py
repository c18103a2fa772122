"""Make failed outbox rows pending again, after the cause is fixed.

    manage.py vipps_om_requeue                              # every dead row
    manage.py vipps_om_requeue --dry-run                    # how many, without changing anything
    manage.py vipps_om_requeue --kind receipt --since 2024-05-01
    manage.py vipps_om_requeue --model shop.Order --all-failed   # also rows still retrying
    manage.py vipps_om_requeue --order 1001 --include-done   # the shop's order 1001: all again

A requeued row gets a fresh age (it gives up only after RETRY['GIVE_UP_AFTER'] again) and is
due at once; the payload is built from the order as it is now. Receipts Vipps already holds are
compared, never posted twice.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from vipps_order_management import services
from vipps_order_management.conf import app_settings
from vipps_order_management.engine.selection import (
    SelectionError,
    date_range_q,
    find_order,
    model_named,
)
from vipps_order_management.models import OutboxItem, SyncKind

from ..options import add_date_arguments, add_order_arguments, parse_when


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _(
            "Make dead Vipps outbox rows (or, with options, every non-pending row) pending again."
        )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--kind",
            action="append",
            choices=list(SyncKind.values),
            default=[],
            help=_("Only rows of this kind. Repeatable."),
        )
        add_date_arguments(parser, of_rows=True)
        add_order_arguments(parser, of_rows=True, every=False)
        parser.add_argument(
            "--all-failed",
            action="store_true",
            help=_(
                "Also rows still retrying after a failure: they are tried again now instead of "
                "after their backoff."
            ),
        )
        parser.add_argument(
            "--include-done",
            action="store_true",
            help=_("Also rows that were sent (every non-pending row): they are sent again."),
        )
        parser.add_argument("--dry-run", action="store_true", help=_("Only count; change nothing."))

    def handle(self, *args: Any, **options: Any) -> None:
        rows = self._rows(options)
        dead = rows.filter(status=OutboxItem.Status.DEAD).count()
        done = rows.filter(status=OutboxItem.Status.DONE).count()
        retrying = rows.filter(status=OutboxItem.Status.PENDING).count()
        total = dead + done + retrying
        parts = [
            ngettext("%(count)d failed", "%(count)d failed", dead) % {"count": dead}
            if dead
            else "",
            ngettext("%(count)d sent", "%(count)d sent", done) % {"count": done} if done else "",
            ngettext("%(count)d waiting to retry", "%(count)d waiting to retry", retrying)
            % {"count": retrying}
            if retrying
            else "",
        ]
        details = ", ".join(part for part in parts if part)
        details = f" ({details})" if details else ""
        if options["dry_run"]:
            self.stdout.write(
                ngettext(
                    "Would requeue %(total)d outbox row%(details)s; nothing changed (--dry-run).",
                    "Would requeue %(total)d outbox rows%(details)s; nothing changed (--dry-run).",
                    total,
                )
                % {"total": total, "details": details}
            )
            return
        if not total:
            self.stdout.write(_("Nothing to requeue."))
            return
        requeued = services.requeue(rows)
        self.stdout.write(
            ngettext(
                "Requeued %(total)d outbox row%(details)s.",
                "Requeued %(total)d outbox rows%(details)s.",
                requeued,
            )
            % {"total": requeued, "details": details},
            style_func=self.style.SUCCESS,
        )
        if app_settings.DISPATCH in ("worker", "immediate"):
            self.stdout.write(
                _(
                    "manage.py vipps_om_worker sends them; run it with --once if no worker is running."
                )
            )

    def _rows(self, options: dict[str, Any]) -> models.QuerySet[Any]:
        statuses = [OutboxItem.Status.DEAD]
        if options["include_done"]:
            statuses.append(OutboxItem.Status.DONE)
        wanted = models.Q(status__in=statuses)
        if options["all_failed"]:
            wanted |= models.Q(status=OutboxItem.Status.PENDING) & ~models.Q(last_error="")
        rows = OutboxItem.objects.filter(wanted)
        if options["kind"]:
            rows = rows.filter(kind__in=options["kind"])
        since = parse_when(options["since"], "--since")
        until = parse_when(options["until"], "--until")
        if since is not None or until is not None:
            field = OutboxItem._meta.get_field("updated_at")
            rows = rows.filter(date_range_q("updated_at", field, since, until))
        which = models.Q()
        try:
            for label in options["model"]:
                model, _adapter = model_named(label)
                which |= models.Q(content_type=_content_type(model))
            for value in options["order"]:
                model, pk = find_order(value)
                which |= models.Q(content_type=_content_type(model), object_id=str(pk))
        except SelectionError as exc:
            raise CommandError(str(exc)) from None
        if which:
            rows = rows.filter(which)
        return rows


def _content_type(model: type[models.Model]) -> ContentType:
    return ContentType.objects.get_for_model(model, for_concrete_model=False)
