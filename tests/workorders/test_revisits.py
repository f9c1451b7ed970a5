"""回访 and 重办 (issue 19 items 1, 5, 10): the one 回访 door for staff, file imports and the push; the city's
redo rule with a new deadline in working days; the attacker (another department, an auditor, a replayed
import, hostile text); the new encrypted columns rotated, anonymised and exported.
Every test runs on SQLite and on PostgreSQL (the `session` fixture)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import String, func, select, text, type_coerce

from tests import factories
from tests.intake.helpers import post_signed, write_csv
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.policies import REDO
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.intake import hotline
from tracker.intake.apikeys import create_api_key
from tracker.intake.importer import ImportRejected, import_file
from tracker.orm import Base
from tracker.people.access import EVERYTHING, Reach
from tracker.people.models import AuditEntry
from tracker.pii import cipher, rotation
from tracker.pii.cipher import EncryptedText
from tracker.pii.keys import Keyring, new_entry, parse_keys
from tracker.privacy.service import anonymise_due, export_person
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow import transitions as svc
from tracker.workorders.models import HandlingRecord, Redo, Revisit
from tracker.workorders.redo import RedoRule, redo
from tracker.workorders.revisits import RevisitInput, record_revisit

SECRET_KEY = "test-secret-key"  # the settings fixture's TRACKER_SECRET_KEY
# Wednesday 29 April 2026, 10:00 in Beijing: the 劳动节 holiday (1–5 May) and its 调休 Saturday (9 May)
# fall inside the five working days of a redo opened today.
BEFORE_MAY_DAY = datetime(2026, 4, 29, 2, 0, tzinfo=UTC)


@pytest.fixture
def office(session, now):
    mine = factories.department(session, "rv_sme", "中小企业服务处")
    other = factories.department(session, "rv_radio", "无线电管理处")
    return {
        "mine": mine,
        "other": other,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=mine, now=now),
        "auditor": factories.user(session, role="auditor", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "neighbour_boss": factories.user(session, role="supervisor", dept=other, now=now),
    }


def answered(session, office, *, at: datetime, close: bool = False) -> Ticket:
    """A 12345 order of my department received a week before `at` and answered the day before."""
    ticket = factories.ticket(session, now=at - timedelta(days=7), dept=office["mine"])
    svc.reply_ticket(
        session, ticket, "已协调施工单位停止夜间施工。", actor="测试", now=at - timedelta(days=1)
    )
    if close:
        svc.close_ticket(session, ticket, actor="测试", now=at - timedelta(hours=20))
    session.flush()
    return ticket


def visit(at: datetime, result: str = "unsatisfied", **more) -> RevisitInput:
    return RevisitInput(visited_at=at, result=result, **more)


# --- the rule: 不满意 opens 重办 with a new deadline in working days -----------------------------------------


def test_unsatisfied_revisit_opens_a_redo_counted_in_working_days_over_may_day(session, office):
    now = BEFORE_MAY_DAY
    ticket = answered(session, office, at=now, close=True)
    outcome = record_revisit(
        session,
        ticket,
        visit(
            now - timedelta(hours=1),
            "不满意",
            is_resolved=False,
            phone="13812345678",
            citizen_words="还在施工",
        ),
        now=now,
        user=office["staff"],
    )
    assert outcome.created and outcome.redo is not None
    assert ticket.status == "in_progress"  # back to 办理中 through `reopen`
    assert ticket.satisfaction == "不满意" and ticket.satisfaction_source == "revisit"
    assert ticket.is_resolved is False
    redo_row = outcome.redo
    assert redo_row.revisit_id == outcome.revisit.id and "回访不满意" in redo_row.reason
    # From Thursday 30 April: 30 Apr, (1–5 May 劳动节), 6, 7, 8 May and Saturday 9 May (调休上班) = 5.
    due_local = redo_row.due_at.astimezone(BUSINESS_TZ)
    assert datetime(2026, 5, 9, tzinfo=BUSINESS_TZ) < due_local <= datetime(2026, 5, 10, tzinfo=BUSINESS_TZ)
    deadline = next(d for d in ticket.deadlines if d.kind == REDO)
    assert deadline.due_at == redo_row.due_at and deadline.state == "running"
    assert "重办" in deadline.explanation and "5个工作日" in deadline.explanation
    assert "劳动节" in deadline.explanation and "5月9日调休上班计入" in deadline.explanation
    kinds = [e.kind for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
    assert {"revisit.recorded", "ticket.rated", "ticket.redone"} <= set(kinds)
    published = set(session.scalars(select(OutboxMessage.topic).where(OutboxMessage.ticket_id == ticket.id)))
    assert {"revisit.recorded", "ticket.redone"} <= published
    # The reply deadline the order was first judged by is left as it was (met on the first answer).
    assert next(d for d in ticket.deadlines if d.kind == "reply").state == "met"

    # Answered again: the 重办 period is met; a new 回访 after the redo is recorded (满意, no new redo).
    later = now + timedelta(days=2)
    svc.reply_ticket(session, ticket, "已督促施工单位整改并复查。", actor="测试", now=later)
    assert deadline.state == "met"
    again = record_revisit(
        session,
        ticket,
        visit(later + timedelta(hours=1), "满意", is_resolved=True),
        now=later + timedelta(hours=2),
        user=office["staff"],
    )
    assert again.created and again.redo is None
    assert ticket.satisfaction == "满意" and ticket.is_resolved is True and ticket.status == "replied"


def test_satisfied_and_resolved_opens_no_redo_and_the_rule_is_configurable(session, office, now):
    ticket = answered(session, office, at=now)
    kept = record_revisit(
        session, ticket, visit(now, "basically_satisfied", is_resolved=True), now=now, user=office["staff"]
    )
    assert kept.redo is None and ticket.status == "replied" and ticket.satisfaction == "基本满意"
    # A city that redoes only on 不满意: an unresolved but satisfied 回访 opens none.
    only_unsatisfied = RedoRule.parse("unsatisfied")
    quiet = record_revisit(
        session,
        ticket,
        visit(now, "satisfied", is_resolved=False),
        now=now,
        user=office["staff"],
        rule=only_unsatisfied,
    )
    assert quiet.redo is None and ticket.status == "replied"
    # The default redoes on 未解决 too.
    opened = record_revisit(
        session, ticket, visit(now, "satisfied", is_resolved=False), now=now, user=office["staff"]
    )
    assert opened.redo is not None and "回访未解决" in opened.redo.reason
    assert RedoRule.parse("none").reason_for("unsatisfied", False) is None
    with pytest.raises(ValidationError) as bad:
        RedoRule.parse("unsatisfied,sometimes")
    assert "TRACKER_REDO_ON" in bad.value.fields


def test_the_rule_is_read_from_the_environment(session, office, now, monkeypatch):
    monkeypatch.setenv("TRACKER_REDO_ON", "none")
    ticket = answered(session, office, at=now)
    outcome = record_revisit(session, ticket, visit(now), now=now, user=office["staff"])
    assert outcome.redo is None and ticket.status == "replied"


# --- the attacker ------------------------------------------------------------------------------------------


def test_another_department_an_auditor_and_an_unanswered_order_are_refused(session, office, now):
    ticket = answered(session, office, at=now)
    with pytest.raises(NotFound):  # another department's order is missing to them (not even seen)
        record_revisit(session, ticket, visit(now), now=now, user=office["neighbour"])
    with pytest.raises((PermissionDenied, NotFound)):
        record_revisit(session, ticket, visit(now), now=now, user=office["auditor"])
    with pytest.raises(PermissionDenied):  # a key or upload scoped to another department
        record_revisit(
            session,
            ticket,
            visit(now, external_ref="RV-1"),
            now=now,
            reach=Reach(department_id=office["other"].id),
        )
    with pytest.raises(PermissionDenied):  # neither staff nor platform
        record_revisit(session, ticket, visit(now), now=now)
    fresh = factories.ticket(session, now=now, dept=office["mine"])
    with pytest.raises(Conflict, match="答复后"):
        record_revisit(session, fresh, visit(now), now=now, user=office["staff"])
    assert session.scalar(select(func.count()).select_from(Revisit)) == 0
    assert ticket.status == "replied" and ticket.satisfaction is None


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("result", {"result": "非常满意<script>"}),
        ("citizen_words", {"citizen_words": "吵" * 2001}),
        ("citizen_words", {"citizen_words": "夜里\x00施工"}),
        ("phone", {"phone": "1" * 40}),
        ("visited_at", {"visited_at": None}),
        ("visited_at", {"visited_at": "future"}),
        ("visited_at", {"visited_at": datetime(2026, 3, 4, 10, 0)}),  # no time zone
        ("external_ref", {"external_ref": "R" * 129}),
    ],
)
def test_hostile_input_is_a_clear_error_naming_the_field(session, office, now, field, data):
    ticket = answered(session, office, at=now)
    values = {"visited_at": now, "result": "unsatisfied", **data}
    if values["visited_at"] == "future":
        values["visited_at"] = now + timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        record_revisit(session, ticket, RevisitInput(**values), now=now, user=office["staff"])
    assert field in refused.value.fields
    assert session.scalar(select(func.count()).select_from(Revisit)) == 0 and ticket.status == "replied"


def test_citizen_text_is_stored_as_given(session, office, now):
    ticket = answered(session, office, at=now)
    words = "<b>还是很吵</b> & 'quoted'"
    outcome = record_revisit(
        session, ticket, visit(now, "satisfied", citizen_words=words), now=now, user=office["staff"]
    )
    assert outcome.revisit.citizen_words == words


def test_a_replayed_platform_revisit_is_recorded_once_and_opens_one_redo(session, office, now):
    ticket = answered(session, office, at=now)
    first = record_revisit(
        session, ticket, visit(now, external_ref="HF-0001"), now=now, reach=EVERYTHING, actor="12345平台"
    )
    assert first.created and first.redo is not None and first.revisit.source == "platform"
    assert ticket.satisfaction_source == "platform"
    replay = record_revisit(session, ticket, visit(now, external_ref="HF-0001"), now=now, reach=EVERYTHING)
    assert not replay.created and replay.revisit.id == first.revisit.id and replay.redo is None
    assert (
        session.scalar(select(func.count()).select_from(Revisit).where(Revisit.ticket_id == ticket.id)) == 1
    )
    assert session.scalar(select(func.count()).select_from(Redo).where(Redo.ticket_id == ticket.id)) == 1
    # The redo door itself refuses a second redo of the same 回访, whoever asks.
    svc.reply_ticket(session, ticket, "再次答复", actor="测试", now=now)
    with pytest.raises(Conflict):
        redo(session, ticket, now=now, reason="again", revisit=first.revisit)
    # The platform's 回访 must carry its 回访编号 (else it could not be recognised when sent again).
    with pytest.raises(ValidationError) as missing:
        record_revisit(session, ticket, visit(now), now=now, reach=EVERYTHING)
    assert "external_ref" in missing.value.fields


# --- 重办 by hand ----------------------------------------------------------------------------------------


def test_a_supervisor_orders_a_redo_with_a_reason(session, office, now):
    ticket = answered(session, office, at=now, close=True)
    with pytest.raises(PermissionDenied):  # a 承办人 may not
        redo(session, ticket, now=now, reason="群众再次来电", user=office["staff"])
    with pytest.raises(NotFound):  # nor another department's head (who does not even see it)
        redo(session, ticket, now=now, reason="群众再次来电", user=office["neighbour_boss"])
    with pytest.raises(ValidationError) as no_reason:
        redo(session, ticket, now=now, reason="  ", user=office["supervisor"])
    assert "reason" in no_reason.value.fields
    with pytest.raises(Conflict):  # no rule and no user: not a door anyone may walk through
        redo(session, ticket, now=now, reason="x")
    row = redo(session, ticket, now=now, reason="群众再次来电反映未整改", user=office["supervisor"])
    assert ticket.status == "in_progress" and row.revisit_id is None and row.due_at is not None
    assert row.ordered_by_label == office["supervisor"].display_name
    with pytest.raises(Conflict):  # already being handled again
        redo(session, ticket, now=now, reason="again", user=office["supervisor"])


# --- item 10: the import and the push carry 回访 results; the export shows the latest ----------------------


REVISIT_HEADER = [
    "工单编号", "受理时间", "诉求类型", "诉求内容", "联系电话", "办结时间", "答复内容",
    "回访时间", "回访结果", "是否解决", "是否联系", "回访意见", "回访编号",
]  # fmt: skip


def _row(no: str, **more) -> list:
    row = {
        "工单编号": no,
        "受理时间": "2026-02-25 09:00:00",
        "诉求类型": "投诉",
        "诉求内容": "小区夜间施工噪音",
        "联系电话": "13800138000",
        "办结时间": "2026-03-02 17:00:00",
        "答复内容": "已责令停工",
        "回访时间": "2026-03-03 10:00:00",
        "回访结果": "不满意",
        "是否解决": "否",
        "是否联系": "是",
        "回访意见": "仍有噪音",
        "回访编号": f"HF-{no}",
    }
    row.update(more)
    return [row[h] for h in REVISIT_HEADER]


def test_a_file_with_revisits_imported_twice_records_each_once(session, office, now, tmp_path):
    no = f"IMP-{uuid.uuid4().hex[:8]}"
    path = write_csv(tmp_path / "orders.csv", REVISIT_HEADER, [_row(no)])
    import_file(
        session,
        "hotline",
        path,
        actor="测试导入",
        reach=EVERYTHING,
        now=now,
        department_code=office["mine"].code,
    )
    ticket = session.scalar(select(Ticket).where(Ticket.external_ref == no))
    revisit = session.scalar(select(Revisit).where(Revisit.ticket_id == ticket.id))
    assert revisit.result == "unsatisfied" and revisit.was_contacted is True and revisit.is_resolved is False
    assert revisit.external_ref == f"HF-{no}" and revisit.phone == "13800138000"
    assert ticket.status == "in_progress" and ticket.satisfaction == "不满意"
    again = import_file(
        session,
        "hotline",
        path,
        actor="测试导入",
        reach=EVERYTHING,
        now=now,
        department_code=office["mine"].code,
    )
    assert again.created == 0
    assert (
        session.scalar(select(func.count()).select_from(Revisit).where(Revisit.ticket_id == ticket.id)) == 1
    )
    assert session.scalar(select(func.count()).select_from(Redo).where(Redo.ticket_id == ticket.id)) == 1

    rows = hotline.reply_rows(session, since=now - timedelta(days=30), until=now + timedelta(days=1))
    exported = next(r for r in rows if r[0] == no)
    # The latest 回访's six columns, before 协办单位 and 督办次数.
    assert exported[-8:-2] == ["2026-03-03 10:00:00", "不满意", "否", "是", "仍有噪音", f"HF-{no}"]
    assert "13800138000" not in "".join(map(str, exported))  # the number called is not exported


@pytest.mark.parametrize(
    ("more", "column"),
    [
        ({"答复内容": "", "办结时间": ""}, "回访结果"),  # a 回访 of an order never answered
        ({"回访时间": ""}, "回访时间"),
        ({"回访结果": "还行"}, "回访结果"),
        ({"回访结果": "", "回访意见": "无"}, "回访意见"),  # details without a result
        ({"回访意见": "吵" * 2001}, "回访意见"),
    ],
)
def test_bad_revisit_columns_are_row_errors_naming_the_column(session, office, now, tmp_path, more, column):
    path = write_csv(tmp_path / "bad.csv", REVISIT_HEADER, [_row(f"BAD-{uuid.uuid4().hex[:8]}", **more)])
    with pytest.raises(ImportRejected) as rejected:
        import_file(
            session,
            "hotline",
            path,
            actor="测试导入",
            reach=EVERYTHING,
            now=now,
            department_code=office["mine"].code,
        )
    assert column in " ".join(str(e) for e in rejected.value.report.errors)


@pytest.fixture
def key(session, now, office):
    """A hotline key of my department, committed (the API reads it in its own session)."""
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="12345平台", channel="hotline", now=now, department_code=office["mine"].code
    )
    session.commit()
    return api_key.key_id, secret


def test_the_push_records_a_revisit_once(client, session, key, office):
    order = {
        "order_no": f"HL{uuid.uuid4().hex[:12]}",
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "噪音扰民",
        "phone": "13812345678",
        "closed_at": "2026-03-05 10:00:00",
        "reply": "已处理",
        "visited_at": "2026-03-06 10:00:00",
        "revisit_result": "满意",
        "is_resolved": True,
        "was_contacted": True,
        "revisit_opinion": "谢谢",
        "revisit_ref": "HF-PUSH-1",
    }
    first = post_signed(client, "/api/v1/intake/hotline", order, *key)
    assert first.status_code == 201, first.get_json()
    again = post_signed(client, "/api/v1/intake/hotline", order, *key)
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate", again.get_json()
    ticket_id = first.get_json()["ticket"]["id"]
    assert (
        session.scalar(select(func.count()).select_from(Revisit).where(Revisit.ticket_id == ticket_id)) == 1
    )
    ticket = session.get(Ticket, ticket_id)
    assert ticket.status == "closed" and ticket.satisfaction == "满意"  # 满意 and resolved: no redo
    # A second 回访 of the same order (a new 回访编号) is news: recorded and reported as a change.
    second = post_signed(
        client,
        "/api/v1/intake/hotline",
        {**order, "revisit_ref": "HF-PUSH-2", "revisit_result": "不满意"},
        *key,
    )
    assert second.status_code == 200 and "history.revisit" in second.get_json()["changes"]
    assert "history.redo" in second.get_json()["changes"]
    bad = post_signed(client, "/api/v1/intake/hotline", {**order, "revisit_result": "还行"}, *key)
    assert bad.status_code == 400 and "revisit_result" in bad.get_data(as_text=True)


# --- personal data: rotation, anonymisation, export of the new encrypted columns ----------------------------


def _keyring(*entries: str, cipher_name: str = "sm4-gcm") -> Keyring:
    return Keyring(parse_keys(",".join(entries), what="test"), cipher_name)


OLD, NEW = new_entry("old"), new_entry("new")


def test_every_encrypted_column_of_the_metadata_is_rotated():
    """A future EncryptedText column anywhere in the schema is found by the rotation (no list to forget)."""
    in_metadata = {
        column.type.column
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    }
    rotated = {column.type.column for model in rotation.encrypted_columns() for _, column in model.attributes}
    assert in_metadata == rotated
    assert {"revisits.phone", "handling_records.contact_number", "contacts.phone"} <= rotated


def _handling_record(session, ticket, user, now, number="13912345678") -> HandlingRecord:
    record = HandlingRecord(
        ticket_id=ticket.id,
        contacted_at=now,
        contact_method="电话",
        contact_number=number,
        summary=f"电话联系群众 {number}，说明处理情况",
        recorded_by_id=user.id,
        recorded_at=now,
    )
    session.add(record)
    session.flush()
    return record


def test_revisit_and_handling_numbers_are_rotated(session, office, now):
    with cipher.using(_keyring(OLD)):
        ticket = answered(session, office, at=now)
        record_revisit(
            session, ticket, visit(now, "satisfied", phone="13812345678"), now=now, user=office["staff"]
        )
        _handling_record(session, ticket, office["staff"], now)
        session.flush()
    session.expire_all()
    with cipher.using(_keyring(NEW, OLD, cipher_name="aes-gcm")):
        status = rotation.key_status(session)
        assert status.columns["revisits.phone"] == {"sm4-gcm:old": 1}
        assert status.columns["handling_records.contact_number"] == {"sm4-gcm:old": 1}
        while rotation.rotate_batch(session, batch_size=2):
            pass
        status = rotation.key_status(session)
        assert status.stale_rows == 0 and status.columns["revisits.phone"] == {"aes-gcm:new": 1}
        raw = session.execute(
            select(type_coerce(Revisit.__table__.c.phone_ct, String)).where(Revisit.ticket_id == ticket.id)
        ).scalar()
        assert raw.startswith("pii1:aes:new:") and "13812345678" not in raw
    session.expire_all()
    with cipher.using(_keyring(NEW, cipher_name="aes-gcm")):  # the old key removed: still readable
        assert session.scalar(select(Revisit).where(Revisit.ticket_id == ticket.id)).phone == "13812345678"
        assert session.scalar(select(HandlingRecord)).contact_number == "13912345678"


def test_anonymisation_erases_and_the_export_includes_the_new_columns(session, office, now):
    ticket = answered(session, office, at=now, close=True)
    record_revisit(
        session,
        ticket,
        visit(now, "satisfied", phone="13812345678", citizen_words="我的电话13812345678"),
        now=now,
        user=office["staff"],
    )
    _handling_record(session, ticket, office["staff"], now)
    document = export_person(session, now=now, phone="13812345678")
    exported = next(t for t in document["tickets"] if t["number"] == ticket.number)
    assert exported["revisits"][0]["phone"] == "13812345678"
    assert exported["handling_records"][0]["contact_number"] == "13912345678"

    result = anonymise_due(session, now=now + timedelta(days=365 * 4))
    assert result.tickets >= 1
    session.expire_all()
    revisit = session.scalar(select(Revisit).where(Revisit.ticket_id == ticket.id))
    record = session.scalar(select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id))
    assert revisit.phone is None and "13812345678" not in revisit.citizen_words
    assert revisit.result == "satisfied"  # the assessment's figures stay
    assert record.contact_number is None and "13912345678" not in record.summary
    event = session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "privacy.anonymised"
        )
    )
    assert {"revisits", "handling_records"} <= set(event.data["fields"])
    raw = " ".join(str(v) for v in session.execute(text("SELECT * FROM revisits")).all())
    assert "13812345678" not in raw


# --- the ticket page panel ---------------------------------------------------------------------------------


@pytest.fixture
def web(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


def _sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def test_the_panel_records_a_revisit_masks_the_phone_and_audits_the_reveal(web, session, office, now):
    ticket = answered(session, office, at=now)
    session.commit()
    _sign_in(web, office["staff"])
    page = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'id="revisits"' in page and 'data-action="revisit"' in page
    assert 'data-action="redo"' not in page  # a 承办人 does not order a redo
    assert 'data-action="rate"' not in page  # one 回访 form on a 12345 page: the panel's
    response = web.post(
        f"/tickets/{ticket.id}/revisits",
        data={
            "csrf_token": "t0ken",
            "visited_at": "2026-03-04T09:30",
            "result": "unsatisfied",
            "is_resolved": "no",
            "phone": "13812345678",
            "citizen_words": "<script>alert(1)</script>",
        },
    )
    assert response.status_code == 302
    page = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "13812345678" not in page and "138****5678" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "data-redos" in page and "data-redo-explanation" in page
    reveal = web.post(f"/tickets/{ticket.id}/revisits/reveal", headers={"X-CSRF-Token": "t0ken"})
    assert reveal.status_code == 200 and "13812345678" in reveal.get_json().values()
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "personal_data.reveal", AuditEntry.object_id == str(ticket.id))
        )
        == 1
    )


def test_the_panel_refuses_the_attacker_and_bad_input(web, session, office, now):
    ticket = answered(session, office, at=now)
    session.commit()
    form = {"csrf_token": "t0ken", "visited_at": "2026-03-04T09:30", "result": "satisfied"}
    _sign_in(web, office["neighbour"])
    assert web.post(f"/tickets/{ticket.id}/revisits", data=form).status_code == 404
    assert (
        web.post(f"/tickets/{ticket.id}/revisits/reveal", headers={"X-CSRF-Token": "t0ken"}).status_code
        == 404
    )
    _sign_in(web, office["auditor"])
    assert web.post(f"/tickets/{ticket.id}/revisits", data=form).status_code == 403
    page = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="revisit"' not in page
    _sign_in(web, office["staff"])
    assert web.post(f"/tickets/{ticket.id}/revisits", data={**form, "csrf_token": "wrong"}).status_code in (
        400,
        403,
    )
    bad = web.post(f"/tickets/{ticket.id}/revisits", data={**form, "visited_at": "明天"})
    assert bad.status_code == 400 and "回访时间" in bad.get_data(as_text=True)
    long_words = web.post(f"/tickets/{ticket.id}/revisits", data={**form, "citizen_words": "吵" * 3000})
    assert long_words.status_code == 400 and "citizen_words" in long_words.get_data(as_text=True)
    assert (
        web.post(f"/tickets/{ticket.id}/redos", data={"csrf_token": "t0ken", "reason": "x"}).status_code
        == 403
    )
    assert session.scalar(select(func.count()).select_from(Revisit)) == 0


def test_a_supervisor_orders_a_redo_on_the_page(web, session, office, now):
    ticket = answered(session, office, at=now, close=True)
    session.commit()
    _sign_in(web, office["supervisor"])
    page = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="redo"' in page
    refused = web.post(f"/tickets/{ticket.id}/redos", data={"csrf_token": "t0ken", "reason": " "})
    assert refused.status_code == 400 and "重办须说明理由" in refused.get_data(as_text=True)
    done = web.post(f"/tickets/{ticket.id}/redos", data={"csrf_token": "t0ken", "reason": "群众再次来电"})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "in_progress"
    page = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "群众再次来电" in page and 'data-deadline="redo"' in page
    again = web.post(f"/tickets/{ticket.id}/redos", data={"csrf_token": "t0ken", "reason": "再次"})
    assert again.status_code == 409
