"""Every setting is bounded where it is declared: a value no process could use is a check error
naming it, and the same refusal wherever it is read (or given as a command-line option)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from vipps_order_management.conf import app_settings
from vipps_order_management.exceptions import VippsConfigurationError

REFUSED = [
    # A parser's own slip (urlsplit raising) is a refusal, never an exception out of the checks.
    ("BASE_URL", "https://[::1", "E008"),
    ("BASE_URL", "https://api.vipps.no?x=1", "E008"),
    ("BASE_URL", "https://api.vipps.no/#top", "E008"),
    ("BASE_URL", "https://user:pw@api.vipps.no", "E008"),
    ("BASE_URL", "https://api.vipps.no:99999", "E008"),
    ("BASE_URL", "https://api.vipps.no:0", "E008"),
    ("BASE_URL", "https://api.vipps .no", "E008"),
    ("TIMEOUT", 1e10, "E016"),
    ("TIMEOUT", (5, 1e308), "E016"),
    ("TIMEOUT", 601, "E016"),
    ("RETRY", {"GIVE_UP_AFTER": 1e-9}, "E017"),  # rounds to timedelta(0)
    ("RETRY", {"GIVE_UP_AFTER": 1e20}, "E017"),  # more than a timedelta holds
    ("PAYMENT_WAIT", 1e-9, "E023"),
    ("PAYMENT_WAIT", timedelta(0), "E023"),
    ("LEASE_SECONDS", 1e-9, "E018"),
    ("LEASE_SECONDS", 0.09, "E018"),
    ("LEASE_SECONDS", 10**9, "E018"),
    ("WORKER_POLL_SECONDS", 1e-9, "E021"),
    ("WORKER_POLL_SECONDS", 0.009, "E021"),
    ("WORKER_POLL_SECONDS", 3601, "E021"),
    ("WORKER_POLL_SECONDS", 0, "E021"),
    ("WORKER_POLL_SECONDS", float("nan"), "E021"),
    # Plain http only to this machine: a name that merely starts like it is elsewhere.
    ("BASE_URL", "http://localhost.evil.example:8765", "E009"),
    ("BASE_URL", "http://127.0.0.1.evil.example:8765", "E009"),
    ("BASE_URL", "http://10.0.0.1:8765", "E009"),
    ("APP_LINK_SCHEMES", ("myapp", "intent"), "E031"),
    ("APP_LINK_SCHEMES", ("myapp:",), "E031"),
    ("APP_LINK_SCHEMES", {"myapp": True}, "E031"),
]


@pytest.mark.parametrize(("key", "value", "check_id"), REFUSED)
def test_a_value_no_process_could_use_is_refused_naming_the_setting(settings, key, value, check_id):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, key: value}
    found = [m for m in run_checks(tags=["vipps_order_management"]) if m.is_serious()]
    assert [m.id for m in found] == [f"vipps_order_management.{check_id}"]
    assert repr(key) in found[0].msg
    with pytest.raises(VippsConfigurationError, match=rf"\['{key}'\]"):
        getattr(app_settings, key)


def test_credentials_in_a_refused_base_url_are_never_shown(settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "BASE_URL": "https://user:s3cret@api.vipps.no",
    }
    with pytest.raises(VippsConfigurationError) as caught:
        app_settings.BASE_URL  # noqa: B018 - reading is the test
    assert "s3cret" not in str(caught.value)
    assert all("s3cret" not in m.msg for m in run_checks(tags=["vipps_order_management"]))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TIMEOUT", 600),
        ("TIMEOUT", (0.5, 60)),
        ("LEASE_SECONDS", 0.1),
        ("WORKER_POLL_SECONDS", 0.01),
    ],
)
def test_the_bounds_themselves_are_allowed(settings, key, value):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, key: value}
    assert getattr(app_settings, key) is not None


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        # Read by their settings' parsers, so the refusal names the setting too.
        ("--poll-interval", "-1", "WORKER_POLL_SECONDS"),
        ("--poll-interval", "0", "WORKER_POLL_SECONDS"),
        ("--poll-interval", "nan", "WORKER_POLL_SECONDS"),
        ("--poll-interval", "inf", "WORKER_POLL_SECONDS"),
        ("--batch-size", "0", "BATCH_SIZE"),
        # The worker's own.
        ("--max-runtime", "-1", "a number of seconds above 0"),
        ("--max-runtime", "0", "a number of seconds above 0"),
        ("--max-runtime", "nan", "a number of seconds above 0"),
        ("--max-runtime", "inf", "a number of seconds above 0"),
        ("--metrics-port", "0", "a port from 1 to 65535"),
        ("--metrics-port", "99999", "a port from 1 to 65535"),
        ("--metrics-port", "-80", "a port from 1 to 65535"),
        ("--concurrency", "0", "at least 1"),
    ],
)
def test_a_worker_option_no_worker_could_use_is_refused_naming_it(db, option, value, says):
    """Refused before the worker starts: never an idle worker spinning on the database (a poll
    of 0), one that stops at once (-1) or never (nan), or a traceback from bind() (99999)."""
    with pytest.raises(CommandError) as caught:
        call_command("vipps_om_worker", "--once", option, value)
    assert option in str(caught.value)
    assert says in str(caught.value)


def test_good_options_run_the_worker(db, capsys):
    call_command("vipps_om_worker", "--once", "--poll-interval", "0.5", "--batch-size", "10")
    output = capsys.readouterr()
    assert "stopped after 0 sends" in output.out + output.err


@pytest.mark.parametrize(
    "base_url",
    ["http://127.1:8765", "http://localhost.:8765", "http://[::ffff:127.0.0.1]:8765"],
)
def test_plain_http_to_this_machine_however_written_is_the_fake_not_a_leak(settings, base_url):
    """The link policy's one answer to "is this machine?" decides BASE_URL too: a warning that
    nothing reaches the real Vipps, not the error of credentials sent in clear text."""
    settings.DEBUG = False
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BASE_URL": base_url}
    found = {
        m.id for m in run_checks(tags=["vipps_order_management"], include_deployment_checks=True)
    }
    assert "vipps_order_management.E009" not in found
    assert "vipps_order_management.W002" in found
    assert base_url == app_settings.BASE_URL
