"""The report page as the office uses it in a real headless Chromium (issue 18, item 18): the register's
total against its outlets is flagged, and the office names its own website for every export."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_office_checks_the_outlets_and_names_its_website(page, live_server):
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/reports/registers?year=2026")
    for item, value in (
        ("published_all", "229"),
        ("outlet_portal", "105"),
        ("outlet_public_point", "56"),
        ("outlet_media", "67"),
    ):
        form = page.locator("form.grid-form")
        form.locator("select[name='department']").select_option("office")
        form.locator("select[name='item']").select_option(item)
        form.locator("select[name='measure']").select_option("items")
        form.locator("input[name='value']").fill(value)
        form.locator("button[type='submit']").click()
        page.wait_for_load_state("load")
    page.goto(f"{live_server}/reports/annual?year=2026")
    warning = page.locator("#check-warnings")
    assert "全年发布=各渠道之和" in warning.inner_text()
    assert "229条" in warning.inner_text() and "=228条" in warning.inner_text()
    preview = page.locator(".report-preview")
    assert "其中，门户网站发布105条" in preview.inner_text()

    page.click("#portal-label summary")
    page.fill("#portal-label input[name='body']", "局网站")
    page.click("#portal-label button[type='submit']")
    page.wait_for_load_state("load")
    assert "已保存" in page.locator(".flash.ok").inner_text()
    assert "其中，局网站发布105条" in page.locator(".report-preview").inner_text()
    assert "本机关网站的称谓：局网站" in page.locator("#portal-label summary").inner_text()
    assert "局网站105" in page.locator("#check-warnings").inner_text()
    # The warning and the preview are visible, not hidden behind a closed element.
    assert page.locator("#check-warnings").is_visible()
    shot(page, "report-outlets")
