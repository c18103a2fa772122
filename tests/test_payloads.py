"""Payload dataclasses: exact JSON bodies, reading Vipps's answers, and local validation."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipps_order_management.client import OrderManagementClient
from vipps_order_management.exceptions import PayloadValidationError, ReceiptValidationError
from vipps_order_management.link_policy import LinkPolicy
from vipps_order_management.money import INT64_MAX
from vipps_order_management.payloads import (
    BARCODE_DATA_MAX_LENGTH,
    LINE_ID_MAX_LENGTH,
    NAME_MAX_LENGTH,
    ORDER_ID_MAX_LENGTH,
    POS_ID_MAX_LENGTH,
    RECEIPT_NUMBER_MAX_LENGTH,
    Barcode,
    BottomLine,
    Category,
    CategoryType,
    Image,
    OrderLine,
    OrderView,
    PaymentSources,
    PaymentType,
    Receipt,
    UnitInfo,
    link_errors,
    order_id_errors,
)
from vipps_order_management.testing.fake.validation import ORDER_ID_RE, receipt_problems

#: The request example of POST /v2/{paymentType}/receipts/{orderId} in Vipps's OpenAPI spec.
SPEC_RECEIPT_EXAMPLE = {
    "orderLines": [
        {
            "name": "socks",
            "id": "line_item_1",
            "totalAmount": 1000,
            "totalAmountExcludingTax": 800,
            "totalTaxAmount": 200,
            "taxPercentage": 25,
            "unitInfo": {"unitPrice": 400, "quantity": "2.5", "quantityUnit": "KG"},
            "discount": 0,
            "productUrl": "https://example.com/store/socks",
            "isReturn": False,
            "isShipping": False,
        },
        {
            "name": "flip-flops",
            "id": "line_item_2",
            "totalAmount": 5000,
            "totalAmountExcludingTax": 4000,
            "totalTaxAmount": 1000,
            "taxPercentage": 25,
            "unitInfo": {"unitPrice": 2500, "quantity": "3", "quantityUnit": "PCS"},
            "discount": 2500,
            "productUrl": "https://example.com/store/flipflops",
            "isReturn": False,
            "isShipping": False,
        },
        {
            "name": "Home Delivery",
            "id": "delivery",
            "totalAmount": 1000,
            "totalAmountExcludingTax": 800,
            "totalTaxAmount": 200,
            "taxPercentage": 25,
            "discount": 0,
            "isReturn": False,
            "isShipping": True,
        },
    ],
    "bottomLine": {
        "currency": "NOK",
        "tipAmount": 0,
        "posId": "pos_122",
        "paymentSources": {"giftCard": 0, "card": 0, "voucher": 0, "cash": 0},
        "barcode": {"format": "CODE 39", "data": "SC0527013501 "},
        "receiptNumber": "0527013501",
    },
}


def spec_lines_from_gross() -> list[OrderLine]:
    """The spec example's three lines, built from the shop's own decimal numbers."""
    return [
        OrderLine.from_gross(
            name="socks",
            id="line_item_1",
            unit_price=Decimal("4.00"),
            quantity=Decimal("2.5"),
            quantity_unit="KG",
            vat_rate=Decimal(25),
            product_url="https://example.com/store/socks",
        ),
        OrderLine.from_gross(
            name="flip-flops",
            id="line_item_2",
            unit_price=Decimal("25.00"),
            quantity=3,
            vat_rate=Decimal(25),
            discount=Decimal("25.00"),
            product_url="https://example.com/store/flipflops",
        ),
        OrderLine.from_gross(
            name="Home Delivery",
            id="delivery",
            unit_price=Decimal("10.00"),
            quantity=1,
            vat_rate=Decimal(25),
            is_shipping=True,
        ),
    ]


def test_spec_example_round_trips_exactly():
    receipt = Receipt.from_api(SPEC_RECEIPT_EXAMPLE)
    assert receipt.to_api() == SPEC_RECEIPT_EXAMPLE
    receipt.validate()


def test_from_gross_reproduces_the_spec_examples_amounts():
    lines = spec_lines_from_gross()
    for built, expected in zip(lines, SPEC_RECEIPT_EXAMPLE["orderLines"], strict=True):
        data = built.to_api()
        for key in (
            "totalAmount",
            "totalAmountExcludingTax",
            "totalTaxAmount",
            "discount",
            "isShipping",
        ):
            assert data[key] == expected[key], key
        assert data["taxRate"] == 2500
        assert "taxPercentage" not in data  # deprecated: read, never sent
    assert lines[0].unit_info == UnitInfo(unit_price=400, quantity="2.5", quantity_unit="KG")
    assert lines[1].unit_info.to_api() == {
        "unitPrice": 2500,
        "quantity": "3",
        "quantityUnit": "PCS",
    }


def test_from_gross_finnish_vat_and_return_line():
    line = OrderLine.from_gross(
        name="Returned jacket",
        id="J-1",
        unit_price=Decimal("129.90"),
        quantity=1,
        vat_rate=Decimal("25.5"),
        currency="EUR",
        is_return=True,
    )
    assert line.tax_rate == 2550
    assert (line.total_amount, line.total_amount_excluding_tax, line.total_tax_amount) == (
        12990,
        10351,
        2639,
    )
    assert line.is_return is True
    assert line.signed_total == -12990
    assert line.vat_percent == Decimal("25.5")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit_price": Decimal("-1")}, "unit_price: -1 is negative"),
        ({"discount": Decimal("500")}, "discount: 500 is larger than the line's"),
        ({"unit_price": 9.99}, "unit_price: pass a Decimal"),
        ({"vat_rate": Decimal("12.345")}, "vat_rate: 12.345 % has more than two decimals"),
        ({"quantity_unit": "BOXES"}, "BOXES"),
    ],
)
def test_from_gross_refuses_bad_input_naming_the_field(kwargs, message):
    arguments = {
        "name": "x",
        "id": "1",
        "unit_price": Decimal(100),
        "quantity": 2,
        "vat_rate": Decimal(25),
    }
    with pytest.raises((ValueError, TypeError), match=message):
        OrderLine.from_gross(**{**arguments, **kwargs})


# --------------------------------------------------------------------------- the shop's books


def test_from_books_carries_the_shops_own_vat_where_from_gross_would_differ():
    # Seven items at 10.99 excl. VAT, VAT rounded per unit (2.75 each), as many shops book it.
    books = OrderLine.from_books(
        name="Mug",
        id="MUG",
        total=Decimal("96.18"),
        total_excluding_vat=Decimal("76.93"),
        vat=Decimal("19.25"),
        vat_rate=Decimal(25),
        quantity=7,
        unit_price=Decimal("13.74"),
    )
    derived = OrderLine.from_gross(
        name="Mug", id="MUG", total=Decimal("96.18"), quantity=7, vat_rate=Decimal(25)
    )
    assert (books.total_amount, books.total_amount_excluding_tax, books.total_tax_amount) == (
        9618,
        7693,
        1925,
    )
    assert (derived.total_amount_excluding_tax, derived.total_tax_amount) == (7694, 1924)
    assert books.tax_rate == 2500
    assert books.unit_info.to_api() == {"unitPrice": 1374, "quantity": "7", "quantityUnit": "PCS"}
    assert books.collect_errors("orderLines[0]") == []


def test_from_books_takes_two_totals_and_shows_a_unit_price_from_them():
    line = OrderLine.from_books(
        name="Cheese",
        id="C",
        total=Decimal("89.70"),
        total_excluding_vat=Decimal("75.38"),
        vat_rate=Decimal(15),
        quantity=Decimal("0.75"),
        quantity_unit="KG",
        discount=Decimal("10.00"),
    )
    assert line.total_tax_amount == 1432
    # Shown in the app: the price per kilo before the discount, (89.70 + 10.00) / 0.75.
    assert line.unit_info.unit_price == 13293
    assert line.unit_info.quantity == "0.75"
    assert line.discount == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vat": Decimal("19.24")}, r"vat: total 96.18 - total_excluding_vat 76.93 is 19.25"),
        ({"total_excluding_vat": Decimal("100")}, "total_excluding_vat: 100 is more than"),
        ({"total": Decimal("-1")}, "total: -1 is negative"),
        ({"total": 96.18}, "total: pass a Decimal"),
        ({"vat_rate": Decimal("101")}, "vat_rate: 101 % is outside"),
    ],
)
def test_from_books_refuses_figures_that_do_not_add_up_naming_the_field(kwargs, message):
    arguments = {
        "name": "Mug",
        "id": "MUG",
        "total": Decimal("96.18"),
        "total_excluding_vat": Decimal("76.93"),
        "vat": Decimal("19.25"),
        "vat_rate": Decimal(25),
    }
    with pytest.raises((ValueError, TypeError), match=message):
        OrderLine.from_books(**{**arguments, **kwargs})


@given(
    net=st.integers(min_value=0, max_value=10**9),
    vat=st.integers(min_value=0, max_value=10**8),
    rate=st.sampled_from(["0", "10", "12", "14", "15", "24", "25", "25.5"]),
)
def test_any_books_that_add_up_make_a_line_vipps_accepts(net, vat, rate):
    line = OrderLine.from_books(
        name="x",
        id="1",
        total=Decimal(net + vat) / 100,
        total_excluding_vat=Decimal(net) / 100,
        vat=Decimal(vat) / 100,
        vat_rate=Decimal(rate),
    )
    assert (line.total_amount, line.total_amount_excluding_tax, line.total_tax_amount) == (
        net + vat,
        net,
        vat,
    )
    assert line.collect_errors("orderLines[0]") == []


def test_from_gross_takes_the_line_total_when_the_unit_price_has_more_decimals():
    # 3 x 12.5125 is 37.54 at the till; 3 x the stored 12.51 would be 37.53.
    line = OrderLine.from_gross(
        name="Thread",
        id="T",
        unit_price=Decimal("12.5125"),
        quantity=3,
        total=Decimal("37.54"),
        vat_rate=Decimal(25),
    )
    assert line.total_amount == 3754
    assert line.unit_info.unit_price == 1251
    assert line.total_amount - line.total_amount_excluding_tax == line.total_tax_amount
    with pytest.raises(ValueError, match="unit_price: give the unit price, or the line's total"):
        OrderLine.from_gross(name="x", id="1", quantity=1, vat_rate=Decimal(25))


def test_tax_off_by_one_minor_unit_is_refused_naming_the_field():
    lines = spec_lines_from_gross()
    lines[1].total_tax_amount += 1
    receipt = Receipt(lines, BottomLine("NOK"))
    with pytest.raises(ReceiptValidationError) as caught:
        receipt.validate()
    assert caught.value.paths == ["orderLines[1].totalTaxAmount"]
    assert "must match exactly" in str(caught.value)


def test_every_problem_is_reported_at_once_with_its_path():
    body = copy.deepcopy(SPEC_RECEIPT_EXAMPLE)
    body["orderLines"][0]["totalAmount"] = 10.5  # a decimal, not minor units
    body["orderLines"][0]["unitInfo"]["quantity"] = 2  # a number, not a string
    body["orderLines"][1]["taxPercentage"] = None  # no VAT at all
    body["orderLines"][1]["discount"] = -5
    body["orderLines"][2]["unitInfo"] = {
        "unitPrice": 100,
        "quantity": "12345678.123",
        "quantityUnit": "BOX",
    }
    body["orderLines"][2]["productUrl"] = "http://example.com/shipping"
    body["orderLines"][2]["isShipping"] = "yes"
    body["bottomLine"]["currency"] = "SEK"
    body["bottomLine"]["barcode"] = {"format": "EAN-13", "data": "4006381333932"}
    body["bottomLine"]["tipAmount"] = -1
    errors = dict(Receipt.from_api(body).errors())
    assert set(errors) == {
        "orderLines[0].totalAmount",
        "orderLines[0].unitInfo.quantity",
        "orderLines[1].taxRate",
        "orderLines[1].discount",
        "orderLines[2].unitInfo.quantity",
        "orderLines[2].unitInfo.quantityUnit",
        "orderLines[2].productUrl",
        "orderLines[2].isShipping",
        "bottomLine.currency",
        "bottomLine.barcode.data",
        "bottomLine.tipAmount",
    }
    assert "EAN-13 check digit is wrong: expected 1" in errors["bottomLine.barcode.data"]
    assert "https" in errors["orderLines[2].productUrl"]


def test_missing_required_fields_and_empty_receipt():
    errors = dict(Receipt.from_api({"orderLines": [{"name": " "}], "bottomLine": {}}).errors())
    assert errors["orderLines[0].name"] == "is required"
    assert errors["orderLines[0].id"] == "is required"
    assert errors["orderLines[0].totalAmount"] == "is required"
    assert errors["bottomLine.currency"] == "is required"
    assert dict(Receipt([], BottomLine("NOK")).errors()) == {
        "orderLines": "must hold at least one line"
    }


@pytest.mark.parametrize(
    ("rate", "ok"), [(0, True), (10000, True), (10001, False), (-1, False), (True, False)]
)
def test_tax_rate_bounds(rate, ok):
    line = OrderLine("x", "1", 100, 100, 0, tax_rate=rate)
    assert (not line.collect_errors("l")) is ok


@pytest.mark.parametrize(
    ("barcode", "ok"),
    [
        (Barcode("EAN-13", "4006381333931"), True),
        (Barcode("EAN-13", "400638133393"), False),
        (Barcode("EAN-13", "40063813339\uff131"), False),  # a full-width digit is not a digit here
        (Barcode("CODE 39", "SC0527013501 "), True),
        (Barcode("CODE 39", "lower"), False),
        (Barcode("CODE 128", "Any ASCII 123!"), True),
        (Barcode("CODE 128", "æøå"), False),
        (Barcode("QR", "x"), False),
    ],
)
def test_barcodes(barcode, ok):
    assert (not barcode.collect_errors("b")) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://shop.example/orders/1?sig=abc", True),
        ("ruter:///min/bilett", True),
        ("myapp://orders/1", True),
        ("http://shop.example/orders/1", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("https:///no-host", False),
        ("/relative/path", False),
        ("https://shop.example/a b", False),
        ("", False),
    ],
)
def test_links_are_https_or_an_app_scheme(url, ok):
    shop = LinkPolicy.configured(app_schemes=["myapp", "ruter"])
    assert (not link_errors("url", url, policy=shop)) is ok


@pytest.mark.parametrize(
    ("order_id", "ok"), [("abc-123_X.1", True), ("a/b", False), ("", False), ("æ", False)]
)
def test_order_ids(order_id, ok):
    assert (not order_id_errors(order_id)) is ok


def test_category_bodies_v2_and_v3():
    category = Category(CategoryType.DELIVERY, "https://track.example/1", image_id="abc.jpg")
    assert category.to_api() == {
        "category": "DELIVERY",
        "orderDetailsUrl": "https://track.example/1",
        "imageId": "abc.jpg",
    }
    assert category.to_api_v3("order-1", "ecom") == {
        "orderId": "order-1",
        "paymentType": "ECOM",
        "type": "DELIVERY",
        "url": "https://track.example/1",
        "imageId": "abc.jpg",
    }
    v3 = Category.from_api(
        {
            "categoryId": "880f5088-7708-4a5a-87d9-31e83aacc035",
            "orderId": "o",
            "paymentType": "ECOM",
            "type": "RECEIPT",
            "url": "https://x.example",
        }
    )
    assert v3.category_id == "880f5088-7708-4a5a-87d9-31e83aacc035"
    assert v3.category == "RECEIPT"
    assert Category.from_api(category.to_api()).same_link(category)


def test_category_validation_names_fields():
    with pytest.raises(PayloadValidationError) as caught:
        Category("SHOPPING", "http://x.example", image_id="has space").validate()
    assert caught.value.paths == ["category", "orderDetailsUrl", "imageId"]
    with pytest.raises(PayloadValidationError) as caught:
        Category("RECEIPT", "ftp://x.example").validate(v3=True)
    assert caught.value.paths == ["url"]


def test_payment_type_is_case_insensitive():
    assert PaymentType.parse("eCom") is PaymentType.ECOM
    with pytest.raises(ValueError, match="paymentType: 'epayment'"):
        PaymentType.parse("epayment")


def test_image_body_is_raw_base64():
    assert Image("id-1", b"\x89PNG").to_api() == {
        "imageId": "id-1",
        "src": "iVBORw==",
        "type": "base64",
    }
    assert (
        Image.from_api({"imageId": "id-1", "src": "iVBORw==", "type": "base64"}).data == b"\x89PNG"
    )
    assert [path for path, _ in Image("x" * 129, b"").errors()] == ["imageId", "src"]


def test_bottom_line_reads_deprecated_fields_but_never_sends_them_itself():
    bottom = BottomLine.from_api(
        {"currency": "DKK", "terminalId": "t1", "totalAmount": 100, "giftCardAmount": 5}
    )
    assert bottom.terminal_id == "t1"
    assert BottomLine("NOK", payment_sources=PaymentSources(card=100)).to_api() == {
        "currency": "NOK",
        "paymentSources": {"card": 100},
    }


def test_canonical_form_hides_spelling_differences_but_not_real_ones():
    sent = Receipt(spec_lines_from_gross(), BottomLine("NOK", receipt_number="0527013501"))
    echoed = copy.deepcopy(sent.to_api())
    line = echoed["orderLines"][2]
    del line["discount"], line["isReturn"]  # defaults omitted by the remote
    line["taxPercentage"] = 25  # the deprecated spelling of the same rate
    del line["taxRate"]
    echoed["bottomLine"]["totalAmount"] = 7000  # recomputed by Vipps
    remote = Receipt.from_api(echoed)
    assert sent.diff(remote) == []
    assert sent.content_hash() == remote.content_hash()

    echoed["orderLines"][0]["totalAmount"] = 1100
    echoed["orderLines"][0]["totalAmountExcludingTax"] = 880
    echoed["orderLines"][0]["totalTaxAmount"] = 220
    changed = Receipt.from_api(echoed)
    differences = sent.diff(changed)
    assert [d.path for d in differences] == [
        "orderLines[0].totalAmount",
        "orderLines[0].totalAmountExcludingTax",
        "orderLines[0].totalTaxAmount",
    ]
    assert str(differences[0]) == "orderLines[0].totalAmount: 1000 here, 1100 at Vipps"
    assert sent.content_hash() != changed.content_hash()


def test_diff_reports_added_and_missing_lines():
    lines = spec_lines_from_gross()
    short = Receipt(lines[:2], BottomLine("NOK"))
    full = Receipt(lines, BottomLine("NOK"))
    [difference] = short.diff(full)
    assert difference.path == "orderLines[2]"
    assert difference.local is None
    assert difference.remote["name"] == "Home Delivery"


def test_receipt_totals_and_vat_summary():
    lines = [
        *spec_lines_from_gross(),
        OrderLine.from_gross(
            name="return",
            id="r",
            unit_price=Decimal(4),
            quantity=1,
            vat_rate=Decimal(15),
            is_return=True,
        ),
    ]
    receipt = Receipt(lines, BottomLine("NOK"))
    assert receipt.total_amount == 1000 + 5000 + 1000 - 400
    assert receipt.total_tax_amount == 200 + 1000 + 200 - 52
    assert receipt.tax_by_rate() == {Decimal(25): (5600, 1400), Decimal(15): (-348, -52)}


def test_order_view_reads_get_order_shape():
    view = OrderView.from_api(
        {
            "category": {
                "category": "GENERAL",
                "orderDetailsUrl": "https://example.com",
                "imageId": None,
            },
            "receipt": SPEC_RECEIPT_EXAMPLE,
        }
    )
    assert view.category.category == "GENERAL"
    assert view.receipt.to_api() == SPEC_RECEIPT_EXAMPLE
    assert OrderView.from_api({"category": None, "receipt": None}) == OrderView(None, None)


# --------------------------------------------------------------------------- careless input
# What a careless shop hands over is refused with its JSON path before any call: the plan
# refuses it (the order waits for staff), and the client refuses it again, sending nothing.


@pytest.fixture
def client(vipps_fake):
    with OrderManagementClient(base_url=vipps_fake.url, **vipps_fake.credentials) as instance:
        yield instance


def a_line(**overrides) -> OrderLine:
    arguments = {
        "name": "Socks",
        "id": "SOCK-1",
        "unit_price": Decimal("99.00"),
        "quantity": 2,
        "vat_rate": Decimal(25),
    }
    return OrderLine.from_gross(**{**arguments, **overrides})


def refused(receipt: Receipt, client, vipps_fake, order_id: str = "order-1") -> dict[str, str]:
    """The receipt's problems by path, after checking that the client sends nothing."""
    with pytest.raises(ReceiptValidationError) as caught:
        client.post_receipt("ECOM", order_id, receipt)
    assert vipps_fake.requests == []
    return dict(caught.value.errors)


