"""The public portal: messages and applications with CAPTCHA and CSRF, per-IP limits, the 查询码 page."""

import re

import pytest
from sqlalchemy import select

from tests import factories
from tracker.models import Ticket
from tracker.services.tickets import reply_ticket
from web import captcha

MESSAGE = {
    "request_type": "投诉",
    "title": "充电桩故障<b>",
    "content": "开发区公共充电桩坏了一个月<script>alert('x')</script>",
    "name": "王先生",
    "phone": "13700001111",
    "is_publishable": "1",
}


@pytest.fixture(autouse=True)
def fixed_question(monkeypatch):
    monkeypatch.setattr(captcha, "new_question", lambda rng=None: ("3+4=?", 7))


@pytest.fixture
def dept(session):
    factories.department(session, "bureau", "市工业和信息化局")
    session.commit()


def csrf(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(client, path, data, *, answer="7", ip="203.0.113.5"):
    token = csrf(client, path)
    image = client.get("/portal/captcha.svg")
    assert image.status_code == 200 and image.mimetype == "image/svg+xml"
    return client.post(
        path, data={**data, "csrf_token": token, "captcha": answer}, environ_base={"REMOTE_ADDR": ip}
    )


def test_message_form_is_chinese_and_mobile_friendly(client):
    page = client.get("/portal/message")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "我要留言" in html and 'name="viewport"' in html
    assert "style=" not in html and "<script" not in html  # CSP: no inline styles or scripts


def test_captcha_svg_has_no_readable_text():
    svg = captcha.render_svg("12+7=?")
    assert "<text" not in svg and "12" not in re.sub(r'"[^"]*"', "", svg)


def test_message_submission_gives_a_query_code_and_query_shows_the_reply(client, session, now, dept):
    response = submit(client, "/portal/message", MESSAGE)
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    code = re.search(r"data-query-code>([0-9A-F]+)<", html).group(1)
    ticket = session.scalar(select(Ticket).where(Ticket.query_code == code))
    assert ticket.channel == "website" and ticket.body == MESSAGE["content"] and ticket.is_publishable
    assert ticket.deadlines  # the reply deadline was opened with the ticket

    token = csrf(client, "/portal/query")
    status = client.post("/portal/query", data={"code": code.lower(), "csrf_token": token}).get_data(
        as_text=True
    )
    assert "已接收" in status and "尚未答复" in status
    assert "&lt;b&gt;" in status and "<b>" not in status.split("<main>")[1]  # citizen text escaped

    reply_ticket(session, ticket, "已联系运营企业修复<i>完毕</i>", actor="承办人", now=now)
    session.commit()
    token = csrf(client, "/portal/query")
    status = client.post("/portal/query", data={"code": code, "csrf_token": token}).get_data(as_text=True)
    assert "已答复" in status and "已联系运营企业修复&lt;i&gt;完毕&lt;/i&gt;" in status


def test_wrong_captcha_and_missing_fields_are_refused(client, session, dept):
    response = submit(
        client, "/portal/message", {**MESSAGE, "content": "", "phone": ""}, answer="8", ip="203.0.113.6"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "验证码错误" in html and "内容：不能为空" in html and "至少填写一项" in html


def test_captcha_answer_is_single_use(client, dept):
    token = csrf(client, "/portal/message")
    client.get("/portal/captcha.svg")
    data = {**MESSAGE, "csrf_token": token, "captcha": "7"}
    assert (
        client.post("/portal/message", data=data, environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code
        == 200
    )
    again = client.post("/portal/message", data=data, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert again.status_code == 400 and "验证码错误" in again.get_data(as_text=True)


def test_form_without_csrf_is_refused(client, dept):
    client.get("/portal/captcha.svg")
    assert client.post("/portal/message", data={**MESSAGE, "captcha": "7"}).status_code == 400


def test_per_ip_hourly_limit(client, session, dept):
    token = csrf(client, "/portal/message")
    codes = []
    for _ in range(21):
        codes.append(
            client.post(
                "/portal/message",
                data={**MESSAGE, "csrf_token": token, "captcha": "0"},
                environ_base={"REMOTE_ADDR": "198.51.100.9"},
            ).status_code
        )
    assert codes[:20] == [400] * 20 and codes[20] == 429
    # Another address is not affected.
    assert submit(client, "/portal/message", MESSAGE, ip="198.51.100.10").status_code == 200


def test_daily_limit(client, session, monkeypatch, dept):
    from web.views import portal

    monkeypatch.setattr(portal, "DAILY_LIMIT", 3)
    monkeypatch.setattr(portal, "HOURLY_LIMIT", 100)
    token = csrf(client, "/portal/message")
    statuses = [
        client.post(
            "/portal/message", data={"csrf_token": token}, environ_base={"REMOTE_ADDR": "198.51.100.20"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


APPLICATION = {
    "applicant_kind": "公民",
    "name": "赵某",
    "id_type": "身份证",
    "id_number": "11010519491231002x",
    "phone": "13900001111",
    "address": "某市某区某路1号",
    "info_title": "2025年技术改造专项资金分配结果",
    "doc_number": "",
    "description": "请提供获得资金支持的企业名单及金额",
    "delivery_form": "电子邮件",
    "delivery_way": "电子邮件",
}


def test_disclosure_application_art29(client, session, dept):
    response = submit(client, "/portal/disclosure", APPLICATION, ip="203.0.113.30")
    assert response.status_code == 200, response.get_data(as_text=True)
    code = re.search(r"data-query-code>([0-9A-F]+)<", response.get_data(as_text=True)).group(1)
    ticket = session.scalar(select(Ticket).where(Ticket.query_code == code))
    assert (
        ticket.channel == "disclosure" and ticket.applicant_type == "自然人" and ticket.received_via == "网络"
    )
    assert ticket.contact.id_number == "11010519491231002X"
    assert ticket.extra["delivery_form"] == "电子邮件"
    assert {d.kind for d in ticket.deadlines} >= {"reply"}


def test_disclosure_id_checks_and_org_types(client, dept):
    bad_id = submit(
        client, "/portal/disclosure", {**APPLICATION, "id_number": "110105194912310021"}, ip="203.0.113.31"
    )
    assert bad_id.status_code == 400 and "身份证校验位不正确" in bad_id.get_data(as_text=True)
    org = {
        **APPLICATION,
        "applicant_kind": "法人或其他组织",
        "org_type": "科研机构",
        "id_number": "91350100M000100Y44",
    }
    bad_code = submit(client, "/portal/disclosure", org, ip="203.0.113.32")
    assert bad_code.status_code == 400 and "统一社会信用代码校验码不正确" in bad_code.get_data(as_text=True)
    good = submit(client, "/portal/disclosure", {**org, "id_number": "91350100M000100Y43"}, ip="203.0.113.33")
    assert good.status_code == 200
    nothing = submit(
        client, "/portal/disclosure", {**APPLICATION, "info_title": "", "description": ""}, ip="203.0.113.34"
    )
    assert nothing.status_code == 400 and "所需信息" in nothing.get_data(as_text=True)


def test_unknown_query_code(client):
    token = csrf(client, "/portal/query")
    response = client.post("/portal/query", data={"code": "NOPE", "csrf_token": token})
    assert response.status_code == 404 and "查询码不正确" in response.get_data(as_text=True)
