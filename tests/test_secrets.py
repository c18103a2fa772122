"""Credentials never leak: not on a page (DEBUG on or off), in a log, a frame dump, an API
answer or a table, whatever the credentials contain and whatever Vipps or the network does."""

from __future__ import annotations

import html
import io
import itertools
import logging
import traceback

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

from vipps_order_management import services
from vipps_order_management.client import OrderManagementClient, Secret
from vipps_order_management.exceptions import VippsConfigurationError, VippsError
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder
from vipps_order_management.payloads import Category
from vipps_order_management.testing import FakeMerchant

CANARY = "CANARY7q"
#: A secret pasted from a document: its apostrophe is not Latin-1, so no header can carry it.
TYPOGRAPHIC = f"{CANARY}-secret\N{RIGHT SINGLE QUOTATION MARK}s"


@pytest.fixture
def canary_credentials(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "CLIENT_SECRET": TYPOGRAPHIC,
        "SUBSCRIPTION_KEY": f"{CANARY}-subscription",
    }
    return vipps


def everything_stored() -> str:
    rows = [
        *OutboxItem.objects.values_list("last_error", "result"),
        *SyncAttempt.objects.values_list("error", "endpoint"),
        *VippsOrder.objects.values_list("receipt_error", "links_error"),
    ]
    return repr(rows)


@pytest.mark.parametrize("debug", [False, True])
def test_credentials_no_header_can_carry_are_refused_naming_the_setting_only(
    canary_credentials, make_order, client, caplog, debug
):
    caplog.set_level(logging.DEBUG)
    order = make_order()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    with override_settings(DEBUG=debug):
        page = client.get(reverse("admin:shop_order_vipps", args=[order.pk]))
        action = client.post(
            reverse("admin:shop_order_changelist"),
            {"action": "fetch_and_compare", "_selected_action": [order.pk]},
            follow=True,
        )
        sent = api.post(
            f"/vipps/api/v1/orders/shop.order/{order.pk}/sync/?now=1", {}, format="json"
        )
        with pytest.raises(VippsConfigurationError) as refused:
            services.sync_now(order)

    assert page.status_code == 200
    assert action.status_code == 200
    assert "VIPPS_ORDER_MANAGEMENT['CLIENT_SECRET']" in str(refused.value)
    assert "typographic quote" in str(refused.value)
    seen = [
        page.content.decode(),
        action.content.decode(),
        sent.content.decode(),
        str(refused.value),
        caplog.text,
        everything_stored(),
    ]
    assert "VIPPS_ORDER_MANAGEMENT['CLIENT_SECRET']" in html.unescape(action.content.decode())
    for text in seen:
        assert CANARY not in text


def frame_dumps(error: BaseException) -> list[str]:
    """What a log handler that records frame variables, and Django's error page, would show."""
    dumps = [
        "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    ]
    reporter = ExceptionReporter(None, type(error), error, error.__traceback__)
    with override_settings(DEBUG=True):
        dumps += [reporter.get_traceback_text(), reporter.get_traceback_html()]
    return dumps


#: Sales units for the tests below (the session's fake keeps the ones it was given).
UNITS = itertools.count(654_300)
#: Secrets the client was given or got, kept out of every frame the dumps could show.
HELD: dict[str, str] = {}


@pytest.mark.parametrize(
    "fault",
    [
        lambda fake: fake.faults.drop_next(1, path="/categories/"),  # the network fails
        lambda fake: fake.faults.fail_next(1, status=500, path="/categories/"),  # Vipps fails
        lambda fake: fake.faults.fail_next(2, status=401, path="/categories/"),  # refused token
    ],
    ids=["dropped", "500", "401"],
)
def test_no_frame_of_a_failed_call_holds_a_secret(vipps_fake, fault):
    unit = str(next(UNITS))
    merchant = vipps_fake.add_merchant(
        FakeMerchant(
            client_id=f"canary-client-{unit}",
            client_secret=f"{CANARY}-latin1-secret",
            subscription_key=f"{CANARY}-latin1-key-{unit}",
            merchant_serial_number=unit,
        )
    )

    with OrderManagementClient(base_url=vipps_fake.url, **merchant.credentials) as client:
        HELD["token"] = client.access_token()  # a real token, held by the client
        fault(vipps_fake)
        with pytest.raises(VippsError) as caught:
            client.put_category("ECOM", "order-1", Category("RECEIPT", "https://shop.example/r"))
        assert CANARY not in repr(client)
    for dump in frame_dumps(caught.value):
        assert CANARY not in dump
        assert HELD["token"] not in dump
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_a_secret_prints_as_stars_everywhere():
    secret = Secret(f"{CANARY}-value")
    assert CANARY not in repr(secret)
    assert CANARY not in str(secret)
    assert CANARY not in f"{secret}"
    assert secret.reveal() == f"{CANARY}-value"


def test_vipps_om_check_masks_what_it_shows(canary_credentials):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("vipps_om_check", stdout=out, stderr=err)
    shown = out.getvalue() + err.getvalue() + str(failed.value)
    assert CANARY not in shown
    assert "VIPPS_ORDER_MANAGEMENT['CLIENT_SECRET']" in shown


def test_the_worker_logs_the_reason_without_the_value(canary_credentials, make_order, caplog):
    caplog.set_level(logging.DEBUG)
    make_order()
    with pytest.raises(VippsConfigurationError):
        services.drain(worker_id="test")
    assert CANARY not in caplog.text
    assert not OutboxItem.objects.filter(lease_token__gt="").exists()  # all handed back


class _Escaped(BaseException):
    """Escapes every handler, as a bug deep in a library would reach Django's error page."""


def test_no_frame_below_the_staff_operations_is_shown_on_an_error_page(monkeypatch, make_order):
    from vipps_order_management.admin import operations

    def send(order):
        secret = HELD.setdefault("operation", f"{CANARY}-in-a-deep-frame")  # noqa: F841
        raise _Escaped

    monkeypatch.setitem(operations.ORDER_OPERATIONS, "send", ("Send", send))
    with pytest.raises(_Escaped) as escaped:
        operations.run_for_orders([make_order()], "send", lambda level, text: None)
    error = escaped.value
    # What Django's error e-mails (AdminEmailHandler, DEBUG off) show of every frame below.
    reporter = ExceptionReporter(None, type(error), error, error.__traceback__, is_email=True)
    with override_settings(DEBUG=False):
        for dump in (reporter.get_traceback_text(), reporter.get_traceback_html()):
            assert CANARY not in dump
            assert "send" in dump  # the frames are there; their variables are not
