"""The vipps_om_* management commands, run through call_command (and one real process)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.shop.models import Booking
from vipps_order_management import services
from vipps_order_management.adapters import OrderAdapter
from vipps_order_management.engine import outbox
from vipps_order_management.management.commands.vipps_om_check import mask
from vipps_order_management.management.progress import PROGRESS_THRESHOLD, wants_progress
from vipps_order_management.models import OrderLink, OutboxItem
from vipps_order_management.payloads import OrderLine

from .conftest import REPOSITORY, TASKS_PACKAGE, tasks_framework

pytestmark = pytest.mark.django_db

OSLO = ZoneInfo("Europe/Oslo")


class UserAdapter(OrderAdapter):
    """Treats users as orders: a model with a date field (date_joined) for the date filters."""

    def get_reference(self, user):
        return f"user-{user.pk}"

    def get_order_lines(self, user):
        return [
            OrderLine.from_gross(
                name="Membership", id="m", unit_price=Decimal(100), quantity=1, vat_rate=25
            )
        ]


class LinkAdapter(UserAdapter):
    """OrderLink as an "order" model: it has a created_at field, found without --date-field."""


@pytest.fixture
def shop(vipps, settings):
    """The fake Vipps, with automatic syncing off so that only the commands queue anything."""
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "AUTO_SYNC": False}
    return vipps


def run(*args, **kwargs):
    """``call_command`` with stdout and stderr captured; returns (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def queued(model=None):
    """{(object_id, kind)} of the pending outbox rows (of one model)."""
    rows = OutboxItem.objects.filter(status=OutboxItem.Status.PENDING)
    if model is not None:
        rows = rows.filter(content_type=ContentType.objects.get_for_model(model))
    return set(rows.values_list("object_id", "kind"))


def both(*orders):
    return {(str(order.pk), kind) for order in orders for kind in ("links", "receipt")}


# ---------------------------------------------------------------------- vipps_om_sync: select


def test_sync_one_order_queues_it_and_sends_nothing(shop, make_order):
    wanted, other = make_order(), make_order()
    out, _ = run("vipps_om_sync", "--order", f"shop.Order:{wanted.pk}")
    assert queued() == both(wanted)
    assert other.pk not in {int(object_id) for object_id, _ in queued()}
    assert shop.requests == []
    assert "Queued 1 order for sending (links, receipt)." in out
    assert "vipps_om_worker" in out


def test_sync_several_orders_and_a_uuid_key(shop, make_order):
    first, second = make_order(), make_order()
    booking = Booking.objects.create(title="Cabin", price=Decimal(900), charge_id="chr-1")
    run(
        "vipps_om_sync",
        "--order",
        f"shop.Order:{first.pk}",
        "--order",
        f"shop.Order:{second.pk}",
        "--order",
        f"shop.Booking:{booking.pk}",
    )
    assert queued(first) == both(first, second)
    assert queued(Booking) == both(booking)


def test_sync_a_whole_model(shop, make_order):
    orders = [make_order() for _ in range(3)]
    Booking.objects.create(title="Cabin", price=Decimal(900))
    out, _ = run("vipps_om_sync", "--model", "shop.Order")
    assert queued() == both(*orders)
    assert "Queued 3 orders" in out


def test_sync_all_orders_of_every_model(shop, make_order):
    order = make_order()
    booking = Booking.objects.create(title="Cabin", price=Decimal(900))
    run("vipps_om_sync", "--all")
    assert queued(order) == both(order)
    assert queued(Booking) == both(booking)


def test_sync_only_some_kinds_and_force(shop, make_order):
    order = make_order()
    run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--kinds", "receipt", "--force")
    row = OutboxItem.objects.get()
    assert (row.kind, row.force) == ("receipt", True)


def test_sync_reads_big_selections_in_chunks(shop, make_order):
    orders = [make_order() for _ in range(5)]
    out, _ = run("vipps_om_sync", "--model", "shop.Order", "--chunk-size", "2")
    assert queued() == both(*orders)
    assert "Queued 5 orders" in out


@pytest.fixture
def members(shop, settings):
    """Users as a second order model, joined around the first quarter of 2024 (Oslo time)."""
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {
            **settings.VIPPS_ORDER_MANAGEMENT["ORDER_ADAPTERS"],
            "auth.User": "tests.test_commands.UserAdapter",
            "vipps_order_management.OrderLink": "tests.test_commands.LinkAdapter",
        },
    }
    joined = {
        "before": datetime(2023, 12, 31, 23, 59, tzinfo=OSLO),
        "first-day": datetime(2024, 1, 1, 0, 0, tzinfo=OSLO),
        "last-evening": datetime(2024, 3, 31, 23, 30, tzinfo=OSLO),
        "after": datetime(2024, 4, 1, 0, 30, tzinfo=OSLO),
    }
    User = get_user_model()
    return {
        name: User.objects.create(username=name, date_joined=when) for name, when in joined.items()
    }


