"""Run the fake Vipps API from manage.py, for development without production credentials.

    manage.py vipps_om_fake_server                        # http://127.0.0.1:8765
    manage.py vipps_om_fake_server --port 0               # any free port (printed)
    manage.py vipps_om_fake_server --host 0.0.0.0 --port 9000 --msn 654321

It prints the URL and a settings snippet to paste, logs one line per request on stderr
(``-v 0`` silences it) and stops cleanly
on Ctrl-C or SIGTERM. Order Management has no Vipps test environment, so this fake (the same
server the test suite uses, ``vipps_order_management.testing.FakeVippsServer``) is how a shop
sees its receipts and links before going live; ``/preview/`` shows them as the app would.
Its state lives in memory and is gone when it stops.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from vipps_order_management.testing.fake import FakeVippsServer
from vipps_order_management.testing.fake import cli as fake_cli


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _("Run the fake Vipps MobilePay API for local development.")

    # The fake is what a shop runs before its settings are complete.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        fake_cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            server = fake_cli.server_from_options(options)
        except ValueError as exc:
            raise CommandError(
                _("Cannot start the fake Vipps: %(error)s") % {"error": exc}
            ) from None
        if options["verbosity"] >= 1:  # one line per request, as the fake's own CLI logs
            logging.basicConfig(
                level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s"
            )
        try:
            fake_cli.serve_until_stopped(server, lambda: self._announce(server))
        except OSError as exc:
            raise CommandError(
                _("Cannot start the fake Vipps: %(error)s") % {"error": exc}
            ) from None
        self.stdout.write(_("Fake Vipps API stopped."))
        self.stdout.flush()

    def _announce(self, server: FakeVippsServer) -> None:
        credentials = {
            "BASE_URL": server.url,
            "CLIENT_ID": server.credentials["client_id"],
            "CLIENT_SECRET": server.credentials["client_secret"],
            "SUBSCRIPTION_KEY": server.credentials["subscription_key"],
            "MERCHANT_SERIAL_NUMBER": server.credentials["merchant_serial_number"],
        }
        snippet = "\n".join(f"    {key!r}: {value!r}," for key, value in credentials.items())
        self.stdout.write(
            _("Fake Vipps API listening on %(url)s") % {"url": server.url},
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(
            _("Paste into your development settings (merge with your ORDER_ADAPTERS):")
        )
        self.stdout.write(f"VIPPS_ORDER_MANAGEMENT = {{\n{snippet}\n}}")
        self.stdout.write(
            _("What was sent, as the app shows it: %(url)s/preview/") % {"url": server.url}
        )
        self.stdout.write(_("Press Ctrl-C to stop."))
        self.stdout.flush()
