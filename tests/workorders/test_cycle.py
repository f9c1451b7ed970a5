"""The 12345 cycle as the unit sees it (issue 19, items 1, 2, 9, 10): 签收, the internal 办理情况 kept apart
from the public reply, 退单 requests and the platform's decision, and what goes back to the platform.

Every test runs on SQLite and PostgreSQL (the `session` fixture). The attacker is tried at each door:
another department, an auditor, the unit deciding its own request, a replayed decision, hostile text.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from tests import factories
from tests.intake.servers import CallbackHandler, serve
from tracker.errors import Conflict, IllegalTransition, NotFound, PermissionDenied, ValidationError
from tracker.intake import hotline
from tracker.intake.apikeys import create_api_key, sign
from tracker.intake.callbacks import deliver_due, plan_callbacks
from tracker.intake.models import CallbackDelivery
from tracker.intake.records import apply_record
from tracker.people.access import EVERYTHING, Reach
from tracker.tickets.models import Deadline, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow import doors as ds
from tracker.workflow import transitions as svc
from tracker.workorders import handling, sendbacks
from tracker.workorders.models import HandlingRecord, Revisit, SendBack

SECRET_KEY = "test-secret-key"
SECRET_SUMMARY = "内部：已电话联系诉求人，其邻居王某（13911112222）称施工方为区住建局下属单位"
CONTACT_NUMBER = "13911112222"


@pytest.fixture
def office(session, now):
    mine = factories.department(session, "cyc_city", "城市管理处")
    other = factories.department(session, "cyc_radio", "无线电管理处")
    return {
        "mine": mine,
        "other": other,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=mine, now=now),
        "auditor": factories.user(session, role="auditor", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "admin": factories.user(
            session, role="admin", dept=factories.department(session, "cyc_office", "办公室"), now=now
        ),
    }


def _order(session, now, office, **overrides):
    return factories.ticket(session, now=now, dept=office["mine"], **overrides)


def _clocks(ticket):
    return sorted((d.kind, d.due_at, d.state, d.version, d.met_at) for d in ticket.deadlines)


def _request(session, ticket, user, now, **kw):
    values = {
        "reason_code": "not_our_duty",
        "reason_text": "噪音执法属生态环境局",
        "suggested_unit": "市生态环境局",
    }
    values.update(kw)
    return sendbacks.request_send_back(session, ticket, user=user, now=now, **values)


# --- 办理情况: the internal record ---------------------------------------------------------------------


def test_a_handling_record_is_kept_encrypted_and_its_event_carries_no_content(session, now, office):
    ticket = _order(session, now, office)
    record = handling.add_handling_record(
        session,
        ticket,
        summary=SECRET_SUMMARY,
        contacted_at=now,
        contact_method="电话",
        contact_number=CONTACT_NUMBER,
        user=office["staff"],
        now=now,
    )
    raw = session.execute(
        text("SELECT contact_number_ct FROM handling_records WHERE id = :id"), {"id": record.id}
    ).scalar_one()
    assert CONTACT_NUMBER not in raw  # encrypted at rest
    session.expire_all()
    assert session.get(HandlingRecord, record.id).contact_number == CONTACT_NUMBER
    event = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "handling.recorded")
    )
    assert event.data == {"handling_record_id": record.id, "evidence_ids": []}
    # Not published: nothing outside the bureau reacts to the internal record.
    assert session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id)) is None


def test_evidence_is_an_evidence_attachment_of_the_same_order(session, now, office, tmp_path):
    ticket = _order(session, now, office)
    elsewhere = _order(session, now, office)

    def upload(on, purpose="evidence"):
        return ds.save_attachment(
            session,
            on,
            filename="通话记录.png",
            data=b"\x89PNG evidence",
            content_type="image/png",
            user=office["staff"],
            now=now,
            directory=tmp_path,
            purpose=purpose,
        )

    own = upload(ticket)
    record = handling.add_handling_record(
        session, ticket, summary="现场查看", evidence_ids=[own.id], user=office["staff"], now=now
    )
    assert handling.evidence_of(session, ticket)[record.id] == [own]
    for wrong in (upload(elsewhere), upload(ticket, purpose="reply")):
        with pytest.raises(ValidationError) as refused:
            handling.add_handling_record(
                session, ticket, summary="x", evidence_ids=[wrong.id], user=office["staff"], now=now
            )
        assert "evidence_ids" in refused.value.fields


@pytest.mark.parametrize(
    "field,value",
    [
        ("summary", ""),
        ("summary", "空\x00字符"),
        ("summary", "长" * (handling.MAX_SUMMARY_CHARS + 1)),
        ("contact_method", "飞鸽传书"),
        ("contact_number", "<script>alert(1)</script>"),
        ("contacted_at", "future"),
        ("contacted_at", "before"),
    ],
)
def test_a_bad_handling_record_names_its_field(session, now, office, field, value):
    ticket = _order(session, now, office)
    values = {"summary": "已联系"}
    if field == "contacted_at":
        values[field] = (
            now + timedelta(hours=1) if value == "future" else ticket.received_at - timedelta(days=1)
        )
    else:
        values[field] = value
    with pytest.raises(ValidationError) as refused:
        handling.add_handling_record(session, ticket, user=office["staff"], now=now, **values)
    assert field in refused.value.fields
    assert session.scalar(select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id)) is None


def test_hostile_text_is_kept_as_typed(session, now, office):
    ticket = _order(session, now, office)
    hostile = "<script>alert('x')</script>=HYPERLINK(\"http://evil\")"
    record = handling.add_handling_record(session, ticket, summary=hostile, user=office["staff"], now=now)
    assert record.summary == hostile


def test_the_handling_record_door_refuses_the_attacker(session, now, office):
    ticket = _order(session, now, office)
    with pytest.raises(NotFound):
        handling.add_handling_record(session, ticket, summary="x", user=office["neighbour"], now=now)
    with pytest.raises(PermissionDenied):
        handling.add_handling_record(session, ticket, summary="x", user=office["auditor"], now=now)
    website = _order(session, now, office, channel="website", request_type="咨询")
    with pytest.raises(ValidationError):
        handling.add_handling_record(session, website, summary="x", user=office["staff"], now=now)
    assert session.scalar(select(HandlingRecord)) is None


# --- 退单: request, decision, the clocks -------------------------------------------------------------------


def test_a_send_back_request_leaves_the_status_and_the_clocks_alone(session, now, office):
    ticket = _order(session, now, office)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    before = _clocks(ticket)
    send_back = _request(session, ticket, office["staff"], now + timedelta(hours=1))
    assert send_back.state == "pending" and ticket.status == "in_progress"
    assert _clocks(ticket) == before
    event = session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "sendback.requested"
        )
    )
    assert event.data["send_back_id"] == send_back.id and event.data["reason_code"] == "not_our_duty"
    # Published: the platform is told through the callback, the office through the outbox.
    assert session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id)) is not None
    with pytest.raises(Conflict, match="已有一项退单申请"):
        _request(session, ticket, office["supervisor"], now + timedelta(hours=2))


def test_a_refused_send_back_does_not_reset_the_clock(session, now, office):
    """Scenario (issue 19, done-when): the unit asks, the platform refuses; the deadlines' due_at and state
    are exactly as they were, the order is the unit's again, and time spent waiting counted."""
    ticket = _order(session, now, office)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    before = _clocks(ticket)
    reply_due = next(d.due_at for d in ticket.deadlines if d.kind == "reply")
    send_back = _request(session, ticket, office["staff"], now + timedelta(hours=1))
    sendbacks.decide_send_back(
        session,
        send_back,
        accept=False,
        note="属本单位职责范围，请继续办理",
        reach=EVERYTHING,
        label="API:12345平台",
        now=now + timedelta(days=2),
    )
    session.flush()
    session.expire_all()
    assert send_back.state == "refused" and send_back.decision_note == "属本单位职责范围，请继续办理"
    assert ticket.status == "in_progress"
    assert _clocks(ticket) == before
    assert next(d.due_at for d in ticket.deadlines if d.kind == "reply") == reply_due
    decided = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "sendback.decided")
    )
    assert decided.data["decision"] == "refused" and decided.actor_label == "API:12345平台"
    # Back with the unit: it answers and closes as usual.
    ds.reply(
        session,
        ticket,
        "已协调施工方停止夜间施工。",
        user=office["staff"],
        now=now + timedelta(days=3),
        confirm_warnings=True,
    )
    assert ticket.status == "replied"


