"""Settings: one ``VIPPS_ORDER_MANAGEMENT`` dict, read lazily.

Modelled on DRF's ``api_settings``: ``app_settings.BASE_URL`` returns the project's value or the
default, values are cached until Django's ``setting_changed`` fires (so ``override_settings``
works in tests), and keys this app does not know are reported by the system checks instead of
being silently ignored.

The four credentials and ``BASE_URL`` may also come from the environment
(``VIPPS_ORDER_MANAGEMENT_CLIENT_ID`` and so on), so they never have to be written into a
settings file, and the fake Vipps's banner can be sourced by a shell.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .exceptions import VippsConfigurationError
from .link_policy import LinkPolicy

SETTINGS_NAME = "VIPPS_ORDER_MANAGEMENT"
ENVIRONMENT_PREFIX = "VIPPS_ORDER_MANAGEMENT_"

#: The credentials, which may come from the environment when the settings dict leaves them out.
CREDENTIAL_KEYS = ("CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY", "MERCHANT_SERIAL_NUMBER")
#: Every key that may come from the environment (``VIPPS_ORDER_MANAGEMENT_<KEY>``).
ENVIRONMENT_KEYS = (*CREDENTIAL_KEYS, "BASE_URL")

#: How drains are triggered (``DISPATCH``); see :mod:`.runners.dispatch`.
DISPATCH_MODES = ("worker", "immediate", "django_tasks", "celery")

#: Keys whose value is a dict merged over its default, so a project can change one sub-key.
NESTED_KEYS = ("RETRY", "OSCAR")

DEFAULTS: dict[str, Any] = {
    # Credentials from the Vipps MobilePay business portal (no defaults).
    "CLIENT_ID": None,
    "CLIENT_SECRET": None,
    "SUBSCRIPTION_KEY": None,
    "MERCHANT_SERIAL_NUMBER": None,
    # The API root; the paths /accesstoken/get and /order-management/... are appended.
    "BASE_URL": "https://api.vipps.no",
    # {"shop.Order": "shop.vipps.ShopOrderAdapter"}: which models sync, and who maps them.
    "ORDER_ADAPTERS": {},
    # How drains are triggered: "worker", "django_tasks", "celery" or "immediate".
    "DISPATCH": "worker",
    # "v2": one category per order, last write wins. "v3": several links, created and deleted.
    "CATEGORY_API": "v2",
    # A STORAGES alias for order images.
    "IMAGE_STORAGE": "default",
    # Sent as Vipps-System-Name / Vipps-System-Version (at most 30 characters each).
    "SYSTEM_NAME": "django",
    "SYSTEM_VERSION": None,  # None: Django's version
    # Seconds: a number, or (connect, read).
    "TIMEOUT": (5.0, 30.0),
    # Backoff for transient failures; rows give up by age, not after a small count of tries.
    "RETRY": {
        "BASE_SECONDS": 10,
        "CAP_SECONDS": 3600,
        "GIVE_UP_AFTER": timedelta(hours=72),
        "JITTER": 0.25,
    },
    # How long an order without a Vipps payment is looked at again (its payment may be saved
    # just after it, as Oscar does) before it is left alone as not paid through Vipps.
    "PAYMENT_WAIT": timedelta(hours=1),
    # How long a worker holds a claimed outbox row before another worker may take it over.
    "LEASE_SECONDS": 120,
    # How many orders a worker claims at a time (with every kind of each that is due). A
    # batch costs a fixed number of queries, so bigger batches cost less per order.
    "BATCH_SIZE": 100,
    # Idle sleep of vipps_om_worker between polls, in seconds.
    "WORKER_POLL_SECONDS": 5.0,
    # The shop's public address ("https://shop.example"): links sent to Vipps are absolute.
    "SITE_URL": None,
    # Development with the fake only: hosts whose plain-http links are accepted, e.g.
    # ("127.0.0.1", "localhost"). Vipps itself opens https links only (check E022).
    "DEVELOPMENT_LINK_HOSTS": (),
    # Lifetime of signed customer links (order status page, printable receipt).
    "PUBLIC_LINK_MAX_AGE": timedelta(days=400),
    # Change it to revoke every customer link at once (without rotating SECRET_KEY).
    "PUBLIC_LINK_SALT": "",
    # DRF permission classes for the staff endpoints of the API; deny by default. On top of
    # these, links and images need the model permissions of OrderLink / OrderImage, and
    # triggering a sync the change permission of the order model. Customers always see only
    # their own orders.
    "API_PERMISSION_CLASSES": (
        "rest_framework.permissions.IsAdminUser",
        "rest_framework.permissions.DjangoModelPermissions",
    ),
    # Enqueue on every save of a configured order model.
    "AUTO_SYNC": True,
    # The cache alias that holds access tokens (shared between worker processes).
    "TOKEN_CACHE": "default",
    # For django.tasks and Celery dispatch.
    "TASK_BACKEND": "default",
    "CELERY_QUEUE": "vipps_om",
    # django-oscar shops (vipps_order_management.contrib.oscar): the code of the payment
    # SourceType whose reference is the Vipps orderId, and the link each order status shows
    # (statuses not listed keep the link they had; None removes it).
    "OSCAR": {
        "PAYMENT_SOURCE_TYPE": "vipps",
        "STATUS_CATEGORIES": {
            "Pending": "ORDER_CONFIRMATION",
            "Being processed": "ORDER_CONFIRMATION",
            "Shipped": "DELIVERY",
            "Complete": "RECEIPT",
        },
    },
    # The seller as shown on the printable receipt: a proof of purchase needs these.
    "SELLER_NAME": "",
    "SELLER_ORGANISATION_NUMBER": "",
    "SELLER_ADDRESS": "",
}


class AppSettings:
    """Lazy, cached view of ``settings.VIPPS_ORDER_MANAGEMENT`` over :data:`DEFAULTS`."""

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        self.defaults = dict(DEFAULTS if defaults is None else defaults)
        self._cached: dict[str, Any] = {}
        self._reset_hooks: dict[str, Callable[[], None]] = {}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, SETTINGS_NAME, None)
        return value if isinstance(value, Mapping) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.defaults:
            raise AttributeError(f"{SETTINGS_NAME} has no setting {name!r}")
        try:
            return self._cached[name]
        except KeyError:
            pass
        value = self._resolve(name)
        self._cached[name] = value
        return value

    def _resolve(self, name: str) -> Any:
        user = self.user_settings
        default = self.defaults[name]
        if name in user:
            value = user[name]
            if name in NESTED_KEYS and isinstance(value, Mapping):
                return {**default, **value}
            return value
        if name in ENVIRONMENT_KEYS:
            return os.environ.get(ENVIRONMENT_PREFIX + name) or default
        return default

    def unknown_keys(self) -> list[str]:
        """Keys in the project's settings dict that this app does not read (likely typos)."""
        return sorted(key for key in self.user_settings if key not in self.defaults)

    def reload(self) -> None:
        """Forget cached values, then reset everything built from them (see :meth:`on_reload`)."""
        self._cached.clear()
        for hook in list(self._reset_hooks.values()):
            hook()

    def on_reload(self, name: str, hook: Callable[[], None]) -> None:
        """Call ``hook`` on every :meth:`reload`: for caches built from these settings.

        The adapter registry, the HTTP clients and the signal receivers register here, so one
        ``setting_changed`` receiver resets them all, in the order they registered. ``name``
        makes registering twice (a module imported again) replace rather than add.
        """
        self._reset_hooks[name] = hook

    @property
    def timeout(self) -> float | tuple[float, float]:
        value = self.TIMEOUT
        return tuple(value) if isinstance(value, list | tuple) else value


