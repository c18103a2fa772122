"""System checks: each ID is produced by exactly the misconfiguration it names, with a hint."""

from __future__ import annotations

import socket
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.shop.vipps import PurchaseAdapter, ShopOrderAdapter
from vipps_order_management.checks import CHECK_IDS, TAG, check_deployment, check_settings
from vipps_order_management.conf import CREDENTIAL_KEYS, ENVIRONMENT_PREFIX

from .conftest import TASKS_PACKAGE, BaseTaskBackend

REMOVE = object()

GOOD = {
    "CLIENT_ID": "client-id-0001",
    "CLIENT_SECRET": "client-secret-0001",
    "SUBSCRIPTION_KEY": "subscription-key-0001",
    "MERCHANT_SERIAL_NUMBER": "123456",
    "ORDER_ADAPTERS": {
        "shop.Order": "tests.shop.vipps.ShopOrderAdapter",
        "shop.Booking": "tests.shop.vipps.BookingAdapter",
    },
    "DISPATCH": "worker",
    "SITE_URL": "https://shop.example",
    "SELLER_NAME": "Strikk og Sokk AS",
    "SELLER_ORGANISATION_NUMBER": "NO 912 345 678 MVA",
}


class DurableBackend(BaseTaskBackend):
    """A task backend that is neither the dummy nor the immediate one."""

    def enqueue(self, task, args, kwargs):  # pragma: no cover - never called
        raise NotImplementedError


class SyncOnTypoAdapter(ShopOrderAdapter):
    sync_on = {"shop.OrderLine": "order"}


class BrokenAdapter(ShopOrderAdapter):
    def __init__(self, model):
        raise RuntimeError("adapter exploded")


def full_id(short: str) -> str:
    return f"{TAG}.{short}"


@pytest.fixture
def configure(settings, monkeypatch):
    """Set a correct production configuration, changed by the keyword arguments."""
    for key in CREDENTIAL_KEYS:
        monkeypatch.delenv(ENVIRONMENT_PREFIX + key, raising=False)
    settings.DEBUG = False

    def apply(**changes):
        value = {**GOOD, **changes}
        settings.VIPPS_ORDER_MANAGEMENT = {k: v for k, v in value.items() if v is not REMOVE}

    apply()
    return apply


def every_check() -> list[checks.CheckMessage]:
    """The checks ``manage.py check --deploy`` runs: everywhere, then production only."""
    return check_settings() + check_deployment()


def ids() -> list[str]:
    return sorted(message.id.rpartition(".")[2] for message in every_check())


def only(short: str) -> checks.CheckMessage:
    messages = every_check()
    assert [m.id for m in messages] == [full_id(short)], messages
    return messages[0]


# ---------------------------------------------------------------------- no problems


def test_a_correct_production_configuration_passes(configure):
    assert every_check() == []


def test_a_development_configuration_against_the_fake_passes(configure, settings):
    settings.DEBUG = True
    configure(BASE_URL="http://127.0.0.1:8765", SITE_URL="http://localhost:8000", SELLER_NAME="")
    assert ids() == ["W007"]  # a dev receipt without a seller is still flagged, nothing else
    configure(BASE_URL="http://127.0.0.1:8765", SITE_URL="http://localhost:8000")
    assert every_check() == []


def test_an_app_installed_but_not_yet_configured_is_quiet(configure):
    configure(
        ORDER_ADAPTERS={},
        **dict.fromkeys(CREDENTIAL_KEYS, REMOVE),
        SITE_URL=REMOVE,
        SELLER_NAME=REMOVE,
        SELLER_ORGANISATION_NUMBER=REMOVE,
    )
    assert every_check() == []


def test_the_checks_are_registered_under_the_apps_tag(configure):
    configure(BATCH_SIZE=0)
    assert [m.id for m in checks.run_checks(tags=[TAG])] == [full_id("E019")]


