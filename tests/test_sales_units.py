"""Several sales units, each with its own keys: a Norwegian storefront in NOK, a Danish in DKK.

Vipps binds a token to one unit's keys and refuses it for another MSN; the fake does the same,
so a client built from the wrong unit's keys would fail here as it would in production.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.shop.vipps import ShopOrderAdapter
from vipps_order_management.engine.clients import SalesUnitMissing, sales_unit, sales_units
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder
from vipps_order_management.testing import FakeMerchant, drain_until_idle

DANISH = "654321"


class StorefrontAdapter(ShopOrderAdapter):
    """Orders in DKK belong to the Danish sales unit; the rest to the configured one."""

    merchant_serial_numbers = ("123456", DANISH)

    def get_merchant_serial_number(self, order):
        if order.currency == "DKK":
            return DANISH
        if order.currency == "EUR":
            return "777777"  # a unit nobody gave keys for
        return None


@pytest.fixture
def danish(vipps_fake_server):
    """The Danish sales unit at the fake, with keys of its own."""
    for merchant in vipps_fake_server.merchants:
        if merchant.merchant_serial_number == DANISH:
            return merchant
    return vipps_fake_server.add_merchant(
        FakeMerchant(
            client_id="danish-client",
            client_secret="danish-secret",
            subscription_key="danish-key",
            merchant_serial_number=DANISH,
            name="Strikk og Sokk Danmark",
        )
    )


@pytest.fixture
def two_units(vipps, danish, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": StorefrontAdapter},
        "SALES_UNITS": {
            DANISH: {
                "NAME": "Strikk og Sokk Danmark",
                "CLIENT_ID": danish.client_id,
                "CLIENT_SECRET": danish.client_secret,
                "SUBSCRIPTION_KEY": danish.subscription_key,
            }
        },
    }
    return vipps


def test_each_units_orders_go_with_that_units_token_and_msn(two_units, danish, make_order):
    norwegian = [make_order(), make_order()]
    danish_orders = [make_order(currency="DKK"), make_order(currency="DKK")]
    drain_until_idle()

    for order in norwegian:
        assert two_units.receipt(order.vipps_reference, msn="123456") is not None
        assert two_units.receipt(order.vipps_reference, msn=DANISH) is None
    for order in danish_orders:
        receipt = two_units.receipt(order.vipps_reference, msn=DANISH)
        assert receipt["bottomLine"]["currency"] == "DKK"
        assert two_units.receipt(order.vipps_reference, msn="123456") is None
        assert VippsOrder.objects.for_order(order).get().merchant_serial_number == DANISH
    # One token per unit, each asked for with that unit's own keys.
    tokens = {
        (r.headers.get("Merchant-Serial-Number"), r.headers.get("client_id"))
        for r in two_units.requests_for("POST", "/accesstoken/get")
    }
    assert tokens == {("123456", two_units.merchant.client_id), (DANISH, danish.client_id)}
    # The product's picture was uploaded once per unit: Vipps keeps images per MSN.
    assert len(two_units.images(msn="123456")) == 1
    assert len(two_units.images(msn=DANISH)) == 1
    assert len(two_units.requests_for("POST", "/v1/images")) == 2
    # The call log says which unit each call was made for.
    logged = set(
        SyncAttempt.objects.filter(object_id=str(danish_orders[0].pk)).values_list(
            "merchant_serial_number", flat=True
        )
    )
    assert logged == {DANISH}


def test_an_order_of_a_unit_without_keys_waits_for_staff_naming_it(two_units, make_order):
    good = make_order()
    stranded = make_order(currency="EUR")
    drain_until_idle()
    assert two_units.receipt(good.vipps_reference) is not None
    for row in OutboxItem.objects.for_order(stranded):
        assert row.status == OutboxItem.Status.DEAD
        assert "merchant serial number 777777 has no API keys" in row.last_error
        assert "SALES_UNITS" in row.last_error
    assert not [r for r in two_units.requests if stranded.vipps_reference in r.path]


def test_a_units_keys_may_come_from_the_environment(
    vipps, danish, settings, monkeypatch, make_order
):
    prefix = "VIPPS_ORDER_MANAGEMENT_SALES_UNIT_654321_"
    monkeypatch.setenv(prefix + "CLIENT_ID", danish.client_id)
    monkeypatch.setenv(prefix + "CLIENT_SECRET", danish.client_secret)
    monkeypatch.setenv(prefix + "SUBSCRIPTION_KEY", danish.subscription_key)
    monkeypatch.setenv("VIPPS_ORDER_MANAGEMENT_SALES_UNITS", DANISH)
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"shop.Order": StorefrontAdapter},
    }
    order = make_order(currency="DKK")
    drain_until_idle()
    assert vipps.receipt(order.vipps_reference, msn=DANISH) is not None
    assert sorted(sales_units()) == ["123456", DANISH]


def test_vipps_om_check_names_the_unit_whose_keys_are_wrong(two_units, danish, settings):
    units = settings.VIPPS_ORDER_MANAGEMENT["SALES_UNITS"]
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SALES_UNITS": {DANISH: {**units[DANISH], "CLIENT_SECRET": "not-the-secret"}},
    }
    out = StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("vipps_om_check", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "for merchant serial number 123456" in text  # the other unit passes
    assert "Sales unit Strikk og Sokk Danmark (654321): Vipps refused the credentials" in text
    assert "not-the-secret" not in text
    assert danish.client_secret not in text


def test_vipps_om_check_passes_every_unit(two_units):
    out = StringIO()
    call_command("vipps_om_check", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "for merchant serial number 123456" in text
    assert "for merchant serial number Strikk og Sokk Danmark (654321)" in text


def test_the_single_unit_settings_are_the_configured_msns_keys(vipps):
    unit = sales_unit()
    assert unit.merchant_serial_number == "123456"
    assert unit.client_id == vipps.credentials["client_id"]
    assert not unit.partner
    with pytest.raises(SalesUnitMissing, match="654321"):
        sales_unit(DANISH)


def test_partner_keys_act_for_every_unit(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "PARTNER_KEYS": True,
        "SALES_UNITS": {DANISH: {"NAME": "Danmark"}},
    }
    unit = sales_unit(DANISH)
    assert unit.client_id == vipps.credentials["client_id"]
    assert unit.partner
    assert unit.label == "Danmark (654321)"
    assert sales_unit("999999").partner


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        ({"12": {}}, "'12', which is not a merchant serial number"),
        ({DANISH: "keys"}, "not a dict"),
        ({DANISH: {"CLIENT_ID": "x"}}, "is not set, although this unit's CLIENT_ID is"),
        ({DANISH: {"NAME": "x", "SECRET": "y"}}, "is not a key of a sales unit"),
        (
            {DANISH: {"CLIENT_ID": "x", "CLIENT_SECRET": "S3CRET ", "SUBSCRIPTION_KEY": "k"}},
            "space",
        ),
        (["654321"], "not a dict of merchant serial numbers"),
    ],
)
def test_a_malformed_sales_unit_is_refused_naming_it(settings, db, units, reason):
    from vipps_order_management.conf import app_settings
    from vipps_order_management.exceptions import VippsConfigurationError

    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "SALES_UNITS": units}
    with pytest.raises(VippsConfigurationError, match="SALES_UNITS") as refused:
        app_settings.SALES_UNITS  # noqa: B018
    assert reason in str(refused.value)
    assert "S3CRET" not in str(refused.value)  # no secret is quoted


def test_the_admin_filters_orders_by_sales_unit(two_units, make_order, admin_client):
    norwegian, danish_order = make_order(), make_order(currency="DKK")
    drain_until_idle()
    page = admin_client.get("/admin/vipps_order_management/vippsorder/", {"unit": DANISH})
    content = page.content.decode()
    assert page.status_code == 200
    assert "Strikk og Sokk Danmark (654321)" in content
    assert danish_order.vipps_reference in content
    assert norwegian.vipps_reference not in content
    calls = admin_client.get("/admin/vipps_order_management/syncattempt/", {"unit": DANISH})
    assert calls.status_code == 200


@pytest.mark.parametrize(
    "single",
    [
        {},  # every unit's keys in SALES_UNITS, no default unit
        {"MERCHANT_SERIAL_NUMBER": "123456"},  # the default unit's keys in SALES_UNITS too
    ],
)
def test_keys_that_live_with_the_sales_units_are_no_credential_problem(settings, single):
    from vipps_order_management.checks import check_settings

    keys = {"CLIENT_ID": "i", "CLIENT_SECRET": "s", "SUBSCRIPTION_KEY": "k"}
    base = {
        key: value
        for key, value in settings.VIPPS_ORDER_MANAGEMENT.items()
        if key not in ("CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY", "MERCHANT_SERIAL_NUMBER")
    }
    settings.VIPPS_ORDER_MANAGEMENT = {
        **base,
        **single,
        "SALES_UNITS": {"123456": dict(keys), DANISH: dict(keys)},
    }
    ids = {message.id.rpartition(".")[2] for message in check_settings()}
    assert not ids & {"W001", "E003"}, ids