def test_an_accepted_send_back_returns_the_order_and_stops_its_clocks(session, now, office):
    ticket = _order(session, now, office)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    approval = ds.request_extension(
        session, ticket, user=office["staff"], length=3, reason="需协调", now=now + timedelta(minutes=1)
    )
    # An extension waits: the request is refused (the approval is decided first, as for every 退单).
    with pytest.raises(Conflict):
        _request(session, ticket, office["staff"], now + timedelta(hours=1))
    ds.decide_approval(session, approval, user=office["supervisor"], approve=False, now=now, note="不需要")
    send_back = _request(session, ticket, office["staff"], now + timedelta(hours=1))
    sendbacks.decide_send_back(
        session, send_back, accept=True, note="", user=office["admin"], now=now + timedelta(hours=3)
    )
    assert send_back.state == "accepted" and ticket.status == "returned"
    assert {d.state for d in ticket.deadlines if d.kind == "reply"} == {"cancelled"}
    assert "录入平台意见" in send_back.decided_by_label
    status = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.status_after == "returned")
    )
    assert status.data["action"] == "return_to_platform" and status.data["send_back_id"] == send_back.id
    # Counted for 回退率 by the assessment: the accepted rows of the department.
    assert (
        session.scalar(
            select(SendBack.id).where(
                SendBack.department_id == office["mine"].id, SendBack.state == "accepted"
            )
        )
        == send_back.id
    )