def test_the_checks_touch_neither_the_database_nor_the_network(configure, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a system check opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    configure(DISPATCH="celery", BASE_URL="https://vipps.example", TOKEN_CACHE="default")
    # No django_db mark: any query would raise here.
    assert every_check() == []


# ---------------------------------------------------------------------- the settings dict


def test_e001_the_setting_is_not_a_dict(configure, settings):
    settings.VIPPS_ORDER_MANAGEMENT = [("CLIENT_ID", "x")]
    message = only("E001")
    assert "settings.VIPPS_ORDER_MANAGEMENT must be a dict, not list" in message.msg
    assert message.hint


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("CLIENT_SECRT", "CLIENT_SECRET"), ("batch_size", "BATCH_SIZE"), ("DISPATCHER", "DISPATCH")],
)
def test_e002_an_unknown_key_names_the_closest_known_one(configure, key, suggestion):
    configure(**{key: "x"})
    message = only("E002")
    assert f"VIPPS_ORDER_MANAGEMENT[{key!r}]" in message.msg
    assert message.hint == f"Did you mean {suggestion!r}?"


def test_e002_an_unknown_key_nothing_like_a_known_one_lists_the_known_keys(configure):
    configure(ZZZZZZ=1)
    assert "the known keys are" in only("E002").hint


# ---------------------------------------------------------------------- credentials


def test_e003_a_missing_credential_when_others_are_set_is_an_error(configure):
    configure(CLIENT_SECRET=REMOVE)
    message = only("E003")
    assert "VIPPS_ORDER_MANAGEMENT['CLIENT_SECRET'] is not set" in message.msg
    assert "VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET" in message.hint


def test_e003_even_without_order_adapters_because_the_shop_opted_in(configure):
    configure(ORDER_ADAPTERS={}, SUBSCRIPTION_KEY="", MERCHANT_SERIAL_NUMBER=REMOVE)
    assert ids() == ["E003", "E003"]


def test_a_credential_from_the_environment_counts(configure, monkeypatch):
    configure(CLIENT_SECRET=REMOVE)
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET", "from-the-environment")
    configure(CLIENT_SECRET=REMOVE)  # reload the settings after changing the environment
    assert every_check() == []


def test_w001_no_credentials_at_all_while_order_adapters_are_configured(configure):
    configure(**dict.fromkeys(CREDENTIAL_KEYS, REMOVE))
    message = only("W001")
    for key in CREDENTIAL_KEYS:
        assert f"VIPPS_ORDER_MANAGEMENT[{key!r}]" in message.msg
        assert f"VIPPS_ORDER_MANAGEMENT_{key}" in message.hint


# ---------------------------------------------------------------------- adapters


@pytest.mark.parametrize("label", ["shop.Ordr", "Order", "nope.Order"])
def test_e004_an_order_model_that_is_not_installed(configure, label):
    configure(ORDER_ADAPTERS={label: "tests.shop.vipps.ShopOrderAdapter"})
    message = only("E004")
    assert f"VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS'][{label!r}]" in message.msg
    assert "app_label.ModelName" in message.hint


def test_e004_order_adapters_not_a_dict(configure):
    configure(ORDER_ADAPTERS=["shop.Order"])
    assert "must be a dict, not list" in only("E004").msg


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.shop.vipps.NoSuchAdapter", "cannot import 'tests.shop.vipps.NoSuchAdapter'"),
        ("no_such_module.Adapter", "cannot import 'no_such_module.Adapter'"),
        ("tests.shop.models.Product", "is not an OrderAdapter subclass"),
        ("tests.test_checks.BrokenAdapter", "RuntimeError: adapter exploded"),
        ("tests.test_checks.SyncOnTypoAdapter", "sync_on names 'shop.OrderLine'"),
    ],
)
def test_e005_an_adapter_that_cannot_be_used(configure, path, problem):
    configure(ORDER_ADAPTERS={"shop.Order": path})
    message = only("E005")
    assert message.msg.startswith("VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS']['shop.Order']: ")
    assert problem in message.msg
    assert message.hint


