"""System checks: a misconfiguration is reported by ``manage.py check``, not by a failed send.

Every problem has an ID (listed in :data:`CHECK_IDS`), a message naming the exact key of the
``VIPPS_ORDER_MANAGEMENT`` dict and a hint saying what to do. The checks read settings only:
they never touch the database or the network (``manage.py vipps_om_check`` fetches a token).

Severity follows what a shop expects:

* Errors are settings that can never work (a typo'd key, an adapter that cannot be imported,
  half of the credentials, a dispatch that never runs). They stop ``runserver``, ``migrate``
  and the worker until fixed.
* Warnings are settings that work but are probably not what production wants (the fake Vipps,
  requests waiting for Vipps, a receipt without the seller's name). Missing credentials are a
  warning when none is set at all: build steps and test suites often run without secrets, and
  changes wait in the outbox until the credentials arrive. Any credential set means the shop
  opted in, so a missing one is then an error.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import (
    CREDENTIAL_KEYS,
    DEFAULTS,
    DISPATCH_MODES,
    ENVIRONMENT_PREFIX,
    SETTINGS_NAME,
    app_settings,
    host_names,
)

__all__ = ["CHECK_IDS", "TAG", "check_settings"]

TAG = "vipps_order_management"

#: Every ID these checks can produce, with one line on what it means.
CHECK_IDS: dict[str, str] = {
    f"{TAG}.E001": f"{SETTINGS_NAME} is not a dict.",
    f"{TAG}.E002": f"{SETTINGS_NAME} has a key this app does not know (a typo?).",
    f"{TAG}.E003": "Some credentials are set but this one is missing.",
    f"{TAG}.E004": "ORDER_ADAPTERS is not a dict, or names a model that is not installed.",
    f"{TAG}.E005": "An ORDER_ADAPTERS adapter cannot be imported or is not an OrderAdapter.",
    f"{TAG}.E006": "IMAGE_STORAGE is not an alias in STORAGES.",
    f"{TAG}.E007": "TOKEN_CACHE is not an alias in CACHES.",
    f"{TAG}.E008": "BASE_URL is not an absolute URL of the API root.",
    f"{TAG}.E009": "BASE_URL is not https while DEBUG is False.",
    f"{TAG}.E010": "SITE_URL is not an absolute URL, or not https while DEBUG is False.",
    f"{TAG}.E011": "DISPATCH is not one of the known modes.",
    f"{TAG}.E012": 'DISPATCH="django_tasks" but the task framework or TASK_BACKEND is unusable.',
    f"{TAG}.E013": 'DISPATCH="django_tasks" with the DummyBackend: tasks never run.',
    f"{TAG}.E014": 'DISPATCH="celery" but Celery is not installed.',
    f"{TAG}.E015": 'CATEGORY_API is not "v2" or "v3".',
    f"{TAG}.E016": "TIMEOUT is not a positive number or a (connect, read) pair.",
    f"{TAG}.E017": "RETRY is not a dict of valid backoff values.",
    f"{TAG}.E018": "LEASE_SECONDS is not a positive number.",
    f"{TAG}.E019": "BATCH_SIZE is not a positive integer.",
    f"{TAG}.E020": "PUBLIC_LINK_MAX_AGE is not a positive timedelta, seconds or None.",
    f"{TAG}.E021": "WORKER_POLL_SECONDS is not a positive number.",
    f"{TAG}.E022": "DEVELOPMENT_LINK_HOSTS is set while DEBUG is False, or is not a list of hosts.",
    f"{TAG}.E023": "PAYMENT_WAIT is not a positive timedelta or number of seconds.",
    f"{TAG}.E024": "OSCAR is not a dict of PAYMENT_SOURCE_TYPE and STATUS_CATEGORIES of the right shape.",
    f"{TAG}.E025": "A credential cannot be sent in an HTTP header (a pasted typographic quote...).",
    f"{TAG}.W001": "ORDER_ADAPTERS is configured but no credentials are set: nothing is sent.",
    f"{TAG}.W002": "BASE_URL points at this machine (the fake Vipps) while DEBUG is False.",
    f"{TAG}.W003": "SITE_URL is not set while DEBUG is False.",
    f"{TAG}.W004": 'DISPATCH="django_tasks" with the ImmediateBackend: requests wait for Vipps.',
    f"{TAG}.W005": 'DISPATCH="immediate" while DEBUG is False: requests wait for Vipps.',
    f"{TAG}.W006": "SQLite without transaction_mode='IMMEDIATE' while a separate runner drains.",
    f"{TAG}.W007": "SELLER_NAME or SELLER_ORGANISATION_NUMBER is empty.",
}

_RETRY_KEYS = tuple(DEFAULTS["RETRY"])
_PORTAL = "the Vipps MobilePay business portal (Utvikler/Developer -> API keys)"


def _key(name: str, sub: str | None = None) -> str:
    """How a setting is named in messages: ``VIPPS_ORDER_MANAGEMENT['BATCH_SIZE']``."""
    return f"{SETTINGS_NAME}[{name!r}]" + (f"[{sub!r}]" if sub is not None else "")


def _error(number: int, msg: str, hint: str) -> Error:
    return Error(msg, hint=hint, id=f"{TAG}.E{number:03d}")


def _warning(number: int, msg: str, hint: str) -> Warning:
    return Warning(msg, hint=hint, id=f"{TAG}.W{number:03d}")


def _closest(value: str, choices: Iterable[str]) -> str | None:
    choices = list(choices)
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    matches = difflib.get_close_matches(value.upper(), [c.upper() for c in choices], n=1)
    if not matches:
        matches = difflib.get_close_matches(value, choices, n=1)
    if not matches:
        return None
    return next(c for c in choices if c.upper() == matches[0].upper())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
        return False


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


# ---------------------------------------------------------------------- the settings dict


def _check_shape() -> list[CheckMessage]:
    value = getattr(settings, SETTINGS_NAME, None)
    if value is None or isinstance(value, Mapping):
        return []
    return [
        _error(
            1,
            f"settings.{SETTINGS_NAME} must be a dict, not {type(value).__name__}.",
            f"Write {SETTINGS_NAME} = {{'ORDER_ADAPTERS': {{...}}, ...}} in your settings.",
        )
    ]


def _check_unknown_keys() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in app_settings.unknown_keys():
        suggestion = _closest(str(key), DEFAULTS)
        hint = (
            f"Did you mean {suggestion!r}?"
            if suggestion
            else f"Remove it; the known keys are: {', '.join(sorted(DEFAULTS))}."
        )
        messages.append(_error(2, f"{_key(key)} is not a setting of vipps_order_management.", hint))
    return messages


# ---------------------------------------------------------------------- credentials


def _check_credentials() -> list[CheckMessage]:
    given = {name: bool(getattr(app_settings, name)) for name in CREDENTIAL_KEYS}
    missing = [name for name, ok in given.items() if not ok]
    if not missing:
        return _check_credential_values()
    if any(given.values()):
        return [
            _error(
                3,
                f"{_key(name)} is not set, although other Vipps credentials are.",
                f"Set it in settings or in the environment variable {ENVIRONMENT_PREFIX}{name}; "
                f"find it in {_PORTAL}.",
            )
            for name in missing
        ]
    adapters = app_settings.ORDER_ADAPTERS
    if isinstance(adapters, Mapping) and adapters:
        keys = ", ".join(_key(name) for name in CREDENTIAL_KEYS)
        env = ", ".join(ENVIRONMENT_PREFIX + name for name in CREDENTIAL_KEYS)
        return [
            _warning(
                1,
                f"{_key('ORDER_ADAPTERS')} is configured but no Vipps credentials are set "
                f"({keys}): changes are queued but nothing is sent.",
                f"Set them in settings or in the environment variables {env}; find them in "
                f"{_PORTAL}.",
            )
        ]
    return []


def _check_credential_values() -> list[CheckMessage]:
    """What the client would refuse at its first call, told when the project starts."""
    from .client import credential_problem

    messages: list[CheckMessage] = []
    for name in CREDENTIAL_KEYS:
        problem = credential_problem(getattr(app_settings, name))
        if problem is not None:
            messages.append(
                _error(
                    25,
                    f"{_key(name)} {problem}.",  # never the value
                    f"Copy it again from {_PORTAL}, as plain text, into the settings or the "
                    f"environment variable {ENVIRONMENT_PREFIX}{name}.",
                )
            )
    return messages


# ---------------------------------------------------------------------- adapters


def _check_adapters() -> list[CheckMessage]:
    from .adapters import resolve_adapter, resolve_model
    from .exceptions import VippsConfigurationError

    configured = app_settings.ORDER_ADAPTERS
    if configured is None:
        configured = {}
    if not isinstance(configured, Mapping):
        return [
            _error(
                4,
                f"{_key('ORDER_ADAPTERS')} must be a dict, not {type(configured).__name__}.",
                "Map model labels to adapter paths: {'shop.Order': 'shop.vipps.ShopOrderAdapter'}.",
            )
        ]
    messages: list[CheckMessage] = []
    for label, path in configured.items():
        try:
            resolve_model(label)
        except VippsConfigurationError:
            messages.append(
                _error(
                    4,
                    f"{_key('ORDER_ADAPTERS', label)}: no installed model is called {label!r}.",
                    "Use 'app_label.ModelName' of a model in an app listed in INSTALLED_APPS.",
                )
            )
            continue
        try:
            adapter = resolve_adapter(label, path)
        except VippsConfigurationError as exc:
            messages.append(
                _error(
                    5,
                    f"{_key('ORDER_ADAPTERS', label)}: {str(exc).partition(': ')[2] or exc}.",
                    "Give the dotted path of a subclass of "
                    "vipps_order_management.adapters.OrderAdapter, e.g. "
                    "'shop.vipps.ShopOrderAdapter'.",
                )
            )
        except Exception as exc:
            messages.append(
                _error(
                    5,
                    f"{_key('ORDER_ADAPTERS', label)}: the adapter {path!r} failed to load "
                    f"({type(exc).__name__}: {exc}).",
                    "Fix the adapter module so that it imports and its class can be created "
                    "with the model as its only argument.",
                )
            )
        else:
            messages.extend(_check_sync_on(label, adapter))
    return messages


def _check_sync_on(label: str, adapter: Any) -> list[CheckMessage]:
    from django.apps import apps

    sync_on = getattr(adapter, "sync_on", None) or {}
    if not isinstance(sync_on, Mapping):
        return [
            _error(
                5,
                f"{_key('ORDER_ADAPTERS', label)}: {type(adapter).__name__}.sync_on must be a "
                f"dict, not {type(sync_on).__name__}.",
                "Map related model labels to the path to the order: {'shop.OrderItem': 'order'}.",
            )
        ]
    messages: list[CheckMessage] = []
    for related in sync_on:
        try:
            apps.get_model(related)
        except (LookupError, ValueError, TypeError):
            messages.append(
                _error(
                    5,
                    f"{_key('ORDER_ADAPTERS', label)}: {type(adapter).__name__}.sync_on names "
                    f"{related!r}, which is not an installed model.",
                    "Use 'app_label.ModelName' of an installed model, or remove the entry.",
                )
            )
    return messages


# ---------------------------------------------------------------------- aliases


def _check_aliases() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    storage = app_settings.IMAGE_STORAGE
    storages_setting = getattr(settings, "STORAGES", None) or {}
    if storage not in storages_setting:
        messages.append(
            _error(
                6,
                f"{_key('IMAGE_STORAGE')} is {storage!r}, which is not an alias in "
                "settings.STORAGES.",
                f"Use one of {sorted(storages_setting)} or add {storage!r} to STORAGES.",
            )
        )
    cache = app_settings.TOKEN_CACHE
    caches_setting = getattr(settings, "CACHES", None) or {}
    if cache not in caches_setting:
        messages.append(
            _error(
                7,
                f"{_key('TOKEN_CACHE')} is {cache!r}, which is not an alias in settings.CACHES.",
                f"Use one of {sorted(caches_setting)} or add {cache!r} to CACHES; a cache "
                "shared by all processes (Redis, database) lets workers share tokens.",
            )
        )
    return messages


# ---------------------------------------------------------------------- addresses


def _check_base_url() -> list[CheckMessage]:
    from .client import clean_base_url
    from .exceptions import VippsConfigurationError

    value = app_settings.BASE_URL
    try:
        url = clean_base_url(str(value or ""))
    except VippsConfigurationError as exc:
        return [
            _error(
                8,
                f"{_key('BASE_URL')} is {value!r}, which cannot work: {exc}.",
                "Use the API root https://api.vipps.no (the fake Vipps's URL in development).",
            )
        ]
    if settings.DEBUG:
        return []
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _is_loopback(host):
        return [
            _warning(
                2,
                f"{_key('BASE_URL')} is {url!r}, this machine (the fake Vipps?), while DEBUG "
                "is False: nothing reaches the real Vipps.",
                "In production remove BASE_URL (it defaults to https://api.vipps.no).",
            )
        ]
    if parts.scheme != "https":
        return [
            _error(
                9,
                f"{_key('BASE_URL')} is {url!r}, not https, while DEBUG is False: the "
                "credentials would travel unencrypted.",
                "Use https://api.vipps.no.",
            )
        ]
    return []


def _check_site_url() -> list[CheckMessage]:
    value = app_settings.SITE_URL
    if not value:
        adapters = app_settings.ORDER_ADAPTERS
        if settings.DEBUG or not (isinstance(adapters, Mapping) and adapters):
            return []
        return [
            _warning(
                3,
                f"{_key('SITE_URL')} is not set while DEBUG is False: links to the order "
                "pages cannot be made absolute for the Vipps app.",
                "Set it to the shop's public https address, e.g. 'https://shop.example'.",
            )
        ]
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            _error(
                10,
                f"{_key('SITE_URL')} is {value!r}, not an absolute URL.",
                "Use the shop's public address with its scheme, e.g. 'https://shop.example'.",
            )
        ]
    if parts.scheme != "https" and not settings.DEBUG:
        return [
            _error(
                10,
                f"{_key('SITE_URL')} is {value!r}, not https, while DEBUG is False: the Vipps "
                "app opens only https links.",
                "Serve the shop over https and use its https address, e.g. 'https://shop.example'.",
            )
        ]
    return []


def _check_development_link_hosts() -> list[CheckMessage]:
    value = app_settings.DEVELOPMENT_LINK_HOSTS
    if not value:
        return []
    if host_names(value) is None:
        return [
            _error(
                22,
                f"{_key('DEVELOPMENT_LINK_HOSTS')} is {value!r}, not a list of host names.",
                "Use e.g. ('127.0.0.1', 'localhost'), or leave it out.",
            )
        ]
    if not settings.DEBUG:
        return [
            _error(
                22,
                f"{_key('DEVELOPMENT_LINK_HOSTS')} is set while DEBUG is False: plain-http links "
                "are for development with the fake Vipps; the Vipps app opens https links only.",
                "Remove DEVELOPMENT_LINK_HOSTS from production settings.",
            )
        ]
    return []


# ---------------------------------------------------------------------- dispatch


def _task_backend_classes(name: str) -> tuple[type, ...]:
    """The ``name`` backend classes of whichever task frameworks are installed."""
    found: list[type] = []
    for module, attribute in (
        (f"django.tasks.backends.{name.lower()}", f"{name}Backend"),
        (f"django_tasks.backends.{name.lower()}", f"{name}Backend"),
    ):
        try:
            found.append(getattr(importlib.import_module(module), attribute))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _check_django_tasks() -> list[CheckMessage]:
    if not (_importable("django.tasks") or _importable("django_tasks")):
        return [
            _error(
                12,
                f"{_key('DISPATCH')} is 'django_tasks' but no task framework is installed.",
                "Use Django 6 (django.tasks), or install the django-tasks backport on Django "
                "5.2; or set DISPATCH to 'worker'.",
            )
        ]
    alias = app_settings.TASK_BACKEND
    tasks_setting = getattr(
        settings,
        "TASKS",
        {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}},
    )
    if not isinstance(tasks_setting, Mapping) or alias not in tasks_setting:
        return [
            _error(
                12,
                f"{_key('TASK_BACKEND')} is {alias!r}, which is not an alias in settings.TASKS.",
                "Add it to TASKS (a durable backend such as django-tasks-db's DatabaseBackend) "
                "or set TASK_BACKEND to one that exists.",
            )
        ]
    path = (tasks_setting[alias] or {}).get("BACKEND", "")
    try:
        backend = import_string(path)
    except Exception as exc:  # ImportError, or e.g. models of an app not in INSTALLED_APPS
        return [
            _error(
                12,
                f"{_key('TASK_BACKEND')} {alias!r} uses the backend {path!r}, which cannot be "
                f"imported ({exc}).",
                "Install the package that provides it or fix settings.TASKS.",
            )
        ]
    if not isinstance(backend, type):
        return []
    durable = "a durable backend such as django_tasks_db.DatabaseBackend with its db_worker"
    if issubclass(backend, _task_backend_classes("Dummy")):
        return [
            _error(
                13,
                f"{_key('TASK_BACKEND')} {alias!r} is the DummyBackend: its tasks never run, "
                "so nothing is sent to Vipps.",
                f"Use {durable}, or set DISPATCH to 'worker'.",
            )
        ]
    if issubclass(backend, _task_backend_classes("Immediate")):
        return [
            _warning(
                4,
                f"{_key('TASK_BACKEND')} {alias!r} is the ImmediateBackend: tasks run inside "
                "the shop's request, which then waits for Vipps.",
                f"Use {durable}.",
            )
        ]
    return []


def _check_dispatch() -> list[CheckMessage]:
    mode = app_settings.DISPATCH
    if mode not in DISPATCH_MODES:
        suggestion = _closest(str(mode), DISPATCH_MODES)
        return [
            _error(
                11,
                f"{_key('DISPATCH')} is {mode!r}, not one of {', '.join(DISPATCH_MODES)}.",
                (f"Did you mean {suggestion!r}? " if suggestion else "")
                + "'worker' (manage.py vipps_om_worker) suits most shops.",
            )
        ]
    if mode == "django_tasks":
        return _check_django_tasks()
    if mode == "celery" and not _importable("celery"):
        return [
            _error(
                14,
                f"{_key('DISPATCH')} is 'celery' but Celery cannot be imported.",
                "pip install 'vipps-order-management[celery]', or set DISPATCH to 'worker'.",
            )
        ]
    if mode == "immediate" and not settings.DEBUG:
        return [
            _warning(
                5,
                f"{_key('DISPATCH')} is 'immediate' while DEBUG is False: every order save "
                "waits for Vipps inside the shop's request.",
                "Use 'worker' (run manage.py vipps_om_worker), 'django_tasks' or 'celery'.",
            )
        ]
    return []


def _check_category_api() -> list[CheckMessage]:
    value = app_settings.CATEGORY_API
    if value in ("v2", "v3"):
        return []
    return [
        _error(
            15,
            f"{_key('CATEGORY_API')} is {value!r}, not 'v2' or 'v3'.",
            "'v2' sends one link per order (last write wins); 'v3' sends several.",
        )
    ]


# ---------------------------------------------------------------------- numbers


def _positive_number(number: int, name: str, *, integer: bool = False) -> list[CheckMessage]:
    value = getattr(app_settings, name)
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else _is_number(value)
    if ok and value > 0:
        return []
    kind = "a positive integer" if integer else "a positive number"
    return [
        _error(number, f"{_key(name)} is {value!r}, not {kind}.", f"Use e.g. {DEFAULTS[name]!r}.")
    ]


def _check_timeout() -> list[CheckMessage]:
    value = app_settings.TIMEOUT
    if _is_number(value) and value > 0:
        return []
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_number(part) and part > 0 for part in value)
    ):
        return []
    return [
        _error(
            16,
            f"{_key('TIMEOUT')} is {value!r}, not a positive number of seconds or a "
            "(connect, read) pair of them.",
            "Use e.g. (5.0, 30.0).",
        )
    ]


def _check_retry() -> list[CheckMessage]:
    raw = app_settings.user_settings.get("RETRY")
    if raw is not None and not isinstance(raw, Mapping):
        return [
            _error(
                17,
                f"{_key('RETRY')} must be a dict, not {type(raw).__name__}.",
                f"Give only the keys you change, out of {', '.join(_RETRY_KEYS)}.",
            )
        ]
    messages: list[CheckMessage] = []
    for key in raw or {}:
        if key not in _RETRY_KEYS:
            suggestion = _closest(str(key), _RETRY_KEYS)
            messages.append(
                _error(
                    17,
                    f"{_key('RETRY', key)} is not a RETRY setting.",
                    f"Did you mean {suggestion!r}?"
                    if suggestion
                    else f"The keys are {', '.join(_RETRY_KEYS)}.",
                )
            )
    retry = app_settings.RETRY
    base, cap = retry.get("BASE_SECONDS"), retry.get("CAP_SECONDS")
    give_up, jitter = retry.get("GIVE_UP_AFTER"), retry.get("JITTER")
    problems: list[tuple[str, str, str]] = []
    if not (_is_number(base) and base >= 0):
        problems.append(("BASE_SECONDS", f"{base!r} is not a number of seconds >= 0", "10"))
    if not (_is_number(cap) and cap >= 0):
        problems.append(("CAP_SECONDS", f"{cap!r} is not a number of seconds >= 0", "3600"))
    elif _is_number(base) and cap < base:
        problems.append(("CAP_SECONDS", f"{cap!r} is below BASE_SECONDS ({base!r})", "3600"))
    give_up_ok = (isinstance(give_up, timedelta) and give_up > timedelta(0)) or (
        _is_number(give_up) and give_up > 0
    )
    if not give_up_ok:
        problems.append(
            ("GIVE_UP_AFTER", f"{give_up!r} is not a positive timedelta", "timedelta(hours=72)")
        )
    if not (_is_number(jitter) and 0 <= jitter <= 1):
        problems.append(("JITTER", f"{jitter!r} is not a fraction from 0 to 1", "0.25"))
    messages.extend(
        _error(17, f"{_key('RETRY', sub)}: {problem}.", f"Use e.g. {example}.")
        for sub, problem, example in problems
    )
    return messages


def _check_public_link_max_age() -> list[CheckMessage]:
    value = app_settings.PUBLIC_LINK_MAX_AGE
    if value is None:
        return []
    if isinstance(value, timedelta) and value > timedelta(0):
        return []
    if _is_number(value) and value > 0:
        return []
    return [
        _error(
            20,
            f"{_key('PUBLIC_LINK_MAX_AGE')} is {value!r}, not a positive timedelta, a number "
            "of seconds or None.",
            "Use e.g. timedelta(days=400); None makes customer links never expire.",
        )
    ]


def _check_payment_wait() -> list[CheckMessage]:
    value = app_settings.PAYMENT_WAIT
    if isinstance(value, timedelta) and value > timedelta(0):
        return []
    if _is_number(value) and value > 0:
        return []
    return [
        _error(
            23,
            f"{_key('PAYMENT_WAIT')} is {value!r}, not a positive timedelta or number of seconds.",
            "Use e.g. timedelta(hours=1): how long an order without a Vipps payment is looked "
            "at again before it is taken as paid some other way.",
        )
    ]


def _check_oscar() -> list[CheckMessage]:
    """``OSCAR``: the payment source type's code and each status's link category (or None)."""
    from .payloads import CategoryType

    raw = app_settings.user_settings.get("OSCAR")
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [
            _error(
                24,
                f"{_key('OSCAR')} must be a dict, not {type(raw).__name__}.",
                "Give only the keys you change: PAYMENT_SOURCE_TYPE, STATUS_CATEGORIES.",
            )
        ]
    known = tuple(DEFAULTS["OSCAR"])
    messages: list[CheckMessage] = []
    for key in raw:
        if key not in known:
            suggestion = _closest(str(key), known)
            messages.append(
                _error(
                    24,
                    f"{_key('OSCAR', key)} is not an OSCAR setting.",
                    f"Did you mean {suggestion!r}?"
                    if suggestion
                    else f"The keys are {', '.join(known)}.",
                )
            )
    source_type = app_settings.OSCAR.get("PAYMENT_SOURCE_TYPE")
    if not (isinstance(source_type, str) and source_type.strip()):
        messages.append(
            _error(
                24,
                f"{_key('OSCAR', 'PAYMENT_SOURCE_TYPE')} is {source_type!r}, not the code of a "
                "payment SourceType.",
                "Use the code your checkout gives the Vipps payment's SourceType, e.g. 'vipps'.",
            )
        )
    categories = app_settings.OSCAR.get("STATUS_CATEGORIES")
    allowed = [category.value for category in CategoryType]
    if not isinstance(categories, Mapping):
        messages.append(
            _error(
                24,
                f"{_key('OSCAR', 'STATUS_CATEGORIES')} must be a dict of order status -> "
                f"link category, not {type(categories).__name__}.",
                "E.g. {'Pending': 'ORDER_CONFIRMATION', 'Shipped': 'DELIVERY'}.",
            )
        )
        return messages
    for status, category in categories.items():
        if category is None or category in allowed:
            continue
        suggestion = _closest(str(category), allowed)
        messages.append(
            _error(
                24,
                f"{_key('OSCAR', 'STATUS_CATEGORIES')}[{status!r}] is {category!r}, not a link "
                "category.",
                (f"Did you mean {suggestion!r}? " if suggestion else "")
                + f"Use one of {', '.join(allowed)}, or None for no link.",
            )
        )
    return messages


# ---------------------------------------------------------------------- production


def _check_sqlite() -> list[CheckMessage]:
    adapters = app_settings.ORDER_ADAPTERS
    if app_settings.DISPATCH == "immediate" or not (isinstance(adapters, Mapping) and adapters):
        return []
    database = settings.DATABASES.get("default") or {}
    engine = str(database.get("ENGINE", ""))
    if not engine.endswith(("sqlite3", "spatialite")):
        return []
    options = database.get("OPTIONS") or {}
    if str(options.get("transaction_mode", "")).upper() == "IMMEDIATE":
        return []
    return [
        _warning(
            6,
            "settings.DATABASES['default'] is SQLite without "
            "OPTIONS['transaction_mode'] = 'IMMEDIATE': the web process and the "
            f"{_key('DISPATCH')} runner writing at once may fail with 'database is locked'.",
            'Add "OPTIONS": {"transaction_mode": "IMMEDIATE"} to the database (Django '
            "5.1+), or use PostgreSQL when several workers run.",
        )
    ]


def _check_seller() -> list[CheckMessage]:
    adapters = app_settings.ORDER_ADAPTERS
    if not (isinstance(adapters, Mapping) and adapters):
        return []
    return [
        _warning(
            7,
            f"{_key(name)} is empty: the printable receipt is not a valid proof of purchase "
            "without the seller's name and organisation number.",
            f"Set {_key(name)} to the {label} as in the business register.",
        )
        for name, label in (
            ("SELLER_NAME", "company's legal name"),
            ("SELLER_ORGANISATION_NUMBER", "organisation number"),
        )
        if not str(getattr(app_settings, name) or "").strip()
    ]


# ---------------------------------------------------------------------- entry point


@register(TAG)
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Every check of this app; registered with Django under the ``vipps_order_management`` tag."""
    if app_configs is not None and not any(config.name == TAG for config in app_configs):
        return []
    messages = _check_shape()
    for check in (
        _check_unknown_keys,
        _check_credentials,
        _check_adapters,
        _check_aliases,
        _check_base_url,
        _check_site_url,
        _check_development_link_hosts,
        _check_dispatch,
        _check_category_api,
        _check_timeout,
        _check_retry,
        lambda: _positive_number(18, "LEASE_SECONDS"),
        lambda: _positive_number(19, "BATCH_SIZE", integer=True),
        _check_public_link_max_age,
        lambda: _positive_number(21, "WORKER_POLL_SECONDS"),
        _check_payment_wait,
        _check_oscar,
        _check_sqlite,
        _check_seller,
    ):
        messages.extend(check())
    return messages
