"""Issue 20's "Done when", as a citizen and the disclosure office see it in a real headless Chromium.

A citizen applies on the portal with an ID copy attached → the worker routes the application and sends
the 受理 SMS → 张伟 signs for it and issues and serves a 补正 letter from the ticket page → the worker sends
the 补正 SMS, which reaches a local stand-in of Aliyun SMS (checking the signature as Aliyun does) →
the corrected application is recorded → 刘洋 (科室负责人) issues and serves the 答复书 → the 答复 SMS →
the citizen reads the reply with the 查询码 and rates it (好差评) → the annual report counts the rating
under 网站好差评.

The worker runs as the Celery tasks do, in this process, between the steps: every outbox message through
`workers.tasks.events.process_message` (route, deadlines, 告知群众 …), then `workers.tasks.deliveries.
send_pending` — the task bodies tests/workers/test_citizen_messages.py drives — with the server's clock.

Screenshots: citizen-apply, citizen-applied, citizen-correction-letter, citizen-messages, citizen-reply-
letter, citizen-rating, citizen-report (docs/screenshots/ with TRACKER_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import select

from tests.browser.conftest import NOW, shot, sign_in, sign_out
from tests.serving import served
from tests.workers.sms_standins import AliyunSms

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SUBJECT = "2025年中小企业数字化转型专项资金分配结果"
PHONE = "13912340001"
NOTICE = "请补充申请人身份证明复印件（正反面）"
REPLY = "经查，您申请的2025年中小企业数字化转型专项资金分配结果已于本机关网站公开，现予提供。"
# A one-page PDF: the portal reads the type from the first bytes, so this is what a scan looks like.
ID_COPY = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SMS_TEMPLATES = {
    "receipt": ("SMS_200001", "您的政府信息公开申请已受理，编号{number}，查询码{query_code}。"),
    "correction": ("SMS_200002", "您的申请{number}需要补正：{notice}"),
    "reply": ("SMS_200003", "您的申请{number}已答复，请凭查询码{query_code}查看并评价。"),
}


@pytest.fixture(scope="module")
def aliyun():
    server = AliyunSms(
        keys={"LTAI5tJourneyKey": "journey-secret"},
        sign_names={"某市工信局"},
        templates={
            "SMS_200001": {"number", "query_code"},
            "SMS_200002": {"number", "notice"},
            "SMS_200003": {"number", "query_code"},
        },
    )
    # Aliyun's default flow control (1 a minute per number) would hold the 补正 SMS sent seconds after the
    # 受理 one until a retry a minute later (tests/workers cover that); the office has raised it, as Aliyun's
    # console allows.
    server.per_minute = 10
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def journey(tmp_path_factory, aliyun):
    """A live server over a fresh database: the demo bureau's people and calendar, no tickets; a routing
    rule sending disclosure applications to 中小企业服务处; the SMS gateway set to the Aliyun stand-in with
    the office's approved templates. Yields (base URL, settings) — the worker's settings are the server's."""
    from tracker.bootstrap import load_reference_data
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.demo import load_demo
    from tracker.migrate import upgrade
    from tracker.notify.citizens import save_template
    from tracker.notify.service import save_channel
    from tracker.workflow.routing import save_routing_rule
    from web import captcha, create_app
    from web.views import portal

    root = tmp_path_factory.mktemp("journey")
    url = f"sqlite:///{root / 'tracker.sqlite'}"
    upgrade(url)
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_INSTANCE_DIR": str(root / "instance"),
            "TRACKER_SECRET_KEY": "journey-browser-secret",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{root / 'broker.sqlite'}",
            "TRACKER_PUBLIC_URL": "https://gxj.example.gov.cn",
        }
    )
    with session_scope(url) as session:
        load_reference_data(session)
        load_demo(session, tickets=0, seed=2026, now=NOW)
        save_routing_rule(session, department_code="sme", channel="disclosure", now=NOW)
        save_channel(
            session,
            name="短信",
            kind="sms",
            url=aliyun.url,
            secret="journey-secret",
            now=NOW,
            secret_key=settings.secret_key,
            options={"provider": "aliyun", "access_key_id": "LTAI5tJourneyKey", "sign_name": "某市工信局"},
        )
        for kind, (code, text) in SMS_TEMPLATES.items():
            save_template(
                session, kind=kind, medium="sms", text=text, gateway_template=code, now=NOW, user=None
            )
    app = create_app({"TESTING": False, "CLOCK": lambda: NOW}, settings=settings)
    # The portal asks the wall clock (tracker.clock.utcnow); this server's clock stands at NOW. The CAPTCHA
    # is the tests/intake one: a person reads the picture, the test knows the question.
    patch = pytest.MonkeyPatch()
    patch.setattr(portal, "utcnow", lambda: NOW)
    patch.setattr(captcha, "new_question", lambda rng=None: ("3+4=?", 7))
    try:
        with served(app) as port:
            yield f"http://127.0.0.1:{port}", settings
    finally:
        patch.undo()


