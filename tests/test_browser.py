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
    page.get_by_role("button", name="Approve payment").click()
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
