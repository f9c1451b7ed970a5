"""A corpus of XSS and SQL-injection payloads sent through every entry point, then rendered in a real
headless Chromium on every page that shows them: nothing executes, nothing is injected, nothing breaks.

Entry points: the portal message and disclosure forms, the signed 12345 push, the API for website and
Weibo tickets, a hotline file import, and a staff note. Pages: the dashboard home, the queues (with the
payloads as search words and filters), every ticket page, the public 查询码 page and the audit log.
Executing means: a JavaScript dialog opened, `window.__xss` was set, or an element whose id starts with
`xss-` exists in the DOM. Also checked: each payload is stored exactly as given.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import IS_CI
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, signed_headers, write_csv
from tests.serving import served
from tracker.people.access import EVERYTHING

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "xss-test-pass-2026"


def _payloads() -> list[str]:
    templates = [
        "<script id=xss-{i}>window.__xss={i};alert({i})</script>",
        '<img src=x id=xss-{i} onerror="window.__xss={i};alert({i})">',
        "<svg id=xss-{i} onload=alert({i})>",
        '"><script id=xss-{i}>alert({i})</script>',
        "'><img id=xss-{i} src=x onerror=alert({i})>",
        "</textarea><script id=xss-{i}>alert({i})</script>",
        "</title><script id=xss-{i}>alert({i})</script>",
        '<a id=xss-{i} href="javascript:alert({i})">点我领取补贴</a>',
        '<iframe id=xss-{i} src="javascript:alert({i})"></iframe>',
        "<details id=xss-{i} open ontoggle=alert({i})>",
        '<div id=xss-{i} style="position:fixed;inset:0;background:red">覆盖</div>',
        "<body onload=alert({i})><b id=xss-{i}>粗体</b>",
        "{{{{7*7}}}}xss-{i}",  # template injection: must stay literally {{7*7}}
        "${{7*7}}<math id=xss-{i}><mtext><table><mglyph><style><img src=x onerror=alert({i})>",
        "javascript:alert({i})//xss-{i}",
        "'; DROP TABLE tickets; -- xss-{i}",
        "1' OR '1'='1' -- xss-{i}",
        "\" OR 1=1; UPDATE users SET role='admin' -- xss-{i}",
        "%' UNION SELECT password_hash FROM users -- xss-{i}",
        "\u202eexe.txt xss-{i} \u0000\u200b",
    ]
    return [t.format(i=i) for i, t in enumerate(templates)]


PAYLOADS = _payloads()
# NUL cannot be stored by PostgreSQL, the production database (it was a 500 there; this SQLite site kept
# it): every door refuses it with the field named (issue 17), and the file import lists its row as bad.
REFUSED = {p for p in PAYLOADS if "\x00" in p}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A live server over a scratch SQLite database, the corpus injected through every entry point."""

    from tracker.bootstrap import load_reference_data
    from tracker.clock import utcnow
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.intake.apikeys import create_api_key
    from tracker.intake.importer import import_file
    from tracker.migrate import upgrade
    from tracker.people.passwords import PasswordPolicy
    from tracker.people.service import create_department, create_user
    from tracker.tickets.models import Ticket
    from web import captcha, create_app

    root = tmp_path_factory.mktemp("xss")
    url = f"sqlite:///{root / 'tracker.sqlite'}"
    upgrade(url)
    now = utcnow()
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_INSTANCE_DIR": str(root / "instance"),
            "TRACKER_SECRET_KEY": "xss-test-secret",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{root / 'broker.sqlite'}",
            # Signs in as an administrator twice in a few seconds; the second factor is tested in
            # tests/security/test_totp.py, here it would only refuse the second sign-in's code as replayed.
            "TRACKER_TOTP_REQUIRED_ROLES": "none",
        }
    )
    with session_scope(url) as session:
        load_reference_data(session)
        create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
        for username, role in (("xss_admin", "admin"), ("xss_staff", "staff")):
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                department_code="bureau",
                display_name=f"测试{role}",
                now=now,
                policy=PasswordPolicy(),
                must_change_password=False,
            )
        key, secret = create_api_key(session, settings.secret_key, name="12345平台", channel=None, now=now)
        key_id = key.key_id

    app = create_app({"TESTING": False}, settings=settings)
    original_question = captcha.new_question
    captcha.new_question = lambda rng=None: ("3+4=?", 7)
    client = app.test_client()
    sent = 0

    def form_post(path: str, data: dict, ip: str) -> int:
        # One address per payload: the portal's per-address limit (20 an hour) is not what is tested here.
        page = client.get(path).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.get("/portal/captcha.svg")
        return client.post(
            path, data={**data, "csrf_token": token, "captcha": "7"}, environ_base={"REMOTE_ADDR": ip}
        ).status_code

    def api_post(path: str, payload: dict) -> int:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return client.post(
            path, data=body, headers=signed_headers(key_id, secret, "POST", path, body)
        ).status_code

    statuses: dict[str, list[int]] = {}
    query_codes = []
    try:
        for i, payload in enumerate(PAYLOADS):
            results = statuses.setdefault(payload, [])
            results.append(
                form_post(
                    "/portal/message",
                    {
                        "request_type": "投诉",
                        "title": f"留言{i} {payload}"[:200],
                        "content": f"留言内容 {payload}",
                        "name": payload[:100],
                        "phone": "13700001111",
                    },
                    f"203.0.113.{i + 1}",
                )
            )
            results.append(
                form_post(
                    "/portal/disclosure",
                    {
                        "applicant_kind": "公民",
                        "id_type": "身份证",
                        "name": payload[:100],
                        "id_number": "11010519491231002X",
                        "email": "a@example.com",
                        "address": payload,
                        "description": f"申请公开 {payload}",
                        "info_title": payload,
                        "delivery_form": "电子邮件",
                        "delivery_way": "电子邮件",
                    },
                    f"203.0.113.{i + 1}",
                )
            )
            results.append(
                api_post(
                    "/api/v1/intake/hotline",
                    {
                        "order_no": f"XSS-{i}",
                        "accepted_at": "2026-11-20 09:30:00",
                        "request_type": "投诉",
                        "title": payload[:200],
                        "content": payload,
                        "name": payload[:100],
                        "phone": "13800138000",
                        "address": payload,
                        "category": payload[:100],
                    },
                )
            )
            results.append(
                api_post(
                    "/api/v1/tickets",
                    {
                        "channel": "website",
                        "message_no": f"XSS-W-{i}",
                        "posted_at": "2026-11-20 10:00:00",
                        "request_type": "咨询",
                        "content": payload,
                        "title": payload[:200],
                        "name": payload[:100],
                        "phone": "13700002222",
                    },
                )
            )
            results.append(
                api_post(
                    "/api/v1/tickets",
                    {
                        "channel": "weibo",
                        "kind": "comment",
                        "item": {
                            "idstr": f"49{i:014d}",
                            "created_at": "Fri Nov 20 17:46:55 +0800 2026",
                            "text": payload,
                            "user": {"id": 1000 + i, "screen_name": payload[:60]},
                            "status": {"idstr": "4900000000000001", "user": {"id": 1}},
                        },
                    },
                )
            )
            sent += 5
        # A file import carrying every payload.
        rows = [
            hotline_row(f"XSS-FILE-{i}", content=f"导入 {p}", 标题=p[:200], 诉求人=p[:100], 诉求分类=p[:100])
            for i, p in enumerate(PAYLOADS)
        ]
        path = write_csv(Path(root) / "xss.csv", HOTLINE_HEADER, rows)
        with session_scope(url) as session:
            import_file(
                session, "hotline", path, actor="文件导入", reach=EVERYTHING, now=utcnow(), skip_bad_rows=True
            )
        sent += len(PAYLOADS)
        # A staff note on the first ticket of each payload.
        with session_scope(url) as session:
            ticket_ids = list(session.scalars(select(Ticket.id).order_by(Ticket.id)))
            query_codes = [
                c for c in session.scalars(select(Ticket.query_code).where(Ticket.query_code.is_not(None)))
            ]
        staff = app.test_client()
        page = staff.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        staff.post("/login", data={"username": "xss_admin", "password": PASSWORD, "csrf_token": token})
        for payload, ticket_id in zip(PAYLOADS, ticket_ids, strict=False):
            page = staff.get(f"/tickets/{ticket_id}").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            statuses[payload].append(
                staff.post(
                    f"/tickets/{ticket_id}/actions/note", data={"note": payload, "csrf_token": token}
                ).status_code
            )
            sent += 1
    finally:
        captcha.new_question = original_question

    with served(app) as port:
        yield {
            "base": f"http://127.0.0.1:{port}",
            "url": url,
            "statuses": statuses,
            "ticket_ids": ticket_ids,
            "query_codes": query_codes,
            "sent": sent,
        }


