"""The configured HTTP clients: one per merchant serial number, built once per process.

Threads of one worker share a client (its pooled session and its token); settings changes
(``override_settings`` in tests) drop them through the one reload of :mod:`..conf`.
"""

from __future__ import annotations

import threading

from django.core.cache import caches

from ..client import CacheTokenStore, OrderManagementClient
from ..conf import SETTINGS_NAME, app_settings, link_policy
from ..exceptions import VippsConfigurationError
from .calllog import record_call

__all__ = ["POOL_SIZE", "get_client", "reset_clients"]

#: Connections kept per host: enough for ``vipps_om_worker --concurrency 32``.
POOL_SIZE = 32

_clients: dict[str, OrderManagementClient] = {}
_lock = threading.Lock()


def get_client(merchant_serial_number: str | None = None) -> OrderManagementClient:
    """The client for a sales unit (the configured one by default), from the settings."""
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
    try:
        return OrderManagementClient(
            base_url=app_settings.BASE_URL,
            client_id=app_settings.CLIENT_ID,
            client_secret=app_settings.CLIENT_SECRET,
            subscription_key=app_settings.SUBSCRIPTION_KEY,
            merchant_serial_number=msn,
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