def test_quantity_zero_is_refused_naming_the_field(client, vipps_fake):
    receipt = Receipt([a_line(), a_line(quantity=0)], BottomLine("NOK"))
    errors = refused(receipt, client, vipps_fake)
    assert list(errors) == ["orderLines[1].unitInfo.quantity"]
    assert "more than 0" in errors["orderLines[1].unitInfo.quantity"]
    # Read back or built by hand, "0.000" is no more than nothing.
    line = OrderLine("x", "1", 0, 0, 0, tax_rate=0, unit_info=UnitInfo(0, "0.000"))
    assert [path for path, _ in line.collect_errors("l")] == ["l.unitInfo.quantity"]


def test_a_free_item_is_accepted():
    # A gift or a free sample is on the receipt as bought: quantity 1, nothing to pay.
    line = a_line(name="Gift wrapping", unit_price=Decimal(0), quantity=1)
    assert (line.total_amount, line.unit_info.quantity) == (0, "1")
    assert Receipt([a_line(), line], BottomLine("NOK")).errors() == []


@pytest.mark.parametrize(
    ("receipt", "path"),
    [
        (Receipt([a_line(name="x" * 10_000)], BottomLine("NOK")), "orderLines[0].name"),
        (Receipt([a_line(id="x" * 10_000)], BottomLine("NOK")), "orderLines[0].id"),
        (
            Receipt([a_line()], BottomLine("NOK", receipt_number="1" * 10_000)),
            "bottomLine.receiptNumber",
        ),
        (Receipt([a_line()], BottomLine("NOK", pos_id="p" * 10_000)), "bottomLine.posId"),
        (
            Receipt([a_line()], BottomLine("NOK", barcode=Barcode("CODE 128", "1" * 10_000))),
            "bottomLine.barcode.data",
        ),
    ],
    ids=["name", "id", "receiptNumber", "posId", "barcode"],
)
def test_overlong_text_is_refused_naming_the_field(receipt, path, client, vipps_fake):
    errors = refused(receipt, client, vipps_fake)
    assert list(errors) == [path]
    assert "10000 characters long" in errors[path]


