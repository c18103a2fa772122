"""The settings schema: typed values, where each came from, and refusals wherever a value is read."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from types import MappingProxyType

import django
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from vipps_order_management.checks import CHECK_IDS, TAG, check_deployment, check_settings
from vipps_order_management.client import Secret
from vipps_order_management.conf import (
    CREDENTIAL_KEYS,
    ENVIRONMENT_KEYS,
    ENVIRONMENT_PREFIX,
    SCHEMA,
    CategoryAPI,
    Dispatch,
    Retry,
    app_settings,
    link_policy,
)
from vipps_order_management.conf_health import HealthThresholds
from vipps_order_management.conf_oscar import OscarSettings
from vipps_order_management.engine.clients import get_client
from vipps_order_management.exceptions import VippsConfigurationError
from vipps_order_management.payloads import CategoryType
from vipps_order_management.units import SalesUnit

from .conftest import REPOSITORY

CREDENTIALS = {
    "CLIENT_ID": "client-id-0001",
    "CLIENT_SECRET": "client-secret-0001",
    "SUBSCRIPTION_KEY": "subscription-key-0001",
    "MERCHANT_SERIAL_NUMBER": "123456",
}


REMOVE = object()


@pytest.fixture
def configure(settings, monkeypatch):
    """Production (DEBUG off) with the test project's settings, changed by the arguments."""
    for key in ENVIRONMENT_KEYS:
        monkeypatch.delenv(ENVIRONMENT_PREFIX + key, raising=False)
    settings.DEBUG = False
    base = {**settings.VIPPS_ORDER_MANAGEMENT, **CREDENTIALS}

    def apply(**changes):
        value = {**base, **changes}
        settings.VIPPS_ORDER_MANAGEMENT = {k: v for k, v in value.items() if v is not REMOVE}

    apply()
    return apply


def ids() -> list[str]:
    return sorted(m.id.rpartition(".")[2] for m in check_settings() + check_deployment())


# ---------------------------------------------------------------------- typed values


TYPED = {
    # key: (what the project writes, what the code reads)
    "CLIENT_ID": ("id-1", "id-1"),
    "CLIENT_SECRET": ("", None),
    "SUBSCRIPTION_KEY": (None, None),
    "MERCHANT_SERIAL_NUMBER": (123456, "123456"),
    "SALES_UNITS": (
        {
            654321: {
                "NAME": "Danmark",
                "CLIENT_ID": "d",
                "CLIENT_SECRET": "s",
                "SUBSCRIPTION_KEY": "k",
            }
        },
        MappingProxyType({"654321": SalesUnit("654321", "Danmark", "d", Secret("s"), Secret("k"))}),
    ),
    "PARTNER_KEYS": (True, True),
    "BASE_URL": ("https://api.vipps.no/", "https://api.vipps.no"),
    "ORDER_ADAPTERS": (None, MappingProxyType({})),
    "DISPATCH": ("celery", Dispatch.CELERY),
    "CATEGORY_API": ("v3", CategoryAPI.V3),
    "IMAGE_STORAGE": ("default", "default"),
    "SYSTEM_NAME": ("myshop", "myshop"),
    "SYSTEM_VERSION": (None, django.get_version()),
    "TIMEOUT": (10, (10.0, 10.0)),
    "RETRY": (
        {"JITTER": 0, "GIVE_UP_AFTER": 3600},
        Retry(10.0, 3600.0, timedelta(hours=1), 0.0),
    ),
    "PAYMENT_WAIT": (600, timedelta(minutes=10)),
    "LEASE_SECONDS": (120, 120.0),
    "BATCH_SIZE": (20, 20),
    "WORKER_POLL_SECONDS": (1, 1.0),
    "SITE_URL": ("https://Blåbær.no/shop/", "https://xn--blbr-roah.no/shop"),
    "DEVELOPMENT_LINK_HOSTS": ([], ()),
    "APP_LINK_SCHEMES": (["vipps-app", "myapp", "myapp"], ("myapp", "vipps-app")),
    "PUBLIC_LINK_MAX_AGE": (3600, timedelta(hours=1)),
    "PUBLIC_LINK_SALT": (None, ""),
    "API_PERMISSION_CLASSES": (
        "rest_framework.permissions.IsAdminUser",
        ("rest_framework.permissions.IsAdminUser",),
    ),
    "AUTO_SYNC": (False, False),
    "TOKEN_CACHE": ("default", "default"),
    "TASK_BACKEND": ("queue", "queue"),
    "CELERY_QUEUE": ("orders", "orders"),
    "OSCAR": (
        {"STATUS_CATEGORIES": {"Paid": "RECEIPT", "Cancelled": None}},
        OscarSettings("vipps", {"Paid": CategoryType.RECEIPT, "Cancelled": None}),
    ),
    "HEALTH": (
        {"OLDEST_PENDING": 1800, "NO_SUCCESS": None},
        HealthThresholds(timedelta(minutes=30), timedelta(days=1), None),
    ),
    "HEALTH_TOKEN": ("t" * 43, "t" * 43),
    "SELLER_NAME": ("Strikk og Sokk AS", "Strikk og Sokk AS"),
    "SELLER_ORGANISATION_NUMBER": (None, ""),
    "SELLER_ADDRESS": ("Storgata 1", "Storgata 1"),
}


