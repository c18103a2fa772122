"""The configured HTTP clients: one per merchant serial number, built once per process.

Threads of one worker share a client (its pooled session and its token); settings changes
(``override_settings`` in tests) drop them through the one reload of :mod:`..conf`.
"""

from __future__ import annotations

import threading

from django.core.cache import caches

from ..client import CacheTokenStore, OrderManagementClient, Secret
from ..conf import ENVIRONMENT_PREFIX, SETTINGS_NAME, app_settings, link_policy
from ..exceptions import VippsConfigurationError
from ..units import SalesUnit
from .calllog import record_call

__all__ = [
    "POOL_SIZE",
    "SalesUnitMissing",
    "get_client",
    "reset_clients",
    "sales_unit",
    "sales_units",
]

#: Connections kept per host: enough for ``vipps_om_worker --concurrency 32``.
POOL_SIZE = 32

_clients: dict[str, OrderManagementClient] = {}
_lock = threading.Lock()


class SalesUnitMissing(VippsConfigurationError):
    """An order's merchant serial number has no keys: its orders wait for staff, naming it."""

    def __init__(self, msn: str) -> None:
        self.merchant_serial_number = msn
        super().__init__(
            f"The sales unit with merchant serial number {msn} has no API keys here: add "
            f"{msn!r} to {SETTINGS_NAME}['SALES_UNITS'] with that unit's CLIENT_ID, "
            f"CLIENT_SECRET and SUBSCRIPTION_KEY (or set {ENVIRONMENT_PREFIX}SALES_UNIT_{msn}_"
            "CLIENT_ID and the others in the environment), then requeue its orders."
        )


def sales_units() -> dict[str, SalesUnit]:
    """Every sales unit the settings name: ``SALES_UNITS`` and the single-unit settings'."""
    units = dict(app_settings.SALES_UNITS)
    default = app_settings.MERCHANT_SERIAL_NUMBER
    if default and default not in units:
        units[default] = SalesUnit(default, client_id=app_settings.CLIENT_ID)
    return {msn: sales_unit(msn) for msn in sorted(units)}


def sales_unit(merchant_serial_number: str | None = None) -> SalesUnit:
    """The sales unit with this MSN (the configured one by default) and the keys that act for
    it: its own (``SALES_UNITS``), the single-unit settings for ``MERCHANT_SERIAL_NUMBER``, or
    partner keys (``PARTNER_KEYS``) for any. :class:`SalesUnitMissing` when none do."""
    msn = str(merchant_serial_number or app_settings.MERCHANT_SERIAL_NUMBER or "")
    named: SalesUnit | None = app_settings.SALES_UNITS.get(msn)
    if named is not None and named.has_keys:
        return named
    default = app_settings.MERCHANT_SERIAL_NUMBER
    if not msn or msn == default or app_settings.PARTNER_KEYS:
        # The single-unit settings; missing ones are the project's to fix (the client names
        # them), and changes wait in the outbox until they are set.
        return SalesUnit(
            msn,
            named.name if named is not None else "",
            app_settings.CLIENT_ID,
            Secret(app_settings.CLIENT_SECRET) if app_settings.CLIENT_SECRET else None,
            Secret(app_settings.SUBSCRIPTION_KEY) if app_settings.SUBSCRIPTION_KEY else None,
            partner=bool(app_settings.PARTNER_KEYS) and msn != default,
        )
    raise SalesUnitMissing(msn)


def unit_name(merchant_serial_number: str) -> str:
    """A sales unit's ``NAME`` (``SALES_UNITS``), else its MSN; never an error."""
    unit = (app_settings.get("SALES_UNITS") or {}).get(merchant_serial_number)
    return unit.name if unit is not None and unit.name else merchant_serial_number


def unit_label(merchant_serial_number: str) -> str:
    """How staff see a sales unit: its ``NAME`` and MSN (``"Strikk og Sokk Danmark (654321)"``),
    the MSN alone when it has no name, and never an error (for lists and filters)."""
    units = app_settings.get("SALES_UNITS") or {}
    unit = units.get(merchant_serial_number)
    return unit.label if unit is not None else merchant_serial_number


def get_client(merchant_serial_number: str | None = None) -> OrderManagementClient:
    """The client for a sales unit (the configured one by default), with that unit's keys.

    Raises :class:`SalesUnitMissing` for an MSN no keys act for.
    """
    msn = str(merchant_serial_number or app_settings.MERCHANT_SERIAL_NUMBER or "")
    client = _clients.get(msn)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(msn)
        if client is None:
            client = _build(msn)
            _clients[msn] = client
    return client


#: How the client's arguments are called in the settings, for its configuration errors.
_SETTING_NAMES = {
    "client_id": "CLIENT_ID",
    "client_secret": "CLIENT_SECRET",
    "subscription_key": "SUBSCRIPTION_KEY",
    "merchant_serial_number": "MERCHANT_SERIAL_NUMBER",
    "Vipps-System-Name": "SYSTEM_NAME",
    "Vipps-System-Version": "SYSTEM_VERSION",
}


def _build(msn: str) -> OrderManagementClient:
    """A client from the settings; a configuration error names the setting, never its value."""
    unit = sales_unit(msn)
    try:
        return OrderManagementClient(
            base_url=app_settings.BASE_URL,
            client_id=unit.client_id,  # type: ignore[arg-type]  # the client names a missing one
            client_secret=unit.client_secret.reveal() if unit.client_secret else None,  # type: ignore[arg-type]
            subscription_key=unit.subscription_key.reveal() if unit.subscription_key else None,  # type: ignore[arg-type]
            merchant_serial_number=unit.merchant_serial_number,
            system_name=app_settings.SYSTEM_NAME,
            system_version=app_settings.SYSTEM_VERSION,
            timeout=app_settings.TIMEOUT,
            token_store=CacheTokenStore(caches[app_settings.TOKEN_CACHE]),
            on_call=record_call,
            link_policy=link_policy(),
            pool_size=POOL_SIZE,
        )
    except VippsConfigurationError as exc:
        message = str(exc)
    for argument, setting in _SETTING_NAMES.items():
        message = message.replace(argument, f"{SETTINGS_NAME}[{setting!r}]")
    # Raised outside the handler: the constructor's frame (holding the values) is not chained.
    raise VippsConfigurationError(message)


def reset_clients() -> None:
    """Close and forget every client; the next call builds them from the current settings."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


app_settings.on_reload("clients", reset_clients)