def test_text_at_the_chosen_limits_is_accepted_and_one_more_is_not():
    at_limit = Receipt(
        [a_line(name="n" * NAME_MAX_LENGTH, id="i" * LINE_ID_MAX_LENGTH)],
        BottomLine(
            "NOK",
            receipt_number="1" * RECEIPT_NUMBER_MAX_LENGTH,
            pos_id="p" * POS_ID_MAX_LENGTH,
            barcode=Barcode("CODE 128", "1" * BARCODE_DATA_MAX_LENGTH),
        ),
    )
    assert at_limit.errors() == []
    assert receipt_problems(at_limit.to_api()) == []  # the fake agrees
    over = Receipt(
        [a_line(name="n" * (NAME_MAX_LENGTH + 1), id="i" * (LINE_ID_MAX_LENGTH + 1))],
        BottomLine(
            "NOK",
            receipt_number="1" * (RECEIPT_NUMBER_MAX_LENGTH + 1),
            pos_id="p" * (POS_ID_MAX_LENGTH + 1),
            barcode=Barcode("CODE 128", "1" * (BARCODE_DATA_MAX_LENGTH + 1)),
        ),
    )
    assert [path for path, _ in over.errors()] == [
        "orderLines[0].name",
        "orderLines[0].id",
        "bottomLine.posId",
        "bottomLine.receiptNumber",
        "bottomLine.barcode.data",
    ]