# ---------------------------------------------------------------------- aliases


def test_e006_image_storage_not_in_storages(configure):
    configure(IMAGE_STORAGE="s3")
    message = only("E006")
    assert "VIPPS_ORDER_MANAGEMENT['IMAGE_STORAGE'] is 's3'" in message.msg
    assert "'default'" in message.hint


def test_e007_token_cache_not_in_caches(configure):
    configure(TOKEN_CACHE="redis")
    message = only("E007")
    assert "VIPPS_ORDER_MANAGEMENT['TOKEN_CACHE'] is 'redis'" in message.msg
    assert "add 'redis' to CACHES" in message.hint


# ---------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "url", ["api.vipps.no", "ftp://api.vipps.no", "https://api.vipps.no/order-management"]
)
def test_e008_base_url_that_is_not_the_api_root(configure, settings, url):
    settings.DEBUG = True  # wrong in development too
    configure(BASE_URL=url)
    message = only("E008")
    assert f"VIPPS_ORDER_MANAGEMENT['BASE_URL'] is {url!r}" in message.msg
    assert "https://api.vipps.no" in message.hint


def test_e009_plain_http_base_url_in_production(configure, settings):
    configure(BASE_URL="http://api.vipps.no")
    assert "not https" in only("E009").msg
    settings.DEBUG = True
    assert every_check() == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"]
)
def test_w002_the_fake_as_base_url_in_production(configure, settings, url):
    configure(BASE_URL=url)
    message = only("W002")
    assert "VIPPS_ORDER_MANAGEMENT['BASE_URL']" in message.msg
    assert "DEBUG is False" in message.msg
    settings.DEBUG = True
    assert every_check() == []


def test_e010_site_url_without_scheme_is_an_error_even_in_development(configure, settings):
    settings.DEBUG = True
    configure(SITE_URL="shop.example")
    assert "not an absolute URL" in only("E010").msg


def test_e010_site_url_not_https_in_production(configure, settings):
    configure(SITE_URL="http://shop.example")
    message = only("E010")
    assert "VIPPS_ORDER_MANAGEMENT['SITE_URL'] is 'http://shop.example', not https" in message.msg
    settings.DEBUG = True
    assert every_check() == []


def test_w003_site_url_missing_in_production(configure, settings):
    configure(SITE_URL=REMOVE)
    assert "VIPPS_ORDER_MANAGEMENT['SITE_URL'] is not set" in only("W003").msg
    settings.DEBUG = True
    assert every_check() == []


# ---------------------------------------------------------------------- dispatch


def test_e011_unknown_dispatch(configure):
    configure(DISPATCH="workers")
    message = only("E011")
    assert "VIPPS_ORDER_MANAGEMENT['DISPATCH'] is 'workers'" in message.msg
    assert message.hint.startswith("Did you mean 'worker'?")


def test_e012_django_tasks_without_a_task_framework(configure, monkeypatch):
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    configure(DISPATCH="django_tasks")
    assert "no task framework is installed" in only("E012").msg


def test_e012_django_tasks_with_a_task_backend_alias_that_does_not_exist(configure, settings):
    settings.TASKS = {"default": {"BACKEND": "tests.test_checks.DurableBackend"}}
    configure(DISPATCH="django_tasks", TASK_BACKEND="durable")
    assert "VIPPS_ORDER_MANAGEMENT['TASK_BACKEND'] is 'durable'" in only("E012").msg


def test_e012_django_tasks_with_a_backend_that_cannot_be_imported(configure, settings):
    settings.TASKS = {"default": {"BACKEND": "no_such_package.Backend"}}
    configure(DISPATCH="django_tasks")
    assert "cannot be imported" in only("E012").msg


def test_e013_django_tasks_with_the_dummy_backend_never_runs(configure, settings):
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    configure(DISPATCH="django_tasks")
    assert "DummyBackend" in only("E013").msg


