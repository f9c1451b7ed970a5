"""Issue 18, items 14 and 15: where a period starts.

14 — 2019 条例 art. 31: 当面 → the day handed in; 邮寄 (any post signed for) → the day signed for; 平常信函 →
the day confirmed; 网络/电子邮件/传真 → the day both sides confirm. One derivation (`TicketDraft`), used by
the import, staff entry, the portal and the API; the reply period starts from it and its explanation says
which rule gave the date.
15 — a 12345 order's default periods count from its 派单 time when the platform gives it, else from its 受理,
and the explanation names the event truly.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.intake.helpers import post_signed
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.engine import legal_receipt, legal_receipt_at
from tracker.deadlines.service import get_deadline
from tracker.intake import disclosure, hotline
from tracker.intake.apikeys import create_api_key
from tracker.intake.records import RecordError, apply_record
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Ticket

from .test_api import SECRET_KEY


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUSINESS_TZ)


def local_day(moment: datetime) -> str:
    return moment.astimezone(BUSINESS_TZ).date().isoformat()


@pytest.mark.parametrize(
    ("via", "signed", "confirmed", "expected", "words"),
    [
        ("当面", None, None, "2026-03-02", "以提交之日为收到申请之日"),
        ("邮寄", "2026-03-03", None, "2026-03-03", "以行政机关签收之日"),  # 邮寄 is post signed for
        ("挂号信", "2026-03-04", None, "2026-03-04", "以行政机关签收之日"),
        ("平信", None, "2026-03-05", "2026-03-05", "确认之日为收到申请之日"),
        ("网络", None, "2026-03-06", "2026-03-06", "以双方确认之日"),
        ("电子邮件", None, "2026-03-09", "2026-03-09", "以双方确认之日"),  # not the arrival
        ("传真", None, "2026-03-03", "2026-03-03", "以双方确认之日"),
    ],
)
def test_article_31_rule_per_way(via, signed, confirmed, expected, words):
    receipt = legal_receipt(
        via,
        arrived_at=at("2026-03-02 09:00"),
        signed_at=at(f"{signed} 10:00") if signed else None,
        confirmed_at=at(f"{confirmed} 10:00") if confirmed else None,
    )
    assert local_day(receipt.received_at) == expected and words in receipt.basis
    assert not receipt.is_pending


def test_without_the_signature_the_arrival_stands_in_and_says_so():
    moment, basis = legal_receipt_at("邮寄", arrived_at=at("2026-03-02 09:00"))
    assert moment == at("2026-03-02 09:00") and "尚未记录签收时间，暂以到达时间计" in basis
    moment, basis = legal_receipt_at("电子邮件", arrived_at=at("2026-03-02 09:00"))
    assert "尚未记录确认时间" in basis


def _import_row(**values):
    row = {
        "申请编号": f"GK-{uuid.uuid4().hex[:8]}",
        "收到日期": "2026-03-02",
        "申请人类型": "自然人",
        "申请人姓名或名称": "赵某",
        "所需信息": "2025年技改资金分配结果",
        **values,
    }
    return disclosure.record_from_row(row, number=2, department_code="bureau")


def test_import_derives_the_receipt_and_the_deadline_explains_it(session, now, dept):
    record = _import_row(申请方式="邮寄", 签收日期="2026-03-04")
    ticket = apply_record(session, record, actor="导入", reach=EVERYTHING, now=now).ticket
    assert local_day(ticket.arrived_at) == "2026-03-02" and local_day(ticket.received_at) == "2026-03-04"
    reply = get_deadline(ticket, "reply")
    assert local_day(reply.starts_on) == "2026-03-04"
    # Wed 4 March + 20 working days (no holiday in between) = Wed 1 April 2026.
    assert local_day(reply.due_at - timedelta(seconds=1)) == "2026-04-01"
    assert reply.explanation.startswith(
        "2026-03-04（周三）收到申请（以邮寄方式提交，3月2日到达、3月4日签收："
        "申请人以邮寄方式提交的，以行政机关签收之日为收到申请之日，《政府信息公开条例》第三十一条）"
    )
    # 电子邮件 confirmed later: the confirmation, not the arrival.
    mail = _import_row(申请方式="电子邮件", 确认日期="2026-03-05")
    ticket = apply_record(session, mail, actor="导入", reach=EVERYTHING, now=now).ticket
    assert (
        local_day(ticket.received_at) == "2026-03-05"
        and "双方确认" in get_deadline(ticket, "reply").explanation
    )
    # 当面: the day handed in.
    desk = apply_record(session, _import_row(申请方式="当面"), actor="导入", reach=EVERYTHING, now=now).ticket
    assert local_day(desk.received_at) == "2026-03-02"
    assert (
        "3月2日当面提交：申请人当面提交的，以提交之日为收到申请之日"
        in get_deadline(desk, "reply").explanation
    )


def test_import_refuses_dates_the_rule_does_not_use_or_that_come_too_early(session, now, dept):
    with pytest.raises(RecordError) as refused:
        _import_row(申请方式="当面", 签收日期="2026-03-04")
    assert "不以签收日期为收到日期" in str(refused.value.errors)
    with pytest.raises(RecordError) as refused:
        _import_row(申请方式="挂号信", 签收日期="2026-03-01")  # signed before it arrived
    assert "签收日期" in str(refused.value.errors)


def test_portal_application_is_received_when_submitted_and_confirmed(session, now, dept):
    form = {
        "applicant_kind": "公民",
        "name": "钱某",
        "id_type": "身份证",
        "id_number": "11010519491231002X",
        "email": "qian@example.com",
        "description": "2025年本局行政处罚决定书",
        "delivery_form": "电子邮件",
        "delivery_way": "电子邮件",
    }
    record = disclosure.record_from_form(form, now=now, department_code="bureau")
    ticket = apply_record(session, record, actor="门户", reach=EVERYTHING, now=now).ticket
    assert ticket.received_at == now and ticket.received_via == "网络"
    assert "以双方确认之日为收到申请之日" in get_deadline(ticket, "reply").explanation


def test_api_applies_the_same_rule(client, session, now, dept):
    api_key, secret = create_api_key(session, SECRET_KEY, name="集成", channel=None, now=now)
    session.commit()
    application = {
        "channel": "disclosure",
        "application_no": f"GK-API-{uuid.uuid4().hex[:8]}",
        "received_at": "2026-03-02",
        "received_via": "挂号信",
        "signed_at": "2026-03-03",
        "name": "赵某",
        "id_number": "11010519491231002X",
        "information": "2025年技改资金分配结果",
    }
    response = post_signed(client, "/api/v1/tickets", application, api_key.key_id, secret)
    assert response.status_code == 201, response.get_json()
    ticket = session.get(Ticket, response.get_json()["ticket"]["id"])
    session.refresh(ticket)
    assert local_day(ticket.received_at) == "2026-03-03"
    assert "3月3日签收" in get_deadline(ticket, "reply").explanation
    bad = post_signed(
        client,
        "/api/v1/tickets",
        {**application, "application_no": "GK-API-X", "received_via": "当面"},
        api_key.key_id,
        secret,
    )
    assert bad.status_code == 400 and "signed_at" in bad.get_json()["error"]["fields"]


def _order(**values):
    payload = {
        "order_no": f"HL{uuid.uuid4().hex[:10]}",
        "accepted_at": "2026-03-02 16:00",  # Monday
        "request_type": "求助",
        "content": "路灯不亮",
        **values,
    }
    return hotline.record_from_json(payload, department_code="bureau")


def test_hotline_periods_count_from_the_dispatch(session, now, dept):
    # 受理 Monday 2 March, 派单 Wednesday 4 March: 求助 10 working days from the 派单 → Wed 18 March.
    ticket = apply_record(
        session, _order(dispatched_at="2026-03-04 09:30"), actor="API", reach=EVERYTHING, now=now
    ).ticket
    reply, sign = get_deadline(ticket, "reply"), get_deadline(ticket, "sign")
    assert local_day(reply.starts_on) == "2026-03-04" and local_day(sign.starts_on) == "2026-03-04"
    assert reply.explanation.startswith("2026-03-04（周三）派单；自次日起算10个工作日")
    assert "截止2026-03-18" in reply.explanation
    assert sign.explanation.startswith("2026-03-04（周三）派单；") and "截止2026-03-05" in sign.explanation


def test_hotline_without_dispatch_time_counts_from_acceptance_and_says_so(session, now, dept):
    ticket = apply_record(session, _order(), actor="API", reach=EVERYTHING, now=now).ticket
    reply, sign = get_deadline(ticket, "reply"), get_deadline(ticket, "sign")
    assert local_day(reply.starts_on) == "2026-03-02"
    assert reply.explanation.startswith("2026-03-02（周一）受理工单（工单未写明派单时间）；")
    assert sign.explanation.startswith("2026-03-02（周一）受理工单（工单未写明派单时间）；")
    assert "派单；" not in sign.explanation
