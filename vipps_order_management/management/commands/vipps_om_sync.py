"""Queue, send or preview the Vipps sync of chosen orders.

    manage.py vipps_om_sync --order shop.Order:1001              # queue one order for the worker
    manage.py vipps_om_sync --order 1001 --order order-1002 --now   # by number or reference, now
    manage.py vipps_om_sync --model shop.Order --since 2024-01-01 --until 2024-03-31
    manage.py vipps_om_sync --all --kinds links --force          # resend every order's links
    manage.py vipps_om_sync --order shop.Order:1001 --dry-run    # print the JSON, send nothing
    manage.py vipps_om_sync --all --verify --now     # ask Vipps, resend what it lost, here
    manage.py vipps_om_sync --all --reupload-images  # upload every order's images again

By default orders are queued and the configured runner sends them; ``--now`` sends in this
process and reports each order; ``--dry-run`` prints what would be sent; ``--verify`` asks
Vipps what it holds and resends only what is missing or stale. Which orders: see
:mod:`vipps_order_management.engine.selection`; what is sent: the plan, as everywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.utils.translation import gettext as _

from vipps_order_management import services
from vipps_order_management.conf import app_settings
from vipps_order_management.engine.plan import plan
from vipps_order_management.engine.selection import Selection, SelectionError, select_orders
from vipps_order_management.exceptions import VippsConfigurationError

from ..options import (
    add_date_arguments,
    add_order_arguments,
    add_output_arguments,
    add_sync_actions,
    parse_kinds,
    parse_when,
)
from ..progress import ProgressBar, bar_cleared, progress_bar
from ..reports import (
    dry_run_summary,
    left_out_summary,
    queued_summary,
    reupload_summary,
    sent_summary,
    unsent_error,
    verified,
    verify_summary,
)

DEFAULT_CHUNK_SIZE = 500


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _(
            "Queue, send now (--now) or preview (--dry-run) the Vipps receipts and links of chosen "
            "orders: by --order, --model, --since/--until, or --all."
        )

    def add_arguments(self, parser: Any) -> None:
        which = parser.add_argument_group(_("which orders"))
        add_order_arguments(which)
        add_date_arguments(which)
        add_sync_actions(parser)
        add_output_arguments(parser, chunk_size=DEFAULT_CHUNK_SIZE)

    # ------------------------------------------------------------------ handle

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = parse_kinds(options["kinds"])
        if options["chunk_size"] < 1:
            raise CommandError(_("--chunk-size must be at least 1."))
        if options["verify"] and options["dry_run"]:
            raise CommandError(_("--verify sends what Vipps lacks; it cannot be a --dry-run."))
        if options["reupload_images"] and (options["dry_run"] or options["verify"]):
            raise CommandError(
                _("--reupload-images queues links; leave out --dry-run and --verify.")
            )
        self.verbosity = options["verbosity"]
        self.chunk_size = options["chunk_size"]
        try:
            selections = select_orders(
                orders=options["order"],
                model_labels=options["model"],
                every_model=options["all"],
                since=parse_when(options["since"], "--since"),
                until=parse_when(options["until"], "--until"),
                date_field=options["date_field"],
            )
        except (SelectionError, VippsConfigurationError) as exc:
            raise CommandError(str(exc)) from None
        total = sum(selection.count() for selection in selections)
        with progress_bar(self.stderr, options["progress"], total) as progress:
            self.progress = progress
            try:
                self._run(selections, kinds, options)
            except VippsConfigurationError as exc:
                progress.leave = False  # closing erases the bar: the error is the last word
                raise CommandError(
                    _("%(error)s. Run manage.py vipps_om_check for details.") % {"error": exc}
                ) from None
            finally:
                self._report_left_out(selections)

    def _report_left_out(self, selections: list[Selection]) -> None:
        left_out = [reason for selection in selections for reason in selection.left_out]
        if left_out:
            with bar_cleared(self.progress):
                self.stderr.write(left_out_summary(len(left_out)), style_func=self.style.WARNING)
                for reason in left_out:
                    self.stderr.write(f"  {reason}")

    def _run(self, selections: list[Selection], kinds: list[str], options: dict[str, Any]) -> None:
        orders = (o for s in selections for o in s.orders(self.chunk_size))
        if options["verify"]:
            self._verify(orders, kinds, options["now"])
        elif options["dry_run"]:
            self._dry_run(orders, kinds)
        elif options["reupload_images"]:
            self._reupload(selections)
        elif options["now"]:
            self._send_now(orders, kinds, options["force"])
        else:
            self._enqueue(selections, kinds, options["force"])

    def _say(self, message: str, *, style: Any = None) -> None:
        with bar_cleared(self.progress):
            self.stdout.write(message, style_func=style)

    # ------------------------------------------------------------------ queue

    def _enqueue(self, selections: list[Selection], kinds: list[str], force: bool) -> None:
        """Queue by key, in chunks: no order is loaded, so memory stays flat at any size."""
        keys = (key for selection in selections for key in selection.keys(self.chunk_size))
        queued = services.enqueue_many(
            keys, kinds, force, chunk_size=self.chunk_size, progress=self.progress.update
        )
        self.progress.close()
        if self.verbosity >= 1:
            self.stdout.write(queued_summary(queued, kinds), style_func=self.style.SUCCESS)
            self._worker_hint(queued)

    def _worker_hint(self, queued: int) -> None:
        if queued and app_settings.DISPATCH == "worker":
            self.stdout.write(
                _(
                    "manage.py vipps_om_worker sends them; run it with --once if no worker is running."
                )
            )

    def _reupload(self, selections: list[Selection]) -> None:
        """Forget the selected orders' uploads, chunk by chunk, and queue their links."""
        forgotten = queued = 0
        for selection in selections:
            chunk: list[models.Model] = []
            for order in selection.orders(self.chunk_size):
                chunk.append(order)
                if len(chunk) >= self.chunk_size:
                    forgotten += services.forget_images_many(chunk)
                    chunk = []
            forgotten += services.forget_images_many(chunk) if chunk else 0
            queued += services.enqueue_many(
                selection.keys(self.chunk_size), ["links"], True, progress=self.progress.update
            )
        self.progress.close()
        if self.verbosity >= 1:
            self.stdout.write(reupload_summary(forgotten, queued), style_func=self.style.SUCCESS)
            self._worker_hint(queued)

    # ------------------------------------------------------------------ now

    def _send_now(self, orders: Iterator[models.Model], kinds: list[str], force: bool) -> None:
        counts: Counter[str] = Counter()
        for order in orders:
            results = services.sync_now(order, force=force, kinds=kinds)
            good = all(result.ok for result in results)
            counts["ok" if good else "failed"] += 1
            if self.verbosity >= 1:
                parts = [f"{result.kind}: {result.status} - {result.message}" for result in results]
                self._say(
                    f"{_label(order)}: " + ("; ".join(parts) or _("nothing to send")),
                    style=None if good else self.style.WARNING,
                )
            self.progress.update()
        self.progress.close()
        failed = counts["failed"]
        if self.verbosity >= 1:
            style = self.style.WARNING if failed else self.style.SUCCESS
            self.stdout.write(sent_summary(counts["ok"], failed), style_func=style)
        if failed:
            raise CommandError(unsent_error(failed, checked=False))

    # ------------------------------------------------------------------ verify

    def _verify(self, orders: Iterator[models.Model], kinds: list[str], now: bool) -> None:
        counts: Counter[str] = Counter()
        for checked in services.verify_with_vipps(orders, kinds, now=now):
            status = checked.verdict.status
            if status == "repair" and any(not result.ok for result in checked.results):
                status = "failed"
            counts[status] += 1
            loud = status in ("repair", "drift", "failed")
            if self.verbosity >= 2 or (loud and self.verbosity >= 1):
                self._say(
                    f"{_label(checked.order)}: {verified(status)}: {checked.verdict.message}",
                    style=self.style.WARNING if status in ("drift", "failed") else None,
                )
            self.progress.update()
        self.progress.close()
        if self.verbosity >= 1:
            troubled = counts["drift"] or counts["failed"]
            style = self.style.WARNING if troubled else self.style.SUCCESS
            for index, line in enumerate(verify_summary(counts, now)):
                self.stdout.write(line, style_func=style if index == 0 else None)
        if counts["failed"]:
            raise CommandError(unsent_error(counts["failed"], checked=True))

    # ------------------------------------------------------------------ dry run

    def _dry_run(self, orders: Iterator[models.Model], kinds: list[str]) -> None:
        """Stream a JSON array on stdout (one object per order); the summary goes to stderr."""
        count = invalid = 0
        previous: str | None = None  # held back until we know whether a comma follows it
        self._say("[")  # the bar is already drawn: "[" goes on a line of its own
        for order in orders:
            preview = plan(order).as_json(kinds)
            invalid += bool(preview.get("receiptErrors") or preview.get("categoryErrors"))
            text = json.dumps(preview, indent=2, ensure_ascii=False, default=str)
            if previous is not None:
                self._say(previous + ",")
            previous = "\n".join("  " + line for line in text.splitlines())
            count += 1
            self.progress.update()
        self.progress.close()
        if previous is not None:
            self.stdout.write(previous)
        self.stdout.write("]")
        if self.verbosity >= 1:
            style = self.style.WARNING if invalid else self.style.SUCCESS
            self.stderr.write(dry_run_summary(count, invalid), style_func=style)


def _label(order: models.Model) -> str:
    """An order as the lines name it: the shop's name for it, and its key."""
    return f"{order._meta.label}:{order.pk} ({plan(order).display_name})"


__all__ = ["Command", "ProgressBar"]
