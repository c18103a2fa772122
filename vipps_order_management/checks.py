"""System checks: a misconfiguration is reported by ``manage.py check``, not by a failed send.

Every problem has an ID (listed in :data:`CHECK_IDS`), a message naming the exact key of the
``VIPPS_ORDER_MANAGEMENT`` dict and a hint saying what to do. The checks read settings only:
they never touch the database or the network (``manage.py vipps_om_check`` fetches a token).

Most of them are the settings schema's (:data:`.conf.SCHEMA`): every value its parser refuses
is reported with that key's ID and hint, the same refusal that reading the value raises. What
no parser of one key can tell (whether an adapter imports, an alias exists, a task backend
runs, the credentials belong together) is checked here.

Severity follows what a shop expects:

* Errors are settings that can never work (a typo'd key, an adapter that cannot be imported,
  half of the credentials, a dispatch that never runs). They stop ``runserver``, ``migrate``
  and the worker until fixed.
* Warnings are settings that work but are probably not what production wants. Those that only
  matter in production (the fake Vipps as ``BASE_URL``, no ``SITE_URL``, requests waiting for
  Vipps, a receipt without the seller's name) are deployment checks: ``manage.py check
  --deploy`` and ``vipps_om_check`` run them. Missing credentials are a warning when none is
  set at all: build steps and test suites often run without secrets, and changes wait in the
  outbox until the credentials arrive. Any credential set means the shop opted in, so a
  missing one is then an error.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import (
    CHECK_TAG,
    CREDENTIAL_KEYS,
    ENVIRONMENT_PREFIX,
    SETTINGS_NAME,
    Dispatch,
    app_settings,
    missing_credentials,
)
from .link_policy import is_this_machine
from .schema import closest
from .transport.credentials import without_password

__all__ = ["CHECK_IDS", "TAG", "check_deployment", "check_settings", "importable"]

TAG = CHECK_TAG

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
    f"{TAG}.E010": "SITE_URL is not an absolute address of the shop, or not https to a public "
    "host while DEBUG is False.",
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
    f"{TAG}.E026": "A setting without a check of its own has a value of the wrong type.",
    f"{TAG}.E027": "An adapter's owner_field or currency_field is not a field of its model.",
    f"{TAG}.E028": "SALES_UNITS is malformed, or an MSN an adapter declares has no keys.",
    f"{TAG}.E029": "HEALTH is not a dict of thresholds (positive timedeltas, seconds or None).",
    f"{TAG}.E030": "HEALTH_TOKEN is not a long random string (at least 32 characters of -._~+/=, "
    "letters and digits).",
    f"{TAG}.E031": "APP_LINK_SCHEMES is not a list of scheme names of the shop's own app.",
    f"{TAG}.W001": "ORDER_ADAPTERS is configured but no credentials are set: nothing is sent.",
    f"{TAG}.W002": "BASE_URL points at this machine (the fake Vipps) while DEBUG is False.",
    f"{TAG}.W003": "SITE_URL is not set while DEBUG is False.",
    f"{TAG}.W004": 'DISPATCH="django_tasks" with the ImmediateBackend: requests wait for Vipps.',
    f"{TAG}.W005": 'DISPATCH="immediate" while DEBUG is False: requests wait for Vipps.',
    f"{TAG}.W006": "SQLite without transaction_mode='IMMEDIATE' while a separate runner drains.",
    f"{TAG}.W007": "SELLER_NAME or SELLER_ORGANISATION_NUMBER is empty.",
}

_PORTAL = "the Vipps MobilePay business portal (Utvikler/Developer -> API keys)"


def _key(name: str, sub: str | None = None) -> str:
    """How a setting is named in messages: ``VIPPS_ORDER_MANAGEMENT['BATCH_SIZE']``."""
    return app_settings.label(name, () if sub is None else (sub,))


def _error(number: int, msg: str, hint: str) -> Error:
    return Error(msg, hint=hint, id=f"{TAG}.E{number:03d}")


def _warning(number: int, msg: str, hint: str) -> Warning:
    return Warning(msg, hint=hint, id=f"{TAG}.W{number:03d}")


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
        return False


def _has_adapters() -> bool:
    return bool(app_settings.get("ORDER_ADAPTERS"))


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
        suggestion = closest(str(key), app_settings.schema)
        hint = (
            f"Did you mean {suggestion!r}?"
            if suggestion
            else f"Remove it; the known keys are: {', '.join(sorted(app_settings.schema))}."
        )
        messages.append(
            _error(2, f"{SETTINGS_NAME}[{key!r}] is not a setting of vipps_order_management.", hint)
        )
    return messages


def _check_schema() -> list[CheckMessage]:
    """Every value its parser refuses: the error reading it would raise, as a check."""
    return [
        Error(refusal.message, hint=refusal.hint, id=f"{TAG}.{refusal.check_id}")
        for refusal in app_settings.refusals()
    ]


# ---------------------------------------------------------------------- credentials


def _check_credentials() -> list[CheckMessage]:
    missing = missing_credentials()
    units = app_settings.get("SALES_UNITS") or {}
    default = app_settings.get("MERCHANT_SERIAL_NUMBER")
    if units and (
        (default in units and units[default].has_keys) or missing == list(CREDENTIAL_KEYS)
    ):
        # The keys live with the sales units (the default unit's among them); only the MSN
        # of orders whose adapter names none is read from the single-unit settings.
        missing = [key for key in missing if key == "MERCHANT_SERIAL_NUMBER" and default]
    if not missing:
        return _check_credential_values()
    if len(missing) < len(CREDENTIAL_KEYS):
        return [
            _error(
                3,
                f"{_key(name)} is not set, although other Vipps credentials are.",
                f"Set it in settings or in the environment variable {ENVIRONMENT_PREFIX}{name}; "
                f"find it in {_PORTAL}.",
            )
            for name in missing
        ]
    if not _has_adapters():
        return []
    keys = ", ".join(_key(name) for name in CREDENTIAL_KEYS)
    env = ", ".join(ENVIRONMENT_PREFIX + name for name in CREDENTIAL_KEYS)
    return [
        _warning(
            1,
            f"{_key('ORDER_ADAPTERS')} is configured but no Vipps credentials are set "
            f"({keys}): changes are queued but nothing is sent.",
            f"Set them in settings or in the environment variables {env}; find them in {_PORTAL}.",
        )
    ]


def _check_credential_values() -> list[CheckMessage]:
    """What the client would refuse at its first call, told when the project starts."""
    from .client import credential_problem

    messages: list[CheckMessage] = []
    for name in CREDENTIAL_KEYS:
        value = app_settings.get(name)
        problem = None if value is None else credential_problem(value)
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

    configured = app_settings.get("ORDER_ADAPTERS", {})  # not a dict: the schema's E004
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
            messages.extend(
                _error(
                    27,
                    f"{_key('ORDER_ADAPTERS', label)}: {type(adapter).__name__}.{attribute}: "
                    f"{reason}.",
                    f"Set {attribute} on the adapter to a field of {label}; see 'Adding the app "
                    "to an existing shop' in the documentation.",
                )
                for attribute, reason in adapter.configuration_problems()
            )
            messages.extend(_check_declared_units(label, adapter))
    return messages


def _check_declared_units(label: str, adapter: Any) -> list[CheckMessage]:
    """The MSNs an adapter declares it may return, each of which needs keys here."""
    from .engine.clients import SalesUnitMissing, sales_unit

    messages: list[CheckMessage] = []
    for msn in getattr(adapter, "merchant_serial_numbers", ()) or ():
        try:
            sales_unit(str(msn))
        except SalesUnitMissing:
            messages.append(
                _error(
                    28,
                    f"{_key('ORDER_ADAPTERS', label)}: {type(adapter).__name__} may return the "
                    f"merchant serial number {msn}, which has no API keys here: its orders "
                    "would wait for staff.",
                    f"Add {str(msn)!r} to {_key('SALES_UNITS')} with that sales unit's "
                    "CLIENT_ID, CLIENT_SECRET and SUBSCRIPTION_KEY, or set PARTNER_KEYS.",
                )
            )
        except Exception:  # noqa: S112 - a refused setting is reported by its own check
            continue
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
    storage = app_settings.get("IMAGE_STORAGE")
    storages_setting = getattr(settings, "STORAGES", None) or {}
    if storage is not None and storage not in storages_setting:
        messages.append(
            _error(
                6,
                f"{_key('IMAGE_STORAGE')} is {storage!r}, which is not an alias in "
                "settings.STORAGES.",
                f"Use one of {sorted(storages_setting)} or add {storage!r} to STORAGES.",
            )
        )
    cache = app_settings.get("TOKEN_CACHE")
    caches_setting = getattr(settings, "CACHES", None) or {}
    if cache is not None and cache not in caches_setting:
        messages.append(
            _error(
                7,
                f"{_key('TOKEN_CACHE')} is {cache!r}, which is not an alias in settings.CACHES.",
                f"Use one of {sorted(caches_setting)} or add {cache!r} to CACHES; a cache "
                "shared by all processes (Redis, database) lets workers share tokens.",
            )
        )
    return messages


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
    if not (importable("django.tasks") or importable("django_tasks")):
        return [
            _error(
                12,
                f"{_key('DISPATCH')} is 'django_tasks' but no task framework is installed.",
                "Use Django 6 (django.tasks), or install the django-tasks backport on Django "
                "5.2; or set DISPATCH to 'worker'.",
            )
        ]
    alias = app_settings.get("TASK_BACKEND")
    if alias is None:
        return []  # not a name: the schema's E026
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
    return _check_task_backend(alias, (tasks_setting[alias] or {}).get("BACKEND", ""))


def _check_task_backend(alias: str, path: str) -> list[CheckMessage]:
    """Whether the backend of ``TASKS[alias]`` imports and runs its tasks outside the request."""
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


def _check_runner() -> list[CheckMessage]:
    """Whether the runner ``DISPATCH`` names can run here (its value is the schema's E011)."""
    mode = app_settings.get("DISPATCH")
    if mode is Dispatch.DJANGO_TASKS:
        return _check_django_tasks()
    if mode is Dispatch.CELERY and not importable("celery"):
        return [
            _error(
                14,
                f"{_key('DISPATCH')} is 'celery' but Celery cannot be imported.",
                "pip install 'vipps-order-management[celery]', or set DISPATCH to 'worker'.",
            )
        ]
    return []


def _check_sqlite() -> list[CheckMessage]:
    if app_settings.get("DISPATCH") is Dispatch.IMMEDIATE or not _has_adapters():
        return []
    database = settings.DATABASES.get("default") or {}
    engine = str(database.get("ENGINE", ""))
    if not engine.endswith(("sqlite3", "spatialite")):
        return []
    options = database.get("OPTIONS")
    mode = options.get("transaction_mode", "") if isinstance(options, dict) else ""
    if str(mode).upper() == "IMMEDIATE":
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


# ---------------------------------------------------------------------- production only


def _check_base_url_here() -> list[CheckMessage]:
    url = app_settings.get("BASE_URL")
    if settings.DEBUG or url is None or not is_this_machine(urlsplit(url).hostname or ""):
        return []
    if app_settings.source("BASE_URL") == "environment":
        fix = f"unset the environment variable {ENVIRONMENT_PREFIX}BASE_URL"
    else:
        fix = f"remove BASE_URL from {SETTINGS_NAME}"
    return [
        _warning(
            2,
            f"{_key('BASE_URL')} is {without_password(url)!r}, this machine (the fake Vipps?), while DEBUG "
            "is False: nothing reaches the real Vipps.",
            f"In production {fix} (it defaults to https://api.vipps.no).",
        )
    ]


def _check_site_url_set() -> list[CheckMessage]:
    if settings.DEBUG or not _has_adapters() or app_settings.refusals("SITE_URL"):
        return []
    if app_settings.SITE_URL is not None:
        return []
    return [
        _warning(
            3,
            f"{_key('SITE_URL')} is not set while DEBUG is False: links to the order "
            "pages cannot be made absolute for the Vipps app.",
            "Set it to the shop's public https address, e.g. 'https://shop.example'.",
        )
    ]


def _check_immediate() -> list[CheckMessage]:
    if settings.DEBUG or app_settings.get("DISPATCH") is not Dispatch.IMMEDIATE:
        return []
    return [
        _warning(
            5,
            f"{_key('DISPATCH')} is 'immediate' while DEBUG is False: every order save "
            "waits for Vipps inside the shop's request.",
            "Use 'worker' (run manage.py vipps_om_worker), 'django_tasks' or 'celery'.",
        )
    ]


def _check_seller() -> list[CheckMessage]:
    if not _has_adapters():
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
        if not app_settings.get(name, "x").strip()  # refused: the schema's E026
    ]


# ---------------------------------------------------------------------- entry points


def _ours(app_configs: Sequence[Any] | None) -> bool:
    return app_configs is None or any(config.name == TAG for config in app_configs)


@register(TAG)
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """This app's checks that apply everywhere; registered under the ``vipps_order_management`` tag."""
    if not _ours(app_configs):
        return []
    messages = _check_shape()
    for check in (
        _check_unknown_keys,
        _check_schema,
        _check_credentials,
        _check_adapters,
        _check_aliases,
        _check_runner,
        _check_sqlite,
    ):
        messages.extend(check())
    return messages


@register(TAG, deploy=True)
def check_deployment(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """What only production cares about: run by ``manage.py check --deploy`` and ``vipps_om_check``."""
    if not _ours(app_configs):
        return []
    messages: list[CheckMessage] = []
    for check in (_check_base_url_here, _check_site_url_set, _check_immediate, _check_seller):
        messages.extend(check())
    return messages
