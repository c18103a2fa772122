"""Contract test: every request the client sends is valid against Vipps's own OpenAPI spec.

The spec lives beside the project in ``../shared/vipps/order-management-openapi.yaml`` (or where
``VIPPS_OM_OPENAPI_SPEC`` points) and is read in place, never copied into the project.
"""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal

import pytest
import requests
import yaml
from PIL import Image as PILImage

from vipps_order_management.client import OrderManagementClient
from vipps_order_management.exceptions import ReceiptValidationError, VippsConflict
from vipps_order_management.link_policy import LinkPolicy
from vipps_order_management.payloads import BottomLine, Category, Receipt

from .conftest import missing_service, openapi_spec_path
from .test_payloads import spec_lines_from_gross

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def spec_dict():
    path = openapi_spec_path()
    if path is None:
        missing_service(
            "Vipps's OpenAPI spec is not at ../shared/vipps/order-management-openapi.yaml; "
            "set VIPPS_OM_OPENAPI_SPEC to its path to run the contract tests"
        )
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def openapi_for(spec_dict, server_url):
    from openapi_core import OpenAPI

    spec = copy.deepcopy(spec_dict)
    # Only the host differs: the fake serves the spec's paths under /order-management.
    spec["servers"] = [{"url": f"{server_url}/order-management"}]
    return OpenAPI.from_dict(spec)


class RecordingSession(requests.Session):
    """A session that keeps every prepared request it sent, for validation afterwards."""

    def __init__(self):
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        return super().send(request, **kwargs)


@pytest.fixture
def recording(vipps_fake):
    session = RecordingSession()
    client = OrderManagementClient(
        base_url=vipps_fake.url,
        session=session,
        link_policy=LinkPolicy.configured(app_schemes=["myapp"]),
        **vipps_fake.credentials,
    )
    yield client, session
    session.close()


def validate_sent(spec_dict, server_url, session) -> int:
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    openapi = openapi_for(spec_dict, server_url)
    checked = 0
    for prepared in session.sent:
        if "/order-management/" not in prepared.url:
            continue  # the access token call belongs to another API's spec
        openapi.validate_request(RequestsOpenAPIRequest(prepared))
        checked += 1
    return checked


def png(width=400, height=400) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_every_request_the_client_sends_matches_the_spec(spec_dict, recording, vipps_fake):
    client, session = recording
    client.upload_image("socks-orange-123", png())
    client.put_category(
        "ECOM",
        "order-1001",
        Category("ORDER_CONFIRMATION", "https://shop.example/o/1", image_id="socks-orange-123"),
    )
    receipt = Receipt(spec_lines_from_gross(), BottomLine("NOK", receipt_number="1001"))
    client.post_receipt("ECOM", "order-1001", receipt)
    client.get_order("ecom", "order-1001")
    category_id = client.create_category(
        "RECURRING", "chr-1001", Category("TICKET", "myapp://tickets/1")
    )
    client.list_categories("chr-1001")
    client.get_category(category_id)
    client.delete_category(category_id)
    assert validate_sent(spec_dict, vipps_fake.url, session) == 8
    assert vipps_fake.receipt("order-1001")["orderLines"] == receipt.to_api()["orderLines"]


def test_from_gross_receipt_for_the_spec_example_is_accepted_by_fake_and_spec(
    spec_dict, recording, vipps_fake
):
    client, session = recording
    receipt = Receipt(spec_lines_from_gross(), BottomLine("NOK", receipt_number="0527013501"))
    client.post_receipt("ECOM", "PaymentReference123", receipt)
    assert validate_sent(spec_dict, vipps_fake.url, session) == 1
    stored = vipps_fake.receipt("PaymentReference123")
    assert [line["totalAmount"] for line in stored["orderLines"]] == [1000, 5000, 1000]
    with pytest.raises(VippsConflict):
        client.post_receipt("ECOM", "PaymentReference123", receipt)


def test_a_receipt_one_minor_unit_off_never_reaches_the_network(recording, vipps_fake):
    client, session = recording
    lines = spec_lines_from_gross()
    lines[0].total_tax_amount -= 1
    with pytest.raises(ReceiptValidationError) as caught:
        client.post_receipt("ECOM", "order-2", Receipt(lines, BottomLine("NOK")))
    assert caught.value.paths == ["orderLines[0].totalTaxAmount"]
    assert session.sent == []
    assert vipps_fake.requests == []


