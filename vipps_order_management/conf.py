"""Settings: one ``VIPPS_ORDER_MANAGEMENT`` dict, each key declared once in :data:`SCHEMA`.

Modelled on DRF's ``api_settings``: ``app_settings.TIMEOUT`` returns the project's value or the
default, values are cached until Django's ``setting_changed`` fires (so ``override_settings``
works in tests), and keys this app does not know are reported by the system checks instead of
being silently ignored. Unlike DRF's, every value is parsed once into the type the code uses
(``TIMEOUT`` a ``(connect, read)`` pair, ``RETRY`` a :class:`Retry`...), and a value its check
refuses raises :class:`~.exceptions.VippsConfigurationError` wherever it is read, so a process
that runs no system checks (gunicorn, Celery, ``DISPATCH="immediate"``) refuses it too.

The four credentials, ``BASE_URL`` and ``HEALTH_TOKEN`` may also come from the environment
(``VIPPS_ORDER_MANAGEMENT_CLIENT_ID`` and so on), so they never have to be written into a
settings file, and the fake Vipps's banner can be sourced by a shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .client import clean_base_url
from .conf_health import HEALTH_DEFAULT, health_thresholds, health_token
from .conf_oscar import OSCAR_DEFAULT, parse_oscar
from .exceptions import VippsConfigurationError
from .link_policy import LinkPolicy, app_scheme_errors, is_this_machine
from .schema import (
    AppSettings,
    Context,
    Invalid,
    Problem,
    Setting,
    as_duration,
    choice,
    duration,
    flag,
    is_number,
    name,
    optional_duration,
    positive_integer,
    seconds_between,
    sub_dict,
    text,
)
from .transport.credentials import without_password
from .units import parse_sales_units

SETTINGS_NAME = "VIPPS_ORDER_MANAGEMENT"
ENVIRONMENT_PREFIX = "VIPPS_ORDER_MANAGEMENT_"
#: The tag of this app's system checks, and the first part of their IDs.
CHECK_TAG = "vipps_order_management"

#: The credentials, which may come from the environment when the settings dict leaves them out.
CREDENTIAL_KEYS = ("CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY", "MERCHANT_SERIAL_NUMBER")

_PORTAL = "the Vipps MobilePay business portal (Utvikler/Developer -> API keys)"


# ---------------------------------------------------------------------- typed values


class Dispatch(StrEnum):
    """How drains are triggered (``DISPATCH``); see :mod:`.runners.dispatch`."""

    WORKER = "worker"
    IMMEDIATE = "immediate"
    DJANGO_TASKS = "django_tasks"
    CELERY = "celery"


class CategoryAPI(StrEnum):
    """``v2``: one category per order, last write wins. ``v3``: several, created and deleted."""

    V2 = "v2"
    V3 = "v3"


@dataclass(frozen=True)
class Retry:
    """Backoff for transient failures (``RETRY``): rows give up by age, not after a few tries."""

    base_seconds: float
    cap_seconds: float
    give_up_after: timedelta
    jitter: float


# ---------------------------------------------------------------------- parsers of one key


def _credential(value: Any, context: Context) -> str | None:
    """Text, or ``None`` when not set; a merchant serial number may be written as a number."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"is a {type(value).__name__}, not text")  # never the value


def _base_url(value: Any, context: Context) -> str:
    """The API root without its trailing slash; plain http only to this machine or in DEBUG."""
    if not isinstance(value, str):
        raise Invalid(f"is {value!r}, not the address of the API root")
    try:
        url = clean_base_url(value)
    except VippsConfigurationError as exc:  # its message never shows a password either
        raise Invalid(f"is {without_password(value)!r}, which cannot work: {exc}") from None
    parts = urlsplit(url)
    if parts.scheme != "https" and not context.debug and not is_this_machine(parts.hostname or ""):
        raise Invalid(
            Problem(
                f"is {without_password(url)!r}, not https, while DEBUG is False: the credentials "
                "would travel unencrypted",
                hint="Use https://api.vipps.no.",
                check_id="E009",
            )
        )
    return url


def _site_url(value: Any, context: Context) -> str | None:
    """The shop's address without its trailing slash, normalised by the link policy.

    Without ``DEBUG``: https to a public host, as Vipps opens links. With it, plain http and
    this machine pass too, so the example shop's pages work on a laptop.
    """
    if value is None or value == "":
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # an unclosed [IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(
            Problem(
                f"is {without_password(value)!r}, not an absolute URL",
                hint="Use the shop's public address with its scheme, e.g. 'https://shop.example'.",
            )
        )
    if parts.scheme != "https" and not context.debug:
        raise Invalid(
            Problem(
                f"is {without_password(value)!r}, not https, while DEBUG is False: the Vipps "
                "app opens only https links",
                hint="Serve the shop over https and use its https address, e.g. "
                "'https://shop.example'.",
            )
        )
    if "?" in value or "#" in value:
        raise Invalid(
            f"is {without_password(value)!r}, with a query or fragment: the app appends the "
            "pages' paths to it"
        )
    http_hosts = [parts.hostname or ""] if parts.scheme == "http" else []
    policy = LinkPolicy.configured(http_hosts=http_hosts, local_hosts=context.debug)
    cleaned, errors = policy.check(value, path="SITE_URL")
    if errors:  # the policy's reason names the host, never a password in the address
        raise Invalid(*(reason for _path, reason in errors))
    return str(cleaned).rstrip("/")


