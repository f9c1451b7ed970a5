"""督办 / 催办 (issue 19, item 4): issued by the platform (once per 督办编号) or the office, answered by the
unit, escalated once by the real beat task, listed and exported; refused after closure — on SQLite and
PostgreSQL, tried by another department, an auditor, a replayed platform message and hostile text."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests import factories
from tests.intake.helpers import post_signed
from tests.workers.conftest import at, scratch_url, worker_settings  # noqa: F401 (fixture)
from tracker.db import session_scope
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.intake import hotline
from tracker.intake.apikeys import create_api_key
from tracker.intake.records import apply_record
from tracker.notify.models import Notification
from tracker.people.access import EVERYTHING, Reach
from tracker.people.models import User
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors as ds
from tracker.workorders import supervision as sv
from tracker.workorders.models import Supervision
from workers.tasks.workorders import run_escalate_supervisions

SECRET_KEY = "test-secret-key"
HOSTILE = '=HYPERLINK("http://evil","点击") <script>alert(1)</script>'


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture
def client(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


@pytest.fixture
def office(session, now):
    unit = factories.department(session, "sv_unit", "城市管理处")
    other = factories.department(session, "sv_other", "水务处")
    return {
        "unit": unit,
        "other": other,
        "staff": factories.user(session, role="staff", dept=unit, now=now),
        "leader": factories.user(session, role="supervisor", dept=unit, now=now),
        "auditor": factories.user(session, role="auditor", dept=unit, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "admin": factories.user(
            session, role="admin", dept=factories.department(session, "sv_office", "办公室"), now=now
        ),
    }


def _ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _order(session, now, office, **more) -> Ticket:
    return factories.ticket(session, now=now, dept=office["unit"], external_ref=_ref("SV"), **more)


def _events(session, ticket, kind):
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind)
        )
    )


def test_the_office_supervises_and_the_unit_answers(session, now, office):
    ticket = _order(session, now, office)
    supervision, created = sv.issue_supervision(
        session, ticket, user=office["admin"], text="请加快办理", now=now, kind="urge"
    )
    assert created and supervision.state == "open" and supervision.department_id == office["unit"].id
    # 2 working days from Wednesday 2026-03-04: Friday 2026-03-06, end of day.
    assert sv.state_of(supervision, now) == "open" and supervision.due_at > now + timedelta(days=2)
    [issued] = _events(session, ticket, "supervision.issued")
    assert issued.data["kind"] == "urge" and issued.data["policy"] == "hotline.supervision@practice"
    sv.answer_supervision(
        session, supervision, "已安排现场处置", user=office["staff"], now=now + timedelta(hours=1)
    )
    assert supervision.state == "answered" and supervision.answer == "已安排现场处置"
    [answered] = _events(session, ticket, "supervision.answered")
    assert answered.data["late"] is False
    with pytest.raises(Conflict):
        sv.answer_supervision(session, supervision, "再次反馈", user=office["staff"], now=now)


def test_an_urgent_order_is_supervised_in_hours(session, now, office):
    ticket = _order(session, now, office, urgency="紧急")
    supervision, _ = sv.issue_supervision(session, ticket, user=office["admin"], text="紧急督办", now=now)
    assert supervision.due_at == now + timedelta(hours=24)


def test_who_may_supervise_and_answer(session, now, office):
    ticket = _order(session, now, office)
    for user in (office["staff"], office["leader"]):
        with pytest.raises(PermissionDenied):  # 督办 is the office's
            sv.issue_supervision(session, ticket, user=user, text="自己督办自己", now=now)
    with pytest.raises(NotFound):  # another department cannot see the order
        sv.issue_supervision(session, ticket, user=office["neighbour"], text="越权", now=now)
    supervision, _ = sv.issue_supervision(session, ticket, user=office["admin"], text="请办理", now=now)
    with pytest.raises(NotFound):
        sv.answer_supervision(session, supervision, "越权反馈", user=office["neighbour"], now=now)
    with pytest.raises(PermissionDenied):
        sv.answer_supervision(session, supervision, "审计员不能反馈", user=office["auditor"], now=now)
    with pytest.raises(ValidationError):
        sv.answer_supervision(session, supervision, "  ", user=office["staff"], now=now)
    with pytest.raises(ValidationError):
        sv.issue_supervision(session, ticket, user=office["admin"], text="x", kind="punish", now=now)
    with pytest.raises(ValidationError):
        sv.issue_supervision(session, ticket, user=office["admin"], text="含\x00字符", now=now)


@pytest.mark.parametrize("how", ["closed", "returned", "merged"])
def test_a_supervision_after_closure_is_refused(session, now, office, how):
    ticket = _order(session, now, office)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    if how == "closed":
        ds.reply(session, ticket, "已办理。", user=office["staff"], now=now, confirm_warnings=True)
        ds.close(session, ticket, user=office["staff"], now=now)
    elif how == "returned":
        # 退单 is a request the platform decides (tracker.workorders.sendbacks): accepted, the order is returned.
        from tracker.people.access import EVERYTHING
        from tracker.workorders import sendbacks

        send_back = sendbacks.request_send_back(
            session,
            ticket,
            reason_code="not_our_duty",
            reason_text="非本单位职责",
            user=office["staff"],
            now=now,
        )
        sendbacks.decide_send_back(
            session, send_back, accept=True, reach=EVERYTHING, label="API:12345平台", now=now
        )
    else:
        into = _order(session, now, office)
        ds.merge(session, ticket, into.number, user=office["staff"], now=now)
    with pytest.raises(Conflict) as refused:
        sv.issue_supervision(session, ticket, user=office["admin"], text="督办", now=now)
    assert ticket.number in refused.value.message and "不能再督办" in refused.value.message
    assert not sv.ticket_supervisions(session, ticket)


def test_the_platform_supervision_is_recorded_once_and_refused_after_closure(client, session, now, office):
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="市平台", channel="hotline", now=now, department_code="sv_unit"
    )
    session.commit()
    order = {
        "order_no": _ref("PUSH"),
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "噪音扰民。",
        "supervision_ref": "DB-2026-001",
        "supervised_at": "2026-03-04 09:45:00",
        "supervision_text": HOSTILE,
        "supervision_due_at": "2026-03-05 17:00:00",
    }
    first = post_signed(client, "/api/v1/intake/hotline", order, api_key.key_id, secret)
    assert first.status_code == 201, first.get_json()
    ticket = session.get(Ticket, first.get_json()["ticket"]["id"])
    for _replay in range(2):  # the platform sends the same 督办 again: recorded once
        again = post_signed(client, "/api/v1/intake/hotline", order, api_key.key_id, secret)
        assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    [supervision] = sv.ticket_supervisions(session, ticket)
    assert supervision.text == HOSTILE and supervision.external_ref == "DB-2026-001"
    assert supervision.due_at.isoformat().startswith("2026-03-05T09:00")
    assert len(_events(session, ticket, "supervision.issued")) == 1
    # Missing 督办内容 is named.
    incomplete = {**order, "order_no": _ref("PUSH"), "supervision_text": ""}
    refused = post_signed(client, "/api/v1/intake/hotline", incomplete, api_key.key_id, secret)
    assert refused.status_code == 400 and "supervision_text" in refused.get_data(as_text=True)
    # After closure, a new 督办 is a 409 with a clear message; the replayed one stays as it was.
    ds.start_work(session, ticket, user=office["staff"], now=now)
    ds.reply(session, ticket, "已办理。", user=office["staff"], now=now, confirm_warnings=True)
    ds.close(session, ticket, user=office["staff"], now=now)
    session.commit()
    late = {**order, "supervision_ref": "DB-2026-002", "supervision_text": "再次督办"}
    closed = post_signed(client, "/api/v1/intake/hotline", late, api_key.key_id, secret)
    assert closed.status_code == 409, closed.get_json()
    assert "已办结" in closed.get_json()["error"]["message"]
    replay = post_signed(client, "/api/v1/intake/hotline", order, api_key.key_id, secret)
    assert replay.status_code == 200
    assert len(sv.ticket_supervisions(session, ticket)) == 1


def test_the_platform_cannot_supervise_another_departments_order(session, now, office):
    foreign = factories.ticket(session, now=now, dept=office["other"], external_ref=_ref("F"))
    record = hotline.record_from_json(
        {
            "order_no": foreign.external_ref,
            "accepted_at": "2026-03-04 09:00:00",
            "request_type": "投诉",
            "content": foreign.body,
            "supervision_ref": "DB-X",
            "supervision_text": "督办",
        },
        department_code="sv_unit",
    )
    with pytest.raises(PermissionDenied):
        apply_record(session, record, actor="API:x", reach=Reach(department_id=office["unit"].id), now=now)
    assert not sv.ticket_supervisions(session, foreign)


def test_the_import_carries_the_supervision_and_the_export_counts_it(session, now, office):
    ref = _ref("IMP")
    row = {
        "工单编号": ref,
        "受理时间": "2026-03-04 09:00:00",
        "诉求类型": "投诉",
        "诉求内容": "占道经营。",
        "督办编号": "DB-IMP-1",
        "督办时间": "2026-03-04 10:00:00",
        "督办内容": "请于明日反馈",
        "督办时限": "2026-03-05 18:00:00",
    }
    ticket = apply_record(
        session,
        hotline.record_from_row(row, department_code="sv_unit"),
        actor="导入",
        reach=EVERYTHING,
        now=now,
    ).ticket
    apply_record(
        session,
        hotline.record_from_row(row, department_code="sv_unit"),
        actor="导入",
        reach=EVERYTHING,
        now=now,
    )
    second = {**row, "督办编号": "DB-IMP-2", "督办内容": "再次催办"}
    apply_record(
        session,
        hotline.record_from_row(second, department_code="sv_unit"),
        actor="导入",
        reach=EVERYTHING,
        now=now,
    )
    assert [s.external_ref for s in sv.ticket_supervisions(session, ticket)] == ["DB-IMP-1", "DB-IMP-2"]
    rows = hotline.reply_rows(session, since=now - timedelta(days=1), until=now + timedelta(days=1))
    exported = next(r for r in rows if r[0] == ref)
    assert exported[hotline.EXPORT_HEADER.index("督办次数")] == 2


def test_the_page_issues_answers_and_refuses_after_closure(client, session, now, office):
    ticket = _order(session, now, office)
    closed = _order(session, now, office)
    ds.start_work(session, closed, user=office["staff"], now=now)
    ds.reply(session, closed, "已办理。", user=office["staff"], now=now, confirm_warnings=True)
    ds.close(session, closed, user=office["staff"], now=now)
    session.commit()
    sign_in(client, office["staff"])
    assert post(client, f"/tickets/{ticket.id}/supervisions", text="自己督办").status_code == 403
    sign_in(client, office["admin"])
    response = post(client, f"/tickets/{ticket.id}/supervisions", text=HOSTILE, kind="supervise")
    assert response.status_code == 302
    [supervision] = sv.ticket_supervisions(session, ticket)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    sign_in(client, office["neighbour"])
    assert post(client, f"/supervisions/{supervision.id}/answer", answer="越权").status_code == 404
    sign_in(client, office["staff"])
    assert post(client, f"/supervisions/{supervision.id}/answer", answer="已处理").status_code == 302
    session.expire_all()
    assert session.get(Supervision, supervision.id).state == "answered"
    sign_in(client, office["admin"])
    refused = post(client, f"/tickets/{closed.id}/supervisions", text="办结后督办")
    assert refused.status_code == 409 and "不能再督办" in refused.get_data(as_text=True)


def test_the_register_filters_by_reach_department_and_state_and_exports_escaped(client, session, now, office):
    mine = _order(session, now, office)
    theirs = factories.ticket(session, now=now, dept=office["other"], external_ref=_ref("T"))
    sv.issue_supervision(session, mine, user=office["admin"], text=HOSTILE, now=now)
    answered, _ = sv.issue_supervision(
        session, mine, user=office["admin"], text="第二次", now=now, kind="urge"
    )
    sv.answer_supervision(session, answered, "-已反馈", user=office["staff"], now=now)
    sv.issue_supervision(session, theirs, user=office["admin"], text="水务处的督办", now=now)
    session.commit()
    sign_in(client, office["staff"])
    page = client.get("/supervisions").get_data(as_text=True)
    assert "第二次" in page and "水务处的督办" not in page  # only the department's own
    assert "水务处的督办" not in client.get(f"/supervisions?department={office['other'].id}").get_data(
        as_text=True
    )
    sign_in(client, office["auditor"])  # reads every department's register
    assert "水务处的督办" in client.get("/supervisions").get_data(as_text=True)
    assert "水务处的督办" not in client.get(f"/supervisions?department={office['unit'].id}").get_data(
        as_text=True
    )
    answered_only = client.get("/supervisions?state=answered").get_data(as_text=True)
    assert "第二次" in answered_only and "水务处的督办" not in answered_only
    assert client.get("/supervisions?state=bogus").status_code == 400
    assert client.get("/supervisions?from=2026-13-01").status_code == 400
    xlsx = client.get(f"/supervisions?department={office['unit'].id}&format=xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == sv.REGISTER_HEADER
    texts = {r[sv.REGISTER_HEADER.index("督办内容")] for r in rows[1:]}
    answers = {r[sv.REGISTER_HEADER.index("反馈内容")] for r in rows[1:]}
    assert "'" + HOSTILE in texts and "'-已反馈" in answers  # text, never a live formula
    assert len(rows) == 3


def test_the_beat_task_escalates_an_overdue_supervision_once(scratch_url, tmp_path):  # noqa: F811
    now = at("2026-03-04", "10:00")
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        unit = factories.department(s, "esc_unit", "城市管理处")
        bare = factories.department(s, "esc_bare", "无负责人处")
        leader = factories.user(s, role="supervisor", dept=unit, now=now, username="esc_leader")
        factories.user(s, role="staff", dept=unit, now=now, username="esc_staff")
        admin = factories.user(
            s,
            role="admin",
            dept=factories.department(s, "esc_office", "办公室"),
            now=now,
            username="esc_admin",
        )
        ticket = factories.ticket(s, now=now, dept=unit)
        lonely = factories.ticket(s, now=now, dept=bare)
        overdue, _ = sv.issue_supervision(s, ticket, user=admin, text="请反馈", now=now)
        answered, _ = sv.issue_supervision(s, ticket, user=admin, text="已答", now=now)
        sv.issue_supervision(s, lonely, user=admin, text="无人负责", now=now)
        staff = s.scalar(select(User).where(User.username == "esc_staff"))
        sv.answer_supervision(s, answered, "已处理", user=staff, now=now)
        ids = {"leader": leader.id, "admin": admin.id, "overdue": overdue.id, "ticket": ticket.id}
        due = overdue.due_at
    assert run_escalate_supervisions(settings, now=due - timedelta(minutes=1)) == 0  # not yet due
    assert run_escalate_supervisions(settings, now=due + timedelta(minutes=1)) == 2
    assert run_escalate_supervisions(settings, now=due + timedelta(hours=1)) == 0  # once
    with session_scope(scratch_url) as s:
        assert s.get(Supervision, ids["overdue"]).escalated_at is not None
        to_leader = s.scalars(select(Notification).where(Notification.user_id == ids["leader"])).all()
        assert len(to_leader) == 1 and to_leader[0].kind == "escalation" and "超期" in to_leader[0].title
        to_office = s.scalars(select(Notification).where(Notification.user_id == ids["admin"])).all()
        assert len(to_office) == 1 and "无负责人处" in to_office[0].body
        events = s.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ids["ticket"], TicketEvent.kind == "supervision.escalated"
            )
        ).all()
        assert len(events) == 1 and events[0].data["to"] == "leaders"


def test_the_unit_hears_of_a_new_supervision_once(scratch_url, tmp_path):  # noqa: F811
    from tracker.tickets.outbox import OutboxMessage
    from workers.tasks.events import process_message

    now = at("2026-03-04", "10:00")
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        unit = factories.department(s, "tell_unit", "城市管理处")
        leader = factories.user(s, role="supervisor", dept=unit, now=now, username="tell_leader")
        admin = factories.user(
            s,
            role="admin",
            dept=factories.department(s, "tell_office", "办公室"),
            now=now,
            username="tell_admin",
        )
        ticket = factories.ticket(s, now=now, dept=unit)
        sv.issue_supervision(s, ticket, user=admin, text="请加快", now=now, kind="urge")
        message_id = s.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.topic == "supervision.issued", OutboxMessage.ticket_id == ticket.id
            )
        )
        leader_id = leader.id
    assert process_message(settings, message_id, now=now) == ["notify"]
    assert process_message(settings, message_id, now=now) == []  # redelivered: told once
    with session_scope(scratch_url) as s:
        [told] = s.scalars(select(Notification).where(Notification.user_id == leader_id)).all()
        assert told.title.startswith("收到催办")