def test_every_key_of_the_schema_has_a_typed_value_below():
    assert sorted(TYPED) == sorted(setting.key for setting in SCHEMA)


def test_every_key_names_a_known_check_and_a_hint():
    for setting in SCHEMA:
        assert f"{TAG}.{setting.check_id}" in CHECK_IDS, setting.key
        assert setting.hint.endswith("."), setting.key


@pytest.mark.parametrize("key", sorted(TYPED))
def test_each_key_reads_as_its_type(configure, key):
    written, read = TYPED[key]
    configure(**{key: written})
    value = getattr(app_settings, key)
    assert value == read
    assert type(value) is type(read) or isinstance(value, type(read))


@pytest.mark.parametrize("debug", [False, True])
def test_every_default_is_accepted_with_or_without_debug(settings, debug):
    settings.DEBUG = debug
    settings.VIPPS_ORDER_MANAGEMENT = {}
    assert app_settings.refusals() == []
    assert app_settings.TIMEOUT == (5.0, 30.0)
    assert Retry(10.0, 3600.0, timedelta(hours=72), 0.25) == app_settings.RETRY
    assert timedelta(hours=1) == app_settings.PAYMENT_WAIT
    assert timedelta(days=400) == app_settings.PUBLIC_LINK_MAX_AGE
    assert app_settings.SITE_URL is None
    assert app_settings.DISPATCH == "worker"  # a StrEnum compares with the plain string
    assert app_settings.CATEGORY_API == "v2"


def test_values_are_immutable(configure):
    configure(ORDER_ADAPTERS={"shop.Order": "tests.shop.vipps.ShopOrderAdapter"})
    with pytest.raises(TypeError):
        app_settings.ORDER_ADAPTERS["shop.Booking"] = "x"
    with pytest.raises(AttributeError):
        app_settings.RETRY.jitter = 1  # type: ignore[misc]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no setting 'TIMEOUTS'"):
        app_settings.TIMEOUTS  # noqa: B018


# ---------------------------------------------------------------------- refusals


REFUSED = [
    ("BASE_URL", "http://api.vipps.no", "E009"),
    ("BASE_URL", "http://vipps.example:8080/", "E009"),
    ("BASE_URL", "http://10.0.0.5", "E009"),
    ("BASE_URL", "api.vipps.no", "E008"),
    ("BASE_URL", 443, "E008"),
    *(("TIMEOUT", value, "E016") for value in [0, -1, "5", (0, 5), (5,), True, None, float("nan")]),
    *(("CATEGORY_API", value, "E015") for value in ["v4", "V3", 3, None]),
    *(("DISPATCH", value, "E011") for value in ["cron", "Worker", None]),
    ("LEASE_SECONDS", 0, "E018"),
    ("BATCH_SIZE", 2.5, "E019"),
    ("WORKER_POLL_SECONDS", "5", "E021"),
    ("PAYMENT_WAIT", timedelta(0), "E023"),
    ("PUBLIC_LINK_MAX_AGE", "400 days", "E020"),
    ("RETRY", {"JITTER": 2}, "E017"),
    ("OSCAR", {"STATUS_CATEGORIES": {"Shipped": "SHIPPED"}}, "E024"),
    ("DEVELOPMENT_LINK_HOSTS", ("localhost",), "E022"),
    ("APP_LINK_SCHEMES", ("javascript",), "E031"),
    ("APP_LINK_SCHEMES", "myapp", "E031"),
    ("SITE_URL", "http://shop.example", "E010"),
    ("SITE_URL", "https://localhost:8000", "E010"),
    ("ORDER_ADAPTERS", ["shop.Order"], "E004"),
    ("IMAGE_STORAGE", "", "E006"),
    ("TOKEN_CACHE", None, "E007"),
    ("AUTO_SYNC", "no", "E026"),
    ("SELLER_NAME", 42, "E026"),
    ("CLIENT_SECRET", b"bytes-secret", "E025"),
    ("HEALTH", {"OLDEST_PENDING": 0}, "E029"),
    ("HEALTH", {"OLDEST_PEDNING": 60}, "E029"),
    ("HEALTH", {"WAITING_FOR_STAFF": "1 day"}, "E029"),
    ("HEALTH_TOKEN", "short-token", "E030"),
    ("HEALTH_TOKEN", "a token with spaces in it, long enough to pass", "E030"),
    ("HEALTH_TOKEN", 12345678901234567890123456789012345, "E030"),
]


