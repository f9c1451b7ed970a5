"""The citizen's portal in a real headless Chromium: rating a reply (好差评) once, and 留言选登.

Screenshots: portal-rating, portal-rated, portal-rating-replay, portal-published (docs/screenshots/
with TRACKER_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.conftest import NOW, shot
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CODE = "A1B2C3D4E5F6"
HOSTILE = '我的电话13812345678<img src=x onerror="window.__xss=1">，开发区充电桩坏了一个月，请尽快修复。'


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory):
    """A live portal over a fresh database holding one replied website message whose author agreed to
    publication, with a 查询码 the test types in."""
    from tracker.bootstrap import load_reference_data
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from tracker.people.service import create_department
    from tracker.tickets.drafts import ContactDraft, TicketDraft
    from tracker.workflow.opening import open_ticket
    from tracker.workflow.transitions import reply_ticket
    from web import create_app

    root = tmp_path_factory.mktemp("portal")
    url = f"sqlite:///{root / 'tracker.sqlite'}"
    upgrade(url)
    with session_scope(url) as session:
        load_reference_data(session)
        create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
        ticket, _ = open_ticket(
            session,
            TicketDraft(
                channel="website",
                request_type="投诉",
                subject="开发区公共充电桩<b>故障</b>",
                body=HOSTILE,
                arrived_at=NOW - timedelta(days=5),
                is_publishable=True,
                with_query_code=True,
                contact=ContactDraft(name="王建华", phone="13812345678"),
            ),
            actor="门户网站",
            now=NOW - timedelta(days=5),
        )
        ticket.query_code = CODE
        reply_ticket(
            session,
            ticket,
            "经核查，充电桩已于本周修复并恢复使用。感谢您的监督。",
            actor="测试",
            now=NOW - timedelta(days=1),
        )
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_INSTANCE_DIR": str(root / "instance"),
            "TRACKER_SECRET_KEY": "portal-browser-secret",
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{root / 'broker.sqlite'}",
        }
    )
    app = create_app({"TESTING": False, "CLOCK": lambda: NOW}, settings=settings)
    with served(app) as port:
        yield f"http://127.0.0.1:{port}"


def test_citizen_rates_the_reply_once(page, portal_server):
    page.goto(f"{portal_server}/portal/query")
    page.fill("#code", CODE.lower())
    page.click("button[type=submit]")
    page.wait_for_selector("[data-reply]")
    assert "充电桩已于本周修复" in page.inner_text("[data-reply]")
    form = page.locator("[data-rating-form]")
    labels = form.locator("label.choice").all_inner_texts()
    assert [t.strip() for t in labels] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    form.locator("input[value='非常满意']").check()
    shot(page, "portal-rating")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-rated]")
    assert "非常满意" in page.inner_text("[data-rated]")
    assert page.locator("[data-rating-form]").count() == 0  # no second form
    shot(page, "portal-rated")
    # A replay: back to the form, submitted again with another level — refused, the first one stands.
    page.go_back()
    page.wait_for_selector("[data-rating-form]")
    page.locator("[data-rating-form] input[value='非常不满意']").check()
    page.locator("[data-rating-form] button[type=submit]").click()
    page.wait_for_selector("[data-already-rated]")
    assert "只能评价一次" in page.inner_text("[data-already-rated]")
    assert "非常满意" in page.inner_text("[data-already-rated]")
    shot(page, "portal-rating-replay")


def test_published_messages_are_masked_and_escaped(page, portal_server):
    page.goto(f"{portal_server}/portal/")
    page.click("nav.portal-nav a:has-text('留言选登')")
    page.wait_for_selector("[data-published]")
    text = page.inner_text("[data-published]")
    assert "138****5678" in text and "13812345678" not in text
    assert "王**" in text and "王建华" not in text
    assert '<img src=x onerror="window.__xss=1">' in text  # shown as the citizen wrote it, as text
    assert "<b>故障</b>" in page.inner_text("[data-published] h2")
    assert page.evaluate("window.__xss") is None  # and never run
    assert page.locator("[data-published] img").count() == 0
    shot(page, "portal-published")
