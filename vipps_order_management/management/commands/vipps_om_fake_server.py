"""Run the fake Vipps API from manage.py, for development without production credentials.

    manage.py vipps_om_fake_server                        # http://127.0.0.1:8765
    manage.py vipps_om_fake_server --port 0               # any free port (printed)
    manage.py vipps_om_fake_server --host 0.0.0.0 --port 9000 --msn 654321

It prints the URL and a settings snippet to paste, logs one line per request on stderr
(``-v 0`` silences it) and stops cleanly
on Ctrl-C or SIGTERM. Order Management has no Vipps test environment, so this fake (the same
server the test suite uses, ``vipps_order_management.testing.FakeVippsServer``) is how a shop
sees its receipts and links before going live; ``/preview/`` shows them as the app would.

Unlike the fake in tests it is a development server: it keeps what it stores in a state file
(``.vipps-fake-state.json`` here, ``--no-state-file`` for none), because the shop's database
outlives it and goes on naming the images it uploaded; and it accepts plain-http links to the
project's ``DEVELOPMENT_LINK_HOSTS``, as the app itself does.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from vipps_order_management.conf import app_settings
from vipps_order_management.testing.fake import FakeVippsServer
from vipps_order_management.testing.fake import cli as fake_cli

DEFAULT_STATE_FILE = ".vipps-fake-state.json"


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _("Run the fake Vipps MobilePay API for local development.")

    # The fake is what a shop runs before its settings are complete.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        fake_cli.add_arguments(parser, default_state_file=DEFAULT_STATE_FILE)

    def handle(self, *args: Any, **options: Any) -> None:
        hosts = [*self._development_link_hosts(), *options["allow_http_link_host"]]
        options["allow_http_link_host"] = list(dict.fromkeys(hosts))
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

    def _development_link_hosts(self) -> tuple[str, ...]:
        """The project's ``DEVELOPMENT_LINK_HOSTS``; a value its check refuses is ignored with
        the reason, since the fake runs before a shop's settings are complete."""
        refusals = app_settings.refusals("DEVELOPMENT_LINK_HOSTS")
        if refusals:
            for refusal in refusals:
                self.stderr.write(
                    _("%(reason)s It is ignored.") % {"reason": refusal.message},
                    style_func=self.style.WARNING,
                )
            return ()
        return tuple(app_settings.DEVELOPMENT_LINK_HOSTS)

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
        self.stdout.write(
            _("ePayment payments, each with its page to approve or reject it: %(url)s/payments/")
            % {"url": server.url}
        )
        for line in self._development_lines(server):
            self.stdout.write(line)
        self.stdout.write(_("Press Ctrl-C to stop."))
        self.stdout.flush()

    @staticmethod
    def _development_lines(server: FakeVippsServer) -> list[str]:
        """Which plain-http links it accepts, and where its state is kept."""
        lines = []
        if server.http_link_hosts:
            hosts = ", ".join(sorted(server.http_link_hosts))
            lines.append(
                _("Plain-http links are accepted to: %(hosts)s (development only).")
                % {"hosts": hosts}
            )
        else:
            lines.append(
                _(
                    "Plain-http links are refused, as Vipps refuses them; DEVELOPMENT_LINK_HOSTS "
                    "or --allow-http-link-host HOST allows them to a host."
                )
            )
        if server.state_file is not None:
            lines.append(
                _("State is kept across restarts in %(path)s (--no-state-file: in memory only).")
                % {"path": server.state_file}
            )
        else:
            lines.append(_("State is kept in memory only and is gone when the fake stops."))
        return lines
