"""A live server on a migrated scratch SQLite database with demo data, and a real headless Chromium.

Debian's chromium is driven by Python playwright (`executable_path=/usr/bin/chromium`); nothing is
downloaded. Without chromium the tests skip on a developer's machine and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import IS_CI
from tests.serving import served

CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The README's screenshots are refreshed on request (TRACKER_UPDATE_SCREENSHOTS=1 make test); an ordinary run
# still takes every screenshot (a page that fails to render fails the test) but leaves the work tree clean.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("TRACKER_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "tracker-screenshots"
)
PASSWORD = "demo-pass-2026"
# The server's clock: a Wednesday in October 2026 — after 1 October, so the "2027 not loaded" banner shows,
# and early enough that a 20-working-day reply period plus a 20-day extension stays inside 2026.
NOW = datetime(2026, 10, 14, 2, 0, tzinfo=UTC)

# Tickets the tests look for by their subject, on top of the random demo bureau.
DISCLOSURE_SUBJECT = "申请公开2025年中小企业发展专项资金分配结果"
PENSION_SUBJECT = "原纺织厂职工养老保险补缴需要改制批复"
# A disclosure application with the applicant's requested form and manner (issue 18 items 6, 8, 9).
DESK_SUBJECT = "申请公开企业技术改造补助项目名单"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Serve the app from a thread (werkzeug make_server) over a freshly migrated SQLite database."""

    from tracker.bootstrap import load_reference_data
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.demo import load_demo
    from tracker.migrate import upgrade
    from tracker.tickets.drafts import ContactDraft, TicketDraft
    from tracker.workflow.desk import ensure_default_canned_replies
    from tracker.workflow.opening import open_ticket
    from web import create_app

    root = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{root / 'tracker.sqlite'}"
    upgrade(url)
    now = NOW
    with session_scope(url) as session:
        load_reference_data(session)
        load_demo(session, tickets=240, seed=2026, now=now)
        ensure_default_canned_replies(session, now=now)
        for draft in (
            TicketDraft(
                channel="disclosure",
                request_type="政府信息公开申请",
                subject=DISCLOSURE_SUBJECT,
                body="申请人请求公开：2025年市级中小企业发展专项资金分配结果（含企业名单与金额）。获取方式：电子邮件。",
                arrived_at=now - timedelta(hours=2),
                external_ref="YSQ-BROWSER-1",
                department_code="sme",
                applicant_type="自然人",
                received_via="网络",
                contact=ContactDraft(name="王建华", phone="13912345678", email="wjh@example.com"),
            ),
            TicketDraft(
                channel="hotline",
                request_type="咨询",
                subject=PENSION_SUBJECT,
                body="我父亲原在市第三纺织厂工作，2003年企业改制时买断，现在办理养老保险补缴，社保要求出具改制批复文件。",
                arrived_at=now - timedelta(hours=1),
                external_ref="12345-BROWSER-1",
                department_code="sme",
                contact=ContactDraft(name="李明", phone="13812345678"),
            ),
            TicketDraft(
                channel="disclosure",
                request_type="政府信息公开申请",
                subject=DESK_SUBJECT,
                body="信息名称：2025年企业技术改造补助项目名单\n申请公开补助项目名单及补助金额。",
                arrived_at=now - timedelta(hours=3),
                external_ref="YSQ-BROWSER-2",
                department_code="sme",
                applicant_type="商业企业",
                received_via="网络",
                contact=ContactDraft(name="周丽", phone="13712345678", email="zl@example.com"),
                extra={
                    "delivery_form": "纸质",
                    "delivery_way": "邮寄",
                    "info_title": "2025年企业技术改造补助项目名单",
                },
            ),
        ):
            open_ticket(session, draft, actor="12345平台", now=now)
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


@pytest.fixture(scope="module")
def browser():
    # Module scope: the sync Playwright driver runs an event loop in this thread until it is stopped, and
    # other modules' browser tests start their own.
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"chromium not found at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
        if IS_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


RECOVERY_CODES: dict[str, list[str]] = {}  # username → the recovery codes shown at enrolment


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"].primary')
    page.wait_for_load_state("load")
    if page.url.endswith("/login/enrol"):
        # The demo administrator meets the second-factor requirement at the first sign-in (README): read
        # the secret off the page as an authenticator app would, type its code, pass the recovery codes.
        import pyotp

        secret = page.inner_text(".totp-secret")
        page.fill('input[name="code"]', pyotp.TOTP(secret).at(NOW))
        page.click('button[type="submit"].primary')
        page.wait_for_selector(".recovery-codes")
        # Kept as a person keeps them: a later sign-in in this session (the server's clock stands still,
        # so the same one-time code would be a replay) uses one of them.
        RECOVERY_CODES[username] = page.locator(".recovery-codes code").all_inner_texts()
        shot(page, "totp-enrol", full_page=False)
        page.click("a.button.primary")
    elif page.url.endswith("/login/verify"):
        page.fill('input[name="code"]', RECOVERY_CODES[username].pop())
        page.click('button[type="submit"].primary')
    page.wait_for_url(f"{base_url}/")


def sign_out(page) -> None:
    page.click("form.inline button:has-text('退出')")
    page.wait_for_url("**/login")


def shot(page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