@pytest.mark.parametrize(("key", "value", "check_id"), REFUSED)
def test_a_refused_value_raises_naming_the_setting_where_it_is_read(
    configure, key, value, check_id
):
    configure(**{key: value})
    with pytest.raises(VippsConfigurationError) as raised:
        getattr(app_settings, key)
    message = str(raised.value)
    assert f"VIPPS_ORDER_MANAGEMENT[{key!r}]" in message
    assert f"(vipps_order_management.{check_id})" in message  # which check reports it
    refusals = app_settings.refusals(key)
    assert refusals
    assert all(refusal.hint and refusal.hint in message for refusal in refusals)  # what to do
    assert check_id in ids()  # the check reports the same refusal


def test_a_secrets_refusal_never_quotes_it(configure):
    configure(CLIENT_SECRET=b"bytes-secret")
    with pytest.raises(VippsConfigurationError) as raised:
        app_settings.CLIENT_SECRET  # noqa: B018
    assert "bytes-secret" not in str(raised.value)
    configure(HEALTH_TOKEN="my health token")
    with pytest.raises(VippsConfigurationError) as raised:
        app_settings.HEALTH_TOKEN  # noqa: B018
    assert "my health token" not in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("BASE_URL", "http://127.0.0.1:8765"), ("DISPATCH", "immediate"), ("SELLER_NAME", "")],
)
def test_a_warning_is_no_refusal_reading_it_works(configure, key, value):
    configure(**{key: value})
    assert getattr(app_settings, key) == value
    assert app_settings.refusals(key) == []


def test_a_refusal_is_parsed_once_until_the_settings_change(configure, monkeypatch, settings):
    calls = []
    setting = app_settings.schema["TIMEOUT"]

    def counting(value, context):
        calls.append(value)
        return setting.parse(value, context)

    monkeypatch.setitem(app_settings.schema, "TIMEOUT", replace(setting, parse=counting))
    configure(TIMEOUT=0)
    for _ in range(3):
        with pytest.raises(VippsConfigurationError):
            app_settings.TIMEOUT  # noqa: B018
    assert calls == [0]
    settings.DEBUG = True  # some parsers depend on DEBUG: it resets them too
    with pytest.raises(VippsConfigurationError):
        app_settings.TIMEOUT  # noqa: B018
    assert calls == [0, 0]


def test_debug_changes_what_is_refused(configure, settings):
    configure(BASE_URL="http://vipps.example", DEVELOPMENT_LINK_HOSTS=("localhost",))
    with pytest.raises(VippsConfigurationError, match="BASE_URL"):
        get_client()
    with pytest.raises(VippsConfigurationError, match="DEVELOPMENT_LINK_HOSTS"):
        link_policy()
    settings.DEBUG = True
    assert get_client().base_url == "http://vipps.example"
    assert "localhost" in link_policy().http_hosts


# ---------------------------------------------------------------------- a process without checks


BUILD_A_CLIENT = """
import django

django.setup()
from vipps_order_management.conf import app_settings
from vipps_order_management.conf_health import HealthThresholds
from vipps_order_management.engine.clients import get_client

for what, read in (("client", get_client), ("CATEGORY_API", lambda: app_settings.CATEGORY_API)):
    try:
        read()
    except Exception as exc:
        print(f"{what}: {type(exc).__name__}: {exc}")
    else:
        print(f"{what}: ok")
"""