def _app_link_schemes(value: Any, context: Context) -> tuple[str, ...]:
    if not value:
        return ()
    reasons = app_scheme_errors(value)
    if reasons:
        raise Invalid(*reasons)
    return tuple(sorted(set(value)))


def _development_link_hosts(value: Any, context: Context) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise Invalid(f"is {value!r}, not a list of host names")
    if not all(isinstance(host, str) and host for host in value):
        raise Invalid(f"is {value!r}, not a list of host names")
    if not context.debug:
        raise Invalid(
            Problem(
                "is set while DEBUG is False: plain-http links are for development with the fake "
                "Vipps; the Vipps app opens https links only",
                hint="Remove DEVELOPMENT_LINK_HOSTS from production settings.",
            )
        )
    return tuple(value)


#: The longest ``TIMEOUT`` part: beyond it a send holds its lease (and a thread) for nothing,
#: and far beyond it the socket refuses the number.
MAX_TIMEOUT_SECONDS = 600


def _timeout(value: Any, context: Context) -> tuple[float, float]:
    """``(connect, read)`` in seconds; one number sets both."""
    parts = value if isinstance(value, list | tuple) and len(value) == 2 else (value, value)
    if all(is_number(part) and 0 < part <= MAX_TIMEOUT_SECONDS for part in parts):
        return float(parts[0]), float(parts[1])
    raise Invalid(
        f"is {value!r}, not a number of seconds from 0 to {MAX_TIMEOUT_SECONDS} (above 0) or a "
        "(connect, read) pair of them"
    )


_RETRY_DEFAULT = {
    "BASE_SECONDS": 10,
    "CAP_SECONDS": 3600,
    "GIVE_UP_AFTER": timedelta(hours=72),
    "JITTER": 0.25,
}


def _retry(value: Any, context: Context) -> Retry:
    retry = sub_dict(value, _RETRY_DEFAULT, "RETRY")
    base, cap, give_up, jitter = (retry[key] for key in _RETRY_DEFAULT)
    problems: list[Problem] = []
    if not (is_number(base) and base >= 0):
        problems.append(
            Problem(f"is {base!r}, not a number of seconds >= 0", ("BASE_SECONDS",), "Use e.g. 10.")
        )
    if not (is_number(cap) and cap >= 0):
        problems.append(
            Problem(f"is {cap!r}, not a number of seconds >= 0", ("CAP_SECONDS",), "Use e.g. 3600.")
        )
    elif is_number(base) and cap < base:
        problems.append(
            Problem(
                f"is {cap!r}, below BASE_SECONDS ({base!r})", ("CAP_SECONDS",), "Use e.g. 3600."
            )
        )
    give_up_after = as_duration(give_up)
    if give_up_after is None:
        problems.append(
            Problem(
                f"is {give_up!r}, not a positive timedelta or number of seconds",
                ("GIVE_UP_AFTER",),
                "Use e.g. timedelta(hours=72).",
            )
        )
    if not (is_number(jitter) and 0 <= jitter <= 1):
        problems.append(
            Problem(f"is {jitter!r}, not a fraction from 0 to 1", ("JITTER",), "Use e.g. 0.25.")
        )
    if problems or give_up_after is None:
        raise Invalid(*problems)
    return Retry(float(base), float(cap), give_up_after, float(jitter))