def test_a_decision_is_applied_once(session, now, office):
    ticket = _order(session, now, office)
    send_back = _request(session, ticket, office["staff"], now)
    platform = {"reach": EVERYTHING, "label": "API:12345平台"}
    sendbacks.decide_send_back(session, send_back, accept=False, note="请继续办理", now=now, **platform)
    with pytest.raises(Conflict) as replay:
        sendbacks.decide_send_back(session, send_back, accept=True, now=now, **platform)
    assert replay.value.fields == {"state": "refused"}
    with pytest.raises(Conflict):
        sendbacks.decide_send_back(
            session, send_back, accept=False, note="再次", user=office["admin"], now=now
        )
    assert ticket.status == "received" and send_back.state == "refused"
    assert (
        len(
            session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "sendback.decided"
                )
            ).all()
        )
        == 1
    )


def test_while_a_send_back_is_pending_the_order_is_not_answered_closed_or_transferred(session, now, office):
    ticket = _order(session, now, office)
    _request(session, ticket, office["staff"], now)
    for attempt in (
        lambda: ds.reply(session, ticket, "答复", user=office["staff"], now=now, confirm_warnings=True),
        lambda: ds.close(session, ticket, user=office["staff"], now=now, reply_text="答复"),
        lambda: ds.transfer(session, ticket, office["other"], "转", user=office["supervisor"], now=now),
    ):
        with pytest.raises(Conflict, match="退单申请正等待"):
            attempt()
    ds.start_work(session, ticket, user=office["staff"], now=now)  # signing for it is still possible
    assert ticket.status == "in_progress"


