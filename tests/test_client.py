"""The HTTP client against the fake Vipps, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vipps_order_management.client import (
    POST_RECEIPT,
    AccessToken,
    CacheTokenStore,
    MemoryTokenStore,
    OrderManagementClient,
)
from vipps_order_management.engine.calllog import outcome_of
from vipps_order_management.exceptions import (
    ImageValidationError,
    PayloadValidationError,
    VippsAPIError,
    VippsAuthError,
    VippsConfigurationError,
    VippsConflict,
    VippsNotFound,
    VippsTransientError,
)
from vipps_order_management.link_policy import LinkPolicy
from vipps_order_management.payloads import BottomLine, Category, OrderLine, Receipt

from .conftest import png_bytes


def a_receipt(number: str = "1001") -> Receipt:
    line = OrderLine.from_gross(
        name="Socks", id="SKU-1", unit_price=Decimal("99.00"), quantity=2, vat_rate=Decimal(25)
    )
    return Receipt([line], BottomLine("NOK", receipt_number=number))


#: A shop whose app opens myapp:// links.
SHOP_APP = LinkPolicy.configured(app_schemes=["myapp"])


@pytest.fixture
def client(vipps_fake):
    with OrderManagementClient(
        base_url=vipps_fake.url, link_policy=SHOP_APP, **vipps_fake.credentials
    ) as instance:
        yield instance


def token_calls(fake) -> int:
    return len(fake.requests_for("POST", "/accesstoken/get"))


# --------------------------------------------------------------------------- tokens


def test_the_token_is_fetched_once_and_reused(client, vipps_fake):
    client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    client.put_category("ECOM", "o-2", Category("GENERAL", "https://shop.example/2"))
    client.get_order("ECOM", "o-1")
    assert token_calls(vipps_fake) == 1
    jtis = {r.token_jti for r in vipps_fake.requests if "/order-management/" in r.path}
    assert len(jtis) == 1


def test_the_token_is_shared_through_the_store_between_clients(vipps_fake):
    store = MemoryTokenStore()
    with (
        OrderManagementClient(
            base_url=vipps_fake.url, token_store=store, **vipps_fake.credentials
        ) as first,
        OrderManagementClient(
            base_url=vipps_fake.url, token_store=store, **vipps_fake.credentials
        ) as second,
    ):
        first.get_order("ECOM", "o-1")
        second.get_order("ECOM", "o-1")
    assert token_calls(vipps_fake) == 1


def test_a_shared_token_store_is_asked_when_the_token_runs_out_not_on_every_call(vipps_fake):
    # With Redis as the token cache, asking it on every call would add a round trip per call.
    class CountingStore(MemoryTokenStore):
        gets = 0

        def get(self, key):
            CountingStore.gets += 1
            return super().get(key)

    with OrderManagementClient(
        base_url=vipps_fake.url, token_store=CountingStore(), **vipps_fake.credentials
    ) as client:
        for n in range(5):
            client.get_order("ECOM", f"o-{n}")
        asked_for_five = CountingStore.gets
        vipps_fake.expire_tokens()  # a 401 drops the token it holds, and a new one is fetched
        client.get_order("ECOM", "o-6")
    assert asked_for_five == 2  # once before taking the lock, once under it
    assert token_calls(vipps_fake) == 2


def test_a_token_is_refreshed_before_it_expires(vipps_fake, monkeypatch):
    vipps_fake.reset()
    with OrderManagementClient(base_url=vipps_fake.url, **vipps_fake.credentials) as client:
        client.get_order("ECOM", "o-1")
        stored = next(iter(client.token_store._tokens.values()))
        # The fake's tokens live an hour; we stop using one 6 minutes (10 %) before that.
        assert 3200 < stored.refresh_at - time.time() <= 3240
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 3300)
        client.get_order("ECOM", "o-1")
    assert token_calls(vipps_fake) == 2


def test_a_refused_token_is_refreshed_once_and_the_call_retried(client, vipps_fake):
    client.get_order("ECOM", "o-1")
    vipps_fake.expire_tokens()  # e.g. Vipps rotated its keys
    client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    assert token_calls(vipps_fake) == 2
    statuses = [r.status for r in vipps_fake.requests_for("PUT", "/categories/")]
    assert statuses == [401, 200]


def test_a_second_401_is_an_auth_error_not_a_loop(client, vipps_fake):
    vipps_fake.faults.fail_next(2, status=401, path="/categories/")
    with pytest.raises(VippsAuthError) as caught:
        client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    assert caught.value.status_code == 401
    assert len(vipps_fake.requests_for("PUT", "/categories/")) == 2


def test_concurrent_threads_fetch_one_token(client, vipps_fake):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.get_order("ECOM", f"o-{n}"), range(16)))
    assert token_calls(vipps_fake) == 1


def test_wrong_credentials_say_what_to_check(vipps_fake):
    credentials = {**vipps_fake.credentials, "client_secret": "wrong-secret"}
    with (
        OrderManagementClient(base_url=vipps_fake.url, **credentials) as client,
        pytest.raises(VippsAuthError) as caught,
    ):
        client.get_order("ECOM", "o-1")
    message = str(caught.value)
    assert "Check CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION_KEY and MERCHANT_SERIAL_NUMBER" in message
    assert "wrong-secret" not in message


def test_cache_token_store_round_trip():
    from django.core.cache import cache

    store = CacheTokenStore(cache)
    token = AccessToken("secret-token-value", time.time() + 100)
    store.set("k", token)
    assert store.get("k") == token
    assert "secret-token-value" not in repr(token)
    store.delete("k")
    assert store.get("k") is None


# --------------------------------------------------------------------------- headers and bodies


def test_every_call_carries_the_msn_and_short_system_headers(vipps_fake):
    with OrderManagementClient(
        base_url=vipps_fake.url,
        system_name="a-very-long-system-name-that-goes-on-and-on",
        system_version="6.1",
        **vipps_fake.credentials,
    ) as client:
        client.get_order("ECOM", "o-1")
    for request in vipps_fake.requests:
        assert (
            request.headers["Merchant-Serial-Number"]
            == vipps_fake.credentials["merchant_serial_number"]
        )
        assert request.headers["Vipps-System-Name"] == "a-very-long-system-name-that-g"  # 30 chars
        assert request.headers["Vipps-System-Version"] == "6.1"
        assert request.headers["Vipps-System-Plugin-Name"] == "vipps-order-management"
        assert request.headers["Vipps-System-Plugin-Version"]
    api_call = vipps_fake.requests_for("GET", "/order-management/")[0]
    assert api_call.headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize("success_body", ["text", "json"])
def test_ids_come_back_as_text_or_json(vipps_fake, success_body):
    vipps_fake.reset()
    vipps_fake.success_body = success_body  # the fake's switch for Vipps's two answer styles
    with OrderManagementClient(base_url=vipps_fake.url, **vipps_fake.credentials) as client:
        category_id = client.put_category(
            "ECOM", "o-1", Category("GENERAL", "https://shop.example/1")
        )
        receipt_id = client.post_receipt("ECOM", "o-1", a_receipt())
    for value in (category_id, receipt_id):
        assert value
        assert '"' not in value


def test_an_empty_success_body_is_fine():
    class Empty(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST

        def log_message(self, *args):
            pass

    with serve(Empty) as url:
        client = OrderManagementClient(
            base_url=url,
            session=None,
            client_id="c",
            client_secret="s",
            subscription_key="k",
            merchant_serial_number="1",
        )
        client.token_store.set(client._token_key, AccessToken("t", time.time() + 60))
        assert client.put_category("ECOM", "o", Category("GENERAL", "https://x.example")) is None
        client.close()


def test_full_round_trip_of_every_endpoint(client, vipps_fake):
    image_id = client.upload_image("img-1", png_bytes())
    assert image_id == "img-1"
    client.put_category(
        "ecom", "o-1", Category("DELIVERY", "https://track.example/1", image_id="img-1")
    )
    client.post_receipt("ECOM", "o-1", a_receipt())
    view = client.get_order("ECOM", "o-1")
    assert view.category.category == "DELIVERY"
    assert view.category.image_id == "img-1"
    assert view.receipt.to_api() == a_receipt().to_api()

    first = client.create_category("ECOM", "o-1", Category("TICKET", "myapp://t/1"))
    second = client.create_category("ECOM", "o-1", Category("RECEIPT", "https://shop.example/r/1"))
    listed = client.list_categories("o-1")
    assert {c.category_id for c in listed} == {first, second}
    assert client.get_category(first).url == "myapp://t/1"
    client.delete_category(first)
    assert client.get_category(first) is None
    with pytest.raises(VippsNotFound):
        client.delete_category(first)
    assert [c.category_id for c in client.list_categories("o-1")] == [second]


def test_get_order_is_none_when_vipps_has_nothing(client):
    assert client.get_order("RECURRING", "never-seen") is None


# --------------------------------------------------------------------------- errors


def test_second_receipt_is_a_conflict(client):
    client.post_receipt("ECOM", "o-1", a_receipt())
    with pytest.raises(VippsConflict) as caught:
        client.post_receipt("ECOM", "o-1", a_receipt())
    assert caught.value.status_code == 409


@pytest.mark.parametrize("status", [409, 400])
def test_duplicate_image_is_a_conflict_in_both_of_vippss_styles(vipps_fake, status):
    vipps_fake.reset()
    vipps_fake.duplicate_image_status = status
    calls = []
    with OrderManagementClient(
        base_url=vipps_fake.url, on_call=calls.append, **vipps_fake.credentials
    ) as client:
        client.upload_image("img-1", png_bytes())
        with pytest.raises(VippsConflict) as caught:
            client.upload_image("img-1", png_bytes())
        with pytest.raises(VippsAPIError) as refused:  # a 400 that is no duplicate
            client._call(POST_RECEIPT, paymentType="ECOM", orderId="o-9", json_body={})
    assert caught.value.status_code == status
    assert "duplicate" in str(caught.value).lower()
    assert not isinstance(refused.value, VippsConflict)
    # The one rule also tells the call log: the duplicate is "already there", the 400 refused.
    uploads = [call for call in calls if call.endpoint.endswith("/images")]
    assert [(call.status_code, call.already_there) for call in uploads] == [
        (200, False),
        (status, True),
    ]
    assert calls[-1].status_code == 400
    assert calls[-1].already_there is False
    assert outcome_of(status, already_there=uploads[-1].already_there) == "already_there"
    assert outcome_of(400) == "permanent"


def test_problem_details_become_fields_of_the_exception(client):
    # Bypass local validation to see what Vipps itself answers to a bad body.
    with pytest.raises(VippsAPIError) as caught:
        client._call(
            POST_RECEIPT,
            paymentType="ECOM",
            orderId="o-9",
            json_body={
                "orderLines": [
                    {
                        "name": "x",
                        "id": "1",
                        "totalAmount": 100,
                        "totalAmountExcludingTax": 80,
                        "totalTaxAmount": 19,
                        "taxRate": 2500,
                    }
                ],
                "bottomLine": {"currency": "NOK"},
            },
        )
    error = caught.value
    assert type(error) is VippsAPIError
    assert error.status_code == 400
    assert (
        error.detail
        == "Total amount - total amount excluding tax don't match order line total tax amount"
    )
    assert [p.name for p in error.invalid_params] == ["orderLines[0].totalTaxAmount"]
    assert error.instance
    assert "orderLines[0].totalTaxAmount" in str(error)
    assert not error.transient


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, VippsTransientError),
        (502, VippsTransientError),
        (503, VippsTransientError),
        (429, VippsTransientError),
        (403, VippsAuthError),
        (404, VippsNotFound),
        (400, VippsAPIError),
    ],
)
def test_status_codes_map_to_exception_types(client, vipps_fake, status, kind):
    vipps_fake.faults.fail_next(
        1, status=status, path="/categories/", retry_after=7 if status == 429 else None
    )
    with pytest.raises(kind) as caught:
        client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    assert caught.value.status_code == status
    if status == 429:
        assert caught.value.retry_after == 7
        assert caught.value.transient


def test_azure_style_bodies_are_read(vipps_fake):
    credentials = {**vipps_fake.credentials, "subscription_key": "unknown-key"}
    with (
        OrderManagementClient(base_url=vipps_fake.url, **credentials) as client,
        pytest.raises(VippsAuthError) as caught,
    ):
        client.get_order("ECOM", "o-1")
    assert "invalid subscription key" in caught.value.detail
    assert "unknown-key" not in str(caught.value)


def test_retry_after_as_an_http_date():
    from vipps_order_management.transport.answers import retry_after as _retry_after

    assert _retry_after("120") == 120
    assert (
        0
        < _retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60)))
        <= 61
    )
    assert _retry_after("soon") is None


def test_a_dropped_connection_is_transient(client, vipps_fake):
    client.get_order("ECOM", "o-0")
    vipps_fake.faults.drop_next(1, path="/categories/")
    with pytest.raises(VippsTransientError) as caught:
        client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    assert caught.value.status_code is None
    assert "could not reach Vipps" in str(caught.value)


def test_a_slow_vipps_times_out_as_transient(vipps_fake):
    vipps_fake.faults.delay(2.0, path="/categories/")
    with OrderManagementClient(
        base_url=vipps_fake.url, timeout=(2, 0.3), **vipps_fake.credentials
    ) as client:
        started = time.monotonic()
        with pytest.raises(VippsTransientError) as caught:
            client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
    assert time.monotonic() - started < 1.5
    assert "no answer from Vipps within" in str(caught.value)


def test_a_refused_connection_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        OrderManagementClient(
            base_url=f"http://127.0.0.1:{port}",
            client_id="c",
            client_secret="s",
            subscription_key="k",
            merchant_serial_number="1",
        ) as client,
        pytest.raises(VippsTransientError),
    ):
        client.get_order("ECOM", "o-1")


# --------------------------------------------------------------------------- local refusals


def test_invalid_payloads_never_reach_the_network(client, vipps_fake):
    with pytest.raises(PayloadValidationError) as caught:
        client.put_category("ECOM", "o-1", Category("GENERAL", "http://insecure.example"))
    assert caught.value.paths == ["orderDetailsUrl"]
    with pytest.raises(PayloadValidationError, match="orderId"):
        client.post_receipt("ECOM", "bad/id", a_receipt())
    with pytest.raises(PayloadValidationError, match="paymentType"):
        client.get_order("EPAYMENT", "o-1")
    with pytest.raises(ImageValidationError, match="PNG or JPEG"):
        client.upload_image("img", b"GIF89a....")
    assert vipps_fake.requests == []


def test_a_client_sends_no_app_scheme_it_was_not_told_of(vipps_fake):
    """Vipps itself accepts any scheme; the client sends only https and the shop's own."""
    with OrderManagementClient(base_url=vipps_fake.url, **vipps_fake.credentials) as strict:
        with pytest.raises(PayloadValidationError, match="add 'myapp' to APP_LINK_SCHEMES"):
            strict.put_category("ECOM", "o-1", Category("TICKET", "myapp://t/1"))
        with pytest.raises(PayloadValidationError, match="itms-services: scheme"):
            strict.create_category("ECOM", "o-1", Category("TICKET", "itms-services://?x=1"))
    assert vipps_fake.requests == []


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("api.vipps.no", "absolute URL"),
        ("https://api.vipps.no/order-management", "without /order-management"),
    ],
)
def test_bad_base_url_is_a_configuration_error(base_url, message):
    with pytest.raises(VippsConfigurationError, match=message):
        client_at(base_url)