def test_every_entry_point_accepts_or_refuses_cleanly_and_stores_text_as_given(site):
    from tracker.db import session_scope
    from tracker.tickets.models import Ticket, TicketEvent

    for payload, codes in site["statuses"].items():
        assert all(code < 500 for code in codes), (payload, codes)
        if payload in REFUSED:
            assert set(codes) == {400}, (payload, codes)
            continue
        # The portal message, the push and the website ticket must accept the text (it is valid input).
        assert codes[0] == 200 and codes[2] in (200, 201) and codes[3] in (200, 201), (payload, codes)
    with session_scope(site["url"]) as session:
        pushed = {
            t.external_ref: t
            for t in session.scalars(select(Ticket).where(Ticket.external_ref.like("XSS-%")))
        }
        for i, payload in enumerate(PAYLOADS):
            if payload in REFUSED:
                assert f"XSS-{i}" not in pushed and f"XSS-FILE-{i}" not in pushed
                continue
            assert pushed[f"XSS-{i}"].body == payload.strip() or pushed[f"XSS-{i}"].body == payload
            assert pushed[f"XSS-FILE-{i}"].body == f"导入 {payload}".strip()
        notes = session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "ticket.note")
        )
        assert notes == len(PAYLOADS) - len(REFUSED)
        # The SQL-injection payloads did nothing to the schema or the users.
        assert session.scalar(select(func.count()).select_from(Ticket)) >= 5 * len(PAYLOADS)