def test_the_send_back_doors_refuse_the_attacker(session, now, office):
    ticket = _order(session, now, office)
    with pytest.raises(NotFound):
        _request(session, ticket, office["neighbour"], now)
    with pytest.raises(PermissionDenied):
        _request(session, ticket, office["auditor"], now)
    send_back = _request(session, ticket, office["staff"], now)
    # The unit may not decide its own request, nor may another department, an auditor or another key.
    for user, error in (
        (office["staff"], PermissionDenied),
        (office["supervisor"], PermissionDenied),
        (office["auditor"], PermissionDenied),
        (office["neighbour"], NotFound),
    ):
        with pytest.raises(error):
            sendbacks.decide_send_back(session, send_back, accept=True, user=user, now=now)
    other_key = Reach(department_id=office["other"].id, channel="hotline")
    with pytest.raises(NotFound):
        sendbacks.decide_send_back(session, send_back, accept=True, reach=other_key, label="API:x", now=now)
    with pytest.raises(NotFound):
        sendbacks.withdraw_send_back(session, send_back, user=office["neighbour"], now=now)
    assert send_back.state == "pending" and ticket.status == "received"


@pytest.mark.parametrize(
    "field,kw",
    [
        ("reason_code", {"reason_code": "because"}),
        ("reason_text", {"reason_text": "   "}),
        ("reason_text", {"reason_text": "x\x00"}),
        ("suggested_unit", {"suggested_unit": "单" * 201}),
    ],
)
def test_a_bad_send_back_request_names_its_field(session, now, office, field, kw):
    ticket = _order(session, now, office)
    with pytest.raises(ValidationError) as refused:
        _request(session, ticket, office["staff"], now, **kw)
    assert field in refused.value.fields
    assert sendbacks.pending_send_back(session, ticket) is None


def test_a_refusal_needs_a_reason_and_a_closed_order_cannot_be_sent_back(session, now, office):
    ticket = _order(session, now, office)
    send_back = _request(session, ticket, office["staff"], now)
    with pytest.raises(ValidationError):
        sendbacks.decide_send_back(session, send_back, accept=False, note=" ", user=office["admin"], now=now)
    assert send_back.state == "pending"
    sendbacks.withdraw_send_back(session, send_back, user=office["staff"], now=now)
    assert send_back.state == "withdrawn"
    ds.reply(session, ticket, "已答复", user=office["staff"], now=now, confirm_warnings=True)
    with pytest.raises(IllegalTransition):
        _request(session, ticket, office["staff"], now)
    disclosure = _order(session, now, office, channel="disclosure", request_type="政府信息公开申请")
    with pytest.raises(ValidationError):
        _request(session, disclosure, office["staff"], now)


# --- back to the platform: callbacks and the reply export ---------------------------------------------


def _pushed(session, now, office, number, **more):
    record = hotline.record_from_json(
        {
            "order_no": number,
            "accepted_at": "2026-03-04 09:00",
            "dispatched_at": "2026-03-04 09:30",
            "request_type": "投诉",
            "content": "夜间施工噪音",
            **more,
        },
        department_code=office["mine"].code,
    )
    return apply_record(session, record, actor="API:12345平台", reach=EVERYTHING, now=now).ticket


def _callbacks(session, ticket):
    return session.scalars(
        select(CallbackDelivery).where(CallbackDelivery.ticket_id == ticket.id).order_by(CallbackDelivery.id)
    ).all()