def test_w004_django_tasks_with_the_immediate_backend_blocks_requests(configure, settings):
    settings.TASKS = {
        "default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}
    }
    configure(DISPATCH="django_tasks")
    assert "ImmediateBackend" in only("W004").msg
    settings.TASKS = {"default": {"BACKEND": "tests.test_checks.DurableBackend"}}
    assert every_check() == []


def test_e014_celery_dispatch_without_celery(configure, monkeypatch):
    configure(DISPATCH="celery")
    assert every_check() == []  # installed in this environment
    monkeypatch.setitem(sys.modules, "celery", None)
    message = only("E014")
    assert "VIPPS_ORDER_MANAGEMENT['DISPATCH'] is 'celery'" in message.msg
    assert "[celery]" in message.hint


def test_w005_immediate_dispatch_in_production(configure, settings):
    configure(DISPATCH="immediate")
    assert "waits for Vipps" in only("W005").msg
    settings.DEBUG = True
    assert every_check() == []


def test_e015_unknown_category_api(configure):
    configure(CATEGORY_API="v4")
    assert "VIPPS_ORDER_MANAGEMENT['CATEGORY_API'] is 'v4'" in only("E015").msg


# ---------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [10, 2.5, (3, 20), [3.0, 20.0]])
def test_timeout_values_that_work(configure, value):
    configure(TIMEOUT=value)
    assert every_check() == []


@pytest.mark.parametrize("value", [0, -1, "30", (5,), (5, 0), (5, 30, 60), True, None])
def test_e016_malformed_timeout(configure, value):
    configure(TIMEOUT=value)
    assert "VIPPS_ORDER_MANAGEMENT['TIMEOUT']" in only("E016").msg


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fast", "must be a dict, not str"),
        ({"BASE_SECOND": 1}, "['RETRY']['BASE_SECOND'] is not a RETRY setting"),
        ({"BASE_SECONDS": -1}, "['RETRY']['BASE_SECONDS']"),
        ({"BASE_SECONDS": 60, "CAP_SECONDS": 10}, "below BASE_SECONDS"),
        ({"GIVE_UP_AFTER": timedelta(0)}, "['RETRY']['GIVE_UP_AFTER']"),
        ({"GIVE_UP_AFTER": "3 days"}, "['RETRY']['GIVE_UP_AFTER']"),
        ({"JITTER": 2}, "['RETRY']['JITTER']"),
    ],
)
def test_e017_malformed_retry(configure, value, problem):
    configure(RETRY=value)
    assert problem in only("E017").msg


def test_retry_may_change_one_key_or_give_up_after_seconds(configure):
    configure(RETRY={"BASE_SECONDS": 0, "CAP_SECONDS": 0, "GIVE_UP_AFTER": 3600, "JITTER": 0})
    assert every_check() == []


@pytest.mark.parametrize(
    ("key", "short", "bad"),
    [
        ("LEASE_SECONDS", "E018", [0, -5, "120", None]),
        ("BATCH_SIZE", "E019", [0, 2.5, True, "20"]),
        ("WORKER_POLL_SECONDS", "E021", [0, -1.0, "5"]),
    ],
)
def test_e018_e019_e021_numbers_that_must_be_positive(configure, key, short, bad):
    for value in bad:
        configure(**{key: value})
        assert f"VIPPS_ORDER_MANAGEMENT[{key!r}] is {value!r}" in only(short).msg
    configure(**{key: 3})
    assert every_check() == []


@pytest.mark.parametrize("value", [timedelta(0), timedelta(days=-1), -1, "400 days"])
def test_e020_malformed_public_link_max_age(configure, value):
    configure(PUBLIC_LINK_MAX_AGE=value)
    assert "VIPPS_ORDER_MANAGEMENT['PUBLIC_LINK_MAX_AGE']" in only("E020").msg


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("CLIENT_SECRET", "s3cret\N{RIGHT SINGLE QUOTATION MARK}x", "cannot carry"),
        ("SUBSCRIPTION_KEY", "subscr-9f2\n", "starts or ends with a space"),
        ("CLIENT_ID", "id\x07bell", "control character"),
    ],
)
def test_e025_a_credential_no_header_can_carry(configure, key, value, says):
    configure(**{key: value})
    message = only("E025")
    assert f"VIPPS_ORDER_MANAGEMENT[{key!r}]" in message.msg
    assert says in message.msg
    assert value.strip() not in message.msg + message.hint  # never the value