def _order_adapters(value: Any, context: Context) -> Mapping[str, str | type]:
    """The dict's shape only: whether each model and adapter exists is check E004/E005's."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise Invalid(f"must be a dict, not {type(value).__name__}")
    return MappingProxyType(dict(value))


def _classes(value: Any, context: Context) -> tuple[str | type, ...]:
    """Dotted paths or classes; one alone is a list of one."""
    if value is None:
        return ()
    if isinstance(value, str | type):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(entry, str | type) for entry in value):
        return tuple(value)
    raise Invalid(f"is {value!r}, not a list of dotted paths of classes")


def _system_version(value: Any, context: Context) -> str:
    return django.get_version() if value is None else name(value, context)


# ---------------------------------------------------------------------- the schema


def _credential_setting(key: str, *, secret: bool) -> Setting:
    return Setting(
        key,
        None,
        _credential,
        "E025",
        f"Copy it again from {_PORTAL}, as plain text, into the settings or the environment "
        f"variable {ENVIRONMENT_PREFIX}{key}.",
        environment=True,
        secret=secret,
    )


_WRONG_TYPE = "E026"

#: Every key, once: default (as a project would write it), parser, check ID, hint.
SCHEMA: tuple[Setting, ...] = (
    # Credentials from the Vipps MobilePay business portal (no defaults).
    _credential_setting("CLIENT_ID", secret=False),
    _credential_setting("CLIENT_SECRET", secret=True),
    _credential_setting("SUBSCRIPTION_KEY", secret=True),
    _credential_setting("MERCHANT_SERIAL_NUMBER", secret=False),
    # Several sales units, each with its own keys; or partner keys acting for many.
    Setting(
        "SALES_UNITS",
        {},
        parse_sales_units,
        "E028",
        "Give each merchant serial number its NAME, CLIENT_ID, CLIENT_SECRET and "
        "SUBSCRIPTION_KEY (from the portal's API keys of that sales unit), here or in the "
        f"environment ({ENVIRONMENT_PREFIX}SALES_UNIT_<MSN>_<KEY>).",
    ),
    Setting(
        "PARTNER_KEYS",
        False,
        flag,
        _WRONG_TYPE,
        "Use True only with a partner's keys, which act for every sales unit.",
    ),
    # The API root; the paths /accesstoken/get and /order-management/... are appended.
    Setting(
        "BASE_URL",
        "https://api.vipps.no",
        _base_url,
        "E008",
        "Use the API root https://api.vipps.no (the fake Vipps's URL in development).",
        environment=True,
    ),
    Setting(
        "ORDER_ADAPTERS",
        {},
        _order_adapters,
        "E004",
        "Map model labels to adapter paths: {'shop.Order': 'shop.vipps.ShopOrderAdapter'}.",
    ),
    Setting(
        "DISPATCH",
        "worker",
        choice(Dispatch),
        "E011",
        "'worker' (manage.py vipps_om_worker) suits most shops.",
    ),
    Setting(
        "CATEGORY_API",
        "v2",
        choice(CategoryAPI),
        "E015",
        "'v2' sends one link per order (last write wins); 'v3' sends several.",
    ),
    Setting(
        "IMAGE_STORAGE",
        "default",
        name,
        "E006",
        "Use the name of an alias in settings.STORAGES, e.g. 'default'.",
    ),
    # Sent as Vipps-System-Name / Vipps-System-Version (at most 30 characters each).
    Setting("SYSTEM_NAME", "django", name, _WRONG_TYPE, "Use your system's name, e.g. 'django'."),
    Setting(
        "SYSTEM_VERSION",
        None,
        _system_version,
        _WRONG_TYPE,
        "Use your system's version as a string, or None for Django's.",
    ),
    Setting("TIMEOUT", (5.0, 30.0), _timeout, "E016", "Use e.g. (5.0, 30.0)."),
    Setting(
        "RETRY",
        _RETRY_DEFAULT,
        _retry,
        "E017",
        "Give only the keys you change, e.g. {'JITTER': 0}.",
    ),
    # How long an order without a Vipps payment is looked at again (its payment may be saved
    # just after it, as Oscar does) before it is left alone as not paid through Vipps.
    Setting(
        "PAYMENT_WAIT",
        timedelta(hours=1),
        duration,
        "E023",
        "Use e.g. timedelta(hours=1): how long an order without a Vipps payment is looked "
        "at again before it is taken as paid some other way.",
    ),
    # Renewed every third of it while a worker works: under a tenth of a second it could not
    # be; over a day, a killed worker's orders would wait that long for another.
    Setting("LEASE_SECONDS", 120, seconds_between(0.1, 86_400), "E018", "Use e.g. 120."),
    Setting("BATCH_SIZE", 100, positive_integer, "E019", "Use e.g. 100."),
    # At 0 (or less, or NaN) an idle worker would spin on the database.
    Setting("WORKER_POLL_SECONDS", 5.0, seconds_between(0.01, 3600), "E021", "Use e.g. 5.0."),
    Setting(
        "SITE_URL",
        None,
        _site_url,
        "E010",
        "Use the shop's public https address, e.g. 'https://shop.example'.",
    ),
    # The only schemes besides https that links may use: an allowlist, since a phone opens
    # any registered scheme (itms-services:, intent:...) as readily as the shop's app.
    Setting(
        "APP_LINK_SCHEMES",
        (),
        _app_link_schemes,
        "E031",
        "Use the scheme names of the shop's own app, e.g. ('myapp',), or leave it out.",
    ),
    Setting(
        "DEVELOPMENT_LINK_HOSTS",
        (),
        _development_link_hosts,
        "E022",
        "Use e.g. ('127.0.0.1', 'localhost'), or leave it out.",
    ),
    Setting(
        "PUBLIC_LINK_MAX_AGE",
        timedelta(days=400),
        optional_duration,
        "E020",
        "Use e.g. timedelta(days=400); None makes customer links never expire.",
    ),
    Setting("PUBLIC_LINK_SALT", "", text, _WRONG_TYPE, "Use a string, e.g. '2'."),
    Setting(
        "API_PERMISSION_CLASSES",
        (
            "rest_framework.permissions.IsAdminUser",
            "rest_framework.permissions.DjangoModelPermissions",
        ),
        _classes,
        _WRONG_TYPE,
        "Use a list of dotted paths of DRF permission classes.",
    ),
    Setting("AUTO_SYNC", True, flag, _WRONG_TYPE, "Use True or False."),
    Setting(
        "TOKEN_CACHE",
        "default",
        name,
        "E007",
        "Use the name of an alias in settings.CACHES shared by all processes (Redis, database).",
    ),
    Setting("TASK_BACKEND", "default", name, _WRONG_TYPE, "Use an alias of settings.TASKS."),
    Setting("CELERY_QUEUE", "vipps_om", name, _WRONG_TYPE, "Use a queue name, e.g. 'vipps_om'."),
    Setting(
        "OSCAR",
        OSCAR_DEFAULT,
        parse_oscar,
        "E024",
        "Give only the keys you change: PAYMENT_SOURCE_TYPE, STATUS_CATEGORIES.",
    ),
    # Monitoring: the health summary's thresholds, and who may read it without logging in.
    Setting(
        "HEALTH",
        HEALTH_DEFAULT,
        health_thresholds,
        "E029",
        "Give only the keys you change: OLDEST_PENDING, WAITING_FOR_STAFF, NO_SUCCESS.",
    ),
    Setting(
        "HEALTH_TOKEN",
        None,
        health_token,
        "E030",
        "Make one with python -c 'import secrets; print(secrets.token_urlsafe(32))' and set it "
        f"in the environment variable {ENVIRONMENT_PREFIX}HEALTH_TOKEN.",
        environment=True,
        secret=True,
    ),
    # The seller as shown on the printable receipt: a proof of purchase needs these.
    Setting("SELLER_NAME", "", text, _WRONG_TYPE, "Use the company's legal name as a string."),
    Setting("SELLER_ORGANISATION_NUMBER", "", text, _WRONG_TYPE, "Use a string."),
    Setting("SELLER_ADDRESS", "", text, _WRONG_TYPE, "Use a string."),
)

#: Each key's default, as a project would write it (the parsed value is ``app_settings.<KEY>``).
DEFAULTS: Mapping[str, Any] = MappingProxyType({setting.key: setting.default for setting in SCHEMA})
#: Every key that may come from the environment (``VIPPS_ORDER_MANAGEMENT_<KEY>``).
ENVIRONMENT_KEYS = tuple(setting.key for setting in SCHEMA if setting.environment)

app_settings = AppSettings(
    SCHEMA, name=SETTINGS_NAME, environment_prefix=ENVIRONMENT_PREFIX, check_tag=CHECK_TAG
)


def missing_credentials() -> list[str]:
    """The credentials that are not set; a refused one is set (its check says what is wrong)."""
    return [
        key
        for key in CREDENTIAL_KEYS
        if app_settings.get(key) is None and not app_settings.refusals(key)
    ]


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


_link_policy: list[LinkPolicy] = []


def link_policy() -> LinkPolicy:
    """The project's link policy: Vipps's own rule, the shop's app schemes, and the
    development allowances.

    With ``DEBUG`` on, links to this machine or a private network pass (over https); plain-http
    links pass only to the hosts of ``DEVELOPMENT_LINK_HOSTS``. Every surface that sends or
    shows a link asks this one policy.
    """
    if not _link_policy:
        _link_policy.append(
            LinkPolicy.configured(
                app_schemes=app_settings.APP_LINK_SCHEMES,
                http_hosts=app_settings.DEVELOPMENT_LINK_HOSTS,
                local_hosts=settings.DEBUG,
            )
        )
    return _link_policy[0]


app_settings.on_reload("link_policy", _link_policy.clear)

#: Django settings besides ours that what we build depends on (token cache, image storage,
#: the parsers and the link policy that depend on DEBUG).
WATCHED_SETTINGS = frozenset({SETTINGS_NAME, "CACHES", "STORAGES", "DEBUG"})


@receiver(setting_changed, dispatch_uid="vipps_order_management.conf.reload")
def _reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    """The one receiver: ``override_settings`` in tests, or settings changed at run time."""
    if setting in WATCHED_SETTINGS:
        app_settings.reload()
