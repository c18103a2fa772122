"""The DRF API: staff manage links, images and syncs; customers read their own orders' links.

Requests go through DRF's APIClient; anything that reaches Vipps goes through the services
layer to the fake Vipps over real HTTP.
"""

from __future__ import annotations

import io
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from tests.shop.models import Booking
from vipps_order_management import images, services
from vipps_order_management.api import serializers as api_serializers
from vipps_order_management.api import views as api_views
from vipps_order_management.exceptions import ImageValidationError
from vipps_order_management.models import (
    OrderImage,
    OrderLink,
    OutboxItem,
    SyncAttempt,
    VippsOrder,
)

from .conftest import make_user, png_bytes

pytestmark = pytest.mark.django_db

NS = "vipps_order_management:api-v1"

#: Every permission the staff endpoints can ask for.
ALL_PERMS = (
    "vipps_order_management.view_orderlink",
    "vipps_order_management.add_orderlink",
    "vipps_order_management.change_orderlink",
    "vipps_order_management.delete_orderlink",
    "vipps_order_management.view_orderimage",
    "vipps_order_management.add_orderimage",
    "vipps_order_management.delete_orderimage",
    "vipps_order_management.view_vippsorder",
    "vipps_order_management.view_syncattempt",
    "shop.change_order",
    "shop.change_booking",
)


# --------------------------------------------------------------------------- helpers


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(name: str, order=None, **kwargs) -> str:
    if order is not None:
        kwargs = {"model": order._meta.label_lower, "order_pk": order.pk, **kwargs}
    return reverse(f"{NS}:{name}", kwargs=kwargs)


def upload(data: bytes, name: str = "photo.png") -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


@pytest.fixture
def staff_api(db):
    return client_for(make_user("staff", staff=True, perms=ALL_PERMS))


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def booking(db):
    return Booking.objects.create(
        title="Sauna, 2 hours",
        price=Decimal("450.00"),
        vat_rate=Decimal(12),
        charge_id="chr-api-1",
        confirmed=True,
    )


# --------------------------------------------------------------------------- URLs


def test_urls_are_versioned_and_namespaced_under_the_app():
    assert url("order-links", model="shop.order", order_pk=17) == (
        "/vipps/api/v1/orders/shop.order/17/links/"
    )
    assert url("order-link-detail", model="shop.order", order_pk=17, link_id=3) == (
        "/vipps/api/v1/orders/shop.order/17/links/3/"
    )
    assert url("my-orders") == "/vipps/api/v1/my/orders/"
    assert url("schema") == "/vipps/api/v1/schema/"


# --------------------------------------------------------------------------- staff: links