def member_names(members):
    ids = {object_id for object_id, _ in queued(get_user_model())}
    return {name for name, user in members.items() if str(user.pk) in ids}


def test_sync_by_date_range_includes_the_whole_last_day(members):
    run(
        "vipps_om_sync",
        "--model",
        "auth.User",
        "--since",
        "2024-01-01",
        "--until",
        "2024-03-31",
        "--date-field",
        "date_joined",
    )
    assert member_names(members) == {"first-day", "last-evening"}


class JoinedAdapter(UserAdapter):
    order_date_field = "date_joined"


class ComputedDateAdapter(UserAdapter):
    def get_order_date(self, user):
        return user.date_joined  # computed by the shop's code: no field to filter on


@pytest.mark.parametrize("adapter", ["JoinedAdapter", "ComputedDateAdapter"])
def test_sync_by_date_honours_the_adapters_own_order_date(members, settings, adapter):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"auth.User": f"tests.test_commands.{adapter}"},
    }
    run("vipps_om_sync", "--model", "auth.User", "--since", "2024-01-01", "--until", "2024-03-31")
    assert member_names(members) == {"first-day", "last-evening"}


class UnreliableDateAdapter(UserAdapter):
    """A shop's computed date that is sometimes not a date at all."""

    def get_order_date(self, user):
        if user.username == "first-day":
            raise LookupError("no date for this member")
        if user.username == "last-evening":
            return "31 March"
        if user.username == "after":
            return datetime(2024, 2, 1, 12, 0)  # naive: read in the current time zone
        return user.date_joined


def test_an_order_whose_own_date_cannot_be_had_is_left_out_and_named(members, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "ORDER_ADAPTERS": {"auth.User": "tests.test_commands.UnreliableDateAdapter"},
    }
    out, err = run(
        "vipps_om_sync", "--model", "auth.User", "--since", "2024-01-01", "--until", "2024-03-31"
    )
    assert member_names(members) == {"after"}  # the naive date, within the range
    assert "Queued 1 order" in out
    assert "Left out 2 orders" in err
    assert "first-day: UnreliableDateAdapter.get_order_date: LookupError: no date" in err
    assert "last-evening: UnreliableDateAdapter.get_order_date: TypeError: returned str" in err


def test_sync_by_date_time_range(members):
    run(
        "vipps_om_sync",
        "--model",
        "auth.User",
        "--since",
        "2024-03-31T23:00:00+02:00",
        "--date-field",
        "date_joined",
    )
    assert member_names(members) == {"last-evening", "after"}