def _request_examples(spec_dict):
    for path, item in spec_dict["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or operation.get("deprecated"):
                continue
            content = (
                operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            )
            for name, example in content.get("examples", {}).items():
                yield path, method, name, example["value"]


def test_the_specs_own_request_examples_pass_the_spec_and_our_validation(spec_dict):
    from openapi_core.testing import MockRequest

    openapi = openapi_for(spec_dict, "https://api.vipps.no")
    concrete = {"{paymentType}": "ECOM", "{orderId}": "PaymentReference123"}
    seen = []
    for path, method, name, body in _request_examples(spec_dict):
        url_path = "/order-management" + path
        for placeholder, value in concrete.items():
            url_path = url_path.replace(placeholder, value)
        request = MockRequest(
            "https://api.vipps.no",
            method,
            url_path,
            headers={
                "Authorization": "Bearer x",
                "Merchant-Serial-Number": "123456",
                "Ocp-Apim-Subscription-Key": "k",
                "Content-Type": "application/json",
            },
            data=json.dumps(body).encode(),
            content_type="application/json",
        )
        openapi.validate_request(request)
        if "receipts" in path:
            Receipt.from_api(body).validate()
            assert Receipt.from_api(body).to_api() == body
        elif "categories" in path and method == "put":
            Category.from_api(body).validate()
        seen.append((path, method, name))
    assert len(seen) >= 4, seen


def test_contract_rejects_a_body_that_breaks_the_spec(spec_dict):
    """The harness itself can fail: a decimal amount is refused by the spec."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest
    from openapi_core.validation.request.exceptions import RequestValidationError

    openapi = openapi_for(spec_dict, "https://api.vipps.no")
    body = Receipt(spec_lines_from_gross(), BottomLine("NOK")).to_api()
    body["orderLines"][0]["totalAmount"] = Decimal("10.5").__float__()
    prepared = requests.Request(
        "POST",
        "https://api.vipps.no/order-management/v2/ECOM/receipts/abc",
        json=body,
        headers={
            "Authorization": "Bearer x",
            "Merchant-Serial-Number": "1",
            "Ocp-Apim-Subscription-Key": "k",
        },
    ).prepare()
    with pytest.raises(RequestValidationError):
        openapi.validate_request(RequestsOpenAPIRequest(prepared))


SYSTEM_HEADERS = (
    "Vipps-System-Name",
    "Vipps-System-Version",
    "Vipps-System-Plugin-Name",
    "Vipps-System-Plugin-Version",
)


def test_a_client_built_with_only_the_required_arguments_sends_all_four_system_headers(
    vipps_fake,
):
    """Vipps asks every integration to say what it is, on every call, the token call too."""
    with OrderManagementClient(
        base_url=vipps_fake.url,
        link_policy=LinkPolicy.configured(app_schemes=["app"]),
        **vipps_fake.credentials,
    ) as client:
        client.upload_image("socks-orange-123", png())
        client.put_category("ECOM", "order-2001", Category("RECEIPT", "https://shop.example/r"))
        receipt = Receipt(spec_lines_from_gross(), BottomLine("NOK", receipt_number="2001"))
        client.post_receipt("ECOM", "order-2001", receipt)
        client.get_order("ECOM", "order-2001")
        category_id = client.create_category("ECOM", "order-2001", Category("TICKET", "app://t"))
        client.list_categories("order-2001")
        client.get_category(category_id)
        client.delete_category(category_id)
    sent = vipps_fake.requests
    assert len(sent) == 9  # the token call and eight API calls
    for request in sent:
        values = {name: request.headers.get(name) for name in SYSTEM_HEADERS}
        assert all(values.values()), f"{request.method} {request.path}: {values}"
        assert all(len(value) <= 30 for value in values.values())
    assert sent[0].headers["Vipps-System-Name"] == "python"
    assert sent[0].headers["Vipps-System-Plugin-Name"] == "vipps-order-management"