def run_without_checks(overrides: list[dict]) -> list[dict[str, str]]:
    """What a process that runs no system checks (gunicorn, Celery) says when it builds a client
    and reads CATEGORY_API (as the plan does for every order): one process per override, at once."""
    base_env = {
        key: value for key, value in os.environ.items() if not key.startswith(ENVIRONMENT_PREFIX)
    }
    processes = []
    for override in overrides:
        env = {
            **base_env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(REPOSITORY),
            "PYTHONWARNINGS": "error",
            "VIPPS_OM_TEST_OVERRIDES": json.dumps({**CREDENTIALS, **override}),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", BUILD_A_CLIENT],
                env=env,
                cwd=REPOSITORY,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    said = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        said.append(dict(line.split(": ", 1) for line in out.splitlines()))
    return said


def test_a_process_without_checks_builds_a_client_from_good_settings():
    [said] = run_without_checks([{}])
    assert said == {"client": "ok", "CATEGORY_API": "ok"}


@pytest.mark.parametrize(
    ("key", "values", "where"),
    [
        (
            "BASE_URL",
            ["http://api.vipps.no", "http://vipps.example:8080", "http://192.0.2.1"],
            "client",
        ),
        ("TIMEOUT", [0, -1, "5", [0, 5], [5], True], "client"),
        ("CATEGORY_API", ["v4", "V2", None], "CATEGORY_API"),
    ],
)
def test_a_process_without_checks_refuses_the_value_naming_the_setting(key, values, where):
    for value, said in zip(values, run_without_checks([{key: v} for v in values]), strict=True):
        assert said[where].startswith("VippsConfigurationError: "), (value, said)
        assert f"VIPPS_ORDER_MANAGEMENT[{key!r}]" in said[where], (value, said)
        assert CREDENTIALS["CLIENT_SECRET"] not in said[where]


# ---------------------------------------------------------------------- SITE_URL


NOT_PUBLIC = [
    "https://localhost",
    "https://localhost:8000/shop",
    "https://127.0.0.1:8000",
    "https://[::1]:8000",
    "https://10.1.2.3",
    "https://192.168.1.20",
    "https://shop.local",
]
NEVER = [
    "https://user:password@shop.example",
    "https://shop.example/?utm=vipps",
    "https://shop.example/#top",
    "https://shop.example?",
    "shop.example",
    "ftp://shop.example",
]


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_site_url_off_the_public_internet_is_an_error_without_debug(configure, settings, url):
    configure(SITE_URL=url)
    assert ids() == ["E010"]
    with pytest.raises(VippsConfigurationError, match=r"SITE_URL"):
        app_settings.SITE_URL  # noqa: B018
    settings.DEBUG = True
    assert ids() == []
    assert url.rstrip("/") == app_settings.SITE_URL


@pytest.mark.parametrize("url", NEVER)
def test_site_url_with_credentials_a_query_or_no_scheme_is_an_error_even_with_debug(
    configure, settings, url
):
    configure(SITE_URL=url)
    assert ids() == ["E010"]
    settings.DEBUG = True
    assert ids() == ["E010"]
    with pytest.raises(VippsConfigurationError, match=r"SITE_URL"):
        app_settings.SITE_URL  # noqa: B018


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@shop.example",
        "http://user:hunter2@shop.example",
        "https://user:hunter2@shop.example/?q",
        "user:hunter2@shop.example",
    ],
)
def test_site_url_never_shows_a_password(configure, url):
    configure(SITE_URL=url)
    [message] = check_settings()
    assert message.id == "vipps_order_management.E010"
    assert "hunter2" not in message.msg + message.hint


def test_plain_http_site_url_passes_with_debug(configure, settings):
    settings.DEBUG = True
    configure(SITE_URL="http://localhost:8000/")
    assert app_settings.SITE_URL == "http://localhost:8000"


# ---------------------------------------------------------------------- where a value came from


def test_sources(configure, monkeypatch):
    configure(CLIENT_ID="from-settings")
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_BASE_URL", "https://vipps.example")
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_CLIENT_ID", "ignored: settings win")
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_TIMEOUT", "9")  # not a key the environment gives
    app_settings.reload()
    assert app_settings.source("CLIENT_ID") == "settings"
    assert app_settings.CLIENT_ID == "from-settings"
    assert app_settings.source("BASE_URL") == "environment"
    assert app_settings.BASE_URL == "https://vipps.example"
    assert app_settings.source("TIMEOUT") == "default"
    assert app_settings.TIMEOUT == (5.0, 30.0)


def test_an_empty_environment_variable_is_no_value(configure, monkeypatch):
    configure()
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_BASE_URL", "")
    app_settings.reload()
    assert app_settings.source("BASE_URL") == "default"