def test_sync_by_date_uses_the_models_created_at_field_by_default(members, make_order):
    order = make_order()
    content_type = ContentType.objects.get_for_model(order)
    old, new = (
        OrderLink.objects.create(
            content_type=content_type,
            object_id=str(order.pk),
            category="RECEIPT",
            url=f"https://shop.example/{name}",
        )
        for name in ("old", "new")
    )
    OrderLink.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    run("vipps_om_sync", "--model", "vipps_order_management.OrderLink", "--since", since)
    assert queued(OrderLink) == both(new)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Say which orders"),
        (("--model", "shop.Nope"), "--model shop.Nope: no installed model has that name"),
        (("--model", "Order"), "no installed model has that name"),
        (("--model", "shop.Product"), "shop.Product: the model has no Vipps adapter"),
        (("--order", "shop.Order"), "write it as app_label.Model:KEY"),
        (("--order", "shop.Order:"), "write it as app_label.Model:KEY"),
        (("--order", "shop.Order:abc"), "no order of shop.Order has that key, number or Vipps"),
        (("--order", "shop.Booking:not-a-uuid"), "no order of shop.Booking has that key"),
        (("--order", "shop.Order:999999"), "shop.Order:999999: no order of shop.Order"),
        (("--order", "no-such-order"), "no order of any order model has that key"),
        (("--order", "shop.Product:1"), "the model has no Vipps adapter"),
        (("--all", "--model", "shop.Order"), "--all selects every order"),
        (("--all", "--kinds", "links,bogus"), "--kinds 'links,bogus'"),
        (("--all", "--since", "2024-13-01"), "--since '2024-13-01': not a date"),
        (("--all", "--until", "yesterday"), "--until 'yesterday': not a date"),
        (("--model", "shop.Order", "--since", "2024-01-01"), "--date-field"),
        (
            ("--model", "shop.Order", "--since", "2024-01-01", "--date-field", "number"),
            "shop.Order.number is not a date or date-time field",
        ),
        (
            ("--model", "shop.Order", "--until", "2024-01-01", "--date-field", "nope"),
            "shop.Order has no such field",
        ),
        (("--all", "--since", "2024-02-01", "--until", "2024-01-01"), "--since is after --until"),
        (("--all", "--now", "--dry-run"), "not allowed with argument"),
        (("--all", "--chunk-size", "0"), "--chunk-size must be at least 1"),
    ],
)
def test_sync_refuses_bad_arguments_clearly(shop, make_order, args, message):
    make_order()
    with pytest.raises(CommandError) as refused:
        run("vipps_om_sync", *args)
    assert message in str(refused.value)
    assert queued() == set()
    assert shop.requests == []


# ---------------------------------------------------------------------- vipps_om_sync: now


def test_sync_now_with_kinds_sends_only_those(shop, make_order):
    order = make_order()
    run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--now", "--kinds", "links")
    assert shop.category(order.vipps_reference) is not None
    assert shop.receipt(order.vipps_reference) is None


def test_sync_now_sends_in_process_and_reports_each_order(shop, make_order):
    first, second = make_order(), make_order()
    out, _ = run("vipps_om_sync", "--order", f"shop.Order:{first.pk}", "--now")
    assert shop.receipt(first.vipps_reference) is not None
    assert shop.receipt(second.vipps_reference) is None
    assert f"shop.Order:{first.pk} (Order {first.number}): links: done" in out
    assert "receipt: done - Sent the receipt." in out
    assert "Sent 1 order: 1 in sync, 0 not." in out
    assert OutboxItem.objects.filter(status=OutboxItem.Status.DONE).count() == 2


def test_sync_now_fails_when_an_order_cannot_be_sent_but_sends_the_others(shop, make_order):
    good, bad = make_order(), make_order()
    bad.items.update(discount=Decimal(10_000))  # more than the line: no valid receipt
    with pytest.raises(CommandError) as failed:
        run("vipps_om_sync", "--model", "shop.Order", "--now")
    assert "1 order could not be sent" in str(failed.value)
    assert shop.receipt(good.vipps_reference) is not None
    assert shop.receipt(bad.vipps_reference) is None


def test_sync_now_without_credentials_says_what_to_run(shop, make_order, settings):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "CLIENT_SECRET": "",
    }
    with pytest.raises(CommandError, match="vipps_om_check"):
        run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--now")


# ---------------------------------------------------------------------- vipps_om_sync: verify