def client_at(base_url):
    return OrderManagementClient(
        base_url=base_url,
        client_id="c",
        client_secret="s",
        subscription_key="k",
        merchant_serial_number="1",
    )


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:s3cret@api.vipps.no",
        "https://user:s3cret@[::1",
        "https://user:s3cret@api.vipps.no:99999",
        "http://:s3cret@api.vipps.no/order-management",
    ],
)
def test_a_password_in_a_refused_base_url_is_never_shown(base_url):
    """The client is used without the settings too: its own message hides the password."""
    with pytest.raises(VippsConfigurationError) as caught:
        client_at(base_url)
    assert "s3cret" not in str(caught.value)
    assert "***@" in str(caught.value)


def test_missing_credentials_are_named():
    with pytest.raises(VippsConfigurationError, match="client_secret, subscription_key"):
        OrderManagementClient(
            base_url="https://api.vipps.no",
            client_id="c",
            client_secret="",
            subscription_key=None,
            merchant_serial_number="1",
        )


# --------------------------------------------------------------------------- secrets


def test_no_secret_or_token_in_logs_reprs_or_errors(vipps_fake, caplog):
    caplog.set_level(logging.DEBUG)
    calls = []
    with OrderManagementClient(
        base_url=vipps_fake.url, on_call=calls.append, **vipps_fake.credentials
    ) as client:
        client.get_order("ECOM", "o-1")
        token = client.access_token()
        vipps_fake.faults.fail_next(1, status=500, path="/categories/")
        with pytest.raises(VippsTransientError) as caught:
            client.put_category("ECOM", "o-1", Category("GENERAL", "https://shop.example/1"))
        texts = [
            caplog.text,
            repr(client),
            str(caught.value),
            repr(caught.value),
            json.dumps([repr(c) for c in calls]),
        ]
    secrets = [
        vipps_fake.credentials["client_secret"],
        vipps_fake.credentials["subscription_key"],
        token,
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert [c.status_code for c in calls][-1] == 500
    assert calls[-1].endpoint == "/order-management/v2/{paymentType}/categories/{orderId}"


# --------------------------------------------------------------------------- helpers


class serve:
    """A one-off HTTP server with a custom handler, for answers the fake never gives."""

    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("client_secret", "s3cret\N{RIGHT SINGLE QUOTATION MARK}x", "cannot carry"),
        ("subscription_key", " key-with-space", "starts or ends with a space"),
        ("client_id", "id\x00zero", "control character"),
        ("merchant_serial_number", "", "Missing Vipps credentials: merchant_serial_number"),
    ],
)
def test_credentials_are_checked_where_they_enter_naming_them_never_their_value(
    field, value, reason
):
    credentials = {
        "client_id": "id",
        "client_secret": "secret",
        "subscription_key": "key",
        "merchant_serial_number": "123456",
        field: value,
    }
    with pytest.raises(VippsConfigurationError) as refused:
        OrderManagementClient(base_url="https://api.vipps.no", **credentials)
    assert field in str(refused.value)
    assert reason in str(refused.value)
    if value.strip():
        assert value.strip() not in str(refused.value)