CONTROL_CHARACTERS = {
    "NUL": "\x00",
    "tab": "\t",  # a receipt line is one line: even a tab pasted from a spreadsheet
    "newline": "\n",
    "carriage return": "\r",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 next line": "\x85",
    "line separator": "\u2028",
    "lone surrogate": "\ud800",  # not text: it cannot even be encoded as UTF-8
}


@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda bad: Receipt([a_line(name=bad)], BottomLine("NOK")), "orderLines[0].name"),
        (lambda bad: Receipt([a_line(id=bad)], BottomLine("NOK")), "orderLines[0].id"),
        (
            lambda bad: Receipt([a_line()], BottomLine("NOK", receipt_number=bad)),
            "bottomLine.receiptNumber",
        ),
        (lambda bad: Receipt([a_line()], BottomLine("NOK", pos_id=bad)), "bottomLine.posId"),
    ],
    ids=["name", "id", "receiptNumber", "posId"],
)
def test_control_characters_are_refused_naming_the_field(build, path, char, client, vipps_fake):
    errors = refused(build(f"Wool{char}socks"), client, vipps_fake)
    assert list(errors) == [path]
    assert f"U+{ord(char):04X} at position 4" in errors[path]


@pytest.mark.parametrize(
    "name",
    [
        "Rømmegrøt, 0,5\u00a0l",  # a no-break space keeps a number with its unit
        "Crème brûlée",
        "\u05e9\u05dc\u05d5\u05dd\u200f (Hebrew)",  # a right-to-left mark orders mixed text
        "Chef \U0001f469\u200d\U0001f373",  # a zero-width joiner makes one emoji of two
        "Donau\u00addampf\u00adschiff",  # soft hyphens: where a long word may break
        "  Socks  ",  # padding is odd but harmless
    ],
)
def test_real_product_names_are_accepted(name):
    # Only control characters and line breaks are refused: the invisible format characters
    # (category Cf) and no-break spaces above are part of how real names are written.
    receipt = Receipt([a_line(name=name)], BottomLine("NOK"))
    assert receipt.errors() == []
    assert receipt_problems(receipt.to_api()) == []