def test_the_credentials_base_url_and_health_token_may_come_from_the_environment():
    assert set(ENVIRONMENT_KEYS) == {*CREDENTIAL_KEYS, "BASE_URL", "HEALTH_TOKEN"}


def test_a_refusal_from_the_environment_names_the_variable(configure, monkeypatch):
    configure()
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_BASE_URL", "http://vipps.example")
    app_settings.reload()
    with pytest.raises(VippsConfigurationError) as raised:
        get_client()
    assert "the environment variable VIPPS_ORDER_MANAGEMENT_BASE_URL" in str(raised.value)


@pytest.mark.parametrize(
    ("from_environment", "hint"),
    [
        (True, "unset the environment variable VIPPS_ORDER_MANAGEMENT_BASE_URL"),
        (False, "remove BASE_URL from VIPPS_ORDER_MANAGEMENT"),
    ],
)
def test_w002_hint_fits_where_base_url_came_from(configure, monkeypatch, from_environment, hint):
    if from_environment:
        monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_BASE_URL", "http://127.0.0.1:8765")
        configure(BASE_URL=REMOVE)
    else:
        configure(BASE_URL="http://127.0.0.1:8765")
    assert app_settings.source("BASE_URL") == ("environment" if from_environment else "settings")
    [warning] = check_deployment()
    assert warning.id == "vipps_order_management.W002"
    assert hint in warning.hint
    assert check_settings() == []  # a deployment check only


# ---------------------------------------------------------------------- vipps_om_check


def check_output() -> str:
    out = StringIO()
    with contextlib.suppress(CommandError):  # the problems are what the tests read
        call_command("vipps_om_check", "--skip-token", stdout=out, stderr=StringIO())
    return out.getvalue()


def configuration_line(output: str, key: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"  {key} "))


def test_vipps_om_check_labels_each_settings_source(configure, monkeypatch):
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_BASE_URL", "https://vipps.example")
    configure(CLIENT_ID=None, TIMEOUT=10, BASE_URL=REMOVE)
    output = check_output()
    assert configuration_line(output, "BASE_URL").endswith(
        "'https://vipps.example'  [environment VIPPS_ORDER_MANAGEMENT_BASE_URL]"
    )
    assert configuration_line(output, "TIMEOUT").endswith("(10.0, 10.0)  [settings]")
    assert configuration_line(output, "DISPATCH").endswith("'worker'  [settings]")
    assert configuration_line(output, "BATCH_SIZE").endswith("100  [default]")
    assert configuration_line(output, "CLIENT_ID").endswith("(not set)  [settings]")


def test_vipps_om_check_never_shows_the_health_token(configure, monkeypatch):
    token = "health-token-from-the-environment-0123456789"
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_HEALTH_TOKEN", token)
    configure()
    output = check_output()
    assert configuration_line(output, "HEALTH_TOKEN").endswith(
        "****  [environment VIPPS_ORDER_MANAGEMENT_HEALTH_TOKEN]"
    )
    assert token[-4:] not in output
    monkeypatch.delenv("VIPPS_ORDER_MANAGEMENT_HEALTH_TOKEN")
    configure()
    assert configuration_line(check_output(), "HEALTH_TOKEN").endswith("(not set)  [default]")


def test_vipps_om_check_shows_a_refused_value_and_its_check(configure):
    configure(TIMEOUT=0, CLIENT_SECRET=b"bytes-secret")
    output = check_output()
    assert configuration_line(output, "TIMEOUT").endswith("0 (refused, see E016)  [settings]")
    assert configuration_line(output, "CLIENT_SECRET").endswith(
        "**** (refused, see E025)  [settings]"
    )
    assert "bytes-secret" not in output


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("SITE_URL", "https://user:hunter2@shop.example"),  # refused
        ("BASE_URL", "https://user:hunter2@api.vipps.no"),  # used, and still not shown
    ],
)
def test_vipps_om_check_never_prints_a_password_in_an_address(configure, key, url):
    configure(**{key: url})
    output = check_output()
    assert "hunter2" not in output
    assert "***@" in configuration_line(output, key)


def test_vipps_om_check_runs_the_deployment_checks(configure):
    configure(BASE_URL="http://127.0.0.1:8765", DISPATCH="immediate")
    output = check_output()
    assert "Warning vipps_order_management.W002" in output
    assert "Warning vipps_order_management.W005" in output
