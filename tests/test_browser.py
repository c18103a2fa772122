"""Real-browser tests: Playwright driving Debian's Chromium through the running example shop.

The shop, its worker and the fake Vipps run exactly as ``make demo`` runs them. Screenshots go
to a temporary folder, or into the docs with ``VIPPS_OM_SCREENSHOTS=docs`` (``make
screenshots``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from .conftest import REPOSITORY, missing_service

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("VIPPS_OM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPOSITORY / "docs" / "_static" / "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The example shop, its worker and the fake Vipps, as `make demo` starts them."""
    from example_project.demo import Demo

    shop = Demo(port=free_port(), fake_port=0, data_dir=tmp_path_factory.mktemp("demo"))
    shop.start()
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        missing_service(
            "needs Chromium: install Debian's chromium package (apt-get install chromium) "
            "or set VIPPS_OM_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir(tmp_path):
    if os.environ.get("VIPPS_OM_SCREENSHOTS") == "docs":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def new_page(chromium, demo, *, phone: bool = False):
    viewport = {"width": 412, "height": 915} if phone else {"width": 1280, "height": 900}
    context = chromium.new_context(
        base_url=demo.site, viewport=viewport, device_scale_factor=1, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page, username: str, password: str, path: str = "/accounts/login/") -> None:
    page.goto(path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name=re.compile("Log in")).click()


def test_a_customer_orders_sees_the_links_and_opens_the_signed_page(chromium, demo, screenshot_dir):
    page = new_page(chromium, demo)
    log_in(page, "customer", "customer")
    page.goto("/products/sock-1/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Go to checkout").click()
    page.get_by_role("button", name="Pay with Vipps").click()
    page.get_by_role("button", name="Approve payment").click()  # on the fake's landing page
    page.wait_for_selector("text=Payment approved")
    number = re.search(r"Order (\d+)", page.title()).group(1)

    # The worker sends the order to the fake Vipps; the status badge says so once it is there.
    page.goto("/my-orders/")
    order = page.locator("li.order", has_text=f"Order {number}")
    for _ in range(40):
        if "In the Vipps app" in order.inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
        order = page.locator("li.order", has_text=f"Order {number}")
    assert "In the Vipps app" in order.inner_text()
    link = order.get_by_role("link", name=re.compile("Order confirmation"))
    href = link.get_attribute("href")
    assert href.startswith(demo.site + "/vipps/orders/")
    page.screenshot(path=screenshot_dir / "my-orders.png", full_page=True)

    # The same link, opened where the Vipps app would open it: a fresh browser, no login.
    phone = new_page(chromium, demo, phone=True)
    response = phone.goto(href)
    assert response.status == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert f"Order {number}" in phone.content()
    phone.screenshot(path=screenshot_dir / "order-status-page.png", full_page=True)
    tampered = phone.goto(href.rstrip("/")[:-2] + "xx/")
    assert tampered.status == 404

    receipt = demo.fake.receipt(demo_reference(demo, number))
    assert receipt["orderLines"][0]["name"] == "Wool socks"
    assert receipt["orderLines"][-1]["isShipping"] is True


def demo_reference(demo, number: str) -> str:
    prefix = f"shop-{number}-"
    references = {key[2] for key in demo.fake._preview_keys() if key[2].startswith(prefix)}
    assert len(references) == 1, references
    return references.pop()


def test_staff_run_an_admin_action_and_see_the_status_change(chromium, demo, screenshot_dir):
    page = new_page(chromium, demo)
    log_in(page, "admin", "admin", path="/admin/login/")
    reference = demo_reference(demo, "1003")  # the demo's paid order
    demo.fake.faults.fail_next(50, status=503, path=f"/categories/{reference}")
    try:
        page.goto("/admin/shop/order/")
        row = page.locator("tr", has_text="1003")
        row.locator("input.action-select").check()
        page.select_option("select[name=action]", "mark_shipped")
        page.locator("button[name='index']").click()  # "Run" (Django 6), "Go" (5.2)
        page.wait_for_selector("text=1 order updated.")
        # Vipps answers 503: the worker keeps the change pending and retries.
        for _ in range(40):
            status = (
                page.locator("tr", has_text="1003").locator("td.field-vipps_status").inner_text()
            )
            if (
                status == "Pending"
                and demo.fake.requests_for("PUT", f"/categories/{reference}")[-1:]
            ):
                break
            page.wait_for_timeout(250)
            page.reload()
        assert status == "Pending"
    finally:
        demo.fake.faults.clear()

    page.locator("tr", has_text="1003").locator("input.action-select").check()
    page.select_option("select[name=action]", "send_to_vipps_now")
    page.locator("button[name='index']").click()  # "Run" (Django 6), "Go" (5.2)
    # The demo's worker retries too: whichever of the two sends first, staff learn the link
    # is at Vipps ("Links unchanged" when the worker's retry got there first).
    page.wait_for_selector("text=/Sent the DELIVERY link|Links unchanged/")
    assert (
        page.locator("tr", has_text="1003").locator("td.field-vipps_status").inner_text()
        == "Synced"
    )
    assert demo.fake.category(reference)["category"] == "DELIVERY"
    page.screenshot(path=screenshot_dir / "admin-changelist.png", full_page=True)

    page.locator("tr", has_text="1003").get_by_role("link", name="Synced").click()
    page.wait_for_selector("text=This shop would send")
    assert page.locator("iframe.vipps-preview").count() == 2
    page.screenshot(path=screenshot_dir / "admin-order-vipps.png", full_page=True)


def test_the_vipps_app_preview_renders(chromium, demo, screenshot_dir):
    page = new_page(chromium, demo, phone=True)
    page.goto(demo.fake.url + "/preview/")
    reference = demo_reference(demo, "1001")  # delivered: the receipt link
    page.get_by_role("link", name=reference).click()
    page.wait_for_selector(".phone")
    text = page.inner_text(".phone")
    assert "Receipt" in text
    assert "Wool socks" in text
    assert "Shipping" in text
    assert "VAT 25" in text  # the socks
    assert "VAT 0" in text  # the book, which carries no VAT
    assert page.locator("img.product").count() == 1
    page.screenshot(path=screenshot_dir / "vipps-app-preview.png", full_page=True)


# --------------------------------------------------------------------------- paying with ePayment


def shop_db(demo):
    """The demo shop's own database (SQLite), to see the order as the shop keeps it."""
    return closing(sqlite3.connect(demo.data_dir / "db.sqlite3"))


def shop_order(demo, number: str) -> tuple:
    with shop_db(demo) as db:
        return db.execute(
            "SELECT id, status, authorized_amount, captured_amount, vipps_reference "
            "FROM shop_order WHERE number = ?",
            (number,),
        ).fetchone()


def wait_until_sent(demo, order_id: int, timeout: float = 20) -> None:
    """Until the demo's worker has looked at the order's changes and has nothing pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with shop_db(demo) as db:
            rows = db.execute(
                "SELECT status FROM vipps_order_management_outboxitem WHERE object_id = ?",
                (str(order_id),),
            ).fetchall()
        if rows and all(status != "pending" for (status,) in rows):
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker still has order {order_id} pending")


def check_out(page, product: str) -> None:
    page.goto(f"/products/{product}/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Go to checkout").click()
    page.get_by_role("button", name="Pay with Vipps").click()


# Each storefront is a sales unit with its own keys at the fake: the payment, the receipt inside
# it, the links and the image all go to that unit, in its currency.
STOREFRONTS = {
    "no": {"merchant": "Strikk og Sokk AS", "total": "298.00", "currency": "NOK", "unit": 0},
    "dk": {
        "merchant": "Strikk og Sokk Danmark ApS",
        "total": "228.00",
        "currency": "DKK",
        "unit": 1,
    },
}


@pytest.mark.parametrize("storefront", STOREFRONTS)
def test_a_customer_pays_with_epayment_and_the_receipt_comes_with_the_payment(
    chromium, demo, screenshot_dir, storefront
):
    shop = STOREFRONTS[storefront]
    unit = demo.fake.merchants[shop["unit"]]
    msn = unit.merchant_serial_number
    other = demo.fake.merchants[1 - shop["unit"]].merchant_serial_number
    page = new_page(chromium, demo)
    log_in(page, "customer", "customer")
    page.goto(f"/{storefront}/")
    check_out(page, "hat-2")  # the hat and shipping

    # Sent to the fake's landing page, which shows the unit's merchant, the amount, the receipt.
    page.wait_for_url(re.compile(re.escape(demo.fake.url) + r"/landing\?token="))
    landing = page.inner_text("body")
    assert shop["merchant"] in landing
    assert f"{shop['total']} {shop['currency']}" in landing
    assert "Knitted hat" in landing
    assert "Shipping" in landing
    page.screenshot(path=screenshot_dir / f"epayment-landing-page-{storefront}.png", full_page=True)
    page.get_by_role("button", name="Approve payment").click()

    # Back in the shop: paid and captured, in the storefront's currency.
    page.wait_for_selector("text=Payment approved")
    number = re.search(r"Order (\d+)", page.title()).group(1)
    captured_text = f"{shop['total']}\N{NO-BREAK SPACE}{shop['currency']} captured with Vipps"
    assert captured_text in page.inner_text("main")
    order_id, status, authorized, captured, reference = shop_order(demo, number)
    total = round(float(shop["total"]) * 100)
    assert (status, authorized * 100, captured * 100) == ("paid", total, total)

    # At Vipps, at the order's own sales unit: the payment, authorised and captured, with the
    # receipt inside; the other unit has never heard of it.
    payment = demo.fake.payment(reference, msn=msn)
    assert demo.fake.payment(reference, msn=other) is None
    amount = {"currency": shop["currency"], "value": total}
    assert payment["state"] == "AUTHORIZED"
    assert payment["aggregate"]["authorizedAmount"] == amount
    assert payment["aggregate"]["capturedAmount"] == amount
    receipt = payment["request"]["receipt"]
    assert [line["name"] for line in receipt["orderLines"]] == ["Knitted hat", "Shipping"]
    assert receipt["bottomLine"]["currency"] == shop["currency"]
    assert demo.fake.receipt(reference, msn=msn) == receipt  # the Order Management receipt
    receipt_page = payment["request"]["receiptUrl"]
    assert receipt_page.startswith(demo.site + "/vipps/orders/")

    # Order Management then gets the link and the image, at that unit with its token; and no
    # receipt is posted.
    wait_until_sent(demo, order_id)
    category = demo.fake.category(reference, msn=msn)
    assert category["category"] == "ORDER_CONFIRMATION"
    assert category["imageId"] in demo.fake.images(msn=msn)
    assert demo.fake.category(reference, msn=other) is None
    calls = demo.fake.requests_for(None, reference)
    assert calls
    assert {record.headers["Merchant-Serial-Number"] for record in calls} == {msn}
    assert {demo.fake.issued_token(record.token_jti).msn for record in calls} == {msn}
    links = demo.fake.requests_for("PUT", f"/categories/{reference}")
    assert links
    assert all(record.status == 200 for record in links)
    assert demo.fake.requests_for("POST", f"/receipts/{reference}") == []

    # The receiptUrl opens where the app would open it: a fresh browser, no login.
    phone = new_page(chromium, demo, phone=True)
    assert phone.goto(receipt_page).status == 200
    assert "Knitted hat" in phone.inner_text("body")


def test_a_rejected_payment_leaves_the_order_unpaid_and_nothing_goes_to_vipps(
    chromium, demo, screenshot_dir
):
    page = new_page(chromium, demo)
    log_in(page, "customer", "customer")
    before = set(demo.fake.payments())
    check_out(page, "mitt-3")
    page.wait_for_url(re.compile(re.escape(demo.fake.url) + r"/landing\?token="))
    page.get_by_role("button", name="Reject").click()

    page.wait_for_selector("text=Payment cancelled")
    assert page.url == demo.site + "/cart/"
    assert "Mittens" in page.inner_text("main")  # the cart is still there
    [reference] = set(demo.fake.payments()) - before
    payment = demo.fake.payment(reference)
    assert payment["state"] == "ABORTED"
    assert payment["aggregate"]["capturedAmount"]["value"] == 0
    number = reference.split("-")[1]
    order_id, status, authorized, captured, _ = shop_order(demo, number)
    assert (status, authorized, captured) == ("new", None, None)

    wait_until_sent(demo, order_id)
    assert demo.fake.requests_for("PUT", reference) == []
    assert demo.fake.requests_for("POST", f"/receipts/{reference}") == []
    assert demo.fake.category(reference) is None
    assert demo.fake.categories_v3(reference) == []