@pytest.mark.parametrize(
    ("build", "amounts"),
    [
        ("from_gross", {"unit_price": Decimal(100), "quantity": 1}),
        ("from_books", {"total": Decimal(100), "total_excluding_vat": Decimal(80)}),
    ],
)
@pytest.mark.parametrize("given", [None, "", "  "])
def test_a_missing_line_id_is_refused_not_sent_as_the_string_none(
    build, amounts, given, client, vipps_fake
):
    line = getattr(OrderLine, build)(name="Socks", id=given, vat_rate=Decimal(25), **amounts)
    assert line.id == given  # not "None"
    errors = refused(Receipt([line], BottomLine("NOK")), client, vipps_fake)
    assert errors == {"orderLines[0].id": "is required"}


def test_a_numeric_or_uuid_line_id_becomes_text():
    assert a_line(id=42).id == "42"
    assert a_line(id=Decimal(7)).id == "7"


def test_a_line_in_another_currency_than_the_receipt_is_refused(client, vipps_fake):
    receipt = Receipt([a_line(currency="NOK"), a_line(currency="EUR")], BottomLine("NOK"))
    errors = refused(receipt, client, vipps_fake)
    assert list(errors) == ["orderLines[1]"]
    assert "built in EUR, but the receipt is in NOK" in errors["orderLines[1]"]


