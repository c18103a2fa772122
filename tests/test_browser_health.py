"""The Vipps overview in a real browser: staff open it from the app's admin index, read the
counts, follow one into the filtered outbox and requeue what Vipps refused.

Runs the example shop as ``make demo`` does (its fixtures are tests/test_browser.py's). With
``VIPPS_OM_SCREENSHOTS=docs`` the screenshot goes into the documentation.
"""

from __future__ import annotations

import pytest

from . import test_browser
from .test_browser import demo_reference, log_in, new_page

# tests/test_browser.py's fixtures, for this module too: the demo shop, Chromium, where
# screenshots go.
chromium = test_browser.chromium
demo = test_browser.demo
screenshot_dir = test_browser.screenshot_dir

pytestmark = pytest.mark.browser

OVERVIEW = "/admin/vipps_order_management/outboxitem/overview/"


def wait_for(page, condition, tries: int = 60) -> bool:
    """Reload ``page`` until ``condition()`` holds (the demo's worker sends in the background)."""
    for _ in range(tries):
        if condition():
            return True
        page.wait_for_timeout(250)
        page.reload()
    return condition()


def test_staff_read_the_overview_follow_a_count_and_requeue(chromium, demo, screenshot_dir):
    page = new_page(chromium, demo)
    log_in(page, "admin", "admin", path="/admin/login/")
    assert wait_for(page, demo.synced)
    # Vipps refuses order 1002's next link: it waits for staff, refused by Vipps.
    reference = demo_reference(demo, "1002")
    demo.fake.faults.fail_next(1, status=400, path=f"/categories/{reference}")
    page.goto("/admin/shop/order/")
    page.locator("tr", has_text="1002").locator("input.action-select").check()
    page.select_option("select[name=action]", "mark_delivered")
    page.locator("button[name='index']").click()  # "Run" (Django 6), "Go" (5.2)
    page.wait_for_selector("text=1 order updated.")

    page.goto("/admin/vipps_order_management/")
    page.get_by_role("link", name="Vipps overview").first.click()
    assert page.url.endswith(OVERVIEW)
    refused = page.locator('#vipps-reasons tr[data-reason="refused_by_vipps"]')
    assert wait_for(page, lambda: refused.count() == 1)
    assert page.locator(".vipps-level").inner_text() == "Warning"
    assert "1 send waits for staff." in page.locator(".vipps-findings").inner_text()
    staff_row = page.locator("#vipps-states tr", has_text="Waiting for staff")
    assert staff_row.locator("td").all_inner_texts() == ["1", "0", "1"]  # links, receipt, total
    done = page.locator("#vipps-states tr", has_text="Done").locator("td").last.inner_text()
    assert int(done) == 5  # the demo's three orders, links and receipt, but 1002's links
    assert "At work" in page.locator("#vipps-calls").inner_text()  # the worker's heartbeat
    page.screenshot(path=screenshot_dir / "admin-vipps-overview.png", full_page=True)

    refused.get_by_role("link", name="1").click()
    page.wait_for_selector("#result_list")
    assert "reason=refused_by_vipps" in page.url
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Links and images" in rows.first.inner_text()
    assert "400" in rows.first.inner_text()

    page.goto(OVERVIEW)
    page.get_by_role("button", name="Requeue them all").click()
    page.wait_for_selector("text=1 row queued again.")
    # The fault was for one call: the worker sends the link again, and all is well.
    done_cell = page.locator("#vipps-states tr", has_text="Done").locator("td").last
    assert wait_for(page, lambda: done_cell.inner_text() == "6")
    assert page.locator(".vipps-level").inner_text() == "Healthy"
    assert "No send waits for staff." in page.content()
    assert demo.fake.requests_for("PUT", f"/categories/{reference}")[-1].status == 200