@pytest.fixture(scope="module")
def chromium():
    import shutil

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if IS_CI:
            pytest.fail(f"chromium not found at {CHROMIUM}", pytrace=False)
        pytest.skip(f"chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_nothing_executes_in_a_real_browser_on_any_page(site, chromium):
    base = site["base"]
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss()))
    console_errors: list[str] = []
    page.on("pageerror", lambda error: console_errors.append(str(error)))

    # Positive control: the same checks do see a payload that is NOT escaped.
    page.set_content(f"<html><body>{PAYLOADS[1]}{PAYLOADS[0]}</body></html>")
    page.wait_for_timeout(100)
    assert page.evaluate("() => document.querySelectorAll('[id^=\"xss-\"]').length") == 2
    assert page.evaluate("() => window.__xss") is not None and dialogs
    dialogs.clear()

    page.goto(f"{base}/login")
    page.fill("input[name=username]", "xss_admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("load")

    urls = ["/", "/queues/all", "/queues/all?sort=received", "/admin/audit"]
    urls += [f"/queues/all?q={p}" for p in PAYLOADS[:6] + PAYLOADS[15:19]]
    urls += [f"/queues/all?channel={p}&status={p}&sort={p}" for p in PAYLOADS[15:17]]
    urls += [f"/tickets/{ticket_id}" for ticket_id in site["ticket_ids"]]
    injected: list[str] = []
    statuses: dict[str, int] = {}
    for path in urls:
        response = page.goto(base + path.replace("#", "%23"))
        statuses[path] = response.status if response else 0
        page.wait_for_timeout(30)  # give onerror/onload handlers their chance
        found = page.evaluate(
            "() => [window.__xss, document.querySelectorAll('[id^=\"xss-\"]').length,"
            " document.querySelectorAll('script:not([src])').length]"
        )
        if found[0] is not None or found[1]:
            injected.append(f"{path}: __xss={found[0]} elements={found[1]}")
    # The public query page, for citizens' own messages.
    public = context.new_page()
    public.on("dialog", lambda dialog: (dialogs.append(f"portal: {dialog.message}"), dialog.dismiss()))
    for code in site["query_codes"][:10]:
        public.goto(f"{base}/portal/query")
        public.fill("input[name=code]", code)
        public.click("button[type=submit], input[type=submit]")
        public.wait_for_load_state("load")
        if public.evaluate("() => window.__xss !== undefined || !!document.querySelector('[id^=\"xss-\"]')"):
            injected.append(f"portal query {code}")
        statuses[f"/portal/query {code}"] = 200
    context.close()

    assert dialogs == [], dialogs[:5]
    assert injected == [], injected[:5]
    assert all(status < 500 for status in statuses.values()), {k: v for k, v in statuses.items() if v >= 500}
    assert sum(1 for s in statuses.values() if s == 200) >= len(site["ticket_ids"])  # the pages rendered
    print(
        f"\nXSS/SQLi corpus: {len(PAYLOADS)} payloads, {site['sent']} submissions through 7 entry points, "
        f"{len(statuses)} pages rendered in Chromium, {len(dialogs)} dialogs, {len(injected)} injections"
    )
