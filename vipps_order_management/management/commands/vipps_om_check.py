"""Check the Vipps setup end to end: settings, then a real access-token request.

    manage.py vipps_om_check                      # checks, configuration, token fetch
    manage.py vipps_om_check --skip-token         # settings only (no network)
    manage.py vipps_om_check --fail-level WARNING # exit non-zero on warnings too (CI)
    manage.py vipps_om_check --health [--json]    # for monitoring: exit 0, 1, 2 (3: unknown)

It prints this app's system checks (the deployment ones too: this is the production check),
the effective configuration with where each value came from (secrets masked: never more than
their last four characters) and then asks BASE_URL for an access token, saying exactly
what is wrong when that fails: refused credentials, a host that cannot be reached, or a
timeout, each with the fix. The exit code is non-zero when anything is wrong.

``--health`` prints the health summary instead (``engine.health``; ``--json`` for its JSON)
and exits as monitoring plugins do: 0 healthy, 1 warning, 2 critical, 3 when it could not
be computed (the database unreachable, a refused setting).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from vipps_order_management import services
from vipps_order_management.checks import TAG
from vipps_order_management.conf import (
    CREDENTIAL_KEYS,
    ENVIRONMENT_PREFIX,
    app_settings,
    missing_credentials,
)
from vipps_order_management.display.health import report_lines
from vipps_order_management.engine.clients import sales_units
from vipps_order_management.engine.health import Level, summary
from vipps_order_management.exceptions import (
    VippsAPIError,
    VippsAuthError,
    VippsConfigurationError,
    VippsTransientError,
)
from vipps_order_management.transport.credentials import without_password
from vipps_order_management.units import SalesUnit

#: Shorter secrets are masked completely: four characters of eight would be half of it.
SHOW_TAIL_FROM_LENGTH = 12

LEVELS = {"DEBUG": checks.DEBUG, "INFO": checks.INFO, "WARNING": checks.WARNING}
LEVELS |= {"ERROR": checks.ERROR, "CRITICAL": checks.CRITICAL}
#: The exit code of ``--health`` when the summary cannot be computed ("unknown" to monitoring).
HEALTH_UNKNOWN = 3


def _reason(error: BaseException) -> str:
    """Why the client could not reach Vipps, as its message says (``[Errno 111] ...``)."""
    found = re.search(r"\(([^()]*)\)$", str(error))
    return found.group(1) if found else str(error)


def shown(value: Any) -> str:
    """A typed setting as a project would write it: ``'worker'``, not ``<Dispatch.WORKER>``; an
    address without the user name and password it may carry."""
    if isinstance(value, Enum):
        return repr(value.value)
    if isinstance(value, str):
        return repr(without_password(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {shown(v)}" for k, v in value.items()) + "}"
    if is_dataclass(value) and not isinstance(value, type):
        parts = (f"{field.name}={shown(getattr(value, field.name))}" for field in fields(value))
        return f"{type(value).__name__}({', '.join(parts)})"
    return repr(value)


def seconds(timeout: tuple[float, float]) -> str:
    """``TIMEOUT`` as written: one number when connect and read are the same."""
    connect, read = timeout
    return f"{read:g}" if connect == read else f"{connect:g}, {read:g}"


def mask(value: Any) -> str:
    """``****abcd``: at most the last four characters of a secret, and only of a long one."""
    text = str(value)
    if len(text) >= SHOW_TAIL_FROM_LENGTH:
        return "****" + text[-4:]
    return "****"


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _(
            "Check the Vipps order management settings and fetch an access token from BASE_URL."
        )

    # This command explains configuration problems; it must run when the checks fail.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--skip-token",
            action="store_true",
            help=_("Do not contact Vipps; check the settings only."),
        )
        parser.add_argument(
            "--fail-level",
            choices=list(LEVELS),
            default="ERROR",
            help=_("Exit non-zero for check messages at or above this level (default ERROR)."),
        )
        parser.add_argument(
            "--health",
            action="store_true",
            help=_(
                "Print the health summary instead, and exit 0 (healthy), 1 (warning), "
                "2 (critical) or 3 (unknown): for monitoring."
            ),
        )
        parser.add_argument(
            "--json", action="store_true", help=_("With --health: print the summary as JSON.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["json"] and not options["health"]:
            raise CommandError(
                _("--json goes with --health: manage.py vipps_om_check --health --json")
            )
        if options["health"]:
            self._health(as_json=options["json"])
            return
        problems = self._report_checks(LEVELS[options["fail_level"]])
        self._report_configuration()
        if options["skip_token"]:
            self._heading(_("Access token"))
            self.stdout.write(_("Skipped (--skip-token)."))
        else:
            problems += self._fetch_tokens()
        if problems:
            raise CommandError(
                ngettext(
                    "The Vipps setup has %(count)d problem; see above.",
                    "The Vipps setup has %(count)d problems; see above.",
                    problems,
                )
                % {"count": problems}
            )
        self.stdout.write(_("All good."), style_func=self.style.SUCCESS)

    def _health(self, *, as_json: bool) -> None:
        try:
            health = summary()
        except Exception as exc:  # the database or a refused setting: monitoring must hear it
            self.stderr.write(
                _("Vipps health unknown: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
            )
            raise SystemExit(HEALTH_UNKNOWN) from None
        if as_json:
            self.stdout.write(json.dumps(health.as_json(), indent=2))
        else:
            first, *rest = report_lines(health)
            styles = {Level.WARNING: self.style.WARNING, Level.CRITICAL: self.style.ERROR}
            self.stdout.write(first, style_func=styles.get(health.level, self.style.SUCCESS))
            for line in rest:
                self.stdout.write(line)
        if health.level.exit_code:
            raise SystemExit(health.level.exit_code)

    def _heading(self, text: str) -> None:
        self.stdout.write("")
        self.stdout.write(text, style_func=self.style.MIGRATE_HEADING)

    # ------------------------------------------------------------------ checks

    def _report_checks(self, fail_level: int) -> int:
        self._heading(_("System checks"))
        found = checks.run_checks(tags=[TAG], include_deployment_checks=True)
        messages = [message for message in found if not message.is_silenced()]
        if not messages:
            self.stdout.write(_("No problems found."), style_func=self.style.SUCCESS)
            return 0
        for message in sorted(messages, key=lambda m: (-m.level, m.id or "")):
            serious = message.level >= checks.ERROR
            style = self.style.ERROR if serious else self.style.WARNING
            level = _("Error") if serious else _("Warning")
            self.stdout.write(f"{level} {message.id}: {message.msg}", style_func=style)
            if message.hint:
                self.stdout.write("    " + _("Hint: %(hint)s") % {"hint": message.hint})
        return sum(1 for message in messages if message.level >= fail_level)

    # ------------------------------------------------------------------ configuration

    def _source(self, key: str) -> str:
        source = app_settings.source(key)
        if source == "settings":
            return _("settings")
        if source == "environment":
            return _("environment %(name)s") % {"name": ENVIRONMENT_PREFIX + key}
        return _("default")

    def _show(self, key: str) -> str:
        setting = app_settings.schema[key]
        refusals = app_settings.refusals(key)
        if refusals:
            value = mask("") if setting.secret else shown(app_settings.raw(key))
            return _("%(value)s (refused, see %(check)s)") % {
                "value": value,
                "check": ", ".join(sorted({refusal.check_id for refusal in refusals})),
            }
        value = getattr(app_settings, key)
        if (key in CREDENTIAL_KEYS or setting.secret) and value is None:
            return _("(not set)")
        if setting.secret:  # a credential's tail helps tell keys apart; nothing else shows
            return mask(value) if key in CREDENTIAL_KEYS else mask("")
        return shown(value)

    def _report_configuration(self) -> None:
        self._heading(_("Configuration"))
        width = max(len(key) for key in app_settings.schema)
        for key in app_settings.schema:
            self.stdout.write(f"  {key.ljust(width)}  {self._show(key)}  [{self._source(key)}]")

    # ------------------------------------------------------------------ token

    def _fetch_tokens(self) -> int:
        """A token for every sales unit; returns how many could not get one."""
        self._heading(_("Access token"))
        try:
            units = sales_units()
        except VippsConfigurationError as exc:
            self._fail(
                _("The sales units cannot be read: %(error)s") % {"error": exc},
                _("Fix the setting named above."),
            )
            return 1
        missing = missing_credentials()
        if missing and not app_settings.get("SALES_UNITS"):
            self._fail(
                _("Not attempted: %(keys)s not set.") % {"keys": ", ".join(missing)},
                _(
                    "Set them in VIPPS_ORDER_MANAGEMENT or as the environment variables "
                    "%(names)s; find them in the Vipps MobilePay business portal "
                    "(Utvikler/Developer -> API keys)."
                )
                % {"names": ", ".join(ENVIRONMENT_PREFIX + key for key in missing)},
            )
            return 1
        failed = sum(not self._fetch_token(unit) for unit in units.values())
        self._unit = None
        return failed

    def _fetch_token(self, unit: SalesUnit) -> bool:
        """One unit's token; what went wrong is said with the unit's MSN, never a secret."""
        base_url = app_settings.get("BASE_URL") or app_settings.raw("BASE_URL")
        self._unit = unit
        started = time.monotonic()
        try:
            services.get_client(unit.merchant_serial_number).access_token(refresh=True)
        except VippsConfigurationError as exc:
            self._fail(
                _("The client cannot be set up: %(error)s") % {"error": exc},
                _("Fix the setting named above."),
            )
            return False
        except VippsAuthError as exc:
            self._auth_failure(exc, base_url)
            return False
        except VippsTransientError as exc:
            self._transport_failure(exc, base_url)
            return False
        except VippsAPIError as exc:
            self._fail(
                _("%(url)s answered the token request unexpectedly: %(error)s")
                % {"url": base_url, "error": exc},
                _("Check that BASE_URL is the API root, https://api.vipps.no."),
            )
            return False
        except Exception as exc:  # e.g. TOKEN_CACHE naming a cache that does not exist
            self._fail(
                _("The token request could not be made: %(error)s")
                % {"error": f"{type(exc).__name__}: {exc}"},
                _("Fix the problems the system checks list above."),
            )
            return False
        elapsed = (time.monotonic() - started) * 1000
        self.stdout.write(
            _(
                "OK: %(url)s issued an access token for merchant serial number %(msn)s "
                "(%(ms).0f ms)."
            )
            % {"url": base_url, "msn": unit.label, "ms": elapsed},
            style_func=self.style.SUCCESS,
        )
        return True

    #: The sales unit whose token is being fetched, which every failure names.
    _unit: SalesUnit | None = None

    def _fail(self, problem: str, fix: str) -> None:
        if self._unit is not None:
            problem = _("Sales unit %(unit)s: %(problem)s") % {
                "unit": self._unit.label,
                "problem": problem,
            }
        self.stdout.write(problem, style_func=self.style.ERROR)
        self.stdout.write("    " + _("Fix: %(fix)s") % {"fix": fix})

    def _auth_failure(self, exc: VippsAuthError, base_url: str) -> None:
        said = exc.detail or exc.title or str(exc)
        text = said.lower()
        if "subscription key" in text and ("invalid" in text or "missing" in text):
            fix = _(
                "SUBSCRIPTION_KEY is wrong for %(url)s: copy the primary or secondary key of the "
                "sales unit's subscription from the business portal."
            ) % {"url": base_url}
        elif "merchant-serial-number" in text or "merchant serial number" in text:
            fix = _(
                "MERCHANT_SERIAL_NUMBER is not the sales unit these keys belong to: copy it "
                "from the same page of the business portal as the keys."
            )
        else:
            fix = _(
                "Check CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION_KEY and MERCHANT_SERIAL_NUMBER: all "
                "four must belong to the same sales unit, and keys of the Vipps test environment "
                "do not work against %(url)s (Order Management runs in production only)."
            ) % {"url": base_url}
        self._fail(
            _("Vipps refused the credentials (HTTP %(status)s): %(said)s")
            % {"status": exc.status_code, "said": said},
            fix,
        )

    def _transport_failure(self, exc: VippsTransientError, base_url: str) -> None:
        if exc.status_code is not None:
            self._fail(
                _("%(url)s is having trouble (HTTP %(status)s): %(error)s")
                % {"url": base_url, "status": exc.status_code, "error": exc},
                _("Nothing is wrong with your settings; try again in a few minutes."),
            )
        elif exc.network_error == "timeout":
            self._fail(
                _("%(url)s did not answer within TIMEOUT (%(timeout)s seconds).")
                % {"url": base_url, "timeout": seconds(app_settings.TIMEOUT)},
                _(
                    "Check that this server may make outgoing https connections (firewall, "
                    "proxy), or raise VIPPS_ORDER_MANAGEMENT['TIMEOUT']."
                ),
            )
        elif exc.network_error == "tls":
            self._fail(
                _("The TLS connection to %(url)s failed: %(error)s")
                % {"url": base_url, "error": _reason(exc)},
                _(
                    "Check the system's CA certificates, or a proxy that intercepts https; "
                    "BASE_URL should be https://api.vipps.no."
                ),
            )
        else:
            self._fail(
                _("%(url)s cannot be reached (%(error)s).")
                % {"url": base_url, "error": _reason(exc)},
                _(
                    "Check BASE_URL for typos (https://api.vipps.no in production; the fake's "
                    "URL from manage.py vipps_om_fake_server in development), DNS and the "
                    "network; if it is the fake, start it."
                ),
            )
