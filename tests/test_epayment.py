"""The receipt inside the ePayment payment: ``payment_fields``, ``payment_created``, the sales
unit's keys, and the documentation's create-payment call run as written against the fake."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from vipps_order_management import epayment, services
from vipps_order_management.exceptions import (
    PayloadValidationError,
    ReceiptValidationError,
    VippsConfigurationError,
)
from vipps_order_management.models import VippsOrder
from vipps_order_management.sales_units import sales_unit_credentials
from vipps_order_management.testing import drain_until_idle

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a docs page, dedented."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    return ["\n".join(line[3:] for line in block.splitlines()) for block in blocks]


def test_the_fields_are_the_validated_receipt_and_the_signed_receipt_page(vipps, make_order):
    order = make_order()
    fields = epayment.payment_fields(order)
    assert set(fields) == {"receipt", "receiptUrl"}
    assert fields["receipt"] == services.receipt_for_epayment(order)
    assert fields["receipt"]["bottomLine"]["receiptNumber"] == order.number
    assert fields["receiptUrl"].startswith("https://shop.example/vipps/orders/")
    assert fields["receiptUrl"].endswith("/receipt/")
    page = Client().get(fields["receiptUrl"].removeprefix("https://shop.example"))
    assert page.status_code == 200
    assert "Wool socks" in page.content.decode()
    assert epayment.payment_fields(order, receipt_url=False) == {"receipt": fields["receipt"]}


def test_the_amount_must_be_what_the_receipt_adds_up_to(vipps, make_order):
    order = make_order()  # 2 x 129.00 + 49.00 shipping
    epayment.payment_fields(order, amount={"currency": "NOK", "value": 30700})
    for amount, field in [
        ({"currency": "NOK", "value": 30600}, "amount.value"),
        ({"currency": "NOK", "value": "30700"}, "amount.value"),
        ({"currency": "DKK", "value": 30700}, "amount.currency"),
    ]:
        with pytest.raises(PayloadValidationError) as refused:
            epayment.payment_fields(order, amount=amount)
        assert refused.value.paths == [field]
    with pytest.raises(PayloadValidationError, match="lines add up to 30700"):
        epayment.payment_fields(order, amount={"currency": "NOK", "value": 30600})


def test_an_invalid_receipt_names_its_fields_under_receipt(vipps, make_order, product):
    order = make_order()
    product.name = ""
    product.save()
    with pytest.raises(ReceiptValidationError) as refused:
        epayment.payment_fields(order)
    assert refused.value.paths == ["receipt.orderLines[0].name"]
    assert VippsOrder.objects.filter(receipt_sent_via="epayment").count() == 0


def test_the_shops_own_exception_passes_through(vipps, make_order):
    order = make_order()
    order.items.update(discount=Decimal("500.00"))  # more than the line costs
    with pytest.raises(ValueError, match=r"discount: 500\.00 is larger"):
        epayment.payment_fields(order)


@pytest.mark.parametrize(
    ("site_url", "debug", "reason"),
    [
        # DEBUG lets the shop run on plain http; Vipps opens only https links
        ("http://shop.example", True, "http: scheme"),
        ("http://127.0.0.1:8000", True, "http: scheme"),
        ("https://shop.example/" + "x" * 2000, False, "characters long"),
    ],
)
def test_a_receipt_page_the_link_policy_refuses_is_refused(
    vipps, make_order, settings, site_url, debug, reason
):
    settings.DEBUG = debug
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "SITE_URL": site_url}
    order = make_order()
    with pytest.raises(PayloadValidationError, match=reason) as refused:
        epayment.payment_fields(order)
    assert refused.value.paths == ["receiptUrl"]
    assert "receipt" in epayment.payment_fields(order, receipt_url=False)


def test_a_development_host_may_be_plain_http(vipps, make_order, settings):
    settings.DEBUG = True
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SITE_URL": "http://127.0.0.1:8000",
        "DEVELOPMENT_LINK_HOSTS": ["127.0.0.1"],
    }
    url = epayment.payment_fields(make_order())["receiptUrl"]
    assert url.startswith("http://127.0.0.1:8000/vipps/orders/")


def test_once_created_the_receipt_is_never_posted_only_links_and_images(vipps, make_order):
    order = make_order()
    vipps.store_receipt(order.vipps_reference, epayment.payment_fields(order)["receipt"])
    state = epayment.payment_created(order)
    assert (state.receipt_state, state.receipt_sent_via) == (
        VippsOrder.ReceiptState.SENT,
        "epayment",
    )
    drain_until_idle()
    assert vipps.requests_for("POST", "/receipts/") == []
    assert vipps.category(order.vipps_reference)["category"] == "ORDER_CONFIRMATION"
    assert vipps.category(order.vipps_reference)["imageId"] in vipps.images()


@pytest.mark.postgres
@pytest.mark.parametrize("status", ["new", "paid"])
def test_a_receipt_created_with_the_payment_while_a_worker_sends_stays_sent(
    vipps, make_order, monkeypatch, status
):
    """The shop records the payment after a worker read the order's state and before it wrote
    back: the worker's "waiting" (an order not final yet) or "sent" must not undo it."""
    from vipps_order_management.engine import pipeline

    order = make_order(status=status)
    vipps.store_receipt(order.vipps_reference, epayment.payment_fields(order)["receipt"])
    real_write = pipeline.write_batch

    def created_meanwhile(works, lease):
        epayment.payment_created(order)
        return real_write(works, lease)

    monkeypatch.setattr(pipeline, "write_batch", created_meanwhile)
    drain_until_idle()
    state = VippsOrder.objects.get(object_id=str(order.pk))
    assert (state.receipt_state, state.receipt_sent_via, state.receipt_error) == (
        VippsOrder.ReceiptState.SENT,
        "epayment",
        "",
    )


