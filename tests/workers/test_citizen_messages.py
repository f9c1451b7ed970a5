"""Telling the citizen: planned from the ticket's events after commit, once, sent through the one delivery
machinery by the generic hook, Aliyun SMS or Tencent Cloud SMS (local stand-ins speaking their protocol,
checking their signatures as the services do), and by e-mail; opt-out honoured; refusals explained."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.workers.conftest import at, worker_settings
from tests.workers.sms_standins import AliyunSms, TencentSms
from tracker.db import session_scope
from tracker.errors import NotFound
from tracker.notify.citizens import (
    contact_of_token,
    opt_out,
    optout_token,
    save_template,
    tell_citizen,
    ticket_messages,
)
from tracker.notify.models import CitizenMessage, Delivery
from tracker.notify.service import save_channel
from tracker.tickets.models import Contact, Ticket
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow.transitions import close_ticket, reply_ticket, request_correction
from workers.senders import Message
from workers.senders.aliyun import sign as aliyun_sign
from workers.senders.tencent import authorization
from workers.tasks.deliveries import send_pending
from workers.tasks.events import process_message

START = at("2026-03-04", "10:00")


@pytest.fixture
def aliyun():
    server = AliyunSms(
        keys={"LTAI5tTestKeyId": "aliyun-secret"},
        sign_names={"某市工信局"},
        templates={"SMS_100001": {"number", "query_code"}, "SMS_100002": {"number", "notice"}},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def tencent():
    server = TencentSms(
        keys={"AKIDtest": "tencent-secret"},
        app_ids={"1400000001"},
        sign_names={"某市工信局"},
        templates={"2000001": 2, "2000002": 2},
    ).start()
    yield server
    server.stop()


def _setup(url, *, phone="13812345678", email="li@example.com", with_query_code=True, channel="website"):
    with session_scope(url) as s:
        dept = factories.department(s, "bureau", "市工业和信息化局")
        ticket = factories.ticket(
            s,
            now=START,
            dept=dept,
            channel=channel,
            request_type="咨询" if channel == "website" else "政府信息公开申请",
            external_ref=None,
            with_query_code=with_query_code,
            contact=factories.ContactDraft(name="李建国", phone=phone, email=email),
        )
        return ticket.id


def _gateway(db_url, settings, **options):
    """Configure (or reconfigure) the one SMS gateway."""
    from tracker.notify.models import NotificationChannel

    with session_scope(db_url) as s:
        secret = options.pop("secret")
        server_url = options.pop("url")
        save_channel(
            s,
            name="短信",
            kind="sms",
            url=server_url,
            secret=secret,
            now=START,
            secret_key=settings.secret_key,
            options=options,
            channel_id=s.scalar(select(NotificationChannel.id).where(NotificationChannel.kind == "sms")),
        )


def _templates(url, **codes):
    with session_scope(url) as s:
        for kind, code in codes.items():
            text = {
                "receipt": "您的诉求已受理，编号{number}，查询码{query_code}。",
                "correction": "您的申请{number}需要补正：{notice}",
            }.get(kind, "编号{number}，查询码{query_code}")
            save_template(s, kind=kind, medium="sms", text=text, gateway_template=code, now=START, user=None)


def _outbox(url, ticket_id, topic):
    with session_scope(url) as s:
        return list(
            s.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.ticket_id == ticket_id, OutboxMessage.topic == topic)
                .order_by(OutboxMessage.id)
            )
        )


def test_receipt_goes_once_by_aliyun_sms_and_email_with_the_query_code(
    scratch_url, tmp_path, aliyun, smtp_server
):
    settings, _ = worker_settings(
        tmp_path,
        scratch_url,
        "memory://",
        TRACKER_SMTP_HOST="127.0.0.1",
        TRACKER_SMTP_PORT=str(smtp_server.port),
    )
    ticket_id = _setup(scratch_url)
    _gateway(
        scratch_url,
        settings,
        provider="aliyun",
        url=aliyun.url,
        secret="aliyun-secret",
        access_key_id="LTAI5tTestKeyId",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="SMS_100001")
    [created] = _outbox(scratch_url, ticket_id, "ticket.created")
    assert "citizen" in process_message(settings, created, now=START)
    assert process_message(settings, created, now=START) == []  # redelivered: nothing twice
    with session_scope(scratch_url) as s:
        ticket = s.get(Ticket, ticket_id)
        # Even called again by hand with the same key (a consumer retried), no second message.
        assert (
            tell_citizen(
                s,
                ticket,
                "receipt",
                key=f"ob{created}:receipt",
                now=START,
                public_url=settings.public_url,
                secret_key=settings.secret_key,
            )
            == []
        )
        code = ticket.query_code
        assert s.scalar(select(func.count()).select_from(CitizenMessage)) == 2
    assert send_pending(settings, now=START)["sent"] == 2
    [sms] = aliyun.accepted
    assert sms["PhoneNumbers"] == "13812345678" and sms["SignName"] == "某市工信局"
    assert sms["TemplateCode"] == "SMS_100001"
    assert json.loads(sms["TemplateParam"]) == {"number": ticket.number, "query_code": code}
    [mail] = smtp_server.messages
    assert mail["To"] == "li@example.com" and code in mail.get_payload(decode=True).decode()
    assert send_pending(settings, now=START)["sent"] == 0
    with session_scope(scratch_url) as s:
        shown = ticket_messages(s, ticket_id)
        assert sorted((m.medium, d.status) for m, d in shown) == [("email", "sent"), ("sms", "sent")]


def test_correction_reply_and_revisit_follow_the_workflow(scratch_url, tmp_path, tencent):
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ticket_id = _setup(scratch_url, email=None, channel="disclosure")
    _gateway(
        scratch_url,
        settings,
        provider="tencent",
        url=tencent.url,
        secret="tencent-secret",
        secret_id="AKIDtest",
        sdk_app_id="1400000001",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="2000001", correction="2000002", reply="2000001", revisit="2000001")
    with session_scope(scratch_url) as s:
        ticket = s.get(Ticket, ticket_id)
        request_correction(s, ticket, "请补充身份证明复印件", actor="测试", now=START)
    for message_id in _outbox(scratch_url, ticket_id, "ticket.created") + _outbox(
        scratch_url, ticket_id, "ticket.status_changed"
    ):
        process_message(settings, message_id, now=START)
    tencent.daily_limit = 100
    assert send_pending(settings, now=START)["sent"] == 2
    receipt, correction = tencent.accepted
    assert correction["PhoneNumber"] == "+8613812345678" and correction["TemplateId"] == "2000002"
    assert correction["TemplateParamSet"][1] == "请补充身份证明复印件"
    assert receipt["TemplateParamSet"][1]  # the 查询码


def test_tencent_refusals_are_explained_and_a_blacklisted_number_fails_at_once(
    scratch_url, tmp_path, tencent
):
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ticket_id = _setup(scratch_url, email=None)
    _gateway(
        scratch_url,
        settings,
        provider="tencent",
        url=tencent.url,
        secret="wrong-secret",
        secret_id="AKIDtest",
        sdk_app_id="1400000001",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="2000001")
    [created] = _outbox(scratch_url, ticket_id, "ticket.created")
    process_message(settings, created, now=START)
    assert send_pending(settings, now=START)["retrying"] == 1  # a wrong key: retried after the fix
    assert tencent.refused == ["AuthFailure.SignatureFailure"]
    with session_scope(scratch_url) as s:
        delivery = s.scalar(select(Delivery).where(Delivery.citizen_message_id.is_not(None)))
        assert "签名校验失败" in delivery.last_error and delivery.status == "pending"
    _gateway(
        scratch_url,
        settings,
        provider="tencent",
        url=tencent.url,
        secret="tencent-secret",
        secret_id="AKIDtest",
        sdk_app_id="1400000001",
        sign_name="某市工信局",
    )
    tencent.blacklist.add("+8613812345678")
    later = delivery.next_attempt_at
    counts = send_pending(settings, now=later)
    assert counts["failed"] == 1 and tencent.refused[-1] == "FailedOperation.PhoneNumberInBlacklist"
    with session_scope(scratch_url) as s:
        assert s.scalar(select(Delivery.status).where(Delivery.citizen_message_id.is_not(None))) == "failed"


def test_aliyun_refusals_wrong_key_unknown_template_and_the_per_number_limit(scratch_url, tmp_path, aliyun):
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ticket_id = _setup(scratch_url, email=None)
    _gateway(
        scratch_url,
        settings,
        provider="aliyun",
        url=aliyun.url,
        secret="not-the-secret",
        access_key_id="LTAI5tTestKeyId",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="SMS_100001", reply="SMS_999999")
    [created] = _outbox(scratch_url, ticket_id, "ticket.created")
    process_message(settings, created, now=START)
    assert send_pending(settings, now=START)["retrying"] == 1
    assert aliyun.refused == ["SignatureDoesNotMatch"]
    _gateway(
        scratch_url,
        settings,
        provider="aliyun",
        url=aliyun.url,
        secret="aliyun-secret",
        access_key_id="LTAI5tTestKeyId",
        sign_name="某市工信局",
    )
    with session_scope(scratch_url) as s:
        due = s.scalar(select(Delivery.next_attempt_at))
    assert send_pending(settings, now=due)["sent"] == 1
    with session_scope(scratch_url) as s:  # the reply: its template code was never approved
        ticket = s.get(Ticket, ticket_id)
        reply_ticket(s, ticket, "已答复。", actor="测试", now=START)
    [status] = _outbox(scratch_url, ticket_id, "ticket.status_changed")
    process_message(settings, status, now=START)
    assert send_pending(settings, now=due)["failed"] == 1
    assert aliyun.refused[-1] == "isv.SMS_TEMPLATE_ILLEGAL"
    # A second SMS to the same number within the minute: Aliyun's per-number limit, retried later.
    _templates(scratch_url, revisit="SMS_100001")
    with session_scope(scratch_url) as s:
        close_ticket(s, s.get(Ticket, ticket_id), actor="测试", now=START)
    process_message(settings, _outbox(scratch_url, ticket_id, "ticket.status_changed")[-1], now=START)
    assert send_pending(settings, now=due)["retrying"] == 1
    assert aliyun.refused[-1] == "isv.BUSINESS_LIMIT_CONTROL"


def test_signatures_match_the_services_own_reckoning(aliyun, tencent):
    """The adapters' signing against the stand-ins' independent implementation, on awkward values."""
    params = {"A": "a b*c~", "SignName": "某市工信局", "TemplateParam": '{"x":"+/="}'}
    assert aliyun_sign("s3cr3t", "POST", params) == aliyun.expected_signature("s3cr3t", params)
    body = json.dumps({"中": "文"}, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": "sms.tencentcloudapi.com",
        "X-TC-Timestamp": "1551113065",
    }
    header, _ = authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        host="sms.tencentcloudapi.com",
        payload=body,
        timestamp=1551113065,
    )
    assert header == tencent.expected_authorization(
        headers, body, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
    )
    assert Message  # the adapters take the same Message as every sender


def test_no_message_without_consent_or_contact_and_opt_out_stops_pending_ones(scratch_url, tmp_path, aliyun):
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ticket_id = _setup(scratch_url, email=None)
    hotline_id = _setup(scratch_url, email=None, with_query_code=False, channel="website")
    _gateway(
        scratch_url,
        settings,
        provider="aliyun",
        url=aliyun.url,
        secret="aliyun-secret",
        access_key_id="LTAI5tTestKeyId",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="SMS_100001")
    for tid in (ticket_id, hotline_id):
        process_message(settings, _outbox(scratch_url, tid, "ticket.created")[0], now=START)
    with session_scope(scratch_url) as s:
        # No 查询码 (a platform's ticket): the platform tells its citizen; nothing planned here.
        assert (
            s.scalar(
                select(func.count()).select_from(CitizenMessage).where(CitizenMessage.ticket_id == hotline_id)
            )
            == 0
        )
        ticket = s.get(Ticket, ticket_id)
        token = optout_token(settings.secret_key, ticket.contact_id)
        with pytest.raises(NotFound):
            contact_of_token(s, settings.secret_key, f"{ticket.contact_id}.forged")
        opt_out(s, contact_of_token(s, settings.secret_key, token), now=START)
    assert send_pending(settings, now=START)["failed"] == 1  # planned before the opt-out: not sent
    assert aliyun.accepted == []
    with session_scope(scratch_url) as s:
        ticket = s.get(Ticket, ticket_id)
        assert s.get(Contact, ticket.contact_id).notify_opt_out_at is not None
        assert (
            tell_citizen(
                s,
                ticket,
                "reply",
                key="again",
                now=START,
                public_url="http://x",
                secret_key=settings.secret_key,
            )
            == []
        )


def test_an_office_template_with_an_unknown_variable_is_refused(scratch_url):
    from tracker.errors import ValidationError

    with session_scope(scratch_url) as s, pytest.raises(ValidationError, match="未知变量"):
        save_template(
            s, kind="receipt", medium="sms", text="{number.__class__}{password}", now=START, user=None
        )


def test_the_channel_status_explains_the_providers_code(scratch_url, tmp_path, tencent):
    from tracker.ops.channel_status import channel_statuses

    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ticket_id = _setup(scratch_url, email=None)
    _gateway(
        scratch_url,
        settings,
        provider="tencent",
        url=tencent.url,
        secret="wrong-secret",
        secret_id="AKIDtest",
        sdk_app_id="1400000001",
        sign_name="某市工信局",
    )
    _templates(scratch_url, receipt="2000001")
    process_message(settings, _outbox(scratch_url, ticket_id, "ticket.created")[0], now=START)
    send_pending(settings, now=START)
    with session_scope(scratch_url) as s:
        [sms] = [c for c in channel_statuses(s, settings, now=START) if c.last_error_code]
        assert sms.last_error_code == "AuthFailure.SignatureFailure" and "SecretKey 不正确" in sms.meaning
