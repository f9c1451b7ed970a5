"""What a person sees at the widths they use (issue 18, items 10-12), in a real headless Chromium: the staff
queue on a 390 px phone without sideways page scrolling, the administrator's menus on one row at 1366 px,
the English navigation on a row of its own with English chart legends, timelines with labels (never an
event code), the imports page reached from the menu with its columns named, and the favicon."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RAW_CODE = re.compile(r"\b(ticket|deadline|approval|reminder)\.[a-z_]+\b")


def _no_page_scroll(page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def _rows_of(page, selector: str) -> set[int]:
    """The distinct rows (top offsets) the links of `selector` sit on."""
    return set(
        page.eval_on_selector_all(selector, "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    )


def test_the_staff_queue_fits_a_phone(browser, live_server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server, "zhangwei")
        _no_page_scroll(page)
        page.goto(f"{live_server}/queues/all?status=open")
        rows = page.locator("#queue-table tbody tr")
        assert rows.count() > 1
        _no_page_scroll(page)
        # Each ticket is a card: its cells stacked, each named by its column.
        assert not page.locator("#queue-table thead").is_visible()
        first = rows.first.locator("td[data-label]")
        assert first.count() >= 8
        boxes = [first.nth(i).bounding_box() for i in range(first.count())]
        assert all(box["x"] + box["width"] <= 390 + 1 for box in boxes)
        assert len({round(box["y"]) for box in boxes}) == len(boxes)  # stacked, one per line
        # The navigation scrolls inside itself, the page does not.
        assert page.evaluate("getComputedStyle(document.querySelector('.mainnav')).overflowX") == "auto"
        shot(page, "queue-mobile")
    finally:
        context.close()


def test_the_administrators_menus_stay_on_one_row_at_1366(page, live_server):
    sign_in(page, live_server, "admin")
    for path in ("/admin/users", "/admin/departments", "/admin/audit"):
        page.goto(f"{live_server}{path}")
        assert len(_rows_of(page, ".mainnav a")) == 1, path
        assert len(_rows_of(page, ".subnav a")) == 1, path
        _no_page_scroll(page)
    nav = page.locator(".mainnav")
    assert nav.locator("a", has_text="导入与登记").count() == 1
    page.goto(f"{live_server}/admin/departments")
    shot(page, "admin-departments", full_page=False)
    page.goto(f"{live_server}/admin/audit")
    assert "\\u" not in page.locator("#audit-table").inner_text()
    assert not RAW_CODE.search(page.locator("#audit-table tbody td:nth-child(3)").all_inner_texts().__str__())
    assert page.locator("a[data-audit-export]").count() == 1
    shot(page, "admin-audit", full_page=False)


def test_english_navigation_has_room_and_the_charts_speak_english(page, live_server):
    sign_in(page, live_server, "liuyang")
    page.click("form.lang button")
    page.wait_for_load_state("load")
    nav = page.locator(".mainnav")
    assert "Home" in nav.inner_text() and "Imports" in nav.inner_text()
    assert len(_rows_of(page, ".mainnav a")) == 1  # one row, not a squeezed column
    for link in nav.locator("a").all():  # no label broken over two lines
        box = link.bounding_box()
        assert box["height"] < 30, link.inner_text()
    assert nav.bounding_box()["width"] > 1000
    legend = page.locator("svg.chart").first.inner_html()
    assert "12345 hotline" in legend and "12345热线" not in legend
    shot(page, "home-en", full_page=False)
    page.goto(f"{live_server}/queues/department")
    channels = page.locator("#queue-table tbody tr td:nth-child(3)").all_inner_texts()
    assert channels and not any(re.search(r"[\u4e00-\u9fff]", c) for c in channels)
    page.click("form.lang button")  # back to Chinese for the tests after this one
    page.wait_for_load_state("load")


def test_timelines_show_labels_never_event_codes(page, live_server):
    sign_in(page, live_server, "zhangwei")
    page.goto(f"{live_server}/queues/all")
    links = page.locator("#queue-table tbody td:nth-child(2) a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(min(links.count(), 6))]
    assert hrefs
    for href in hrefs:
        page.goto(f"{live_server}{href}")
        timeline = page.locator("ol.timeline").inner_text()
        assert timeline.strip()
        assert not RAW_CODE.search(timeline), timeline
        assert "收到并登记" in timeline
    shot(page, "ticket-timeline")


def test_the_imports_page_is_in_the_menu_with_its_columns(page, live_server):
    sign_in(page, live_server, "zhangwei")
    page.click(".mainnav a:has-text('导入与登记')")
    page.wait_for_url(f"{live_server}/imports/")
    columns = page.locator("[data-import-columns]")
    assert "工单编号" in columns.inner_text() and "诉求内容" in columns.inner_text()
    assert "docs/api.md" not in page.content()
    # The checkbox beside its label: the same line, the box left of the words.
    box = page.locator("input[name='skip_bad_rows']").bounding_box()
    label = page.locator("label.check:has(input[name='skip_bad_rows'])").bounding_box()
    assert label["height"] < 2.5 * box["height"] + 10 and box["x"] - label["x"] < 5
    _no_page_scroll(page)
    shot(page, "imports")


def test_every_page_has_a_favicon(page, live_server):
    for path in ("/login", "/portal/"):
        page.goto(f"{live_server}{path}")
        icons = page.locator("link[rel='icon']")
        if path == "/portal/" and icons.count() == 0 and "portal" not in page.url:
            continue  # the portal is not installed
        href = icons.first.get_attribute("href")
        response = page.request.get(f"{live_server}{href}")
        assert response.status == 200 and "svg" in response.headers["content-type"], path