def test_the_services_names_are_the_epayment_ones():
    assert services.payment_fields is epayment.payment_fields
    assert services.payment_created is epayment.payment_created
    assert services.mark_receipt_sent is epayment.mark_receipt_sent
    assert services.receipt_for_epayment is epayment.receipt_for_epayment


# --------------------------------------------------------------------------- sales units


def test_sales_unit_credentials_are_the_keys_the_app_uses_for_the_unit(vipps, settings):
    unit = sales_unit_credentials()
    assert unit.merchant_serial_number == vipps.merchant.msn
    assert (unit.client_id, unit.client_secret, unit.subscription_key) == (
        vipps.merchant.client_id,
        vipps.merchant.client_secret,
        vipps.merchant.subscription_key,
    )
    assert unit.base_url == vipps.url
    assert vipps.merchant.client_secret not in repr(unit)
    assert vipps.merchant.subscription_key not in repr(unit)
    with pytest.raises(VippsConfigurationError, match="654321 has no API keys"):
        sales_unit_credentials("654321")  # never another unit's keys
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SALES_UNITS": {
            "654321": {"CLIENT_ID": "dk", "CLIENT_SECRET": "s", "SUBSCRIPTION_KEY": "k"}
        },
    }
    danish = sales_unit_credentials("654321")
    assert (danish.client_id, danish.client_secret, danish.subscription_key) == ("dk", "s", "k")


def test_missing_keys_name_the_settings_not_their_values(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "CLIENT_SECRET": None,
        "SUBSCRIPTION_KEY": None,
    }
    with pytest.raises(VippsConfigurationError) as refused:
        sales_unit_credentials()
    message = str(refused.value)
    assert "['CLIENT_SECRET']" in message
    assert "['SUBSCRIPTION_KEY']" in message
    assert vipps.merchant.client_id not in message


# --------------------------------------------------------------------------- the docs, as written


def test_the_documented_create_payment_call_runs_against_the_fake(vipps, make_order):
    create, test = python_blocks("epayment.rst")
    namespace: dict = {}
    exec(compile(create, "docs/epayment.rst", "exec"), namespace)  # noqa: S102 - our own docs
    order = make_order()
    redirect = namespace["create_vipps_payment"](
        order, Decimal("307.00"), "https://shop.example/vipps/return/1001"
    )
    assert redirect == vipps.payment(order.vipps_reference)["redirectUrl"]
    created = vipps.requests_for("POST", "/epayment/v1/payments")
    assert [record.status for record in created] == [201]
    assert created[0].headers["Idempotency-Key"] == order.vipps_reference
    assert created[0].headers["Vipps-System-Plugin-Name"] == "my-shop"
    body = created[0].json
    assert body["receipt"] == vipps.receipt(order.vipps_reference)
    assert body["receiptUrl"].startswith("https://shop.example/vipps/orders/")
    assert state_of(order).receipt_sent_via == "epayment"

    # The page's test, as written, with the shop's own paid order.
    exec(compile(test, "docs/epayment.rst", "exec"), namespace)  # noqa: S102
    vipps.reset()
    namespace["test_the_receipt_comes_with_the_payment"](vipps, make_order())


def test_the_documented_call_refuses_a_total_the_receipt_does_not_add_up_to(vipps, make_order):
    namespace: dict = {}
    exec(compile(python_blocks("epayment.rst")[0], "docs", "exec"), namespace)  # noqa: S102
    order = make_order()
    with pytest.raises(PayloadValidationError, match=r"amount\.value"):
        namespace["create_vipps_payment"](order, Decimal("300.00"), "https://shop.example/r")
    assert vipps.requests_for("POST", "/epayment/") == []
    assert not VippsOrder.objects.filter(receipt_sent_via="epayment").exists()


def state_of(order) -> VippsOrder:
    return VippsOrder.objects.get(object_id=str(order.pk))
