"""The fake's ePayment over real HTTP, with ``requests``: create, the landing page, get, capture.

Each rule from ePayment's spec is tried with several inputs; the receipt that comes with a
payment is the order's Order Management receipt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from vipps_order_management.testing import FakeMerchant, FakeVippsServer

from .test_fake_server import Api, line, receipt_body

PAYMENTS = "/epayment/v1/payments"
RETURN_URL = "https://shop.example/vipps/return/1001"


@pytest.fixture
def api(vipps_fake: FakeVippsServer) -> Iterator[Api]:
    client = Api(vipps_fake)
    yield client
    client.close()


def payment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": {"currency": "NOK", "value": 12500},
        "paymentMethod": {"type": "WALLET"},
        "reference": "order-1001",
        "returnUrl": RETURN_URL,
        "userFlow": "WEB_REDIRECT",
        "paymentDescription": "Order 1001",
        "receipt": receipt_body(),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


_keys = iter(range(1, 1_000_000))


def create(api: Api, body: Any, *, key: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Idempotency-Key": key if key is not None else f"key-{next(_keys)}"}
    return api.call("POST", PAYMENTS, json=body, headers=headers, **kwargs)


def capture(
    api: Api, reference: str, value: int, *, key: str = "capture-1", currency: str = "NOK"
) -> requests.Response:
    body = {"modificationAmount": {"currency": currency, "value": value}}
    return api.call(
        "POST", f"{PAYMENTS}/{reference}/capture", json=body, headers={"Idempotency-Key": key}
    )


def get(api: Api, reference: str) -> requests.Response:
    return api.call("GET", f"{PAYMENTS}/{reference}")


def refused(response: requests.Response) -> dict[str, str]:
    """The fields of an ePayment problem (``extraDetails``), after checking its shape."""
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400
    assert problem["traceId"]
    assert "invalidParams" not in problem
    return {item["name"]: item["reason"] for item in problem["extraDetails"]}


def decide(url: str, decision: str) -> requests.Response:
    return requests.post(url, data={"decision": decision}, allow_redirects=False, timeout=5)


# --------------------------------------------------------------------------- the whole flow


def test_a_payment_is_created_approved_on_the_landing_page_and_captured(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    created = create(api, payment())
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"reference", "redirectUrl"}
    redirect = created.json()["redirectUrl"]
    assert redirect.startswith(f"{vipps_fake.url}/landing?token=")
    assert get(api, "order-1001").json()["state"] == "CREATED"

    page = requests.get(redirect, timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "125.00 NOK" in page.text
    assert "Socks" in page.text  # the receipt's line
    assert "Order 1001" in page.text
    assert ">Approve payment</button>" in page.text
    assert ">Reject</button>" in page.text

    approved = decide(redirect, "approve")
    assert approved.status_code == 303
    assert approved.headers["Location"] == RETURN_URL
    state = get(api, "order-1001").json()
    assert state["state"] == "AUTHORIZED"
    assert state["aggregate"]["authorizedAmount"] == {"currency": "NOK", "value": 12500}
    assert state["aggregate"]["capturedAmount"] == {"currency": "NOK", "value": 0}
    assert "receipt" not in state  # ePayment's GET has none: it is in Order Management

    captured = capture(api, "order-1001", 12500)
    assert captured.status_code == 200, captured.text
    assert captured.json()["aggregate"]["capturedAmount"]["value"] == 12500
    assert captured.json()["state"] == "AUTHORIZED"  # a captured payment stays AUTHORIZED
    assert get(api, "order-1001").json()["aggregate"]["capturedAmount"]["value"] == 12500


def test_the_receipt_that_comes_with_the_payment_is_the_order_management_receipt(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    body = payment()
    assert create(api, body).status_code == 201
    assert api.get_order("order-1001").json()["receipt"] == body["receipt"]
    assert api.post_receipt("order-1001", body["receipt"]).status_code == 409
    assert vipps_fake.payment("order-1001")["request"]["receipt"] == body["receipt"]

    # without a receipt nothing reaches Order Management
    assert create(api, payment(reference="order-1002", receipt=...)).status_code == 201
    assert vipps_fake.receipt("order-1002") is None


def test_a_payment_for_an_order_with_a_receipt_already_is_refused(api: Api) -> None:
    assert api.post_receipt("order-1001", receipt_body()).status_code == 201
    response = create(api, payment())
    assert response.status_code == 409
    assert response.json()["extraDetails"] == []
    assert get(api, "order-1001").status_code == 404


def test_a_rejected_payment_is_aborted_and_cannot_be_captured(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    redirect = create(api, payment()).json()["redirectUrl"]
    rejected = decide(redirect, "reject")
    assert rejected.status_code == 303
    assert rejected.headers["Location"] == RETURN_URL
    assert get(api, "order-1001").json()["state"] == "ABORTED"
    assert "payment is ABORTED" in refused(capture(api, "order-1001", 100))["reference"]
    # decided once: the page says so, and a second decision changes nothing
    assert "This payment is ABORTED" in requests.get(redirect, timeout=5).text
    assert decide(redirect, "approve").status_code == 409
    assert vipps_fake.payment("order-1001")["state"] == "ABORTED"


@pytest.mark.parametrize("token", ["", "nope", "a" * 24])
def test_an_unknown_landing_token_is_404(vipps_fake: FakeVippsServer, token: str) -> None:
    url = f"{vipps_fake.url}/landing?token={token}"
    assert requests.get(url, timeout=5).status_code == 404
    assert decide(url, "approve").status_code == 404


@pytest.mark.parametrize("decision", ["", "yes", "APPROVE"])
def test_only_approve_or_reject_decides(
    vipps_fake: FakeVippsServer, api: Api, decision: str
) -> None:
    redirect = create(api, payment()).json()["redirectUrl"]
    assert decide(redirect, decision).status_code == 409
    assert vipps_fake.payment("order-1001")["state"] == "CREATED"


def test_the_landing_pages_are_not_api_calls_never_faulted_nor_logged(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    redirect = create(api, payment()).json()["redirectUrl"]
    vipps_fake.clear_requests()
    vipps_fake.faults.fail_next(3, status=503)
    assert requests.get(redirect, timeout=5).status_code == 200
    assert requests.get(f"{vipps_fake.url}/payments/", timeout=5).status_code == 200
    assert decide(redirect, "approve").status_code == 303
    assert vipps_fake.requests == []
    assert vipps_fake.faults.pending == 3


def test_the_payments_page_lists_each_payment_with_its_landing_page(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    redirect = create(api, payment()).json()["redirectUrl"]
    create(api, payment(reference="order-1002"))
    vipps_fake.approve_payment("order-1002")
    page = requests.get(f"{vipps_fake.url}/payments/", timeout=5).text
    assert f'href="{redirect}"' in page
    assert re.search(r"order-1001</a> 125.00 NOK · CREATED", page)
    assert re.search(r"order-1002</a> 125.00 NOK · AUTHORIZED", page)


def test_approve_and_reject_from_a_test(vipps_fake: FakeVippsServer, api: Api) -> None:
    create(api, payment())
    create(api, payment(reference="order-1002"))
    assert vipps_fake.approve_payment("order-1001")["state"] == "AUTHORIZED"
    assert vipps_fake.reject_payment("order-1002")["state"] == "ABORTED"
    with pytest.raises(ValueError, match="no longer CREATED"):
        vipps_fake.approve_payment("order-1001")
    with pytest.raises(ValueError, match="no payment"):
        vipps_fake.approve_payment("order-9999")


# --------------------------------------------------------------------------- create: the rules


@pytest.mark.parametrize(
    "reference",
    ["short-1", "a" * 51, "has space1", "under_score", "dot.ted.ref", "ordre-æøå-1", 12345678, ""],
)
def test_a_reference_must_be_8_to_50_letters_digits_or_dashes(api: Api, reference: Any) -> None:
    assert "reference" in refused(create(api, payment(reference=reference)))


@pytest.mark.parametrize("reference", ["abcdefgh", "A" * 50, "shop-1001-9f3a"])
def test_references_of_the_pattern_pass(api: Api, reference: str) -> None:
    assert create(api, payment(reference=reference)).status_code == 201


@pytest.mark.parametrize(
    ("amount", "field"),
    [
        ({"currency": "NOK", "value": 0}, "amount.value"),
        ({"currency": "NOK", "value": -100}, "amount.value"),
        ({"currency": "NOK", "value": 125.5}, "amount.value"),
        ({"currency": "NOK", "value": "12500"}, "amount.value"),
        ({"currency": "NOK", "value": True}, "amount.value"),
        ({"currency": "NOK", "value": 65_000_001}, "amount.value"),
        ({"currency": "NOK"}, "amount.value"),
        ({"currency": "SEK", "value": 12500}, "amount.currency"),
        ({"currency": "nok", "value": 12500}, "amount.currency"),
        ({"value": 12500}, "amount.currency"),
        ("12500 NOK", "amount"),
        (..., "amount"),
    ],
)
def test_an_amount_is_a_positive_integer_in_minor_units_in_nok_dkk_or_eur(
    api: Api, amount: Any, field: str
) -> None:
    body = payment(amount=amount, receipt=...)
    assert field in refused(create(api, body))


@pytest.mark.parametrize(
    "amount",
    [{"currency": "DKK", "value": 1}, {"currency": "EUR", "value": 65_000_000}],
)
def test_amounts_in_the_range_pass(api: Api, amount: dict[str, Any]) -> None:
    assert create(api, payment(amount=amount, receipt=...)).status_code == 201


@pytest.mark.parametrize("method", [{"type": "VIPPS"}, {"type": "wallet"}, {}, "WALLET", ...])
def test_a_payment_method_is_wallet_or_card(api: Api, method: Any) -> None:
    problems = refused(create(api, payment(paymentMethod=method)))
    assert {"paymentMethod", "paymentMethod.type"} & set(problems)


def test_a_receipt_only_goes_with_a_wallet_payment(vipps_fake: FakeVippsServer, api: Api) -> None:
    problems = refused(create(api, payment(paymentMethod={"type": "CARD"})))
    assert problems["receipt"] == "a receipt is only allowed for WALLET payments"
    assert vipps_fake.receipt("order-1001") is None
    assert create(api, payment(paymentMethod={"type": "CARD"}, receipt=...)).status_code == 201


@pytest.mark.parametrize("flow", ["PUSH_MESSAGE", "NATIVE_REDIRECT", "QR"])
def test_flows_other_than_web_redirect_are_not_supported_by_the_fake(api: Api, flow: str) -> None:
    problems = refused(create(api, payment(userFlow=flow)))
    assert problems["userFlow"] == f"{flow} is not supported by the fake; use WEB_REDIRECT"


@pytest.mark.parametrize("flow", ["web_redirect", "REDIRECT", "", ...])
def test_a_user_flow_is_required_and_from_the_spec(api: Api, flow: Any) -> None:
    assert "userFlow" in refused(create(api, payment(userFlow=flow)))


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/back",
        "myapp://back",
        "ftp://shop.example/back",
        "javascript:alert(1)",
        "/vipps/return/1001",
        "https:// shop.example/back",
        "",
        ...,
    ],
)
def test_a_return_url_is_https_for_web_redirect(api: Api, url: Any) -> None:
    assert "returnUrl" in refused(create(api, payment(returnUrl=url)))


def test_a_return_url_may_be_plain_http_to_a_development_host(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    body = payment(returnUrl="http://127.0.0.1:8000/vipps/return/1001")
    problems = refused(create(api, body))
    assert "--allow-http-link-host 127.0.0.1" in problems["returnUrl"]
    vipps_fake.http_link_hosts = {"127.0.0.1"}
    assert create(api, body).status_code == 201


@pytest.mark.parametrize(
    "url", ["http://shop.example/receipt", "javascript:alert(1)", "receipt.html", 42]
)
def test_a_receipt_url_is_a_link_the_app_opens(api: Api, url: Any) -> None:
    assert "receiptUrl" in refused(create(api, payment(receiptUrl=url)))


@pytest.mark.parametrize("url", ["https://shop.example/vipps/orders/abc/receipt/", "shop://r/1"])
def test_receipt_urls_the_app_opens_pass(vipps_fake: FakeVippsServer, api: Api, url: str) -> None:
    assert create(api, payment(receiptUrl=url)).status_code == 201
    assert vipps_fake.payment("order-1001")["request"]["receiptUrl"] == url


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"receiptURL": "https://shop.example/r"}, "receiptURL"),
        ({"orderLines": []}, "orderLines"),
        ({"expiresAt": "2030-01-01T00:00:00Z"}, "expiresAt"),
        ({"paymentDescription": "ab"}, "paymentDescription"),
        ({"paymentDescription": "x" * 101}, "paymentDescription"),
        ({"paymentDescription": 1001}, "paymentDescription"),
        ({"metadata": {f"k{i}": "v" for i in range(6)}}, "metadata"),
        ({"metadata": {"order": 1001}}, "metadata.order"),
    ],
)
def test_other_members_follow_the_spec(api: Api, overrides: dict[str, Any], field: str) -> None:
    assert field in refused(create(api, payment(**overrides)))


def test_an_invalid_receipt_is_refused_with_its_paths_and_nothing_is_stored(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    body = payment(receipt=receipt_body(line(totalTaxAmount=1), line(name=...)))
    problems = refused(create(api, body))
    assert {"receipt.orderLines[0].totalTaxAmount", "receipt.orderLines[1].name"} <= set(problems)
    assert vipps_fake.receipt("order-1001") is None
    assert vipps_fake.payment("order-1001") is None


@pytest.mark.parametrize("body", [[], "payment", 42])
def test_a_body_is_a_json_object(api: Api, body: Any) -> None:
    assert "body" in refused(create(api, body))


def test_every_problem_is_reported_at_once(api: Api) -> None:
    body = payment(reference="x", userFlow="QR", amount={"currency": "SEK", "value": 0})
    assert {"reference", "userFlow", "amount.currency", "amount.value"} <= set(
        refused(create(api, body))
    )


# --------------------------------------------------------------------------- idempotency


@pytest.mark.parametrize("key", ["", "k" * 51, "k" * 500])
def test_an_idempotency_key_of_at_most_50_characters_is_required(api: Api, key: str) -> None:
    assert "Idempotency-Key" in refused(create(api, payment(), key=key))


def test_without_an_idempotency_key_nothing_is_created(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    response = api.call("POST", PAYMENTS, json=payment())
    assert refused(response) == {"Idempotency-Key": "The Idempotency-Key header is required"}
    assert vipps_fake.payments() == {}


def test_the_same_key_and_body_answer_the_same_and_create_one_payment(
    vipps_fake: FakeVippsServer, api: Api
) -> None:
    first = create(api, payment(), key="create-order-1001")
    again = create(api, payment(), key="create-order-1001")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert list(vipps_fake.payments()) == ["order-1001"]


@pytest.mark.parametrize(
    "other", [{"reference": "order-1002"}, {"amount": {"currency": "NOK", "value": 12501}}]
)
def test_the_same_key_with_another_body_is_a_conflict(
    vipps_fake: FakeVippsServer, api: Api, other: dict[str, Any]
) -> None:
    assert create(api, payment(), key="k").status_code == 201
    assert create(api, payment(**other), key="k").status_code == 409
    assert list(vipps_fake.payments()) == ["order-1001"]


def test_another_key_for_an_existing_reference_is_a_conflict(api: Api) -> None:
    assert create(api, payment(), key="first").status_code == 201
    assert create(api, payment(), key="second").status_code == 409


def test_keys_belong_to_their_merchant(
    vipps_fake: FakeVippsServer, api: Api, merchant_b: FakeMerchant
) -> None:
    other = Api(vipps_fake, merchant_b)
    try:
        assert create(api, payment(), key="shared").status_code == 201
        assert create(other, payment(reference="order-2001"), key="shared").status_code == 201
        assert get(other, "order-1001").status_code == 404  # nor does it see the payment
        assert capture(other, "order-1001", 100).status_code == 404
    finally:
        other.close()
    assert set(vipps_fake.payments(msn=merchant_b.msn)) == {"order-2001"}


@pytest.fixture
def merchant_b(vipps_fake: FakeVippsServer) -> FakeMerchant:
    for merchant in vipps_fake.merchants:  # merchants survive reset()
        if merchant.msn == "654321":
            return merchant
    return vipps_fake.add_merchant(msn="654321")


# --------------------------------------------------------------------------- get and capture


@pytest.mark.parametrize("path", ["", "/capture"])
def test_calls_need_the_merchants_token(vipps_fake: FakeVippsServer, path: str) -> None:
    method = "POST" if path else "GET"
    response = requests.request(method, f"{vipps_fake.url}{PAYMENTS}/order-1001{path}", timeout=5)
    assert response.status_code == 401
    assert (
        requests.post(f"{vipps_fake.url}{PAYMENTS}", json=payment(), timeout=5).status_code == 401
    )


@pytest.mark.parametrize("reference", ["short", "has_underscore", "a" * 51])
def test_get_and_capture_check_the_reference(api: Api, reference: str) -> None:
    assert "reference" in refused(get(api, reference))
    assert "reference" in refused(capture(api, reference, 100))


def test_an_unknown_payment_is_404(api: Api) -> None:
    assert get(api, "order-9999").status_code == 404
    assert capture(api, "order-9999", 100).status_code == 404


@pytest.fixture
def authorized(vipps_fake: FakeVippsServer, api: Api) -> str:
    assert create(api, payment()).status_code == 201
    vipps_fake.approve_payment("order-1001")
    return "order-1001"


def test_a_payment_is_captured_in_parts_up_to_what_was_authorised(
    api: Api, authorized: str
) -> None:
    assert capture(api, authorized, 5000, key="part-1").status_code == 200
    assert capture(api, authorized, 7500, key="part-2").status_code == 200
    assert get(api, authorized).json()["aggregate"]["capturedAmount"]["value"] == 12500
    assert (
        "more than the 0 left"
        in refused(capture(api, authorized, 1, key="part-3"))["modificationAmount.value"]
    )


@pytest.mark.parametrize(
    ("value", "currency", "field"),
    [
        (12501, "NOK", "modificationAmount.value"),
        (0, "NOK", "modificationAmount.value"),
        (-1, "NOK", "modificationAmount.value"),
        (100.0, "NOK", "modificationAmount.value"),
        (100, "DKK", "modificationAmount.currency"),
        (100, "SEK", "modificationAmount.currency"),
    ],
)
def test_a_capture_is_refused_beyond_the_payment(
    api: Api, authorized: str, value: Any, currency: str, field: str
) -> None:
    assert field in refused(capture(api, authorized, value, currency=currency))
    assert get(api, authorized).json()["aggregate"]["capturedAmount"]["value"] == 0


def test_a_payment_not_yet_approved_is_not_captured(api: Api) -> None:
    create(api, payment())
    assert "payment is CREATED" in refused(capture(api, "order-1001", 100))["reference"]


def test_a_capture_repeated_with_its_key_is_answered_again_not_captured_twice(
    api: Api, authorized: str
) -> None:
    first = capture(api, authorized, 5000, key="capture-1")
    again = capture(api, authorized, 5000, key="capture-1")
    assert again.json() == first.json()
    assert get(api, authorized).json()["aggregate"]["capturedAmount"]["value"] == 5000
    assert capture(api, authorized, 6000, key="capture-1").status_code == 409


@pytest.mark.parametrize("key", ["", "k" * 51])
def test_a_capture_needs_an_idempotency_key(api: Api, authorized: str, key: str) -> None:
    assert "Idempotency-Key" in refused(capture(api, authorized, 100, key=key))


def test_a_state_file_keeps_payments_across_a_restart(tmp_path: Any) -> None:
    path = tmp_path / "fake.json"
    with FakeVippsServer(state_file=path) as fake:
        client = Api(fake)
        redirect = create(client, payment()).json()["redirectUrl"]
        client.close()
    with FakeVippsServer(state_file=path, port=0) as fake:
        assert fake.payment("order-1001")["state"] == "CREATED"
        token = redirect.partition("?")[2]
        assert decide(f"{fake.url}/landing?{token}", "approve").status_code == 303
        assert fake.payment("order-1001")["state"] == "AUTHORIZED"
        assert fake.receipt("order-1001") == payment()["receipt"]
        state = requests.get(f"{fake.url}/_fake/state/{fake.merchant.msn}", timeout=5).json()
        assert state["payments"]["order-1001"]["state"] == "AUTHORIZED"
