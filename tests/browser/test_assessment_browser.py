"""The 12345 assessment page in a real headless Chromium (issue 19, item 8): the office sees every unit
ranked with the trend and the charts, follows a number to the orders behind it and downloads the XLSX; a
科室负责人 sees only their unit and its people. The screenshot is docs/screenshots/assessment.png."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import NOW, PASSWORD, shot, sign_in
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def assessment_server(tmp_path_factory):
    """A server of its own: a dozen units with August and September 2026 built by tests/reports/assessment_demo."""
    from tests.reports.assessment_demo import build_demo_months
    from tracker.bootstrap import load_reference_data
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from web import create_app

    root = tmp_path_factory.mktemp("assessment")
    url = f"sqlite:///{root / 'tracker.sqlite'}"
    upgrade(url)
    with session_scope(url) as session:
        load_reference_data(session)
        build_demo_months(session, now=NOW, password=PASSWORD)
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_INSTANCE_DIR": str(root / "instance"),
            "TRACKER_SECRET_KEY": "browser-test-secret",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{root / 'broker.sqlite'}",
        }
    )
    app = create_app({"TESTING": False, "CLOCK": lambda: NOW}, settings=settings)
    with served(app) as port:
        yield f"http://127.0.0.1:{port}"


def test_office_ranks_units_drills_down_and_downloads(page, assessment_server):
    base = assessment_server
    sign_in(page, base, "assess_admin")
    page.click("nav a:has-text('12345考核')")
    page.wait_for_load_state("load")
    # The server's clock is 14 October 2026: the page opens on September.
    assert "2026年9月" in page.locator("h1.page-title").inner_text()
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == 12
    first = rows.nth(0).locator("td").nth(0).inner_text()
    assert first == "1"
    assert rows.nth(11).locator("td").nth(0).inner_text() == "不排名"  # 档案馆: 5 orders, below 30
    assert page.locator("#ranking tbody tr[data-unit='da']").count() == 1
    assert page.locator(".assessment-charts svg").count() == 2
    assert page.locator("#ranking .trend-up, #ranking .trend-down, #ranking .trend-same").count() >= 1
    shot(page, "assessment")

    # A numerator leads to exactly that many orders, each a link to its ticket page.
    link = page.locator("#ranking tr[data-unit='cg'] a[data-drill='sign_on_time-num']")
    expected = int(link.inner_text())
    link.click()
    page.wait_for_load_state("load")
    assert page.locator("#drill tbody tr").count() == expected
    assert f"共 {expected} 件" in page.locator(".drill-count").inner_text()
    page.locator("#drill tbody tr a").first.click()
    page.wait_for_load_state("load")
    assert "/tickets/" in page.url
    page.go_back()
    page.click("text=← 返回考核")
    page.wait_for_load_state("load")

    page.fill("input[name='period']", "2026-Q3")
    page.click("form.report-filter button[type='submit']")
    page.wait_for_load_state("load")
    assert "2026年第3季度" in page.locator("h1.page-title").inner_text()
    with page.expect_download() as download_info:
        page.click("a[data-format='xlsx']")
    book = load_workbook(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    # Back from a unit's drill-down the page shows that unit: its workbook lists its people too.
    assert book.sheetnames == ["考核排名", "人员", "考核口径"]


def test_section_head_sees_own_unit_and_its_people(page, assessment_server):
    base = assessment_server
    sign_in(page, base, "zj_head")
    page.goto(f"{base}/reports/assessment?period=2026-09")
    units = page.locator("#ranking tbody tr")
    assert units.count() == 1 and "住房和城乡建设局" in units.inner_text()
    assert page.locator("#people tbody tr").count() == 2
    assert page.locator("select[name='department'] option").count() == 1
    response = page.goto(f"{base}/reports/assessment?period=2026-09&department=cg")
    assert response.status == 403