def test_every_step_goes_back_to_the_platform_and_the_internal_record_never_does(session, now, office):
    api_key, secret = create_api_key(session, SECRET_KEY, name="12345平台", channel="hotline", now=now)
    ticket = _pushed(session, now, office, "CYC-1")
    staff = office["staff"]
    ds.start_work(session, ticket, user=staff, now=now + timedelta(minutes=10))
    handling.add_handling_record(
        session,
        ticket,
        summary=SECRET_SUMMARY,
        contact_method="电话",
        contact_number=CONTACT_NUMBER,
        user=staff,
        now=now + timedelta(minutes=20),
    )
    send_back = _request(session, ticket, staff, now + timedelta(minutes=30))
    sendbacks.decide_send_back(
        session,
        send_back,
        accept=False,
        note="请继续办理",
        reach=EVERYTHING,
        label="API:12345平台",
        now=now + timedelta(hours=1),
    )
    ds.reply(
        session,
        ticket,
        "已协调施工方停止夜间施工。",
        user=staff,
        now=now + timedelta(hours=2),
        confirm_warnings=True,
    )
    ds.close(session, ticket, user=staff, now=now + timedelta(hours=3))
    # The platform's 回访, imported through the API by the revisit module: acknowledged.
    revisit = Revisit(
        ticket_id=ticket.id,
        visited_at=now + timedelta(days=1),
        result="satisfied",
        source="platform",
        citizen_words="满意",
        created_at=now + timedelta(days=1),
    )
    session.add(revisit)
    session.flush()
    svc.record_event(
        session,
        ticket,
        "revisit.recorded",
        actor="API:12345平台",
        now=now + timedelta(days=1),
        data={"revisit_id": revisit.id},
        publish=True,
    )
    assert plan_callbacks(session, now=now + timedelta(days=1)) == 5
    assert plan_callbacks(session, now=now + timedelta(days=1)) == 0  # each event once
    deliveries = _callbacks(session, ticket)
    assert [d.kind for d in deliveries] == ["sign", "sendback", "reply", "close", "revisit_ack"]
    payloads = {d.kind: d.payload for d in deliveries}
    assert payloads["sign"] == {"工单编号": "CYC-1", "类型": "sign", "签收时间": "2026-03-04 10:10:00"}
    assert payloads["sendback"] == {
        "工单编号": "CYC-1",
        "类型": "sendback",
        "退单申请编号": send_back.id,
        "退单原因代码": "not_our_duty",
        "退单原因": "非本单位职责",
        "退单说明": "噪音执法属生态环境局",
        "建议承办单位": "市生态环境局",
        "申请时间": "2026-03-04 10:30:00",
    }
    assert payloads["close"]["答复内容"] == "已协调施工方停止夜间施工。"
    assert payloads["revisit_ack"] == {
        "工单编号": "CYC-1",
        "类型": "revisit_ack",
        "回访时间": "2026-03-05 10:00:00",
        "回访结果": "满意",
    }
    everything = json.dumps([d.payload for d in deliveries], ensure_ascii=False)
    assert "电话联系" not in everything and CONTACT_NUMBER not in everything and "王某" not in everything
    with serve(CallbackHandler) as (server, url):
        counts = deliver_due(session, url=url, secret_key=SECRET_KEY, now=now + timedelta(days=1))
        assert counts["sent"] == 5
        for path, headers, body in server.requests:
            assert headers["X-Tracker-Key"] == api_key.key_id
            assert headers["X-Tracker-Signature"] == sign(
                secret,
                method="POST",
                path=path.split("?")[0],
                query=path.partition("?")[2],
                timestamp=headers["X-Tracker-Timestamp"],
                nonce=headers["X-Tracker-Nonce"],
                body=body,
            )
            assert SECRET_SUMMARY.encode() not in body and CONTACT_NUMBER.encode() not in body
        sent_kinds = [json.loads(body)["类型"] for _, _, body in server.requests]
        assert sorted(sent_kinds) == sorted(["sign", "sendback", "reply", "close", "revisit_ack"])


def test_a_failed_callback_of_a_send_back_is_retried(session, now, office):
    create_api_key(session, SECRET_KEY, name="12345平台", channel="hotline", now=now)
    ticket = _pushed(session, now, office, "CYC-2")
    _request(session, ticket, office["staff"], now + timedelta(minutes=1))
    plan_callbacks(session, now=now + timedelta(minutes=2))
    (delivery,) = _callbacks(session, ticket)
    with serve(CallbackHandler) as (server, url):
        server.status = 503
        later = now + timedelta(minutes=2)
        assert deliver_due(session, url=url, secret_key=SECRET_KEY, now=later)["retry"] == 1
        assert delivery.next_attempt_at == later + timedelta(minutes=1)
        server.status = 200
        assert (
            deliver_due(session, url=url, secret_key=SECRET_KEY, now=later + timedelta(minutes=1))["sent"]
            == 1
        )
        assert len({h["X-Tracker-Nonce"] for _, h, _ in server.requests}) == 2


