"""The fake Vipps server, tested over real HTTP with ``requests`` (not with our own client).

The fake is the reference our client and payload code are tested against, so these tests pin
its behaviour to API-NOTES.md: status codes, body shapes, auth order, validation paths, faults.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from PIL import Image

from vipps_order_management.client import OrderManagementClient
from vipps_order_management.exceptions import PayloadValidationError, VippsAPIError
from vipps_order_management.link_policy import LinkPolicy
from vipps_order_management.payloads import Category
from vipps_order_management.testing import FakeMerchant, FakeVippsServer, RecordedRequest
from vipps_order_management.testing.fake.validation import IDENTITY_MISMATCH, image_dimensions

from .conftest import printed_until

OM = "/order-management"
REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def png(width: int = 200, height: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 200, height: int = 200, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 200)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def line(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Socks",
        "id": "sku-1",
        "totalAmount": 12500,
        "totalAmountExcludingTax": 10000,
        "totalTaxAmount": 2500,
        "taxRate": 2500,
        "unitInfo": {"unitPrice": 6250, "quantity": "2", "quantityUnit": "PCS"},
        "discount": 0,
        "isReturn": False,
        "isShipping": False,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def receipt_body(*lines: dict[str, Any], **bottom: Any) -> dict[str, Any]:
    return {"orderLines": list(lines) or [line()], "bottomLine": {"currency": "NOK", **bottom}}


def token_headers(merchant: FakeMerchant) -> dict[str, str]:
    return {
        "client_id": merchant.client_id,
        "client_secret": merchant.client_secret,
        "Ocp-Apim-Subscription-Key": merchant.subscription_key,
    }


def invalid_params(response: requests.Response) -> dict[str, str]:
    return {item["name"]: item["reason"] for item in response.json()["invalidParams"]}


class Api:
    """A pooled session that speaks to the fake as one merchant, the way a client would."""

    def __init__(self, fake: FakeVippsServer, merchant: FakeMerchant | None = None) -> None:
        self.fake = fake
        self.merchant = merchant or fake.merchant
        self.session = requests.Session()
        self._token: str | None = None

    def close(self) -> None:
        self.session.close()

    def fetch_token(self, **headers: str) -> requests.Response:
        return self.session.post(
            f"{self.fake.url}/accesstoken/get",
            headers={**token_headers(self.merchant), **headers},
            timeout=5,
        )

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.fetch_token()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Ocp-Apim-Subscription-Key": self.merchant.subscription_key,
            "Merchant-Serial-Number": self.merchant.msn,
        }

    def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(
            method,
            f"{self.fake.url}{path}",
            headers={**self.headers(), **(headers or {})},
            **kwargs,
        )

    def post_receipt(
        self, order_id: str, body: Any, payment_type: str = "ECOM", **kwargs: Any
    ) -> requests.Response:
        path = f"{OM}/v2/{payment_type}/receipts/{order_id}"
        return self.call("POST", path, json=body, **kwargs)

    def put_category(
        self, order_id: str, body: Any, payment_type: str = "ECOM", **kwargs: Any
    ) -> requests.Response:
        path = f"{OM}/v2/{payment_type}/categories/{order_id}"
        return self.call("PUT", path, json=body, **kwargs)

    def get_order(
        self, order_id: str, payment_type: str = "ECOM", **kwargs: Any
    ) -> requests.Response:
        return self.call("GET", f"{OM}/v2/{payment_type}/{order_id}", **kwargs)

    def upload(self, image_id: str, data: bytes, **overrides: Any) -> requests.Response:
        body = {"imageId": image_id, "src": b64(data), "type": "base64", **overrides}
        return self.call("POST", f"{OM}/v1/images", json=body)


@pytest.fixture
def api(vipps_fake: FakeVippsServer) -> Iterator[Api]:
    client = Api(vipps_fake)
    yield client
    client.close()


@pytest.fixture
def merchant_b(vipps_fake: FakeVippsServer) -> FakeMerchant:
    # Merchants survive reset(), so reuse the one an earlier test registered.
    for merchant in vipps_fake.merchants:
        if merchant.msn == "654321":
            return merchant
    return vipps_fake.add_merchant(msn="654321")


# --------------------------------------------------------------------------- access token


def test_token_fields_are_strings_and_the_jwt_matches_them(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    response = api.fetch_token()

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "token_type",
        "expires_in",
        "ext_expires_in",
        "expires_on",
        "not_before",
        "resource",
        "access_token",
    }
    assert all(isinstance(value, str) for value in body.values())
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "3600"
    assert body["ext_expires_in"] == "0"
    assert body["resource"] == "00000002-0000-0000-c000-000000000000"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3600
    assert abs(int(body["not_before"]) - vipps_fake.now()) < 5

    claims = claims_of(body["access_token"])
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert claims["exp"] == int(body["expires_on"])
    assert claims["nbf"] == int(body["not_before"])
    assert claims["iat"] == int(body["not_before"])
    assert claims["msn"] == "123456"
    assert claims["jti"]
    assert vipps_fake.requests[-1].token_jti == claims["jti"]
    assert vipps_fake.requests[-1].headers["client_secret"] == "<redacted>"


def test_several_tokens_are_valid_at_once(vipps_fake: FakeVippsServer, api: Api) -> None:
    first = api.fetch_token().json()["access_token"]
    second = api.fetch_token().json()["access_token"]
    assert claims_of(first)["jti"] != claims_of(second)["jti"]

    for token in (first, second):
        response = api.get_order("order-1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404  # authenticated, nothing stored


def test_token_endpoint_errors(vipps_fake: FakeVippsServer, api: Api) -> None:
    creds = token_headers(vipps_fake.merchant)

    wrong_secret = api.fetch_token(client_secret="nope")
    assert wrong_secret.status_code == 401
    assert "error" in wrong_secret.json()

    unknown_client = api.fetch_token(client_id="someone-else")
    assert unknown_client.status_code == 401
    assert "error" in unknown_client.json()

    without_secret = {k: v for k, v in creds.items() if k != "client_secret"}
    missing = api.session.post(
        f"{vipps_fake.url}/accesstoken/get", headers=without_secret, timeout=5
    )
    assert missing.status_code == 400
    assert "client_secret" in missing.json()["error_description"]

    without_key = {k: v for k, v in creds.items() if k != "Ocp-Apim-Subscription-Key"}
    no_key = api.session.post(f"{vipps_fake.url}/accesstoken/get", headers=without_key, timeout=5)
    assert no_key.status_code == 401
    assert no_key.json()["message"].startswith("Access denied due to missing subscription key")

    wrong_msn = api.fetch_token(**{"Merchant-Serial-Number": "999999"})
    assert wrong_msn.status_code == 401

    case_insensitive = api.session.post(
        f"{vipps_fake.url}/accessToken/Get", headers=creds, timeout=5
    )
    assert case_insensitive.status_code == 200

    get = api.session.get(f"{vipps_fake.url}/accesstoken/get", headers=creds, timeout=5)
    assert get.status_code == 405


# --------------------------------------------------------------------------- auth on the API


def test_auth_failures_come_in_order(vipps_fake: FakeVippsServer, api: Api) -> None:
    url = f"{vipps_fake.url}{OM}/v2/ecom/order-1"
    merchant = vipps_fake.merchant
    good = api.headers()

    def get(**headers: str) -> requests.Response:
        return api.session.get(
            url, headers={k: v for k, v in headers.items() if v is not None}, timeout=5
        )

    # 1. no subscription key: APIM's body, even though everything else is wrong too
    response = get(Authorization="junk")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Access denied due to missing subscription key. "
        "Make sure to include subscription key when making requests to an API.",
    }
    # 2. unknown subscription key
    response = get(**{"Ocp-Apim-Subscription-Key": "wrong", "Authorization": good["Authorization"]})
    assert response.status_code == 401
    assert "invalid subscription key" in response.json()["message"]
    key = {"Ocp-Apim-Subscription-Key": merchant.subscription_key}
    # 3. bearer problems, before the MSN is even looked at
    foreign = jwt.encode(claims_of(api.token), b"another fake Vipps server's signing key")
    for authorization in (
        None,
        api.token,
        f"Basic {api.token}",
        "Bearer not.a.jwt",
        f"Bearer {foreign}",
    ):
        response = get(**key, Authorization=authorization)
        assert response.status_code == 401, authorization
        assert response.json()["statusCode"] == 401
    # 4. valid token, no MSN: a problem document
    response = get(**key, Authorization=good["Authorization"])
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "Merchant-Serial-Number" in invalid_params(response)
    # 5. an MSN that is not the token's merchant
    response = get(
        **key, Authorization=good["Authorization"], **{"Merchant-Serial-Number": "999999"}
    )
    assert response.status_code == 401
    # and with everything right: authenticated (404 only because nothing is stored)
    assert get(**good).status_code == 404

    bearer_notes = [record.note or "" for record in vipps_fake.requests_for("GET")[2:7]]
    assert bearer_notes[:3] == [
        "no Authorization header",
        "Authorization is not 'Bearer <token>'",
        "Authorization is not 'Bearer <token>'",
    ]
    assert all(note.startswith("token was not issued by this server") for note in bearer_notes[3:])


def test_token_of_another_merchant_is_refused(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant
) -> None:
    other = Api(vipps_fake, merchant_b)
    try:
        # B's token with A's subscription key and A's MSN
        response = api.get_order("order-1", headers={"Authorization": f"Bearer {other.token}"})
        assert response.status_code == 401
        assert "another subscription key" in (vipps_fake.requests[-1].note or "")
        # A's token and key, B's MSN
        response = api.get_order("order-1", headers={"Merchant-Serial-Number": merchant_b.msn})
        assert response.status_code == 401
    finally:
        other.close()


def test_expired_token_after_advance_clock(vipps_fake: FakeVippsServer, api: Api) -> None:
    assert api.get_order("order-1").status_code == 404
    vipps_fake.advance_clock(3599)
    assert api.get_order("order-1").status_code == 404
    vipps_fake.advance_clock(1)
    response = api.get_order("order-1")
    assert response.status_code == 401
    assert vipps_fake.requests[-1].note == "token has expired"
    # a fresh token is dated by the fake's clock, so it works again
    fresh = api.fetch_token().json()
    assert int(fresh["not_before"]) >= int(time.time()) + 3599
    assert (
        api.get_order(
            "order-1", headers={"Authorization": f"Bearer {fresh['access_token']}"}
        ).status_code
        == 404
    )


def test_expire_tokens_revokes_every_token(vipps_fake: FakeVippsServer, api: Api) -> None:
    assert api.get_order("order-1").status_code == 404
    vipps_fake.expire_tokens()
    assert api.get_order("order-1").status_code == 401


def test_reset_forgets_tokens_and_clock_but_keeps_merchants(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant
) -> None:
    assert api.post_receipt("order-1", receipt_body()).status_code == 201
    vipps_fake.advance_clock(100)
    vipps_fake.reset()
    assert vipps_fake.receipt("order-1") is None
    assert vipps_fake.requests == []
    assert abs(vipps_fake.now() - time.time()) < 1
    assert merchant_b in vipps_fake.merchants
    assert api.get_order("order-1").status_code == 401


def test_system_headers_are_limited_to_100_characters(api: Api) -> None:
    ok = api.get_order(
        "order-1", headers={"Vipps-System-Name": "x" * 100, "Idempotency-Key": "abc"}
    )
    assert ok.status_code == 404
    too_long = api.get_order("order-1", headers={"Vipps-System-Plugin-Version": "x" * 101})
    assert too_long.status_code == 400
    assert "Vipps-System-Plugin-Version" in invalid_params(too_long)


# --------------------------------------------------------------------------- paths


def test_paths_and_payment_types_are_case_insensitive(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    response = api.call("POST", "/Order-Management/V2/eCom/Receipts/Order-1", json=receipt_body())
    assert response.status_code == 201
    assert vipps_fake.receipt("Order-1", "ecom") is not None
    assert vipps_fake.receipt("order-1") is None  # the orderId itself is case-sensitive
    assert api.get_order("Order-1", payment_type="ECOM").status_code == 200
    assert api.get_order("Order-1", payment_type="recurring").status_code == 404


def test_bad_payment_type_and_order_id_are_400(api: Api) -> None:
    response = api.post_receipt("order 1", receipt_body(), payment_type="epayment")
    assert response.status_code == 400
    assert set(invalid_params(response)) == {"paymentType", "orderId"}
    assert api.get_order("a_b.c-1").status_code == 404  # '_' and '.' are allowed


def test_unknown_and_deprecated_paths_are_404_and_v3_has_no_put(api: Api) -> None:
    assert api.call("GET", f"{OM}/v1/orders/order-1").status_code == 404
    assert api.call("POST", f"{OM}/v1/receipts/order-1", json=receipt_body()).status_code == 404
    assert api.call("GET", "/nothing/here").status_code == 404
    category_id = "337f5e5d-288b-40d5-be14-901cc3acacc0"
    put = api.call("PUT", f"{OM}/v3/categories/{category_id}", json={})
    assert put.status_code == 405
    assert set(put.headers["Allow"].split(", ")) == {"GET", "DELETE"}


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (png(), "PNG"),
        (jpeg(), "JPEG"),
        (jpeg(300, 170, progressive=True), "JPEG"),
        (png(2000, 167), "PNG"),
    ],
    ids=["png", "jpeg", "progressive-jpeg", "wide-png"],
)
def test_image_upload_accepts_png_and_jpeg(
    vipps_fake: FakeVippsServer, api: Api, data: bytes, fmt: str
) -> None:
    response = api.upload("img-1", data)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"imageId": "img-1"}
    assert vipps_fake.images() == {"img-1": data}
    assert image_dimensions(data)[0] == fmt


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"imageId": None}, "imageId"),
        ({"imageId": "x" * 129}, "imageId"),
        ({"imageId": "has space"}, "imageId"),
        ({"type": "url"}, "type"),
        ({"type": None}, "type"),
        ({"src": None}, "src"),
        ({"src": "not base64!"}, "src"),
        ({"src": "data:image/png;base64," + b64(png())}, "src"),
        ({"src": b64(b"GIF89a" + b"\0" * 50)}, "src"),
    ],
)
def test_image_upload_refuses_bad_fields(
    vipps_fake: FakeVippsServer, api: Api, overrides: dict, name: str
) -> None:
    response = api.upload("img-1", png(), **overrides)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert name in invalid_params(response)
    assert vipps_fake.images() == {}


@pytest.mark.parametrize("data", [png(400, 166), jpeg(400, 166)], ids=["png", "jpeg"])
def test_image_height_must_be_at_least_167(api: Api, data: bytes) -> None:
    response = api.upload("short", data)
    assert response.status_code == 400
    assert "height" in response.json()["detail"]


def test_image_size_limit_counts_decoded_bytes(vipps_fake: FakeVippsServer, api: Api) -> None:
    limit = 2 * 1024 * 1024
    image = png()
    exactly = image + b"\0" * (limit - len(image))
    assert api.upload("exact", exactly).status_code == 200

    too_big = api.upload("big", exactly + b"\0")
    assert too_big.status_code == 400
    assert "size" in too_big.json()["detail"]
    assert set(vipps_fake.images()) == {"exact"}


def test_duplicate_image_is_409_and_keeps_the_first_bytes(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    first, second = png(), jpeg()
    assert api.upload("img-1", first).status_code == 200
    duplicate = api.upload("img-1", second)
    assert duplicate.status_code == 409
    assert "duplicate" in duplicate.json()["detail"]
    assert vipps_fake.images()["img-1"] == first


def test_duplicate_image_can_mimic_the_2022_400(vipps_fake: FakeVippsServer, api: Api) -> None:
    vipps_fake.duplicate_image_status = 400
    assert api.upload("img-1", png()).status_code == 200
    duplicate = api.upload("img-1", png())
    assert duplicate.status_code == 400
    assert "duplicate" in duplicate.json()["detail"]
    vipps_fake.reset()  # restores the constructor's configuration
    assert vipps_fake.duplicate_image_status == 409


def test_image_dimensions_reads_headers_without_pillow() -> None:
    assert image_dimensions(png(321, 654)) == ("PNG", 321, 654)
    assert image_dimensions(jpeg(321, 654)) == ("JPEG", 321, 654)
    assert image_dimensions(jpeg(120, 180, progressive=True)) == ("JPEG", 120, 180)
    with pytest.raises(ValueError, match="PNG nor JPEG"):
        image_dimensions(b"GIF89a")
    with pytest.raises(ValueError, match="SOF"):
        image_dimensions(b"\xff\xd8\xff\xd9")


# --------------------------------------------------------------------------- v2 categories


def test_category_put_replaces_the_previous_one(vipps_fake: FakeVippsServer, api: Api) -> None:
    assert api.upload("img-1", png()).status_code == 200
    first = api.put_category(
        "order-1",
        {
            "category": "ORDER_CONFIRMATION",
            "orderDetailsUrl": "https://shop.example/o/1",
            "imageId": "img-1",
        },
    )
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/plain")
    assert str(uuid.UUID(first.text)) == first.text  # a bare UUID, not JSON

    second = api.put_category(
        "order-1", {"category": "DELIVERY", "orderDetailsUrl": "myshop://orders/1"}
    )
    assert second.status_code == 200
    expected = {"category": "DELIVERY", "orderDetailsUrl": "myshop://orders/1", "imageId": None}
    assert vipps_fake.category("order-1") == expected
    assert api.get_order("order-1").json() == {"category": expected, "receipt": None}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"category": "receipt", "orderDetailsUrl": "https://x.example"}, {"category"}),
        ({"category": "RECEIPT", "orderDetailsUrl": "http://x.example"}, {"orderDetailsUrl"}),
        ({"category": "RECEIPT", "orderDetailsUrl": "javascript:alert(1)"}, {"orderDetailsUrl"}),
        ({"category": "RECEIPT", "orderDetailsUrl": "/relative"}, {"orderDetailsUrl"}),
        ({"category": "RECEIPT"}, {"orderDetailsUrl"}),
        ({"orderDetailsUrl": "https://x.example", "imageId": "bad id"}, {"category", "imageId"}),
    ],
)
def test_category_validation(
    vipps_fake: FakeVippsServer, api: Api, body: dict, names: set[str]
) -> None:
    response = api.put_category("order-1", body)
    assert response.status_code == 400
    assert set(invalid_params(response)) == names
    assert vipps_fake.category("order-1") is None


def send_category(api: Api, version: str, image_id: str) -> requests.Response:
    """A v2 PUT or a v3 POST of a link to order-1 that names ``image_id``."""
    if version == "v2":
        body = {"category": "RECEIPT", "orderDetailsUrl": "https://x.example", "imageId": image_id}
        return api.put_category("order-1", body)
    body = {
        "orderId": "order-1",
        "paymentType": "ECOM",
        "type": "RECEIPT",
        "url": "https://x.example",
        "imageId": image_id,
    }
    return api.call("POST", f"{OM}/v3/categories", json=body)


def stored_image_ids(fake: FakeVippsServer, msn: str | None = None) -> list[str | None]:
    """The imageId of each link stored for order-1, v2 first."""
    v2 = fake.category("order-1", msn=msn)
    v3 = [category.get("imageId") for category in fake.categories_v3("order-1", msn=msn)]
    return v3 if v2 is None else [v2["imageId"], *v3]


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_a_category_naming_an_image_never_uploaded_is_404(
    vipps_fake: FakeVippsServer, api: Api, version: str
) -> None:
    refused = send_category(api, version, "missing-1")

    assert refused.status_code == 404
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert "'missing-1'" in detail
    assert "must be uploaded first with POST /order-management/v1/images" in detail
    assert set(invalid_params(refused)) == {"imageId"}
    assert stored_image_ids(vipps_fake) == []

    assert api.upload("missing-1", png()).status_code == 200
    assert send_category(api, version, "missing-1").status_code in (200, 201)
    assert stored_image_ids(vipps_fake) == ["missing-1"]


@pytest.mark.parametrize("version", ["v2", "v3"])
@pytest.mark.parametrize(("setting", "status"), [(400, 400), (None, "stored")])
def test_unknown_image_status_can_be_400_or_accept(
    vipps_fake: FakeVippsServer, api: Api, version: str, setting: int | None, status: Any
) -> None:
    vipps_fake.unknown_image_status = setting  # on the running server
    response = send_category(api, version, "missing-1")
    if status == "stored":
        assert response.status_code in (200, 201)
        assert stored_image_ids(vipps_fake) == ["missing-1"]
    else:
        assert response.status_code == status
        assert response.json()["title"] == "One or more validation errors occurred."
        assert "POST /order-management/v1/images" in response.json()["detail"]
        assert stored_image_ids(vipps_fake) == []


def test_unknown_image_status_is_a_checked_keyword_that_reset_restores() -> None:
    with FakeVippsServer(unknown_image_status=None) as fake:
        client = Api(fake)
        try:
            assert send_category(client, "v2", "missing-1").status_code == 200
            fake.unknown_image_status = 404
            assert send_category(client, "v2", "missing-2").status_code == 404
            fake.reset()
            assert fake.unknown_image_status is None
            with pytest.raises(ValueError, match="unknown_image_status must be 404"):
                fake.unknown_image_status = 403
            assert fake.unknown_image_status is None
        finally:
            client.close()
    with pytest.raises(ValueError, match="unknown_image_status"):
        FakeVippsServer(unknown_image_status="accept")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_an_image_counts_only_for_the_merchant_that_uploaded_it(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant, version: str
) -> None:
    other = Api(vipps_fake, merchant_b)
    try:
        assert api.upload("img-a", png()).status_code == 200
        refused = send_category(other, version, "img-a")
        assert refused.status_code == 404
        assert merchant_b.msn in refused.json()["detail"]
        assert stored_image_ids(vipps_fake, msn=merchant_b.msn) == []
        assert send_category(api, version, "img-a").status_code in (200, 201)
    finally:
        other.close()


def test_wrong_content_type_and_bad_json(api: Api) -> None:
    as_form = api.call("PUT", f"{OM}/v2/ECOM/categories/order-1", data={"category": "RECEIPT"})
    assert as_form.status_code == 415
    broken = api.call(
        "PUT",
        f"{OM}/v2/ECOM/categories/order-1",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert "body" in invalid_params(broken)


# --------------------------------------------------------------------------- v2 receipts


def test_receipt_is_stored_as_sent_and_echoed(vipps_fake: FakeVippsServer, api: Api) -> None:
    body = receipt_body(
        line(),
        line(
            name="Shipping",
            id="shipping",
            totalAmount=4900,
            totalAmountExcludingTax=3920,
            totalTaxAmount=980,
            isShipping=True,
            unitInfo=...,
        ),
        line(
            name="Returned",
            id="sku-2",
            isReturn=True,
            taxRate=None,
            taxPercentage=25,
            unitInfo={"unitPrice": 100, "quantity": "2.5", "quantityUnit": "KG"},
        ),
        tipAmount=0,
        paymentSources={"card": 12500, "giftCard": 0},
        barcode={"format": "EAN-13", "data": "4006381333931"},
        receiptNumber="0527013501",
        # deprecated fields are accepted and never cross-checked
        totalAmount=1,
        totalTax=999999,
        shippingInfo={"amount": 1},
        terminalId="t-1",
    )
    response = api.post_receipt("order-1", body)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert len(response.text) == 36

    assert vipps_fake.receipt("order-1") == body
    assert api.get_order("order-1").json() == {"category": None, "receipt": body}


def test_receipt_validation_reports_every_problem_with_json_paths(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    body = receipt_body(
        line(),
        line(totalAmount=125.5, totalTaxAmount=-1, discount=-5),
        line(
            taxRate=None,
            name="",
            isReturn="yes",
            unitInfo={"unitPrice": 100, "quantity": 2, "quantityUnit": "BOX"},
        ),
        line(taxRate=10001, unitInfo={"unitPrice": 100, "quantity": "1.123456789"}),
        line(taxRate=None, taxPercentage=101, unitInfo={"quantity": "12345678901"}),
        currency="SEK",
        tipAmount=-1,
        paymentSources={"card": "100"},
        barcode={"format": "EAN-13", "data": "4006381333932"},
    )
    response = api.post_receipt("order-1", body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert set(problem) >= {"type", "title", "detail", "instance", "invalidParams"}
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", problem["instance"])
    assert set(invalid_params(response)) == {
        "orderLines[1].totalAmount",
        "orderLines[1].totalTaxAmount",
        "orderLines[1].discount",
        "orderLines[2].name",
        "orderLines[2].taxRate",
        "orderLines[2].isReturn",
        "orderLines[2].unitInfo.quantity",
        "orderLines[2].unitInfo.quantityUnit",
        "orderLines[3].taxRate",
        "orderLines[3].unitInfo.quantity",
        "orderLines[4].taxPercentage",
        "orderLines[4].unitInfo.unitPrice",
        "orderLines[4].unitInfo.quantity",
        "bottomLine.currency",
        "bottomLine.tipAmount",
        "bottomLine.paymentSources.card",
        "bottomLine.barcode.data",
    }
    assert vipps_fake.receipt("order-1") is None


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"bottomLine": {"currency": "NOK"}}, "orderLines"),
        ({"orderLines": [], "bottomLine": {"currency": "NOK"}}, "orderLines"),
        ({"orderLines": [line()]}, "bottomLine"),
        ({"orderLines": [line()], "bottomLine": {}}, "bottomLine.currency"),
        ({"orderLines": [line(id=...)], "bottomLine": {"currency": "NOK"}}, "orderLines[0].id"),
        (receipt_body(line(totalAmount=100.0)), "orderLines[0].totalAmount"),
        (receipt_body(line(totalAmount=True)), "orderLines[0].totalAmount"),
        (receipt_body(line(unitInfo={"unitPrice": 1})), "orderLines[0].unitInfo.quantity"),
        (receipt_body(barcode={"format": "QR", "data": "x"}), "bottomLine.barcode.format"),
        (receipt_body(barcode={"format": "EAN-13", "data": "123456"}), "bottomLine.barcode.data"),
        (receipt_body(barcode={"format": "CODE 39", "data": "lower"}), "bottomLine.barcode.data"),
        (receipt_body(barcode={"format": "CODE 128"}), "bottomLine.barcode.data"),
        ([line()], "body"),
    ],
)
def test_receipt_single_problems(api: Api, body: Any, name: str) -> None:
    response = api.post_receipt("order-1", body)
    assert response.status_code == 400
    assert name in invalid_params(response)


def test_identity_mismatch_has_the_exact_detail(api: Api) -> None:
    response = api.post_receipt("order-1", receipt_body(line(), line(totalTaxAmount=2499)))
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Total amount - total amount excluding tax don't match order line total tax amount"
    )
    assert invalid_params(response) == {"orderLines[1].totalTaxAmount": IDENTITY_MISMATCH}


def test_valid_barcodes_and_units(api: Api) -> None:
    body = receipt_body(
        line(unitInfo={"unitPrice": 100, "quantity": "0.82200000", "quantityUnit": None}),
        line(
            unitInfo={"unitPrice": 100, "quantity": "3", "quantityUnit": "KWH"},
            discount=None,
            isReturn=None,
        ),
        barcode={"format": "CODE 39", "data": "SC0527013501 "},
    )
    assert api.post_receipt("order-1", body).status_code == 201
    assert (
        api.post_receipt(
            "order-2", receipt_body(barcode={"format": "CODE 128", "data": "Abc-123!"})
        ).status_code
        == 201
    )


def test_second_receipt_is_409_even_when_identical(vipps_fake: FakeVippsServer, api: Api) -> None:
    body = receipt_body()
    first = api.call(
        "POST", f"{OM}/v2/ECOM/receipts/order-1", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == 201
    again = api.call(
        "POST", f"{OM}/v2/ECOM/receipts/order-1", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert again.status_code == 409
    assert again.headers["Content-Type"].startswith("application/problem+json")
    different = api.post_receipt("order-1", receipt_body(line(name="Other")))
    assert different.status_code == 409
    assert vipps_fake.receipt("order-1") == body
    # the same orderId under RECURRING is another order
    assert api.post_receipt("order-1", body, payment_type="recurring").status_code == 201


def test_get_order_404_when_nothing_is_stored(api: Api) -> None:
    response = api.get_order("nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert {"type", "title", "detail", "instance"} <= set(response.json())


def test_inspection_returns_copies_and_store_receipt_seeds(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    vipps_fake.store_receipt("seeded-1", receipt_body())
    assert api.post_receipt("seeded-1", receipt_body()).status_code == 409
    copy_of = vipps_fake.receipt("seeded-1")
    assert copy_of is not None
    copy_of["orderLines"].clear()
    assert vipps_fake.receipt("seeded-1") == receipt_body()
    vipps_fake.requests.clear()
    assert len(vipps_fake.requests) == 2  # token + POST
    assert isinstance(vipps_fake.requests[0], RecordedRequest)


# --------------------------------------------------------------------------- v3 categories


def test_v3_category_lifecycle(vipps_fake: FakeVippsServer, api: Api) -> None:
    body = {
        "orderId": "order-1",
        "paymentType": "ECOM",
        "type": "RECEIPT",
        "url": "https://shop.example/r/1",
    }
    created = api.call("POST", f"{OM}/v3/categories", json=body)
    assert created.status_code == 201
    first_id = created.json()["categoryId"]
    assert api.upload("img", png()).status_code == 200
    second_id = api.call(
        "POST", f"{OM}/v3/categories", json={**body, "type": "TICKET", "imageId": "img"}
    ).json()["categoryId"]
    assert first_id != second_id

    listed = api.call("GET", f"{OM}/v3/categories", params={"orderId": "order-1"})
    assert listed.status_code == 200
    assert [item["categoryId"] for item in listed.json()["categories"]] == [first_id, second_id]
    assert api.call("GET", f"{OM}/v3/categories", params={"orderId": "other"}).json() == {
        "categories": []
    }

    fetched = api.call("GET", f"{OM}/v3/categories/{first_id.upper()}")
    assert fetched.status_code == 200
    assert fetched.json() == {"categoryId": first_id, **body}

    deleted = api.call("DELETE", f"{OM}/v3/categories/{first_id}")
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert api.call("DELETE", f"{OM}/v3/categories/{first_id}").status_code == 404
    assert api.call("GET", f"{OM}/v3/categories/{first_id}").status_code == 404
    assert [item["categoryId"] for item in vipps_fake.categories_v3("order-1")] == [second_id]


def test_v3_validation(vipps_fake: FakeVippsServer, api: Api) -> None:
    response = api.call(
        "POST",
        f"{OM}/v3/categories",
        json={"orderId": "bad id", "paymentType": "EPAYMENT", "type": "X", "url": "http://x"},
    )
    assert response.status_code == 400
    assert set(invalid_params(response)) == {"orderId", "paymentType", "type", "url"}
    assert api.call("GET", f"{OM}/v3/categories").status_code == 400
    assert api.call("GET", f"{OM}/v3/categories", params={"orderId": "bad id"}).status_code == 400
    assert api.call("GET", f"{OM}/v3/categories/not-a-uuid").status_code == 400
    assert api.call("DELETE", f"{OM}/v3/categories/not-a-uuid").status_code == 400


def test_v3_cap_is_configurable(vipps_fake: FakeVippsServer, api: Api) -> None:
    vipps_fake.v3_category_cap = 1
    body = {
        "orderId": "order-1",
        "paymentType": "ECOM",
        "type": "RECEIPT",
        "url": "https://x.example",
    }
    assert api.call("POST", f"{OM}/v3/categories", json=body).status_code == 201
    assert api.call("POST", f"{OM}/v3/categories", json=body).status_code == 400
    assert (
        api.call("POST", f"{OM}/v3/categories", json={**body, "orderId": "order-2"}).status_code
        == 201
    )


# --------------------------------------------------------------------------- faults


def test_fail_next_then_recover(vipps_fake: FakeVippsServer, api: Api) -> None:
    api.token  # noqa: B018 - fetch before arming: unfiltered faults skip the token call anyway
    vipps_fake.faults.fail_next(2, 502)
    assert [api.get_order("o").status_code for _ in range(3)] == [502, 502, 404]
    assert [record.fault for record in vipps_fake.requests_for("GET")] == [
        "fail:502",
        "fail:502",
        None,
    ]
    assert vipps_fake.faults.pending == 0


def test_429_has_azure_body_and_retry_after(vipps_fake: FakeVippsServer, api: Api) -> None:
    vipps_fake.faults.fail_next(status=429, retry_after=7)
    response = api.post_receipt("order-1", receipt_body())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 7 seconds.",
    }
    assert vipps_fake.receipt("order-1") is None  # not processed

    vipps_fake.faults.fail_next(status=429)
    assert api.get_order("order-1").headers["Retry-After"] == "1"


def test_unfiltered_faults_skip_the_token_call_but_a_path_can_target_it(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    vipps_fake.faults.fail_next(status=503)
    assert api.get_order("o").status_code == 503  # the token fetch inside api.headers() worked
    vipps_fake.faults.fail_next(status=500, path="AccessToken")
    assert api.fetch_token().status_code == 500
    assert api.fetch_token().status_code == 200


def test_drop_before_processing_stores_nothing(vipps_fake: FakeVippsServer, api: Api) -> None:
    api.token  # noqa: B018
    vipps_fake.faults.drop_next(path="/receipts/")
    with pytest.raises(requests.ConnectionError):
        api.post_receipt("order-1", receipt_body())
    assert vipps_fake.receipt("order-1") is None
    record = vipps_fake.requests[-1]
    assert (record.status, record.fault) == (None, "drop")
    assert api.post_receipt("order-1", receipt_body()).status_code == 201


def test_drop_after_processing_keeps_the_effect(vipps_fake: FakeVippsServer, api: Api) -> None:
    """The 'receipt posted twice' case: the first POST worked, but its answer was lost."""
    api.token  # noqa: B018
    vipps_fake.faults.drop_next(after_processing=True)
    with pytest.raises(requests.ConnectionError):
        api.post_receipt("order-1", receipt_body())
    assert vipps_fake.receipt("order-1") == receipt_body()
    record = vipps_fake.requests[-1]
    assert (record.status, record.fault) == (201, "drop:after_processing")

    retry = api.post_receipt("order-1", receipt_body())
    assert retry.status_code == 409
    assert api.get_order("order-1").json()["receipt"] == receipt_body()


def test_delay_slows_matching_requests(vipps_fake: FakeVippsServer, api: Api) -> None:
    api.token  # noqa: B018
    vipps_fake.faults.delay(0.3, path="/v2/")
    started = time.monotonic()
    assert api.get_order("o").status_code == 404
    assert time.monotonic() - started >= 0.3
    assert vipps_fake.requests[-1].fault == "delay:0.3"
    with pytest.raises(requests.Timeout):
        api.get_order("o", timeout=0.05)
    vipps_fake.faults.clear()
    started = time.monotonic()
    api.call("GET", f"{OM}/v3/categories", params={"orderId": "o"})
    assert time.monotonic() - started < 0.3


def _random_run(fake: FakeVippsServer, api: Api) -> list[str | None]:
    fake.faults.clear()
    fake.clear_requests()
    fake.faults.random(0.5, seed=1234)
    for _ in range(30):
        with contextlib.suppress(requests.ConnectionError):
            api.get_order("o")
    return [record.fault for record in fake.requests_for("GET")]


def test_random_faults_are_reproducible_with_a_seed(vipps_fake: FakeVippsServer, api: Api) -> None:
    api.token  # noqa: B018
    first = _random_run(vipps_fake, api)
    second = _random_run(vipps_fake, api)
    assert first == second
    kinds = {fault.split(":")[1] for fault in first if fault}
    assert {"429", "drop"} <= kinds
    assert kinds & {"500", "502", "503"}
    assert 5 <= first.count(None) <= 25

    vipps_fake.faults.clear()
    vipps_fake.faults.random(1.0, kinds=("429",), retry_after=2)
    response = api.get_order("o")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")


def test_fault_arguments_are_checked(vipps_fake: FakeVippsServer) -> None:
    with pytest.raises(ValueError, match="count"):
        vipps_fake.faults.fail_next(0)
    with pytest.raises(ValueError, match="status"):
        vipps_fake.faults.fail_next(status=200)
    with pytest.raises(ValueError, match="rate"):
        vipps_fake.faults.random(1.5)
    with pytest.raises(ValueError, match="kinds"):
        vipps_fake.faults.random(0.5, kinds=("timeout",))


# --------------------------------------------------------------------------- isolation, HTTP


def test_state_is_per_merchant_serial_number(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant
) -> None:
    other = Api(vipps_fake, merchant_b)
    try:
        assert api.post_receipt("order-1", receipt_body()).status_code == 201
        assert other.get_order("order-1").status_code == 404
        body_b = receipt_body(line(name="B's socks"))
        assert other.post_receipt("order-1", body_b).status_code == 201
        assert vipps_fake.receipt("order-1") == receipt_body()
        assert vipps_fake.receipt("order-1", msn=merchant_b.msn) == body_b

        assert api.upload("img", png()).status_code == 200
        assert other.upload("img", jpeg()).status_code == 200  # image ids are per merchant
        assert vipps_fake.images(msn=merchant_b.msn)["img"].startswith(b"\xff\xd8")

        created = api.call(
            "POST",
            f"{OM}/v3/categories",
            json={
                "orderId": "order-1",
                "paymentType": "ECOM",
                "type": "RECEIPT",
                "url": "https://x.example",
            },
        ).json()["categoryId"]
        assert other.call("GET", f"{OM}/v3/categories/{created}").status_code == 404
        assert other.call("DELETE", f"{OM}/v3/categories/{created}").status_code == 404
        assert vipps_fake.categories_v3("order-1", msn=merchant_b.msn) == []
    finally:
        other.close()


def test_concurrent_posts_of_one_receipt_store_it_once(vipps_fake: FakeVippsServer) -> None:
    clients = [Api(vipps_fake) for _ in range(12)]
    try:
        for client in clients:
            client.token  # noqa: B018
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            statuses = list(
                pool.map(lambda c: c.post_receipt("order-1", receipt_body()).status_code, clients)
            )
    finally:
        for client in clients:
            client.close()
    assert sorted(statuses) == [201] + [409] * 11


def test_keep_alive_reuses_one_connection(vipps_fake: FakeVippsServer, api: Api) -> None:
    statuses = [api.get_order(f"order-{n}").status_code for n in range(40)]
    statuses.append(api.post_receipt("order-1", receipt_body()).status_code)
    statuses.append(
        api.put_category(
            "order-1", {"category": "RECEIPT", "orderDetailsUrl": "https://x.example"}
        ).status_code
    )
    statuses.append(
        api.call("DELETE", f"{OM}/v3/categories/337f5e5d-288b-40d5-be14-901cc3acacc0").status_code
    )
    statuses.append(api.get_order("order-1").status_code)
    assert statuses == [404] * 40 + [201, 200, 404, 200]
    assert len({record.connection for record in vipps_fake.requests}) == 1


def test_authorization_is_redacted_in_the_log(vipps_fake: FakeVippsServer, api: Api) -> None:
    api.get_order("o")
    record = vipps_fake.requests[-1]
    assert record.headers["authorization"] == "Bearer <redacted>"
    assert api.token not in repr(vipps_fake.requests)
    assert record.token_jti == claims_of(api.token)["jti"]


def test_json_success_bodies_and_extra_details() -> None:
    with FakeVippsServer(success_body="json", problem_details_key="extraDetails") as fake:
        client = Api(fake)
        try:
            created = client.post_receipt("order-1", receipt_body())
            assert created.status_code == 201
            assert created.headers["Content-Type"].startswith("application/json")
            assert isinstance(created.json(), str)
            refused = client.post_receipt("order-2", receipt_body(line(totalTaxAmount=1)))
            assert refused.json()["extraDetails"][0]["name"] == "orderLines[0].totalTaxAmount"
            assert "invalidParams" not in refused.json()
        finally:
            client.close()


def test_start_and_stop_are_idempotent_and_restart_keeps_the_port() -> None:
    fake = FakeVippsServer()
    with pytest.raises(RuntimeError):
        _ = fake.url
    fake.start()
    fake.start()
    url = fake.url
    assert url.startswith("http://127.0.0.1:")
    fake.stop()
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/accesstoken/get", timeout=2)
    with fake:
        assert fake.url == url
        assert (
            requests.post(
                f"{url}/accesstoken/get", headers=token_headers(fake.merchant), timeout=2
            ).status_code
            == 200
        )
    assert not fake.running


# --------------------------------------------------------------------------- looking at the fake


def _send_one_of_everything(api: Api, image: bytes) -> dict[str, Any]:
    """An order as a shop sends it: image, v2 link, v3 link, receipt; returns what was sent."""
    sent = {
        "receipt": receipt_body(line(), line(name="Shipping", id="ship", isShipping=True)),
        "category": {
            "category": "RECEIPT",
            "orderDetailsUrl": "https://shop.example/o/1",
            "imageId": "img-1",
        },
        "v3": {
            "orderId": "order-1",
            "paymentType": "ECOM",
            "type": "TICKET",
            "url": "myshop://tickets/1",
        },
    }
    assert api.upload("img-1", image).status_code == 200
    assert api.put_category("order-1", sent["category"], payment_type="ecom").status_code == 200
    created = api.call("POST", f"{OM}/v3/categories", json=sent["v3"])
    sent["v3"] = {"categoryId": created.json()["categoryId"], **sent["v3"]}
    assert api.post_receipt("order-1", sent["receipt"]).status_code == 201
    return sent


def test_state_endpoint_shows_what_each_merchant_holds_without_credentials(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant
) -> None:
    image = png(200, 300)
    sent = _send_one_of_everything(api, image)
    other = Api(vipps_fake, merchant_b)
    try:
        recurring = receipt_body(line(name="Subscription"))
        assert other.post_receipt("sub-1", recurring, payment_type="recurring").status_code == 201
    finally:
        other.close()

    response = requests.get(f"{vipps_fake.url}/_fake/state", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    merchants = response.json()["merchants"]
    assert {"123456", "654321"} <= set(merchants)  # and any other test's sales units
    assert merchants["123456"] == {
        "msn": "123456",
        "name": "",
        "receipts": {"ECOM": {"order-1": sent["receipt"]}, "RECURRING": {}},
        "categories": {"ECOM": {"order-1": sent["category"]}, "RECURRING": {}},
        "categoriesV3": {"ECOM": {"order-1": [sent["v3"]]}, "RECURRING": {}},
        "images": {
            "img-1": {
                "format": "PNG",
                "width": 200,
                "height": 300,
                "size": len(image),
                "sha256": hashlib.sha256(image).hexdigest(),
            }
        },
        "payments": {},
    }
    assert merchants["654321"]["receipts"] == {"ECOM": {}, "RECURRING": {"sub-1": recurring}}
    assert merchants["654321"]["images"] == {}

    one = requests.get(f"{vipps_fake.url}/_fake/state/654321", timeout=5)
    assert one.status_code == 200
    assert one.json() == merchants["654321"]
    assert requests.get(f"{vipps_fake.url}/_fake/state/999999", timeout=5).status_code == 404


def test_state_describes_seeded_images_it_cannot_read(vipps_fake: FakeVippsServer) -> None:
    vipps_fake.store_image("junk", b"not an image")
    images = requests.get(f"{vipps_fake.url}/_fake/state/123456", timeout=5).json()["images"]
    assert images == {
        "junk": {
            "format": None,
            "width": None,
            "height": None,
            "size": 12,
            "sha256": hashlib.sha256(b"not an image").hexdigest(),
        }
    }


def test_front_page_says_what_it_is_and_where_to_look(
    vipps_fake: FakeVippsServer, merchant_b: FakeMerchant
) -> None:
    response = requests.get(f"{vipps_fake.url}/", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "Fake Vipps MobilePay API" in page
    assert "123456" in page
    assert "654321" in page
    assert 'href="/preview/"' in page
    assert 'href="/_fake/state"' in page
    # self-contained: nothing is loaded from anywhere
    assert not re.search(r"<script|<link|<img|<iframe|src=|url\(|@import", page)
    assert not re.search(r'href="(?!/)', page)


def test_looking_is_never_faulted_nor_recorded(vipps_fake: FakeVippsServer, api: Api) -> None:
    assert api.post_receipt("order-1", receipt_body()).status_code == 201
    vipps_fake.clear_requests()
    vipps_fake.faults.fail_next(status=503)

    for path in (
        "/",
        "/_fake/state",
        "/_fake/state/123456",
        "/preview/",
        "/preview/123456/ECOM/order-1",
    ):
        assert requests.get(f"{vipps_fake.url}{path}", timeout=5).status_code == 200, path

    assert vipps_fake.requests == []
    assert vipps_fake.faults.pending == 1  # still armed for the next API call
    assert api.get_order("order-1").status_code == 503


def test_preview_pages_list_and_draw_what_was_sent(vipps_fake: FakeVippsServer, api: Api) -> None:
    _send_one_of_everything(api, png())

    index = requests.get(f"{vipps_fake.url}/preview/", timeout=5)
    assert 'href="/preview/123456/ECOM/order-1"' in index.text
    page = requests.get(vipps_fake.preview_url("order-1"), timeout=5)
    assert page.status_code == 200
    assert "Socks" in page.text
    assert requests.get(vipps_fake.preview_url("order-2"), timeout=5).status_code == 404


# --------------------------------------------------------------------------- tokens


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_unsigned_and_foreign_tokens_are_refused(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    genuine = api.token
    header, _, signature = genuine.split(".")
    claims = claims_of(genuine)
    with FakeVippsServer() as other_fake:  # same default keys, its own signing key
        other = Api(other_fake)
        try:
            foreign = other.token
        finally:
            other.close()
    refused = {
        "longer life": f"{header}.{_segment({**claims, 'exp': claims['exp'] + 86400})}.{signature}",
        "other merchant": f"{header}.{_segment({**claims, 'msn': '654321'})}.{signature}",
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "other fake": foreign,
    }
    for why, token in refused.items():
        response = api.get_order("order-1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, why
        note = vipps_fake.requests[-1].note or ""
        assert note.startswith("token was not issued by this server"), (why, note)
    assert api.get_order("order-1").status_code == 404  # the genuine token still works


# --------------------------------------------------------------------------- plugin, CLI


@pytest.fixture
def _existing_settings(settings: Any) -> None:
    settings.VIPPS_ORDER_MANAGEMENT = {"DISPATCH": "immediate", "BASE_URL": "https://api.vipps.no"}


@pytest.mark.usefixtures("_existing_settings")
def test_vipps_fake_settings_points_the_app_at_the_fake(
    vipps_fake_settings: FakeVippsServer, settings: Any
) -> None:
    assert {
        "DISPATCH": "immediate",
        "BASE_URL": vipps_fake_settings.url,
        "CLIENT_ID": "fake-client-id",
        "CLIENT_SECRET": "fake-client-secret",
        "SUBSCRIPTION_KEY": "fake-subscription-key",
        "MERCHANT_SERIAL_NUMBER": "123456",
    } == settings.VIPPS_ORDER_MANAGEMENT


def test_cli_prints_a_banner_a_shell_can_source_and_serves_until_sigterm() -> None:
    secret = "cli secret with 'quotes' and $HOME"
    command = [
        sys.executable,
        "-m",
        "vipps_order_management.testing.fake_server",
        "--port",
        "0",
        "--client-secret",
        secret,
        "--msn",
        "7654",
    ]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            banner = printed_until(process, "# Press Ctrl+C to stop.")
            # The whole banner is shell; what it exports is exactly what the app reads.
            show = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
            sourced = subprocess.run(
                ["sh", "-c", f"{banner}\n{show}"],
                env={},
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
            exported = {
                name: value
                for name, value in json.loads(sourced.stdout).items()
                if name.startswith("VIPPS_ORDER_MANAGEMENT_")
            }
            url = exported["VIPPS_ORDER_MANAGEMENT_BASE_URL"]
            assert url.startswith("http://127.0.0.1:")
            assert exported == {
                "VIPPS_ORDER_MANAGEMENT_BASE_URL": url,
                "VIPPS_ORDER_MANAGEMENT_CLIENT_ID": "fake-client-id",
                "VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET": secret,
                "VIPPS_ORDER_MANAGEMENT_SUBSCRIPTION_KEY": "fake-subscription-key",
                "VIPPS_ORDER_MANAGEMENT_MERCHANT_SERIAL_NUMBER": "7654",
            }
            assert f"{url}/preview/" in banner
            assert f"{url}/_fake/state" in banner
            assert f"# ePayment payments and their landing pages: {url}/payments/" in banner
            headers = {
                "client_id": exported["VIPPS_ORDER_MANAGEMENT_CLIENT_ID"],
                "client_secret": exported["VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET"],
                "Ocp-Apim-Subscription-Key": exported["VIPPS_ORDER_MANAGEMENT_SUBSCRIPTION_KEY"],
            }
            token = requests.post(f"{url}/accesstoken/get", headers=headers, timeout=5)
            assert token.status_code == 200
            assert claims_of(token.json()["access_token"])["msn"] == "7654"
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "POST /accesstoken/get 200" in stderr
    assert secret not in stderr
    assert token.json()["access_token"] not in stderr


def test_http_links_only_to_hosts_allowed_for_development(vipps_fake):
    """Vipps opens https links only; the fake can allow http to named hosts, for the demo."""
    development = LinkPolicy.configured(http_hosts={"127.0.0.1"})
    with OrderManagementClient(
        base_url=vipps_fake.url, link_policy=development, **vipps_fake.credentials
    ) as client:
        category = Category("ORDER_CONFIRMATION", "http://127.0.0.1:8000/orders/1")
        with pytest.raises(VippsAPIError) as refused:
            client.put_category("ECOM", "dev-1", category)
        assert refused.value.status_code == 400
        assert "https" in str(refused.value)
        vipps_fake.http_link_hosts = frozenset({"127.0.0.1"})
        client.put_category("ECOM", "dev-1", category)
        assert vipps_fake.category("dev-1")["orderDetailsUrl"] == "http://127.0.0.1:8000/orders/1"
        with pytest.raises(PayloadValidationError):
            client.put_category("ECOM", "dev-2", Category("GENERAL", "http://evil.example/x"))