def test_a_lines_currency_is_never_sent_nor_compared():
    line = a_line(currency="EUR")
    assert line.currency == "EUR"
    receipt = Receipt([line], BottomLine("EUR"))
    assert receipt.errors() == []
    assert "currency" not in receipt.to_api()["orderLines"][0]
    echoed = Receipt.from_api(receipt.to_api())  # Vipps's copy knows no line currency
    assert echoed.order_lines[0].currency is None
    assert echoed.order_lines[0] == line
    assert echoed.diff(receipt) == []
    assert echoed.content_hash() == receipt.content_hash()
    assert echoed.errors() == []  # unknown currency: nothing to refuse


@pytest.mark.parametrize(
    ("order_id", "ok"),
    [
        ("o" * ORDER_ID_MAX_LENGTH, True),  # our column's length; Vipps issues at most 50
        ("o" * (ORDER_ID_MAX_LENGTH + 1), False),
        ("order\x00-1", False),
        ("order-1\n", False),  # "$" would match before the newline; a full match does not
        ("\norder-1", False),
        ("order 1", False),
    ],
    ids=["128", "129", "NUL", "trailing newline", "leading newline", "space"],
)
def test_order_ids_outside_the_pattern_or_our_column_are_refused(order_id, ok, client, vipps_fake):
    assert (not order_id_errors(order_id)) is ok
    # Within the length Vipps takes what we take: its pattern has no length limit.
    assert bool(ORDER_ID_RE.fullmatch(order_id)) is (ok or len(order_id) > ORDER_ID_MAX_LENGTH)
    if not ok:
        with pytest.raises(PayloadValidationError) as caught:
            client.post_receipt("ECOM", order_id, Receipt([a_line()], BottomLine("NOK")))
        assert caught.value.paths == ["orderId"]
        assert vipps_fake.requests == []


