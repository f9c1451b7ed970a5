"""The citizen's portal beyond intake: attachments checked by content, 留言选登 masked and escaped, 好差评
once per ticket, recovering a 查询码 by SMS code without enumeration, opting out; as an attacker too."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests import factories
from tests.intake.test_portal import APPLICATION, MESSAGE, csrf, submit
from tracker.intake.models import RecoveryCode
from tracker.notify.citizens import optout_token
from tracker.notify.models import CitizenMessage, Delivery
from tracker.notify.service import save_channel
from tracker.tickets.models import Ticket
from tracker.workflow.models import Attachment
from tracker.workflow.transitions import reply_ticket
from web import captcha

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


@pytest.fixture(autouse=True)
def fixed_question(monkeypatch):
    monkeypatch.setattr(captcha, "new_question", lambda rng=None: ("3+4=?", 7))


@pytest.fixture
def dept(session):
    factories.department(session, "bureau", "市工业和信息化局")
    session.commit()


def _apply(client, files, ip):
    token = csrf(client, "/portal/disclosure")
    client.get("/portal/captcha.svg")
    data = {**APPLICATION, "csrf_token": token, "captcha": "7"}
    for name, (content, filename) in files.items():
        data[name] = FileStorage(io.BytesIO(content), filename=filename)
    # Encoded here, in memory: the test client spools a large body to a temporary file it never closes.
    boundary, body = encode_multipart(data)
    return client.post(
        "/portal/disclosure",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        environ_base={"REMOTE_ADDR": ip},
    )


def test_an_application_keeps_its_id_copy_and_authority_letter(client, session, dept):
    response = _apply(
        client, {"id_copy": (PDF, "身份证.pdf"), "authority_letter": (PNG, "委托书.png")}, "203.0.113.60"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    code = re.search(r"data-query-code>([0-9A-F]+)<", response.get_data(as_text=True)).group(1)
    ticket = session.scalar(select(Ticket).where(Ticket.query_code == code))
    files = session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)).all()
    assert sorted((a.purpose, a.content_type) for a in files) == [
        ("authority_letter", "image/png"),
        ("id_copy", "application/pdf"),
    ]


@pytest.mark.parametrize(
    ("content", "filename", "reason"),
    [
        (EXE, "身份证.pdf", "不是PDF、JPG或PNG文件"),  # an .exe named .pdf
        (PNG, "身份证.pdf", "扩展名与文件内容（PNG）不符"),  # a picture passed off as a PDF
        (PDF, "身份证.exe", "扩展名与文件内容（PDF）不符"),
        (b"", "空.pdf", "空文件"),
        (b"%PDF-" + b"0" * (5 * 1024 * 1024), "大.pdf", "超过5MB"),
    ],
)
def test_disguised_empty_and_oversized_files_are_refused_and_nothing_is_written(
    client, session, dept, content, filename, reason
):
    before = session.scalar(select(func.count()).select_from(Ticket))
    response = _apply(client, {"id_copy": (content, filename)}, "203.0.113.61")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and reason in html and "身份证明复印件" in html
    assert session.scalar(select(func.count()).select_from(Ticket)) == before
    assert session.scalar(select(func.count()).select_from(Attachment)) == 0


def _replied_message(session, now, *, body, reply, publishable=True, name="王先生", confidential=False):
    ticket = factories.ticket(
        session,
        now=now,
        channel="website",
        request_type="投诉",
        external_ref=None,
        body=body,
        subject="充电桩<b>故障</b>",
        is_publishable=publishable,
        with_query_code=True,
        contact=factories.ContactDraft(name=name, phone="13700001111", is_confidential=confidential),
    )
    reply_ticket(session, ticket, reply, actor="测试", now=now)
    session.commit()
    return ticket


def test_published_messages_only_with_consent_masked_and_escaped(client, session, now, dept):
    _replied_message(
        session,
        now,
        body="我的电话13812345678，身份证110105194912310021，邮箱wang@example.com<script>alert(1)</script>",
        reply="已联系13812345678处理",
    )
    _replied_message(session, now, body="不同意公开的留言", reply="已答复", publishable=False)
    _replied_message(session, now, body="保密的举报", reply="已答复", confidential=True)
    html = client.get("/portal/published").get_data(as_text=True)
    assert html.count("data-published") == 1
    assert "不同意公开的留言" not in html and "保密的举报" not in html
    assert "13812345678" not in html and "138****5678" in html
    assert "110105194912310021" not in html and "wang@example.com" not in html
    assert "王**" in html and "王先生" not in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert client.get("/portal/published?page=-5").status_code == 200
    assert client.get("/portal/published?page=abc").status_code == 200


def _rate(client, code, level, ip="203.0.113.70"):
    token = csrf(client, "/portal/query")
    return client.post(
        "/portal/rate",
        data={"csrf_token": token, "code": code, "satisfaction": level},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_a_rating_counts_once_and_a_replay_is_refused(client, session, now, dept):
    ticket = _replied_message(session, now, body="问题", reply="答复")
    first = _rate(client, ticket.query_code.lower(), "非常满意")
    assert first.status_code == 200 and "感谢您的评价" in first.get_data(as_text=True)
    replay = _rate(client, ticket.query_code, "非常不满意")
    assert replay.status_code == 409 and "只能评价一次" in replay.get_data(as_text=True)
    session.expire_all()
    ticket = session.get(Ticket, ticket.id)
    assert (ticket.satisfaction, ticket.satisfaction_source) == ("非常满意", "portal")
    # Not a level, no code, a guessed code, no CSRF token: refused, nothing changed.
    assert _rate(client, ticket.query_code, "满意<script>").status_code in (400, 409)
    assert _rate(client, "", "满意").status_code == 404
    assert _rate(client, "0123456789AB", "满意").status_code == 404
    assert (
        client.post("/portal/rate", data={"code": ticket.query_code, "satisfaction": "满意"}).status_code
        == 400
    )


def test_a_ticket_without_a_reply_cannot_be_rated(client, session, now, dept):
    ticket = factories.ticket(
        session, now=now, channel="website", request_type="咨询", external_ref=None, with_query_code=True
    )
    session.commit()
    response = _rate(client, ticket.query_code, "满意")
    assert response.status_code == 400 and "答复后才能评价" in response.get_data(as_text=True)


def test_rating_guesses_hit_the_portal_limit(client, session, dept):
    statuses = [_rate(client, f"{i:012X}", "满意", ip="203.0.113.71").status_code for i in range(31)]
    assert statuses[:30] == [404] * 30 and statuses[30] == 429


def _sms_gateway(session, now):
    save_channel(
        session, name="短信", kind="sms", url="http://127.0.0.1:9/sms", now=now, secret_key="test-secret-key"
    )
    session.commit()


def test_recovering_query_codes_by_sms_code(client, session, now, dept):
    _sms_gateway(session, now)
    ticket = _replied_message(session, now, body="问题", reply="答复")
    token = csrf(client, "/portal/recover")
    client.get("/portal/captcha.svg")
    page = client.post(
        "/portal/recover",
        data={"csrf_token": token, "captcha": "7", "phone": "137-0000-1111"},
        environ_base={"REMOTE_ADDR": "203.0.113.80"},
    )
    assert page.status_code == 200 and "137****1111" in page.get_data(as_text=True)
    [message] = session.scalars(select(CitizenMessage).where(CitizenMessage.kind == "recovery")).all()
    assert session.scalar(select(Delivery.medium).where(Delivery.citizen_message_id == message.id)) == "sms"
    code = message.params["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    # One guess per code: a wrong answer uses the challenge up, the right one afterwards is too late.
    assert client.post("/portal/recover/verify", data={"csrf_token": token, "code": wrong}).status_code == 400
    assert client.post("/portal/recover/verify", data={"csrf_token": token, "code": code}).status_code == 400
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    # A new code, answered right: the phone's 查询码 are shown.
    token = csrf(client, "/portal/recover")
    client.get("/portal/captcha.svg")
    client.post(
        "/portal/recover",
        data={"csrf_token": token, "captcha": "7", "phone": "13700001111"},
        environ_base={"REMOTE_ADDR": "203.0.113.80"},
    )
    code = (
        session.scalars(
            select(CitizenMessage).where(CitizenMessage.kind == "recovery").order_by(CitizenMessage.id.desc())
        )
        .first()
        .params["code"]
    )
    done = client.post("/portal/recover/verify", data={"csrf_token": token, "code": code})
    assert done.status_code == 200 and ticket.query_code in done.get_data(as_text=True)


def test_an_unknown_phone_gets_the_same_answer_and_no_sms(client, session, now, dept):
    _sms_gateway(session, now)
    _replied_message(session, now, body="问题", reply="答复")

    def ask(phone):
        token = csrf(client, "/portal/recover")
        client.get("/portal/captcha.svg")
        page = client.post(
            "/portal/recover",
            data={"csrf_token": token, "captcha": "7", "phone": phone},
            environ_base={"REMOTE_ADDR": "203.0.113.81"},
        )
        return page.status_code, page.get_data(as_text=True).replace(phone[:3] + "****" + phone[-4:], "PHONE")

    known, unknown = ask("13700001111"), ask("13600002222")
    assert known == unknown  # same status, same page
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 2
    assert session.scalar(select(func.count()).select_from(CitizenMessage)) == 1  # only the known one


def test_recovery_is_limited_per_phone_and_per_address(client, session, now, dept):
    def ask(phone, ip):
        token = csrf(client, "/portal/recover")
        client.get("/portal/captcha.svg")
        return client.post(
            "/portal/recover",
            data={"csrf_token": token, "captcha": "7", "phone": phone},
            environ_base={"REMOTE_ADDR": ip},
        ).status_code

    # One phone from many addresses: 3 an hour.
    assert [ask("13700009999", f"198.51.100.{i}") for i in range(4)] == [200, 200, 200, 429]
    # Many phones from one address: 5 an hour.
    assert [ask(f"1370000{i:04d}", "198.51.100.50") for i in range(6)] == [200] * 5 + [429]
    # A wrong CAPTCHA makes no challenge.
    before = session.scalar(select(func.count()).select_from(RecoveryCode))
    token = csrf(client, "/portal/recover")
    client.get("/portal/captcha.svg")
    bad = client.post(
        "/portal/recover",
        data={"csrf_token": token, "captcha": "8", "phone": "13700008888"},
        environ_base={"REMOTE_ADDR": "198.51.100.60"},
    )
    assert bad.status_code == 400 and session.scalar(select(func.count()).select_from(RecoveryCode)) == before


def test_opt_out_link_and_a_forged_one(client, session, now, dept, settings):
    ticket = _replied_message(session, now, body="问题", reply="答复")
    assert client.get("/portal/optout/1.forged").status_code == 404
    link = f"/portal/optout/{optout_token(settings.secret_key, ticket.contact_id)}"
    token = csrf(client, link)
    assert client.post(link, data={"csrf_token": token}).status_code == 200
    session.expire_all()
    assert session.get(Ticket, ticket.id).contact.notify_opt_out_at is not None


def test_message_text_is_kept_as_given(client, session, dept):
    response = submit(client, "/portal/message", MESSAGE, ip="203.0.113.90")
    assert response.status_code == 200


def test_staff_see_what_the_citizen_was_told_masked_and_another_department_does_not(client, session, now):
    from tracker.notify.citizens import tell_citizen

    dept = factories.department(session, "sme", "中小企业服务处")
    other = factories.department(session, "it", "信息化推进处")
    staff = factories.user(session, role="staff", dept=dept, now=now)
    outsider = factories.user(session, role="staff", dept=other, now=now)
    _sms_gateway(session, now)
    ticket = factories.ticket(
        session,
        now=now,
        dept=dept,
        channel="website",
        request_type="咨询",
        external_ref=None,
        with_query_code=True,
        contact=factories.ContactDraft(name="李某", phone="13812345678"),
    )
    tell_citizen(session, ticket, "receipt", key="t1", now=now, public_url="http://portal", secret_key="k")
    session.commit()
    factories.signed_in(client, staff, csrf_token="t0ken")
    html = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-citizen-message="receipt-sms"' in html and "受理告知" in html and "待发送" in html
    assert "138****5678" in html and "13812345678" not in html
    factories.signed_in(client, outsider, csrf_token="t0ken")
    assert client.get(f"/tickets/{ticket.id}").status_code in (403, 404)


def test_the_office_edits_its_wording_and_only_the_office(client, session, now):
    dept = factories.department(session, "office", "办公室")
    admin = factories.user(session, role="admin", dept=dept, now=now)
    staff = factories.user(session, role="staff", dept=dept, now=now)
    session.commit()
    factories.signed_in(client, staff, csrf_token="t0ken")
    assert client.get("/admin/message-templates").status_code == 403
    factories.signed_in(client, admin, csrf_token="t0ken")
    page = client.get("/admin/message-templates").get_data(as_text=True)
    assert 'data-template="receipt-sms"' in page and "{query_code}" in page
    data = {"csrf_token": "t0ken", "kind": "receipt", "medium": "sms", "gateway_template": "SMS_1"}
    saved = client.post(
        "/admin/message-templates", data={**data, "text": "已受理{number}，查询码{query_code}"}
    )
    assert saved.status_code == 302
    bad = client.post(
        "/admin/message-templates", data={**data, "text": "{query_code.__class__}"}, follow_redirects=True
    )
    assert "未知变量" in bad.get_data(as_text=True)
    from tracker.notify.citizens import templates

    assert templates(session)[("receipt", "sms")]["text"] == "已受理{number}，查询码{query_code}"