def test_only_a_sign_for_is_a_sign_callback_and_the_platforms_own_steps_are_not_echoed(session, now, office):
    ticket = _pushed(session, now, office, "CYC-3")
    ds.reply(
        session, ticket, "已答复", user=office["staff"], now=now + timedelta(minutes=1), confirm_warnings=True
    )
    ds.reopen(
        session, ticket, "再查", user=office["supervisor"], now=now + timedelta(minutes=2)
    )  # 办理中 again
    send_back = _request(session, ticket, office["staff"], now + timedelta(minutes=3))
    sendbacks.decide_send_back(
        session,
        send_back,
        accept=True,
        reach=EVERYTHING,
        label="API:12345平台",
        now=now + timedelta(minutes=4),
    )
    plan_callbacks(session, now=now + timedelta(minutes=5))
    assert [d.kind for d in _callbacks(session, ticket)] == ["reply", "sendback"]


def test_the_reply_export_has_dispatch_sign_and_send_back_columns_and_no_internal_record(
    session, now, office
):
    ticket = _pushed(session, now, office, "CYC-4")
    assert ticket.extra["dispatched_at"].startswith("2026-03-04T09:30")  # the push keeps 派单时间
    ds.start_work(session, ticket, user=office["staff"], now=now + timedelta(minutes=10))
    handling.add_handling_record(
        session, ticket, summary=SECRET_SUMMARY, contact_number=CONTACT_NUMBER, user=office["staff"], now=now
    )
    send_back = _request(session, ticket, office["staff"], now + timedelta(minutes=30))
    sendbacks.decide_send_back(
        session, send_back, accept=False, note="请继续办理", reach=EVERYTHING, label="API:12345平台", now=now
    )
    ds.reply(
        session,
        ticket,
        "公开答复：已处理。",
        user=office["staff"],
        now=now + timedelta(hours=1),
        confirm_warnings=True,
    )
    data = hotline.export_replies(
        session, since=now - timedelta(days=1), until=now + timedelta(days=1), department_id=office["mine"].id
    )
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    (row,) = [r for r in rows if r["工单编号"] == "CYC-4"]
    assert row["派单时间"] == "2026-03-04 09:30:00"
    assert row["签收时间"] == "2026-03-04 10:10:00"
    assert row["退单申请"] == "2026-03-04 10:30:00 非本单位职责：噪音执法属生态环境局"
    assert row["退单结果"].startswith("不同意退单") and "请继续办理" in row["退单结果"]
    assert row["答复内容"] == "公开答复：已处理。"
    assert SECRET_SUMMARY not in data.decode("utf-8-sig") and CONTACT_NUMBER not in data.decode("utf-8-sig")
    xlsx = hotline.export_replies(
        session, since=now - timedelta(days=1), until=now + timedelta(days=1), fmt="xlsx"
    )
    assert xlsx[:2] == b"PK"


def test_a_file_import_keeps_dispatch_time(session, now, office):
    record = hotline.record_from_row(
        {
            "工单编号": "CYC-F1",
            "受理时间": "2026-03-04 08:00",
            "派单时间": "2026-03-04 08:30",
            "诉求类型": "咨询",
            "诉求内容": "咨询",
        },
        department_code=office["mine"].code,
    )
    ticket = apply_record(session, record, actor="文件导入", reach=EVERYTHING, now=now).ticket
    assert ticket.extra["dispatched_at"].startswith("2026-03-04T08:30")
    assert session.scalar(select(Deadline).where(Deadline.ticket_id == ticket.id)) is not None


def test_the_requester_hears_the_platforms_decision(session, now, office, settings):
    from tracker.notify.models import Notification
    from workers.tasks.events import on_send_back_decided_notify

    ticket = _order(session, now, office)
    send_back = _request(session, ticket, office["staff"], now)
    sendbacks.decide_send_back(
        session, send_back, accept=False, note="请继续办理", reach=EVERYTHING, label="API:12345平台", now=now
    )
    event = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "sendback.decided")
    )
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id))
    assert message.topic == "sendback.decided"
    on_send_back_decided_notify(session, settings, message, now)
    told = session.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).all()
    assert {n.user_id for n in told} == {office["staff"].id, office["supervisor"].id}
    assert all("不同意退单" in n.title for n in told)