@pytest.mark.parametrize("value", [timedelta(0), -5, None, "1 hour"])
def test_e023_malformed_payment_wait(configure, value):
    configure(PAYMENT_WAIT=value)
    assert "VIPPS_ORDER_MANAGEMENT['PAYMENT_WAIT']" in only("E023").msg
    configure(PAYMENT_WAIT=timedelta(minutes=10))
    assert every_check() == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("vipps", "VIPPS_ORDER_MANAGEMENT['OSCAR'] must be a dict, not str"),
        ({"PAYMENT_SOURCE": "vipps"}, "['OSCAR']['PAYMENT_SOURCE'] is not an OSCAR setting"),
        ({"PAYMENT_SOURCE_TYPE": ""}, "['OSCAR']['PAYMENT_SOURCE_TYPE'] is '', not the code"),
        ({"STATUS_CATEGORIES": ["Shipped"]}, "['STATUS_CATEGORIES'] must be a dict"),
        (
            {"STATUS_CATEGORIES": {"Shipped": "delivery"}},
            "['STATUS_CATEGORIES']['Shipped'] is 'delivery', not a link category",
        ),
    ],
)
def test_e024_malformed_oscar(configure, value, problem):
    configure(OSCAR=value)
    assert problem in only("E024").msg
    configure(OSCAR={"PAYMENT_SOURCE_TYPE": "vipps-epayment", "STATUS_CATEGORIES": {"Paid": None}})
    assert every_check() == []


def test_e024_suggests_the_oscar_key_and_category(configure):
    configure(OSCAR={"PAYMENT_SOURCE_TYP": "vipps"})
    assert "Did you mean 'PAYMENT_SOURCE_TYPE'?" in only("E024").hint
    configure(OSCAR={"STATUS_CATEGORIES": {"Shipped": "DELIVER"}})
    assert "Did you mean 'DELIVERY'?" in only("E024").hint


@pytest.mark.parametrize("value", [None, 3600, timedelta(days=30)])
def test_public_link_max_age_values_that_work(configure, value):
    configure(PUBLIC_LINK_MAX_AGE=value)
    assert every_check() == []


# ---------------------------------------------------------------------- production


@pytest.fixture
def plain_sqlite(settings, monkeypatch):
    """The default database as SQLite in its default (deferred) transaction mode."""
    monkeypatch.setitem(
        settings.DATABASES,
        "default",
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "shop.sqlite3", "OPTIONS": {}},
    )


@pytest.mark.usefixtures("plain_sqlite")
def test_w006_sqlite_without_immediate_transactions_while_a_worker_drains(configure, settings):
    message = only("W006")
    assert "transaction_mode" in message.msg
    assert "IMMEDIATE" in message.hint
    settings.DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
    assert every_check() == []


@pytest.mark.usefixtures("plain_sqlite")
def test_w006_not_when_orders_are_sent_in_the_request(configure, settings):
    settings.DEBUG = True
    configure(DISPATCH="immediate")
    assert every_check() == []


def test_w007_seller_missing_from_the_printable_receipt(configure):
    configure(SELLER_NAME="")
    message = only("W007")
    assert "VIPPS_ORDER_MANAGEMENT['SELLER_NAME'] is empty" in message.msg
    assert "proof of purchase" in message.msg
    configure(SELLER_NAME=REMOVE, SELLER_ORGANISATION_NUMBER="  ")
    assert ids() == ["W007", "W007"]