def test_verify_repairs_a_fake_replaced_mid_run_and_a_second_run_sends_nothing(shop, make_order):
    orders = [make_order() for _ in range(6)]
    run("vipps_om_sync", "--model", "shop.Order", "--now")
    shop.reset()  # a new, empty Vipps: everything sent so far is gone, images too...
    changed = orders[3]  # ...but for one order, sent again after the switch. --force resends
    # the order, not the images the app remembers uploading: forget them first (what the
    # admin's "re-upload image" does), or the new Vipps refuses the link naming one (404).
    services.forget_images(changed)
    run("vipps_om_sync", "--order", f"shop.Order:{changed.pk}", "--now", "--force")
    shop.clear_requests()

    out, _ = run("vipps_om_sync", "--all", "--verify", "--now")

    for order in orders:
        posted = shop.requests_for("POST", f"/receipts/{order.vipps_reference}")
        category = shop.category(order.vipps_reference)
        if order is changed:
            assert posted == []  # already at the new Vipps: left alone
        else:
            assert [r.status for r in posted] == [201]  # exactly once
            assert f"shop.Order:{order.pk} (Order {order.number}): resent:" in out
        assert category["orderDetailsUrl"] == f"https://shop.example/orders/{order.number}"
    assert "Checked 6 orders against Vipps: 1 in sync, 5 sent again, 0 differ" in out

    shop.clear_requests()
    out, _ = run("vipps_om_sync", "--all", "--verify", "--now", verbosity=2)

    assert "Checked 6 orders against Vipps: 6 in sync, 0 sent again" in out
    assert f"shop.Order:{changed.pk} (Order {changed.number}): in sync" in out
    assert shop.requests_for("PUT") == []
    assert [r.path for r in shop.requests if r.method == "POST"] in ([], ["/accesstoken/get"])


def test_verify_without_now_queues_the_repairs_for_the_worker(shop, make_order):
    order = make_order()
    run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--now")
    shop.reset()

    out, _ = run("vipps_om_sync", "--all", "--verify")

    assert "1 queued to be sent again" in out
    assert queued() == both(order)
    assert shop.receipt(order.vipps_reference) is None  # the worker sends it, not the command


def test_verify_reports_a_receipt_that_differs_and_refuses_dry_run(shop, make_order):
    order = make_order()
    run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--now")
    order.items.update(quantity=5)  # changed after the receipt was sent: proof cannot change

    out, _ = run("vipps_om_sync", "--model", "shop.Order", "--verify", "--now")

    assert "differs from Vipps" in out
    assert "orderLines[0]" in out
    assert "1 differ from Vipps" in out
    assert len(shop.requests_for("POST", "/receipts/")) == 1
    with pytest.raises(CommandError, match="cannot be a --dry-run"):
        run("vipps_om_sync", "--all", "--verify", "--dry-run")


# ---------------------------------------------------------------------- vipps_om_sync: dry run


def test_dry_run_prints_the_payloads_and_sends_and_queues_nothing(shop, make_order):
    order = make_order(quantity=2, unit_price=Decimal("129.00"), shipping="49.00")
    out, err = run("vipps_om_sync", "--order", f"shop.Order:{order.pk}", "--dry-run")
    [preview] = json.loads(out)
    assert preview["order"] == f"shop.Order:{order.pk}"
    assert preview["orderId"] == order.vipps_reference
    assert preview["paymentType"] == "ECOM"
    assert preview["categories"] == [
        {
            "category": "ORDER_CONFIRMATION",
            "orderDetailsUrl": f"https://shop.example/orders/{order.number}",
            "images": ["products/socks.png"],  # the picture this link would carry
        }
    ]
    assert preview["images"] == ["products/socks.png"]
    lines = preview["receipt"]["orderLines"]
    assert [line["totalAmount"] for line in lines] == [25800, 4900]
    assert preview["receipt"]["bottomLine"]["receiptNumber"] == order.number
    assert "receiptErrors" not in preview
    assert "nothing was sent or queued" in err
    assert OutboxItem.objects.count() == 0
    assert shop.requests == []


def test_dry_run_prints_the_errors_of_an_invalid_receipt(shop, make_order):
    make_order()
    bad = make_order()
    bad.items.update(discount=Decimal(10_000))
    out, err = run("vipps_om_sync", "--model", "shop.Order", "--dry-run", "--kinds", "receipt")
    previews = {item["order"]: item for item in json.loads(out)}
    assert len(previews) == 2
    broken = previews[f"shop.Order:{bad.pk}"]
    assert broken["receipt"] is None
    # The shop's own code refused: its method, the exception and the field are named.
    assert broken["receiptErrors"][0]["path"] == "ShopOrderAdapter.get_order_lines"
    assert "ValueError: discount" in broken["receiptErrors"][0]["message"]
    assert "categories" not in broken  # --kinds receipt
    assert "2 orders, 1 with problems" in err
    assert shop.requests == []