def test_staff_create_list_update_and_delete_an_orders_links(staff_api, vipps, make_order):
    order = make_order()
    other = make_order()
    services.drain(worker_id="test")  # both orders sent: nothing is pending any more

    created = staff_api.post(
        url("order-links", order),
        {"category": "RECEIPT", "url": "https://shop.example/r/1", "position": 2},
        format="json",
    )
    assert created.status_code == 201, created.content
    link_id = created.json()["id"]
    assert created.json()["category_label"] == "Receipt"
    row = OrderLink.objects.get(pk=link_id)
    assert (row.order, row.url, row.position) == (order, "https://shop.example/r/1", 2)
    # Saving a link queues the order's links for sending (and nothing else).
    pending = OutboxItem.objects.for_order(order).filter(status="pending")
    assert list(pending.values_list("kind", flat=True)) == ["links"]

    staff_api.post(url("order-links", other), {"category": "GENERAL", "url": "https://x.example/"})
    listed = staff_api.get(url("order-links", order))
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert [item["url"] for item in listed.json()["results"]] == ["https://shop.example/r/1"]

    detail = url("order-link-detail", order, link_id=link_id)
    patched = staff_api.patch(detail, {"url": "myapp://orders/1"}, format="json")
    assert patched.status_code == 200, patched.content
    replaced = staff_api.put(
        detail, {"category": "DELIVERY", "url": "https://track.example/1"}, format="json"
    )
    assert replaced.status_code == 200, replaced.content
    row.refresh_from_db()
    assert (row.category, row.url) == ("DELIVERY", "https://track.example/1")

    assert staff_api.delete(detail).status_code == 204
    assert not OrderLink.objects.filter(pk=link_id).exists()
    assert OrderLink.objects.for_order(other).count() == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://shop.example/r/1", "http: scheme"),
        ("not a url", "space, control or invisible"),
        ("shop.example/r/1", "absolute https://"),
    ],
)
def test_a_link_url_vipps_cannot_open_is_a_400_naming_url(staff_api, make_order, value, problem):
    order = make_order()
    response = staff_api.post(
        url("order-links", order), {"category": "RECEIPT", "url": value}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["url"]
    assert problem in body["url"][0]
    assert "https://" in body["url"][0]
    assert not OrderLink.objects.exists()


def test_an_unknown_category_is_a_400_naming_category(staff_api, make_order):
    response = staff_api.post(
        url("order-links", make_order()),
        {"category": "INVOICE", "url": "https://shop.example/"},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["category"]


def test_a_link_can_only_use_an_image_of_its_own_order(staff_api, make_order, media):
    order, other = make_order(), make_order()
    foreign = staff_api.post(url("order-images", other), {"image": upload(png_bytes())})
    assert foreign.status_code == 201, foreign.content
    own = staff_api.post(url("order-images", order), {"image": upload(png_bytes())})

    refused = staff_api.post(
        url("order-links", order),
        {"category": "TICKET", "url": "https://t.example/", "image": foreign.json()["id"]},
        format="json",
    )
    assert refused.status_code == 400
    assert list(refused.json()) == ["image"]
    accepted = staff_api.post(
        url("order-links", order),
        {"category": "TICKET", "url": "https://t.example/", "image": own.json()["id"]},
        format="json",
    )
    assert accepted.status_code == 201, accepted.content
    assert OrderLink.objects.get().image_id == own.json()["id"]


def test_a_link_of_another_order_is_not_found_through_this_order(staff_api, make_order):
    order, other = make_order(), make_order()
    link = OrderLink.objects.create(order=other, category="RECEIPT", url="https://shop.example/r/2")
    detail = url("order-link-detail", order, link_id=link.pk)
    assert staff_api.get(detail).status_code == 404
    assert staff_api.delete(detail).status_code == 404
    assert OrderLink.objects.filter(pk=link.pk).exists()


# --------------------------------------------------------------------------- abusive input


@pytest.mark.parametrize("field", ["position"])
@pytest.mark.parametrize("value", [2**40, 2**31, -1, 2**63, 10**100])
def test_a_link_position_outside_the_model_fields_range_is_a_field_error(
    staff_api, make_order, field, value
):
    order = make_order()
    response = staff_api.post(
        url("order-links", order),
        {"category": "RECEIPT", "url": "https://shop.example/r/1", field: value},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not OrderLink.objects.exists()


def test_the_largest_portable_position_is_accepted(staff_api, make_order, media):
    order = make_order()
    largest = api_serializers.POSITION_MAX
    assert largest == 2**31 - 1  # what a PositiveIntegerField holds on every database
    link = staff_api.post(
        url("order-links", order),
        {"category": "RECEIPT", "url": "https://shop.example/r/1", "position": largest},
        format="json",
    )
    assert link.status_code == 201, link.content
    detail = url("order-link-detail", order, link_id=link.json()["id"])
    patched = staff_api.patch(detail, {"position": largest + 1}, format="json")
    assert patched.status_code == 400
    assert list(patched.json()) == ["position"]


def test_an_image_position_outside_the_range_is_a_field_error(staff_api, make_order, media):
    order = make_order()
    response = staff_api.post(
        url("order-images", order), {"image": upload(png_bytes()), "position": 2**40}
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["position"]
    assert not OrderImage.objects.exists()


def post_raw(client, path: str, body: str | bytes, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def test_json_nested_100000_levels_deep_is_refused_not_a_500(staff_api, make_order):
    order = make_order()
    deep = "[" * 100_000 + "]" * 100_000
    for path in (url("order-links", order), url("order-sync", order)):
        response = post_raw(staff_api, path, deep)
        assert response.status_code == 413, response.content
        assert response["Content-Type"].startswith("application/json")
        assert "The request body is larger than" in response.json()["detail"]
    assert not OrderLink.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,
        '{"kinds": ' + "[" * 40 + "]" * 40 + "}",
        '{"a":' * 17 + "1" + "}" * 17,
    ],
    ids=["bare arrays", "inside a field", "objects"],
)
def test_json_nested_deeper_than_the_api_needs_is_a_400(staff_api, make_order, body):
    response = post_raw(staff_api, url("order-sync", make_order()), body)
    assert response.status_code == 400, response.content
    assert "nest deeper than 16 levels" in response.json()["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting(staff_api, make_order):
    # Escaped quotes and backslashes do not end the string early either.
    body = '{"kinds": ["\\\\\\"' + "[" * 100 + '", "{{{{"]}'
    assert len(json.loads(body)["kinds"][0]) == 102
    response = post_raw(staff_api, url("order-sync", make_order()), body)
    assert response.status_code == 400
    assert list(response.json()) == ["kinds"]  # parsed: refused by the field, not the parser


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_over_large_body_is_a_413(staff_api, make_order, content_type):
    from vipps_order_management.api.parsers import MAX_BODY_BYTES

    padding = "x" * MAX_BODY_BYTES
    body = (
        f'{{"category": "RECEIPT", "url": "https://shop.example/{padding}"}}'
        if content_type == "application/json"
        else f"category=RECEIPT&url=https://shop.example/{padding}"
    )
    response = post_raw(staff_api, url("order-links", make_order()), body, content_type)
    assert response.status_code == 413
    assert response.json()["detail"] == f"The request body is larger than {MAX_BODY_BYTES} bytes."
    assert not OrderLink.objects.exists()


class Trickle(io.BytesIO):
    """A request stream that hands out one byte per read, as a slow socket may."""

    def read(self, size=-1):
        return super().read(1 if size and size > 0 else size)


def test_the_parsers_read_a_stream_that_returns_less_than_asked():
    from vipps_order_management.api.parsers import (
        MAX_BODY_BYTES,
        ApiFormParser,
        ApiJSONParser,
        BodyTooLarge,
    )

    assert ApiJSONParser().parse(Trickle(b'{"kinds": ["links"]}')) == {"kinds": ["links"]}
    assert ApiFormParser().parse(Trickle(b"a=1&b=2")).dict() == {"a": "1", "b": "2"}
    with pytest.raises(BodyTooLarge):
        ApiJSONParser().parse(Trickle(b" " * (MAX_BODY_BYTES + 1)))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"now": NaN}', "application/json"),
        ('{"position": ' + "9" * 5000 + "}", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ("{}", "application/json; charset=bz2_codec"),
    ],
    ids=["malformed", "NaN", "5000 digits", "not utf-8", "not a text charset"],
)
def test_malformed_bodies_are_a_400_with_a_json_detail(staff_api, make_order, body, content_type):
    response = post_raw(staff_api, url("order-links", make_order()), body, content_type)
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


def test_ordinary_json_and_form_bodies_still_work(staff_api, vipps, make_order):
    order = make_order()
    services.drain(worker_id="test")
    response = post_raw(
        staff_api,
        url("order-links", order),
        '{"category": "RECEIPT", "url": "https://shop.example/r/[1]", "position": 1}',
    )
    assert response.status_code == 201, response.content
    response = post_raw(
        staff_api,
        url("order-links", order),
        "category=GENERAL&url=https%3A%2F%2Fshop.example%2F",
        "application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    response = post_raw(staff_api, url("order-sync", order), '{"kinds": ["links"]}')
    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "path",
    [
        lambda order: url("order-link-detail", order, link_id=2**70),
        lambda order: url("order-links", model="shop.order", order_pk=str(2**70)),
        lambda order: url("order-links", model="shop.order", order_pk="1" * 5000),
    ],
    ids=["link id", "order id", "5000 digits"],
)
def test_out_of_range_ids_in_the_url_are_a_404(staff_api, make_order, path):
    assert staff_api.get(path(make_order())).status_code == 404


def test_an_out_of_range_image_id_in_a_body_is_a_field_error(staff_api, make_order):
    response = staff_api.post(
        url("order-links", make_order()),
        {"category": "RECEIPT", "url": "https://shop.example/", "image": 2**70},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["image"]


# --------------------------------------------------------------------------- staff: images


def test_staff_upload_list_and_delete_an_image(
    staff_api, make_order, media, django_capture_on_commit_callbacks
):
    order = make_order()
    original = png_bytes((600, 300))

    response = staff_api.post(
        url("order-images", order),
        {"image": upload(original), "description": "Socks", "position": 1},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    row = OrderImage.objects.get()
    assert (row.order, row.description, row.position) == (order, "Socks", 1)
    assert response.json()["image"].endswith(row.image.name.rsplit("/", 1)[-1])
    # What is stored is what Vipps gets: the prepared, square image.
    with row.image.open("rb") as file:
        stored = file.read()
    assert stored == images.prepare_image(original).data
    assert row.image.name.endswith(".jpg")  # opaque photos become JPEG
    with Image.open(io.BytesIO(stored)) as picture:
        assert (picture.format, picture.width, picture.height) == ("JPEG", 600, 600)

    listed = staff_api.get(url("order-images", order))
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [row.pk]

    path = Path(row.image.path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        deleted = staff_api.delete(url("order-image-detail", order, image_id=row.pk))
    assert deleted.status_code == 204
    assert not OrderImage.objects.exists()
    assert not path.exists()


def test_an_image_too_small_for_vipps_is_refused_with_the_reason(staff_api, make_order, media):
    tiny = png_bytes((40, 40))
    with pytest.raises(ImageValidationError) as refused:
        images.prepare_image(tiny)

    response = staff_api.post(url("order-images", make_order()), {"image": upload(tiny)})

    assert response.status_code == 400
    assert response.json() == {"image": [refused.value.reason]}
    assert not OrderImage.objects.exists()


def test_a_file_that_is_not_an_image_is_refused_naming_the_field(staff_api, make_order, media):
    response = staff_api.post(
        url("order-images", make_order()), {"image": upload(b"%PDF-1.7 not a picture", "a.png")}
    )
    assert response.status_code == 400
    assert "not an image" in response.json()["image"][0]


def test_uploads_over_the_cap_are_refused(staff_api, make_order, media, monkeypatch):
    order = make_order()
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    big = buffer.getvalue()
    assert len(big) > 100_000  # well over the allowance for multipart framing

    monkeypatch.setattr(api_serializers, "MAX_UPLOAD_BYTES", len(big) - 1)
    response = staff_api.post(url("order-images", order), {"image": upload(big)})
    assert response.status_code == 400
    assert "at most" in response.json()["image"][0]

    monkeypatch.setattr(api_views, "MAX_UPLOAD_BYTES", 1000)
    response = staff_api.post(url("order-images", order), {"image": upload(big)})
    assert response.status_code == 413
    assert response.json()["detail"]
    assert not OrderImage.objects.exists()


# --------------------------------------------------------------------------- staff: sync


def test_triggering_a_sync_queues_the_order_by_default(staff_api, vipps, make_order):
    order = make_order()
    OutboxItem.objects.all().delete()

    response = staff_api.post(url("order-sync", order), {"force": True}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["queued"] == ["links", "receipt"]
    rows = OutboxItem.objects.for_order(order)
    assert sorted(rows.values_list("kind", "status", "force")) == [
        ("links", "pending", True),
        ("receipt", "pending", True),
    ]
    assert vipps.requests_for(path_contains="/order-management/") == []


def test_a_sync_can_queue_only_some_kinds(staff_api, vipps, make_order):
    order = make_order()
    OutboxItem.objects.all().delete()
    response = staff_api.post(url("order-sync", order), {"kinds": ["links"]}, format="json")
    assert response.status_code == 202, response.content
    assert list(OutboxItem.objects.for_order(order).values_list("kind", flat=True)) == ["links"]

    refused = staff_api.post(
        url("order-sync", order) + "?now=1", {"kinds": ["links"]}, format="json"
    )
    assert refused.status_code == 400
    assert list(refused.json()) == ["kinds"]
    assert vipps.receipt(order.vipps_reference) is None


def test_sync_now_sends_while_staff_wait(staff_api, vipps, make_order):
    order = make_order()
    OutboxItem.objects.all().delete()

    response = staff_api.post(url("order-sync", order) + "?now=1")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert {r["kind"]: r["status"] for r in body["results"]} == {
        "links": "done",
        "receipt": "done",
    }
    assert vipps.receipt(order.vipps_reference)["bottomLine"]["receiptNumber"] == order.number
    assert vipps.category(order.vipps_reference)["category"] == "ORDER_CONFIRMATION"


def test_vipps_unavailable_is_a_json_503_and_the_order_stays_queued(staff_api, vipps, make_order):
    order = make_order()
    OutboxItem.objects.all().delete()
    vipps.faults.fail_next(20, status=503)

    response = staff_api.post(url("order-sync", order), {"now": True}, format="json")

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert "503" in body["detail"]
    statuses = {r["status"] for r in body["results"]}
    assert "retry" in statuses
    assert statuses <= {"retry", "released"}  # released: the drain stopped early (outage)
    assert set(OutboxItem.objects.for_order(order).values_list("status", flat=True)) == {"pending"}
    assert SyncAttempt.objects.for_order(order).filter(status_code=503).exists()


def test_a_refusal_by_vipps_is_a_json_502_with_the_message(staff_api, vipps, make_order):
    order = make_order()
    OutboxItem.objects.all().delete()
    vipps.faults.fail_next(1, status=400, path="/receipts/")

    response = staff_api.post(url("order-sync", order) + "?now=true")

    assert response.status_code == 502
    body = response.json()
    results = {r["kind"]: r for r in body["results"]}
    assert results["links"]["ok"] is True
    assert results["receipt"]["status"] == "dead"
    assert "400" in results["receipt"]["message"]
    assert "receipt" in body["detail"]
    assert VippsOrder.objects.for_order(order).get().receipt_state == "dead"


def test_a_refusal_here_is_a_json_422_and_never_blames_vipps(staff_api, vipps, make_order):
    order = make_order(tracking_url="http://track.example/1")  # plain http: the policy refuses
    OutboxItem.objects.all().delete()

    response = staff_api.post(url("order-sync", order) + "?now=1")

    assert response.status_code == 422
    body = response.json()
    results = {r["kind"]: r for r in body["results"]}
    assert results["links"]["status"] == "dead"
    assert "orderDetailsUrl" in results["links"]["message"]
    assert results["receipt"]["ok"] is True
    assert "Vipps did not accept" not in body["detail"]
    assert vipps.category(order.vipps_reference) is None
    assert not vipps.requests_for("PUT", "/categories/")


def test_a_vipps_configuration_error_is_a_json_503_not_a_500(
    staff_api, vipps, make_order, settings
):
    order = make_order()
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "CLIENT_SECRET": ""}

    response = staff_api.post(url("order-sync", order) + "?now=1")

    assert response.status_code == 503
    assert "client_secret" in response.json()["detail"].lower()
    assert vipps.receipt(order.vipps_reference) is None


# --------------------------------------------------------------------------- staff: status


def test_status_and_attempts_show_what_happened(staff_api, vipps, make_order):
    order = make_order()
    vipps.faults.fail_next(1, status=503, path="/receipts/")
    staff_api.post(url("order-sync", order) + "?now=1")
    staff_api.post(url("order-sync", order) + "?now=1")

    status = staff_api.get(url("order-status", order))

    assert status.status_code == 200
    body = status.json()
    assert body["order"] == {"model": "shop.order", "pk": str(order.pk), "name": str(order)}
    assert (body["status"], body["status_label"]) == ("synced", "Synced")
    assert body["vipps"]["reference"] == order.vipps_reference
    assert body["vipps"]["receipt_state"] == "sent"
    assert body["vipps"]["receipt_state_label"] == "Sent"
    assert body["vipps"]["links_state"] == "sent"
    assert body["vipps"]["receipt_sent_at"]
    assert body["vipps"]["drift"] == []
    assert {(row["kind"], row["status"]) for row in body["outbox"]} == {
        ("links", "done"),
        ("receipt", "done"),
    }

    attempts = staff_api.get(url("order-attempts", order), {"page_size": 2})
    assert attempts.status_code == 200
    page = attempts.json()
    expected = list(
        SyncAttempt.objects.for_order(order)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert page["count"] == len(expected) >= 3
    assert [row["id"] for row in page["results"]] == expected[:2]
    assert page["next"]
    every = staff_api.get(url("order-attempts", order)).json()["results"]
    assert any(row["status_code"] == 503 for row in every)
    # each call names the sales unit it was made for
    assert {row["merchant_serial_number"] for row in every} == {
        vipps.credentials["merchant_serial_number"]
    }


def test_status_of_an_order_never_sent_has_no_vipps_state(staff_api, make_order):
    order = make_order(reference=False)
    body = staff_api.get(url("order-status", order)).json()
    assert body["vipps"] is None
    assert body["status"] == "pending"  # queued by the save, waiting for a Vipps payment


# --------------------------------------------------------------------------- permissions

#: (URL name, extra URL kwargs, method, body, the permission it needs, success status)
STAFF_ENDPOINTS = [
    ("order-links", {}, "get", None, "vipps_order_management.view_orderlink", 200),
    (
        "order-links",
        {},
        "post",
        {"category": "RECEIPT", "url": "https://s.example/"},
        "vipps_order_management.add_orderlink",
        201,
    ),
    (
        "order-link-detail",
        {"link": True},
        "get",
        None,
        "vipps_order_management.view_orderlink",
        200,
    ),
    (
        "order-link-detail",
        {"link": True},
        "patch",
        {"position": 3},
        "vipps_order_management.change_orderlink",
        200,
    ),
    (
        "order-link-detail",
        {"link": True},
        "delete",
        None,
        "vipps_order_management.delete_orderlink",
        204,
    ),
    ("order-images", {}, "get", None, "vipps_order_management.view_orderimage", 200),
    ("order-images", {}, "post", "image", "vipps_order_management.add_orderimage", 201),
    (
        "order-image-detail",
        {"image": True},
        "delete",
        None,
        "vipps_order_management.delete_orderimage",
        204,
    ),
    ("order-sync", {}, "post", {}, "shop.change_order", 202),
    ("order-status", {}, "get", None, "vipps_order_management.view_vippsorder", 200),
    ("order-attempts", {}, "get", None, "vipps_order_management.view_syncattempt", 200),
]


def _call(client, name, extra, method, body, order):
    kwargs = {}
    if extra.get("link"):
        link = OrderLink.objects.create(order=order, category="GENERAL", url="https://g.example/")
        kwargs["link_id"] = link.pk
    if extra.get("image"):
        row = OrderImage(order=order)
        row.image.save("x.png", ContentFile(png_bytes()), save=True)
        kwargs["image_id"] = row.pk
    if body == "image":
        return client.post(url(name, order, **kwargs), {"image": upload(png_bytes())})
    return getattr(client, method)(url(name, order, **kwargs), body, format="json")


@pytest.mark.parametrize(
    ("name", "extra", "method", "body", "perm", "ok"),
    STAFF_ENDPOINTS,
    ids=[f"{e[2]}-{e[0]}" for e in STAFF_ENDPOINTS],
)
def test_staff_endpoints_deny_by_default(make_order, media, name, extra, method, body, perm, ok):
    order = make_order()
    others = tuple(p for p in ALL_PERMS if p != perm)
    cases = [
        ("anonymous", None, (401, 403)),
        ("customer", make_user("customer", perms=ALL_PERMS), (403,)),
        ("staff without it", make_user("helper", staff=True, perms=others), (403,)),
    ]
    for label, user, refused in cases:
        response = _call(client_for(user), name, extra, method, body, order)
        assert response.status_code in refused, (label, response.status_code, response.content)
        assert "detail" in response.json()

    allowed = make_user("manager", staff=True, perms=[perm])
    response = _call(client_for(allowed), name, extra, method, body, order)
    assert response.status_code == ok, response.content


def test_the_permission_classes_come_from_the_setting(make_order, settings):
    order = make_order()
    helper = client_for(make_user("helper", staff=True))
    link = {"category": "RECEIPT", "url": "https://s.example/"}
    assert helper.post(url("order-links", order), link, format="json").status_code == 403

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    }
    assert helper.post(url("order-links", order), link, format="json").status_code == 201

    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "API_PERMISSION_CLASSES": ["shop.permissions.Missing"],
    }
    response = helper.get(url("order-links", order))
    assert response.status_code == 503
    assert "API_PERMISSION_CLASSES" in response.json()["detail"]


@pytest.mark.parametrize(
    ("model", "pk"),
    [
        ("auth.user", "ME"),
        ("shop.orderitem", "1"),
        ("nope.thing", "1"),
        ("shop.order", "abc"),
        ("shop.order", "999999"),
        ("shop.order", "9" * 40),
        ("shop.booking", "not-a-uuid"),
    ],
)
def test_only_existing_orders_of_configured_models_can_be_addressed(make_order, model, pk):
    staff = make_user("staff", staff=True, perms=ALL_PERMS)
    order = make_order()
    if pk == "ME":
        pk = str(staff.pk)
    api = client_for(staff)
    for name in ("order-links", "order-status", "order-attempts"):
        response = api.get(url(name, model=model, order_pk=pk))
        assert response.status_code == 404, (name, response.content)
    assert api.post(url("order-sync", model=model, order_pk=pk)).status_code == 404
    # The same order under its own label is there.
    assert api.get(url("order-links", order)).status_code == 200


def test_an_order_with_a_uuid_key_works(staff_api, vipps, booking):
    created = staff_api.post(
        url("order-links", booking),
        {"category": "BOOKING", "url": "https://shop.example/b/1"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert OrderLink.objects.get().object_id == str(booking.pk)
    upper = url("order-links", model="shop.booking", order_pk=str(booking.pk).upper())
    assert staff_api.get(upper).json()["count"] == 1

    synced = staff_api.post(url("order-sync", booking), {"now": True}, format="json")
    assert synced.status_code == 200, synced.content
    assert vipps.receipt("chr-api-1", payment_type="RECURRING") is not None
    status = staff_api.get(url("order-status", booking)).json()
    assert status["order"]["pk"] == str(booking.pk)
    assert status["vipps"]["payment_type"] == "RECURRING"


# --------------------------------------------------------------------------- customers


def test_a_customer_reads_the_links_of_their_own_order(make_order):
    alice = make_user("alice")
    order = make_order(user=alice, tracking_url="https://track.example/42")
    OrderLink.objects.create(order=order, category="RECEIPT", url="https://shop.example/r/9")

    response = client_for(alice).get(url("my-order-links", order))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model"], body["pk"], body["name"]) == ("shop.order", str(order.pk), str(order))
    assert body["has_image"] is True  # the product's photo
    assert [(link["category"], link["label"], link["url"]) for link in body["links"]] == [
        ("RECEIPT", "Receipt", "https://shop.example/r/9"),
        ("ORDER_CONFIRMATION", "Order confirmation", f"https://shop.example/orders/{order.number}"),
        ("DELIVERY", "Delivery", "https://track.example/42"),
    ]
    assert {link["has_image"] for link in body["links"]} == {False}


def test_a_customer_gets_nothing_of_anyone_elses(make_order, booking):
    alice, bob = make_user("alice"), make_user("bob")
    bobs = make_order(user=bob)
    make_order()  # nobody's
    api = client_for(alice)

    assert api.get(url("my-order-links", bobs)).status_code == 404
    assert api.get(url("my-order-links", booking)).status_code == 404  # no owner: nobody's
    assert api.get(url("my-order-links", model="auth.user", order_pk=alice.pk)).status_code == 404
    assert api.get(url("my-orders")).json()["count"] == 0
    # Staff reading "my" orders see their own too, not the customers'.
    staff = make_user("staff", staff=True, perms=ALL_PERMS)
    assert client_for(staff).get(url("my-order-links", bobs)).status_code == 404
    anonymous = client_for(None)
    assert anonymous.get(url("my-order-links", bobs)).status_code in (401, 403)
    assert anonymous.get(url("my-orders")).status_code in (401, 403)


def test_a_customer_lists_their_orders_with_links(make_order):
    alice, bob = make_user("alice"), make_user("bob")
    first, second = make_order(user=alice), make_order(user=alice)
    make_order(user=bob)
    OrderLink.objects.create(order=first, category="TICKET", url="https://t.example/1")

    response = client_for(alice).get(url("my-orders"), {"page_size": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["next"]
    [newest] = body["results"]
    assert newest["pk"] == str(second.pk)
    older = client_for(alice).get(body["next"]).json()["results"]
    assert [order["pk"] for order in older] == [str(first.pk)]
    assert [link["category"] for link in older[0]["links"]] == ["TICKET", "ORDER_CONFIRMATION"]


# --------------------------------------------------------------------------- schema


def test_the_openapi_schema_lists_every_endpoint(make_order):
    api = client_for(make_user("alice"))
    response = api.get(url("schema"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    prefix = "/vipps/api/v1/"
    order = prefix + "orders/{model}/{order_pk}/"
    methods = {path: set(operations) for path, operations in schema["paths"].items()}
    assert methods == {
        order + "links/": {"get", "post"},
        order + "links/{link_id}/": {"get", "put", "patch", "delete"},
        order + "images/": {"get", "post"},
        order + "images/{image_id}/": {"get", "delete"},
        order + "sync/": {"post"},
        order + "status/": {"get"},
        order + "attempts/": {"get"},
        prefix + "my/orders/": {"get"},
        prefix + "my/orders/{model}/{order_pk}/links/": {"get"},
    }
    upload_body = schema["paths"][order + "images/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
    assert "results" in str(schema["paths"][order + "attempts/"]["get"]["responses"])

    assert client_for(None).get(url("schema")).status_code in (401, 403)