def test_a_long_order_id_is_not_quoted_whole_in_the_message():
    [(path, message)] = order_id_errors("x" * 500 + "/")
    assert path == "orderId"
    assert "at most 128" in message
    [(_, message)] = order_id_errors("x" * 100 + "/")
    assert len(message) < 120


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda body: body["orderLines"][0].update(totalAmount=2**63), "totalAmount"),
        (lambda body: body["orderLines"][0].update(discount=2**64), "discount"),
        (lambda body: body["orderLines"][0]["unitInfo"].update(unitPrice=2**63), "unitPrice"),
        (lambda body: body["bottomLine"].update(tipAmount=2**63), "tipAmount"),
        (lambda body: body["bottomLine"]["paymentSources"].update(card=2**63), "card"),
    ],
    ids=["totalAmount", "discount", "unitPrice", "tipAmount", "paymentSources"],
)
def test_integers_beyond_the_specs_int64_are_refused(change, path):
    body = copy.deepcopy(SPEC_RECEIPT_EXAMPLE)
    change(body)
    errors = Receipt.from_api(body).errors()
    refused_paths = [p for p, _ in errors if p.endswith(path)]
    assert refused_paths, errors
    assert any("64-bit" in message for _, message in errors)
    assert receipt_problems(body) != []  # the fake refuses them too


def test_lines_that_add_up_beyond_int64_are_refused():
    half = INT64_MAX // 2 + 1
    line = OrderLine("x", "1", half, half, 0, tax_rate=0)
    assert Receipt([line], BottomLine("NOK")).errors() == []
    errors = dict(Receipt([line, line], BottomLine("NOK")).errors())
    assert list(errors) == ["orderLines"]
    assert "add up to more than" in errors["orderLines"]