app_settings = AppSettings()


def configured_class(value: str | type, *, base: type, key: str, kind: str) -> type:
    """The class a setting names (a dotted path, or the class itself), checked to be a ``base``.

    ``key`` is how the setting is spelt in messages, e.g. ``"ORDER_ADAPTERS['shop.Order']"``;
    ``kind`` what the class must be, e.g. ``"an OrderAdapter subclass"``.
    """
    try:
        found = import_string(value) if isinstance(value, str) else value
    except ImportError as exc:
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}[{key}]: cannot import {value!r} ({exc})"
        ) from None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise VippsConfigurationError(f"{SETTINGS_NAME}[{key}]: {value!r} is not {kind}")
    return found


def host_names(value: Any) -> tuple[str, ...] | None:
    """``value`` (``DEVELOPMENT_LINK_HOSTS``) as a tuple of host names; ``None`` when it is not
    a list of non-empty strings. A bare string is refused: ``"localhost"`` is no list of hosts."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return None
    hosts = tuple(value)
    if not all(isinstance(host, str) and host for host in hosts):
        return None
    return hosts


_link_policy: list[LinkPolicy] = []


def link_policy() -> LinkPolicy:
    """The project's link policy: Vipps's own rule, plus the development allowances.

    With ``DEBUG`` on, links to this machine or a private network pass (over https); plain-http
    links pass only to the hosts of ``DEVELOPMENT_LINK_HOSTS``. Every surface that sends or
    shows a link asks this one policy.
    """
    if not _link_policy:
        _link_policy.append(
            LinkPolicy.for_development(
                http_hosts=app_settings.DEVELOPMENT_LINK_HOSTS or (), local_hosts=settings.DEBUG
            )
        )
    return _link_policy[0]


app_settings.on_reload("link_policy", _link_policy.clear)

#: Django settings besides ours that what we build depends on (token cache, image storage,
#: the link policy's development allowances).
WATCHED_SETTINGS = frozenset({SETTINGS_NAME, "CACHES", "STORAGES", "DEBUG"})


@receiver(setting_changed, dispatch_uid="vipps_order_management.conf.reload")
def _reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    """The one receiver: ``override_settings`` in tests, or settings changed at run time."""
    if setting in WATCHED_SETTINGS:
        app_settings.reload()
