"""Remove the app's rows of orders that no longer exist.

    manage.py vipps_om_sweep             # remove them
    manage.py vipps_om_sweep --dry-run   # count them, change nothing

Deleting an order through Django (``order.delete()``, ``QuerySet.delete()``, the admin) removes
its links, images, state, outbox rows, call log and customer link key at once. Orders removed
some other way (raw SQL, a database cascade, a replaced table) leave rows behind, which a new
order with the same primary key would otherwise inherit. The worker sweeps once an hour; run
this from cron when workers are restarted more often than that, or after a bulk import.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from vipps_order_management.engine.cleanup import sweep


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _("Remove the Vipps app's rows of orders that no longer exist.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Count what would be removed; change nothing.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep(dry_run=options["dry_run"])
        for label, count in sorted(result.by_model.items()):
            self.stdout.write(
                _("%(model)s: %(count)d deleted orders") % {"model": label, "count": count}
            )
        if options["dry_run"]:
            message = _("Would remove %(rows)d rows of %(orders)d orders that no longer exist.")
        else:
            message = _("Removed %(rows)d rows of %(orders)d orders that no longer exist.")
        self.stdout.write(message % {"rows": result.rows, "orders": result.orders})