def test_e022_development_link_hosts_only_while_debugging(configure, settings):
    configure(DEVELOPMENT_LINK_HOSTS=("127.0.0.1", "localhost"))
    message = only("E022")
    assert (
        "VIPPS_ORDER_MANAGEMENT['DEVELOPMENT_LINK_HOSTS'] is set while DEBUG is False"
        in message.msg
    )
    settings.DEBUG = True
    assert "E022" not in ids()
    configure(DEVELOPMENT_LINK_HOSTS="localhost")
    assert "not a list of host names" in only("E022").msg
    configure(DEVELOPMENT_LINK_HOSTS=8000)  # not even iterable: refused, not a crash
    assert "not a list of host names" in only("E022").msg


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("AUTO_SYNC", "no", "is 'no', not True or False"),
        ("SYSTEM_NAME", "", "is '', not a name"),
        ("SYSTEM_VERSION", 6.1, "is 6.1, not a name"),
        ("TASK_BACKEND", None, "is None, not a name"),
        ("CELERY_QUEUE", ["a"], "is ['a'], not a name"),
        ("PUBLIC_LINK_SALT", 2, "is 2, not a string"),
        ("API_PERMISSION_CLASSES", 5, "is 5, not a list of dotted paths of classes"),
        ("SELLER_NAME", ["Strikk"], "is ['Strikk'], not a string"),
    ],
)
def test_e026_a_value_of_the_wrong_type(configure, key, value, says):
    configure(**{key: value})
    message = only("E026")
    assert f"VIPPS_ORDER_MANAGEMENT[{key!r}] {says}." == message.msg
    assert message.hint


DEPLOYMENT_ONLY = {"W002", "W003", "W005", "W007"}


@pytest.mark.parametrize(
    ("changes", "short"),
    [
        ({"BASE_URL": "http://127.0.0.1:8765"}, "W002"),
        ({"SITE_URL": REMOVE}, "W003"),
        ({"DISPATCH": "immediate"}, "W005"),
        ({"SELLER_NAME": ""}, "W007"),
    ],
)
def test_production_only_warnings_run_only_with_deploy(configure, changes, short):
    configure(**changes)
    assert check_settings() == []
    assert [m.id for m in check_deployment()] == [full_id(short)]
    assert [m.id for m in checks.run_checks(tags=[TAG])] == []
    deploy = checks.run_checks(tags=[TAG], include_deployment_checks=True)
    assert [m.id for m in deploy] == [full_id(short)]


# ---------------------------------------------------------------------- manage.py check


class TwoUnitsAdapter(ShopOrderAdapter):
    merchant_serial_numbers = ("777777",)


class MisnamedPurchaseAdapter(PurchaseAdapter):
    owner_field = "user"  # the model calls it customer
    currency_field = "valuta"