def test_dry_run_of_v3_links_and_an_order_without_a_payment(shop, make_order, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CATEGORY_API": "v3"}
    order = make_order(tracking_url="https://track.example/1")
    unpaid = make_order(reference=False)
    out, _ = run("vipps_om_sync", "--model", "shop.Order", "--dry-run", "--kinds", "links")
    previews = {item["order"]: item for item in json.loads(out)}
    paid = previews[f"shop.Order:{order.pk}"]
    assert [c["type"] for c in paid["categories"]] == ["ORDER_CONFIRMATION", "DELIVERY"]
    assert {c["orderId"] for c in paid["categories"]} == {order.vipps_reference}
    assert "nothing would be sent" in previews[f"shop.Order:{unpaid.pk}"]["note"]


def test_dry_run_of_nothing_is_an_empty_json_list(shop):
    out, _ = run("vipps_om_sync", "--model", "shop.Order", "--dry-run")
    assert json.loads(out) == []


# ---------------------------------------------------------------------- progress


def test_progress_bar_on_stderr_when_asked(shop, make_order):
    for _ in range(3):
        make_order()
    out, err = run("vipps_om_sync", "--model", "shop.Order", "--progress")
    assert "\r" in err
    assert "Orders: 100%" in err
    assert "3/3" in err
    assert err.count("\n") == 1  # the finished bar stays, on a line of its own
    assert "\r" not in out  # nothing of the bar on stdout, whose lines stay parseable
    _, err = run("vipps_om_sync", "--model", "shop.Order", "--no-progress")
    assert "\r" not in err
    out, err = run("vipps_om_sync", "--model", "shop.Order", "--dry-run", "--progress")
    assert len(json.loads(out)) == 3  # the bar never reaches the JSON on stdout
    assert "3/3" in err


def test_no_progress_bar_by_default_when_stderr_is_not_a_terminal(shop, make_order):
    make_order()
    _, err = run("vipps_om_sync", "--model", "shop.Order")
    assert "\r" not in err


class Terminal(StringIO):
    def isatty(self):
        return True


def test_progress_shows_by_itself_only_on_a_terminal_for_long_runs():
    assert wants_progress(Terminal(), None, 500)
    assert wants_progress(Terminal(), None, PROGRESS_THRESHOLD)
    assert not wants_progress(Terminal(), None, PROGRESS_THRESHOLD - 1)
    assert not wants_progress(StringIO(), None, 500)
    assert wants_progress(StringIO(), True, 0)
    assert not wants_progress(Terminal(), False, 500)


def test_a_long_run_on_a_terminal_shows_the_bar_by_itself(shop, make_order, monkeypatch):
    from vipps_order_management.management import progress

    monkeypatch.setattr(progress, "PROGRESS_THRESHOLD", 2)
    for _ in range(2):
        make_order()
    terminal = Terminal()
    call_command("vipps_om_sync", "--model", "shop.Order", stdout=StringIO(), stderr=terminal)
    assert "2/2" in terminal.getvalue()


def test_the_bar_is_cleared_before_each_line_of_the_command(shop, make_order):
    """On a terminal stdout and stderr are one screen: no line may start after a bar."""
    orders = [make_order() for _ in range(3)]
    screen = StringIO()
    call_command(
        "vipps_om_sync",
        "--model",
        "shop.Order",
        "--now",
        "--progress",
        stdout=screen,
        stderr=screen,
    )
    text = screen.getvalue()
    for order in orders:
        start = text.index(f"shop.Order:{order.pk} (")
        # Right after the bar was erased: "\r", spaces over the old bar, "\r".
        assert text[start - 1] == "\r", repr(text[max(0, start - 80) : start + 20])
        assert text[: start - 1].rstrip(" ").endswith("\r") or start == 1
    assert text.rstrip("\n").splitlines()[-1].startswith("Sent 3 orders: 3 in sync")
    assert "Orders: 100%" in text


def test_the_bars_label_is_translated(shop, make_order):
    from django.utils import translation

    make_order()
    with translation.override("nb"):
        _, err = run("vipps_om_sync", "--model", "shop.Order", "--progress")
    assert "Ordrer: 100%" in err
    assert " ordre/s" in err


# ---------------------------------------------------------------------- vipps_om_requeue


@pytest.fixture
def rows(shop, make_order):
    """Outbox rows of two orders and a booking: dead, done, retrying and plain pending."""
    first, second = make_order(), make_order()
    booking = Booking.objects.create(title="Cabin", price=Decimal(900))
    for order in (first, second, booking):
        content_type = ContentType.objects.get_for_model(order)
        outbox.record([(content_type.pk, str(order.pk))], ["links", "receipt"])
    now = timezone.now()

    def of(order, kind):
        return OutboxItem.objects.filter(
            content_type=ContentType.objects.get_for_model(order),
            object_id=str(order.pk),
            kind=kind,
        )

    of(first, "links").update(status="dead", last_error="400", dead_at=now, updated_at=now)
    of(first, "receipt").update(status="dead", last_error="400", updated_at=now - timedelta(10))
    of(second, "links").update(status="done", done_at=now)
    of(second, "receipt").update(
        last_error="503", next_attempt_at=now + timedelta(hours=1), attempts=3
    )
    of(booking, "receipt").update(status="dead", last_error="403", dead_at=now, updated_at=now)
    return {"first": first, "second": second, "booking": booking, "of": of}


def status_of(rows, name, kind):
    return rows["of"](rows[name], kind).get()


def test_requeue_makes_the_dead_rows_pending_again(rows):
    out, _ = run("vipps_om_requeue")
    assert "Requeued 3 outbox rows (3 failed)." in out
    assert OutboxItem.objects.filter(status="dead").count() == 0
    row = status_of(rows, "first", "links")
    assert (row.status, row.attempts) == ("pending", 0)
    assert status_of(rows, "second", "links").status == "done"
    assert status_of(rows, "second", "receipt").next_attempt_at > timezone.now()


def test_requeue_dry_run_changes_nothing(rows):
    out, _ = run("vipps_om_requeue", "--dry-run")
    assert "Would requeue 3 outbox rows (3 failed)" in out
    assert OutboxItem.objects.filter(status="dead").count() == 3


@pytest.mark.parametrize(
    ("args", "count", "still_dead"),
    [
        (("--kind", "receipt"), 2, 1),
        (("--model", "shop.Booking"), 1, 2),
        (("--model", "shop.Order"), 2, 1),
        (("--order", "shop.Order:{first}"), 2, 1),
        (("--order", "shop.Order:{second}"), 0, 3),
        (("--since", "{yesterday}"), 2, 1),
        (("--until", "{yesterday}"), 1, 2),
        (("--kind", "links", "--model", "shop.Order"), 1, 2),
    ],
)
def test_requeue_filters(rows, args, count, still_dead):
    values = {
        "first": rows["first"].pk,
        "second": rows["second"].pk,
        "yesterday": (timezone.now() - timedelta(days=1)).isoformat(),
    }
    out, _ = run("vipps_om_requeue", *(arg.format(**values) for arg in args))
    assert (
        (f"Requeued {count} outbox row" if count == 1 else f"Requeued {count} outbox rows")
        if count
        else "Nothing to requeue."
    ) in out
    assert OutboxItem.objects.filter(status="dead").count() == still_dead


def test_requeue_all_failed_also_retries_now_what_is_waiting_on_a_backoff(rows):
    out, _ = run("vipps_om_requeue", "--all-failed")
    assert "Requeued 4 outbox rows (3 failed, 1 waiting to retry)." in out
    assert status_of(rows, "second", "receipt").next_attempt_at <= timezone.now()
    assert status_of(rows, "second", "links").status == "done"


def test_requeue_include_done_takes_every_non_pending_row(rows):
    out, _ = run("vipps_om_requeue", "--include-done")
    assert "Requeued 4 outbox rows (3 failed, 1 sent)." in out
    assert not OutboxItem.objects.exclude(status="pending").exists()


def test_requeue_wakes_a_task_runner(rows, settings, django_capture_on_commit_callbacks):
    default_task_backend = tasks_framework.default_task_backend

    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "DISPATCH": "django_tasks",
    }
    default_task_backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("vipps_om_requeue")
    assert "Requeued 3" in out
    assert [result.task.name for result in default_task_backend.results] == ["drain_outbox"]
    assert "vipps_om_worker" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "shop.Nope"), "no installed model has that name"),
        (("--model", "shop.Product"), "has no Vipps adapter"),
        (("--order", "shop.Order:x"), "no order of shop.Order has that key, number or Vipps"),
        (("--since", "last week"), "not a date"),
        (("--kind", "images"), "invalid choice"),
    ],
)
def test_requeue_refuses_bad_arguments(rows, args, message):
    with pytest.raises(CommandError, match=message):
        run("vipps_om_requeue", *args)
    assert OutboxItem.objects.filter(status="dead").count() == 3