def test_from_gross_refuses_an_amount_beyond_int64_naming_the_argument():
    with pytest.raises(ValueError, match=r"unit_price: .* minor units"):
        a_line(unit_price=Decimal("1e30"), quantity=1)


@pytest.mark.parametrize(
    "quantity", ["2\n", "\u0663", "2.5\n"], ids=["newline", "Arabic-Indic digit", "decimal"]
)
def test_quantities_the_fake_refuses_we_refuse_too(quantity):
    # "$" matched before a trailing newline, and Python's "\d" any script's digits; the spec's
    # pattern is an ECMAScript regex, whose \d is [0-9]. The fake and we match [0-9] in full.
    body = copy.deepcopy(SPEC_RECEIPT_EXAMPLE)
    body["orderLines"][0]["unitInfo"]["quantity"] = quantity
    expected = ["orderLines[0].unitInfo.quantity"]
    assert [path for path, _ in receipt_problems(body)] == expected
    assert [path for path, _ in Receipt.from_api(body).errors()] == expected


def test_an_image_id_with_a_trailing_newline_is_refused():
    assert [p for p, _ in Image("abc\n", b"x").errors()] == ["imageId"]
    with pytest.raises(PayloadValidationError):
        Category("RECEIPT", "https://x.example/", image_id="abc\n").validate()


INVISIBLE_ONLY = {
    "zero-width space": "\u200b",
    "soft hyphens": "\u00ad\u00ad",
    "direction marks": "\u200e\u200f",
    "word joiner and BOM": "\u2060\ufeff",
    "no-break and ideographic spaces": "\u00a0\u3000",
    "Hangul filler": "\u3164",
    "braille blank": "\u2800",
    "lone combining accent": "\u0301",
    "mixed": " \u200b\u00ad \u200d",
}

TEXT_FIELDS = [
    (lambda bad: Receipt([a_line(name=bad)], BottomLine("NOK")), "orderLines[0].name"),
    (lambda bad: Receipt([a_line(id=bad)], BottomLine("NOK")), "orderLines[0].id"),
    (
        lambda bad: Receipt([a_line()], BottomLine("NOK", receipt_number=bad)),
        "bottomLine.receiptNumber",
    ),
    (lambda bad: Receipt([a_line()], BottomLine("NOK", pos_id=bad)), "bottomLine.posId"),
]


@pytest.mark.parametrize("text", INVISIBLE_ONLY.values(), ids=INVISIBLE_ONLY.keys())
@pytest.mark.parametrize(("build", "path"), TEXT_FIELDS, ids=["name", "id", "receipt", "pos"])
def test_text_that_shows_nothing_is_refused_naming_the_field(build, path, text):
    errors = dict(build(text).errors())
    assert list(errors) == [path]
    blank = not text.strip() and path.startswith("orderLines")  # name and id are required
    assert ("is required" if blank else "shows nothing") in errors[path]


BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2069"]


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
@pytest.mark.parametrize(("build", "path"), TEXT_FIELDS, ids=["name", "id", "receipt", "pos"])
def test_direction_overrides_are_refused_naming_the_field(build, path, char):
    errors = dict(build(f"Socks {char}gpj.exe").errors())
    assert list(errors) == [path]
    assert f"U+{ord(char):04X} at position 6" in errors[path]
    assert "direction overrides" in errors[path]


@pytest.mark.parametrize("order_id", [".", "..", "...", "-", "_", "-._", "._-"])
def test_an_order_id_without_a_letter_or_digit_is_refused(order_id, client):
    assert order_id_errors(order_id) == [
        ("orderId", f"must hold a letter or a digit, not only {order_id!r}")
    ]
    with pytest.raises(PayloadValidationError) as refused_locally:
        client.put_category("ECOM", order_id, Category("GENERAL", "https://shop.example/"))
    assert refused_locally.value.paths == ["orderId"]


@pytest.mark.parametrize("order_id", ["a", "1", "order-1.2", "_x_", "..1"])
def test_an_order_id_with_a_letter_or_digit_is_accepted(order_id):
    assert order_id_errors(order_id) == []


@pytest.mark.parametrize("category_id", [".", "..", ""])
def test_a_category_id_that_is_a_path_segment_is_refused(category_id, client):
    with pytest.raises(PayloadValidationError) as refused_locally:
        client.delete_category(category_id)
    assert refused_locally.value.paths == ["categoryId"]