MISCONFIGURATIONS = {
    "many mistakes at once": (
        {
            "CLIENTSECRET": "typo",
            "CLIENT_SECRET": REMOVE,
            "ORDER_ADAPTERS": {
                "shop.Ordr": "tests.shop.vipps.ShopOrderAdapter",
                "shop.Order": "tests.shop.models.Product",
            },
            "IMAGE_STORAGE": "s3",
            "TOKEN_CACHE": "redis",
            "BASE_URL": "api.vipps.no",
            "SITE_URL": "http://shop.example",
            "DISPATCH": "django_tasks",
            "CATEGORY_API": "v4",
            "TIMEOUT": -1,
            "RETRY": {"JITTER": 5},
            "LEASE_SECONDS": 0,
            "BATCH_SIZE": 0,
            "PUBLIC_LINK_MAX_AGE": "forever",
            "WORKER_POLL_SECONDS": 0,
            "PAYMENT_WAIT": 0,
            "OSCAR": {"STATUS_CATEGORIES": {"Shipped": "SHIPPED"}},
            "HEALTH": {"OLDEST_PENDING": -60},
            "HEALTH_TOKEN": "too-short",
            "SELLER_NAME": "",
            "APP_LINK_SCHEMES": ("myapp://",),
        },
        {"TASKS": {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}},
        {"E002", "E003", "E004", "E005", "E006", "E007", "E008", "E010", "E013", "E015"}
        | {"E016", "E017", "E018", "E019", "E020", "E021", "E023", "E024", "E029", "E030"}
        | {"E031"}
        | {"W006", "W007"},
    ),
    "no credentials, plain http, celery missing": (
        {
            **dict.fromkeys(CREDENTIAL_KEYS, REMOVE),
            "BASE_URL": "http://vipps.example",
            "SITE_URL": REMOVE,
            "DISPATCH": "celery",
        },
        {},
        {"W001", "E009", "W003", "E014"},
    ),
    "the fake, immediate sends and http links in production": (
        {
            "BASE_URL": "http://127.0.0.1:8765",
            "DISPATCH": "immediate",
            "DEVELOPMENT_LINK_HOSTS": ("127.0.0.1",),
        },
        {},
        {"W002", "W005", "E022"},
    ),
    "django_tasks run in the request": (
        {"DISPATCH": "django_tasks"},
        {"TASKS": {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}},
        {"W004"},
    ),
    "django_tasks with a missing backend alias": (
        {"DISPATCH": "django_tasks", "TASK_BACKEND": "queue"},
        {},
        {"E012"},
    ),
    "a dispatch mode that does not exist": ({"DISPATCH": "cron"}, {}, {"E011"}),
    "sales units: a malformed one, and a declared MSN without keys": (
        {
            "SALES_UNITS": {"12": {"NAME": "x"}, "654321": {"NAME": "Danmark", "KEY": "k"}},
            "ORDER_ADAPTERS": {"shop.Order": "tests.test_checks.TwoUnitsAdapter"},
        },
        {},
        {"E028"},
    ),
    "an owner and a currency the model lacks": (
        {"ORDER_ADAPTERS": {"shop.Purchase": "tests.test_checks.MisnamedPurchaseAdapter"}},
        {},
        {"E027"},
    ),
    "values of the wrong type": ({"AUTO_SYNC": "yes", "SELLER_ADDRESS": 5}, {}, {"E026"}),
    "a secret pasted from a document": (
        {"CLIENT_SECRET": "s3cret\N{RIGHT SINGLE QUOTATION MARK}x"},
        {},
        {"E025"},
    ),
    "not a dict": (None, {}, {"E001"}),
}


def test_the_misconfigurations_below_cover_every_check_id():
    produced = set().union(*(expected for _, _, expected in MISCONFIGURATIONS.values()))
    assert {full_id(short) for short in produced} == set(CHECK_IDS)


@pytest.mark.django_db  # Django's own model checks ask the database what it supports
@pytest.mark.parametrize("case", list(MISCONFIGURATIONS))
def test_manage_py_check_names_every_problem_with_its_id_and_hint(
    configure, settings, monkeypatch, request, case
):
    changes, other_settings, expected = MISCONFIGURATIONS[case]
    if "W006" in expected:
        request.getfixturevalue("plain_sqlite")
    monkeypatch.setitem(sys.modules, "celery", None)
    for name, value in other_settings.items():
        setattr(settings, name, value)
    if changes is None:
        settings.VIPPS_ORDER_MANAGEMENT = "not a dict"
    else:
        configure(**changes)
    out, err = StringIO(), StringIO()
    try:
        call_command("check", "--deploy", stdout=out, stderr=err)
    except SystemCheckError as exc:
        report = str(exc)
    else:
        report = err.getvalue() + out.getvalue()
    lines = report.splitlines()
    found = set()
    for number, line in enumerate(lines):
        if f"({TAG}." in line:
            short = line.split(f"({TAG}.", 1)[1].split(")", 1)[0]
            found.add(short)
            assert lines[number + 1].startswith("\tHINT: "), f"{short} has no hint"
            assert "VIPPS_ORDER_MANAGEMENT" in line or short in {"W006"}, line
    assert found == expected
