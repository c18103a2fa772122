"""Oscar's dashboard and "My orders" in Debian's Chromium (Playwright), against a live server.

Screenshots go to a temporary folder, or into the docs (``docs/_static/screenshots/oscar-*``)
with ``VIPPS_OM_SCREENSHOTS=docs``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from ..conftest import missing_service

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("VIPPS_OM_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        missing_service(
            "needs Chromium: install Debian's chromium package (apt-get install chromium) "
            "or set VIPPS_OM_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, where the test's own ORM calls
    # (setting up orders, the live server's database) also run: tell Django that is intended.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def screenshot_dir(tmp_path):
    if os.environ.get("VIPPS_OM_SCREENSHOTS") == "docs":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def logged_in_page(chromium, live_server, user):
    """A page whose browser holds ``user``'s session (made by Django's test client)."""
    client = Client()
    client.force_login(user)
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    host = live_server.url.split("//", 1)[1].split(":")[0]
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "domain": host,
                "path": "/",
            }
        ]
    )
    return context.new_page()


def test_staff_use_the_vipps_tab_and_actions_in_oscars_dashboard(
    chromium, live_server, place_order, staff, customer, vipps, screenshot_dir
):
    from vipps_order_management import services

    sent = place_order("Wool socks", 2, "Coffee", 3, invoice_fee=True)
    waiting = place_order("Mittens", 1, "Knitting book", 3)
    services.sync_now(sent)

    page = logged_in_page(chromium, live_server, staff)
    page.goto(f"/dashboard/orders/{sent.number}/#vipps")
    panel = page.locator("#vipps-panel")
    panel.wait_for(state="visible")
    assert "Synced" in panel.inner_text()
    assert page.locator("#vipps-panel iframe.vipps-preview").count() == 2
    for index in (0, 1):  # this shop's receipt, and the one Vipps holds, as the app shows them
        preview = page.frame_locator("#vipps-panel iframe.vipps-preview").nth(index)
        preview.get_by_text("Wool socks").first.wait_for()
    page.set_viewport_size({"width": 1280, "height": 2000})  # the whole tab, previews painted
    page.wait_for_timeout(300)
    page.screenshot(path=screenshot_dir / "oscar-dashboard-order-vipps.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto("/dashboard/orders/")
    page.locator(f"input.selected_order[value='{waiting.pk}']").check()
    page.locator("#vipps-actions button[value='send']").click()
    page.wait_for_selector(f"text=Order {waiting.number}: links:")
    assert vipps.receipt(f"oscar-{waiting.number}") is not None
    page.screenshot(path=screenshot_dir / "oscar-dashboard-order-list.png", full_page=True)

    customer_page = logged_in_page(chromium, live_server, customer)
    customer_page.goto("/accounts/orders/")
    item = customer_page.locator(f"li.vipps-order[data-number='{sent.number}']")
    assert "In the Vipps app" in item.inner_text()  # the customer's badge, not the staff word
    link = item.get_by_role("link", name=re.compile("Order confirmation"))
    assert "/vipps/orders/" in link.get_attribute("href")
    customer_page.screenshot(path=screenshot_dir / "oscar-my-orders.png", full_page=True)
