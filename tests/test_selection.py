"""Naming orders as the shop knows them: by key, by the shop's number, by the Vipps reference."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.shop.models import Booking, Purchase
from vipps_order_management.engine.selection import SelectionError, find_order, select_orders
from vipps_order_management.models import OutboxItem, VippsOrder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def shop(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "AUTO_SYNC": False,
        "ORDER_ADAPTERS": {
            **settings.VIPPS_ORDER_MANAGEMENT["ORDER_ADAPTERS"],
            "shop.Purchase": "tests.shop.vipps.PurchaseAdapter",
        },
    }
    return vipps


def test_an_order_is_found_by_key_number_or_reference(shop, make_order):
    from tests.shop.models import Order

    first, second = make_order(), make_order()
    assert find_order(f"shop.Order:{first.pk}") == (Order, first.pk)
    assert find_order(f"shop.Order:{second.number}") == (Order, second.pk)  # the shop's number
    assert find_order(second.number) == (Order, second.pk)  # without the model
    assert find_order(f"shop.Order:{first.vipps_reference}") == (Order, first.pk)
    assert find_order(first.vipps_reference) == (Order, first.pk)


def test_a_uuid_keyed_order_is_found_by_its_number_and_reference(shop):
    purchase = Purchase.objects.create(
        number="P-77", payment_reference="purchase-77", title="x", price=Decimal(10)
    )
    assert find_order("P-77") == (Purchase, purchase.pk)
    assert find_order(f"shop.Purchase:{purchase.pk}") == (Purchase, purchase.pk)
    assert find_order("purchase-77") == (Purchase, purchase.pk)


def test_a_reference_recorded_by_the_app_finds_an_order_whose_adapter_has_no_field(shop):
    booking = Booking.objects.create(title="Spa", price=Decimal(990), charge_id="chr-123")
    VippsOrder.objects.create(order=booking, reference="chr-123", payment_type="RECURRING")
    assert find_order("chr-123") == (Booking, booking.pk)


def test_a_value_that_names_several_orders_is_refused_listing_them(shop, make_order):
    order = make_order()
    Purchase.objects.create(number=order.number, title="x", price=Decimal(10))
    with pytest.raises(SelectionError, match="names several orders") as refused:
        find_order(order.number)
    assert f"shop.Order:{order.pk}" in str(refused.value)
    assert "shop.Purchase:" in str(refused.value)
    assert find_order(f"shop.Order:{order.number}")[1] == order.pk  # the model settles it


def test_vipps_om_sync_takes_the_shops_number(shop, make_order):
    order = make_order()
    out, _err = run("vipps_om_sync", "--order", order.number, "--now")
    assert f"shop.Order:{order.pk} (Order {order.number})" in out
    assert shop.receipt(order.vipps_reference) is not None


def test_vipps_om_requeue_takes_the_reference(shop, make_order):
    order = make_order()
    OutboxItem.objects.create(
        order=order,
        kind="receipt",
        status="dead",
        next_attempt_at="2026-01-01T00:00Z",
        pending_since="2026-01-01T00:00Z",
    )
    out, _err = run("vipps_om_requeue", "--order", order.vipps_reference)
    assert "Requeued 1 outbox row" in out


def test_selection_errors_say_what_to_write(shop):
    for kwargs, expected in (
        ({}, "Say which orders"),
        ({"every_model": True, "orders": ["1"]}, "leave out --order"),
        ({"model_labels": ["shop.Nope"]}, "no installed model"),
        ({"model_labels": ["auth.User"]}, "has no Vipps adapter"),
    ):
        with pytest.raises(SelectionError, match=expected):
            select_orders(**kwargs)


def test_reupload_images_forgets_them_and_queues_the_links(shop, make_order):
    from vipps_order_management.models import UploadedImage
    from vipps_order_management.testing import drain_until_idle

    orders = [make_order(), make_order()]
    run("vipps_om_sync", "--all", "--now")
    assert UploadedImage.objects.exclude(image_id="").count() == 1
    shop.reset()  # Vipps lost the picture; the app still believes it is there

    out, _err = run("vipps_om_sync", "--all", "--reupload-images")
    assert "Forgot 1 uploaded images; queued the links of 2 orders" in out
    drain_until_idle()
    assert len(shop.images()) == 1
    for order in orders:
        assert shop.category(order.vipps_reference)["imageId"] in shop.images()


def test_verify_says_what_it_cannot_check(shop, make_order):
    make_order()
    run("vipps_om_sync", "--all", "--now")
    out, _err = run("vipps_om_sync", "--all", "--verify")
    assert "Images cannot be checked: Vipps does not give them back" in out
    assert "--reupload-images" in out


def test_reupload_is_no_dry_run(shop):
    with pytest.raises(CommandError, match="--reupload-images queues links"):
        run("vipps_om_sync", "--all", "--reupload-images", "--dry-run")