# ---------------------------------------------------------------------- vipps_om_check


def secrets_of(vipps):
    return [vipps.credentials["client_secret"], vipps.credentials["subscription_key"]]


def check(*args):
    """Run vipps_om_check; returns (output, CommandError or None)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("vipps_om_check", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue() + err.getvalue(), exc
    return out.getvalue() + err.getvalue(), None


def test_check_with_good_settings_fetches_a_token(vipps):
    output, failed = check()
    assert failed is None, output
    assert f"OK: {vipps.url} issued an access token for merchant serial number" in output
    assert [r.status for r in vipps.requests_for("POST", "/accesstoken/get")] == [200]
    assert "System checks" in output
    assert "BASE_URL" in output
    for secret in secrets_of(vipps):
        assert secret not in output
    assert "CLIENT_SECRET               ****" in output
    assert "All good." in output


def test_check_masks_secrets_to_their_last_four_characters(vipps, settings):
    secret = "a-long-client-secret-WXYZ"
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CLIENT_SECRET": secret}
    output, failed = check("--skip-token")
    assert failed is None
    assert "****WXYZ" in output
    assert secret not in output
    assert secret[:-4] not in output


def test_check_with_a_wrong_client_secret_says_so(vipps, settings):
    wrong = "wrong-secret-that-must-not-be-printed"
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CLIENT_SECRET": wrong}
    output, failed = check()
    assert failed is not None
    assert "1 problem;" in str(failed)
    assert "Vipps refused the credentials (HTTP 401)" in output
    assert "Check CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION_KEY and MERCHANT_SERIAL_NUMBER" in output
    assert wrong not in output
    assert vipps.credentials["subscription_key"] not in output


def test_check_with_a_wrong_subscription_key_says_so(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SUBSCRIPTION_KEY": "not-the-subscription-key",
    }
    output, failed = check()
    assert failed is not None
    assert "SUBSCRIPTION_KEY is wrong" in output
    assert "not-the-subscription-key" not in output


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_check_with_an_unreachable_base_url_says_so(vipps, settings):
    url = f"http://127.0.0.1:{free_port()}"
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BASE_URL": url}
    output, failed = check()
    assert failed is not None
    assert f"{url} cannot be reached ([Errno 111] Connection refused)" in output
    assert "Check BASE_URL for typos" in output
    for secret in secrets_of(vipps):
        assert secret not in output


def test_check_with_a_timeout_says_so(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "TIMEOUT": 0.2}
    vipps.faults.delay(1.0, path="/accesstoken")
    output, failed = check()
    assert failed is not None
    assert f"{vipps.url} did not answer within TIMEOUT (0.2 seconds)" in output
    assert "raise VIPPS_ORDER_MANAGEMENT['TIMEOUT']" in output


def test_check_without_credentials_reports_the_check_and_does_not_call(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "SUBSCRIPTION_KEY": None,
    }
    output, failed = check()
    assert failed is not None
    assert "2 problems" in str(failed)  # the E003 check and the token it could not fetch
    assert "Error vipps_order_management.E003: VIPPS_ORDER_MANAGEMENT['SUBSCRIPTION_KEY']" in output
    assert "Hint: Set it in settings or in the environment variable" in output
    assert "Not attempted: SUBSCRIPTION_KEY not set." in output
    assert vipps.requests == []


def test_check_skip_token_makes_no_call_but_still_fails_on_errors(vipps, settings):
    output, failed = check("--skip-token")
    assert failed is None
    assert "Skipped (--skip-token)." in output
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "BATCH_SIZE": 0}
    output, failed = check("--skip-token")
    assert failed is not None
    assert "vipps_order_management.E019" in output
    assert vipps.requests == []


def test_check_fail_level_warning_fails_on_warnings(vipps):
    # DEBUG is False in the tests, so the fake as BASE_URL is warning W002.
    output, failed = check("--skip-token")
    assert failed is None
    assert "Warning vipps_order_management.W002" in output
    output, failed = check("--skip-token", "--fail-level", "WARNING")
    assert failed is not None


def test_check_with_a_token_cache_that_does_not_exist(vipps, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "TOKEN_CACHE": "nope"}
    output, failed = check()
    assert failed is not None
    assert "vipps_order_management.E007" in output
    assert "The token request could not be made: InvalidCacheBackendError" in output


def test_secrets_are_masked_to_at_most_their_last_four_characters():
    assert mask("abcdefghijklmnop") == "****mnop"
    assert mask("short-secret") == "****cret"
    assert mask("eleven-char") == "****"  # four of eleven would be too much of it
    assert mask("") == "****"


def test_check_explains_errors_that_would_stop_other_commands():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPOSITORY),
        "PYTHONWARNINGS": "error",
        "VIPPS_OM_TEST_OVERRIDES": json.dumps({"BATCH_SIZE": 0}),
    }
    command = [sys.executable, "-m", "django", "vipps_om_check", "--skip-token"]
    done = subprocess.run(command, env=env, cwd=REPOSITORY, capture_output=True, text=True)
    assert done.returncode == 1
    assert "Error vipps_order_management.E019: VIPPS_ORDER_MANAGEMENT['BATCH_SIZE']" in done.stdout
    assert "Configuration" in done.stdout  # it ran, rather than stopping at the checks
    assert "CommandError: The Vipps setup has 1 problem;" in done.stderr
    # The same settings stop a command that runs the system checks first.
    command = [sys.executable, "-m", "django", "vipps_om_requeue", "--dry-run"]
    blocked = subprocess.run(command, env=env, cwd=REPOSITORY, capture_output=True, text=True)
    assert blocked.returncode == 1
    assert "SystemCheckError" in blocked.stderr
    assert "vipps_order_management.E019" in blocked.stderr


# ---------------------------------------------------------------------- vipps_om_fake_server


def read_lines(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_fake_server_command_serves_tokens_and_stops_on_a_signal(stop_signal):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPOSITORY),
        "PYTHONWARNINGS": "error",
    }
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "vipps_om_fake_server",
            "--port",
            "0",
            "--client-secret",
            "dev-secret",
            "--msn",
            "654321",
            "--no-state-file",
        ],
        env=env,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        url, rest, errors = _serve_then_stop(process, stop_signal)
    assert process.returncode == 0, errors
    assert "Fake Vipps API stopped." in rest
    assert "POST /accesstoken/get 200" in errors
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/accesstoken/get", timeout=2)


def _serve_then_stop(process, stop_signal):
    """Wait for the banner, fetch a token, send the signal; returns (url, later output, stderr)."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        while not seen or "Press Ctrl-C to stop." not in seen[-1]:
            line = lines.get(timeout=30)
            assert line is not None, "".join(seen) + process.stderr.read()
            seen.append(line)
        banner = "".join(seen)
        url = banner.split("listening on ", 1)[1].split()[0]
        assert f"'BASE_URL': '{url}'," in banner
        assert "'MERCHANT_SERIAL_NUMBER': '654321'," in banner
        response = requests.post(
            f"{url}/accesstoken/get",
            headers={
                "client_id": "fake-client-id",
                "client_secret": "dev-secret",
                "Ocp-Apim-Subscription-Key": "fake-subscription-key",
                "Merchant-Serial-Number": "654321",
            },
            timeout=10,
        )
        assert response.status_code == 200
        assert response.json()["access_token"]
        process.send_signal(stop_signal)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rest = []
    while (line := lines.get(timeout=5)) is not None:
        rest.append(line)
    return url, "".join(rest), process.stderr.read()


def test_fake_server_command_refuses_bad_options():
    with pytest.raises(CommandError, match="merchant_serial_number must be 4-7 digits"):
        call_command("vipps_om_fake_server", "--msn", "12", "--port", "0")