def run_worker(settings) -> dict[str, int]:
    """What the Celery worker does with what the requests committed: every outbox message through its
    consumers (each runs once — `processed_messages` — however often this is called), then the deliveries
    that are due."""
    from tracker.db import session_scope
    from tracker.tickets.outbox import OutboxMessage
    from workers.tasks.deliveries import send_pending
    from workers.tasks.events import process_message

    with session_scope(settings.database_url) as session:
        ids = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    for message_id in ids:
        process_message(settings, message_id, now=NOW)
    return send_pending(settings, now=NOW)


def _sms(aliyun, template_code: str) -> list[dict]:
    return [m for m in aliyun.accepted if m["TemplateCode"] == template_code]


def _open_ticket(page, base_url: str, number: str) -> None:
    page.goto(f"{base_url}/queues/all?q={number}")
    page.click(f"a:has-text('{number}')")
    page.wait_for_selector("[data-ticket-page]")


def _issue(page, kind: str, **fields) -> None:
    """文书 card → 生成文书 → the kind and its fields → 预览 → 出具."""
    card = page.locator("#letters")
    card.locator("summary:has-text('生成文书')").click()
    form = card.locator("form[method=get]")
    form.locator("select[name='kind']").select_option(kind)
    for name, value in fields.items():
        field = form.locator(f"[name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".letter-preview")


def _serve_last(page, method: str) -> None:
    letter = page.locator("#letters .letter").last
    letter.locator("select[name='served_via']").select_option(method)
    letter.locator("button:has-text('登记送达')").click()
    page.wait_for_load_state("load")


def test_application_correction_reply_rating_report(page, journey, aliyun):
    from tracker.db import session_scope
    from tracker.notify.models import Delivery
    from tracker.tickets.models import Ticket
    from tracker.workflow.models import Attachment

    base, settings = journey

    # 1. The citizen applies on the portal, with an ID copy.
    page.goto(f"{base}/portal/disclosure")
    page.fill("#name", "陈晓东")
    page.fill("#id_number", "110101198001011232")
    page.fill("#phone", PHONE)
    page.fill("#info_title", SUBJECT)
    page.fill("#description", "申请公开2025年中小企业数字化转型专项资金的分配结果，含企业名单与金额。")
    page.locator("#id_copy").set_input_files(
        files=[{"name": "身份证.pdf", "mimeType": "application/pdf", "buffer": ID_COPY}]
    )
    page.fill("input[name='captcha']", "7")
    shot(page, "citizen-apply")
    page.click("button:has-text('提交申请')")
    page.wait_for_selector("[data-query-code]")
    code = page.inner_text("[data-query-code]").strip()
    number = re.search(r"编号：(\S+)", page.inner_text("main")).group(1)
    assert len(code) >= 8
    shot(page, "citizen-applied", full_page=False)
    with session_scope(settings.database_url) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket.channel == "disclosure" and ticket.query_code == code
        [upload] = s.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id))
        assert (upload.purpose, upload.content_type) == ("id_copy", "application/pdf")

    # The worker: routed to 中小企业服务处, and the 受理 SMS with the 查询码 — once, however often it runs.
    assert run_worker(settings)["sent"] == 1
    [receipt] = _sms(aliyun, "SMS_200001")
    assert receipt["PhoneNumbers"] == PHONE and receipt["SignName"] == "某市工信局"
    assert json.loads(receipt["TemplateParam"]) == {"number": number, "query_code": code}
    assert run_worker(settings)["sent"] == 0

    # 2. 张伟 signs for it, sees the citizen's upload, issues the 补正 letter and serves it.
    sign_in(page, base, "zhangwei")
    _open_ticket(page, base, number)
    assert "身份证.pdf" in page.inner_text("[data-ticket-page]")
    page.locator("details[data-action='start'] summary").click()
    page.locator("details[data-action='start'] button[type=submit]").click()
    page.wait_for_load_state("load")
    _issue(page, "correction", notice=NOTICE)
    preview = page.inner_text(".letter-preview")
    assert "补正告知书" in preview and NOTICE in preview and "第三十条" in preview
    page.click("button:has-text('出具')")
    page.wait_for_selector("#letters .letter")
    doc = page.locator("#letters .letter").last.inner_text()
    assert re.search(r"政信补〔2026〕\d+号", doc) and "未送达" in doc
    _serve_last(page, "post")
    assert "已送达" in page.locator("#letters .letter").last.inner_text()
    shot(page, "citizen-correction-letter")
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(Ticket.status).where(Ticket.number == number)) == "waiting_applicant"

    # 3. The worker sends the 补正 SMS to the stand-in, with what to correct.
    assert run_worker(settings)["sent"] == 1
    [correction] = _sms(aliyun, "SMS_200002")
    assert correction["PhoneNumbers"] == PHONE
    assert json.loads(correction["TemplateParam"]) == {"number": number, "notice": NOTICE}
    page.reload()
    text = page.inner_text("#citizen-messages")
    assert "139****0001" in text and PHONE not in text
    assert text.count("已发送") >= 2  # 受理 and 补正
    shot(page, "citizen-messages")

    # 4. The corrected application arrives; the reply clock restarts.
    page.locator("details[data-action='receive_correction'] summary").click()
    form = page.locator("details[data-action='receive_correction'] form")
    form.locator("input[name='corrected_received_at']").fill("2026-10-14T10:00")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(Ticket.status).where(Ticket.number == number)) == "in_progress"
    sign_out(page)

    # 5. The 科室负责人 issues the 答复书 (予以公开) and serves it: the reply is sent with the letter.
    sign_in(page, base, "liuyang")
    _open_ticket(page, base, number)
    _issue(page, "reply", outcome="public", reply_text=REPLY)
    preview = page.inner_text(".letter-preview")
    assert "答复书" in preview and REPLY in preview and "第三十六条第二项" in preview
    page.click("button:has-text('出具')")
    page.wait_for_selector("#letters .letter >> nth=1")
    _serve_last(page, "online")
    shot(page, "citizen-reply-letter")
    with session_scope(settings.database_url) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert (ticket.status, ticket.outcome) == ("replied", "public")
    assert run_worker(settings)["sent"] == 1
    [told] = _sms(aliyun, "SMS_200003")
    assert json.loads(told["TemplateParam"]) == {"number": number, "query_code": code}
    sign_out(page)

    # 6. The citizen reads the reply with the 查询码 and rates it.
    page.goto(f"{base}/portal/query")
    page.fill("#code", code)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-reply]")
    assert REPLY in page.inner_text("[data-reply]")
    page.locator("[data-rating-form] input[value='满意']").check()
    shot(page, "citizen-rating")
    page.locator("[data-rating-form] button[type=submit]").click()
    page.wait_for_selector("[data-rated]")
    assert "满意" in page.inner_text("[data-rated]")

    # 7. The rating in the report's satisfaction figures, by its source.
    sign_in(page, base, "admin")
    page.goto(f"{base}/reports/annual?year=2026")
    row = page.locator("table.interaction tr:has(th:text-is('依申请公开'))").first
    assert row.locator("[data-rating-sources]").inner_text().strip() == "网站好差评 1"
    row.scroll_into_view_if_needed()
    shot(page, "citizen-report", full_page=False)
    with session_scope(settings.database_url) as s:
        statuses = [d.status for d in s.scalars(select(Delivery).where(Delivery.medium == "sms"))]
        assert statuses == ["sent"] * 3
