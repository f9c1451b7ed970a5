"""One door per action, tried as an attacker: issue 16's three holes and each door's own checks.

The hole tests go through the interfaces main already had (the signed API, the dashboard, the upload task),
so each fails on the code before the doors (checked: see the commit that added this file) and passes now.
The door tests call tracker.workflow.doors directly: another department, the wrong role, a replay.
Every test runs on SQLite and on PostgreSQL (the `session` / `blank_database_url` fixtures).
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, get_signed, hotline_row, post_signed, write_csv
from tracker.errors import Conflict, IllegalTransition, NotFound, PermissionDenied
from tracker.intake.apikeys import create_api_key
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors as ds
from tracker.workflow.models import Approval
from tracker.workorders import handling, sendbacks
from tracker.workorders.redo import redo
from tracker.workorders.revisits import RevisitInput, record_revisit

SECRET_KEY = "test-secret-key"  # the settings fixture's TRACKER_SECRET_KEY
DISCLOSURE = {"channel": "disclosure", "request_type": "政府信息公开申请"}


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


def flashed(client) -> str:
    with client.session_transaction() as web_session:
        return " ".join(message for _category, message in web_session.get("_flashes", []))


@pytest.fixture
def client(app, now):
    """The dashboard's clock pinned to the tests' Wednesday (it reads app.config["CLOCK"])."""
    app.config["CLOCK"] = lambda: now
    return app.test_client()


@pytest.fixture
def office(session, now):
    """Two departments, a 承办人 and a 科室负责人 in the first, a 承办人 next door, an administrator."""
    mine = factories.department(session, "doors_sme", "中小企业服务处")
    other = factories.department(session, "doors_radio", "无线电管理处")
    return {
        "mine": mine,
        "other": other,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=mine, now=now),
        "auditor": factories.user(session, role="auditor", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "admin": factories.user(
            session, role="admin", dept=factories.department(session, "doors_office", "办公室"), now=now
        ),
    }


def _ref(prefix: str) -> str:
    # Unique per test: requests commit through the app's own session.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- hole 1: bulk 办结 must not skip the disclosure sign-off ----------------------------------------------


def test_bulk_close_of_a_disclosure_awaiting_signoff_is_refused(client, session, now, office):
    application = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["staff"])
    post(client, f"/tickets/{application.id}/actions/start")
    post(
        client, f"/tickets/{application.id}/actions/reply", reply_text="予以公开，见附件。", outcome="public"
    )
    session.expire_all()
    approval = session.scalar(select(Approval).where(Approval.ticket_id == application.id))
    assert approval is not None and approval.state == "pending"  # waits for the 科室负责人

    post(
        client,
        "/queues/department/bulk",
        ticket_ids=str(application.id),
        action="close",
        outcome="unable_not_held",
        reply_text="本机关不掌握。",
    )
    session.expire_all()
    ticket = session.get(Ticket, application.id)
    assert ticket.status == "in_progress" and ticket.outcome is None and ticket.closed_at is None
    assert session.get(Approval, approval.id).state == "pending"  # not orphaned
    message = flashed(client)
    assert application.number in message and "签发" in message


def test_bulk_close_never_sends_a_staff_disclosure_reply_without_signoff(client, session, now, office):
    application = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    # Answered (and so signed off) already: the door would close this one — but the batch is all or nothing.
    answered = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    ds.reply(session, answered, "予以公开。", user=office["supervisor"], now=now, outcome="public")
    session.commit()
    sign_in(client, office["staff"])
    post(
        client,
        "/queues/department/bulk",
        ticket_ids=[str(answered.id), str(application.id)],
        action="close",
        outcome="public",
        reply_text="予以公开。",
    )
    session.expire_all()
    assert session.get(Ticket, application.id).status == "received"
    assert session.get(Ticket, application.id).reply_text is None
    assert session.get(Ticket, answered.id).status == "replied"
    message = flashed(client)
    assert application.number in message and answered.number not in message and "签发" in message


def test_a_supervisor_cannot_bulk_close_past_a_pending_signoff_either(client, session, now, office):
    application = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["staff"])
    post(client, f"/tickets/{application.id}/actions/reply", reply_text="予以公开。", outcome="public")
    sign_in(client, office["supervisor"])
    post(
        client,
        "/queues/department/bulk",
        ticket_ids=str(application.id),
        action="close",
        outcome="unable_not_held",
        reply_text="本机关不掌握。",
    )
    session.expire_all()
    assert session.get(Ticket, application.id).status == "received"
    # The supervisor's way is the sign-off, which sends the reply as written.
    approval = session.scalar(select(Approval).where(Approval.ticket_id == application.id))
    post(client, f"/approvals/{approval.id}/decide", decision="approve")
    session.expire_all()
    signed = session.get(Ticket, application.id)
    assert signed.status == "replied" and signed.outcome == "public"


# --- hole 2: an intake update must not cross departments -------------------------------------------------


@pytest.fixture
def scoped_key(session, now, office):
    """A 12345 key of the first department only."""
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="区平台", channel="hotline", now=now, department_code="doors_sme"
    )
    session.commit()
    return api_key.key_id, secret


def _order(ref: str, **more) -> dict:
    return {
        "order_no": ref,
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "工厂夜间噪音扰民。",
        **more,
    }


def test_a_scoped_key_cannot_rewrite_or_close_another_departments_order(
    client, session, now, office, scoped_key
):
    ref = _ref("XD")
    foreign = factories.ticket(
        session, now=now, dept=office["other"], external_ref=ref, body="原始诉求：无线电干扰。"
    )
    session.commit()
    attack = _order(
        ref,
        content="改写后的内容",
        phone="13900000000",
        reply="已办结",
        closed_at="2026-03-04 10:00:00",
    )
    for _attempt in range(2):  # the replay is refused the same way
        response = post_signed(client, "/api/v1/intake/hotline", attack, *scoped_key)
        assert response.status_code in (403, 404), response.get_json()
        assert response.get_json()["error"]["code"] in ("forbidden", "not_found")
    session.expire_all()
    ticket = session.get(Ticket, foreign.id)
    assert (
        ticket.body == "原始诉求：无线电干扰。" and ticket.status == "received" and ticket.reply_text is None
    )
    assert ticket.contact.phone == "13812345678"
    assert not session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == foreign.id, TicketEvent.kind == "ticket.updated")
    ).all()


def test_a_scoped_key_still_updates_its_own_departments_order(client, session, now, office, scoped_key):
    ref = _ref("OWN")
    factories.ticket(session, now=now, dept=office["mine"], external_ref=ref)
    session.commit()
    response = post_signed(client, "/api/v1/intake/hotline", _order(ref, urgency="紧急"), *scoped_key)
    assert response.status_code == 200 and response.get_json()["result"] == "updated"


def test_another_departments_message_cannot_be_updated_through_the_tickets_endpoint(
    client, session, now, office
):
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="网站", channel=None, now=now, department_code="doors_sme"
    )
    ref = _ref("W")
    foreign = factories.ticket(
        session, now=now, dept=office["other"], channel="website", request_type="咨询", external_ref=ref
    )
    session.commit()
    response = post_signed(
        client,
        "/api/v1/tickets",
        {"channel": "website", "message_no": ref, "posted_at": "2026-03-04 08:00", "content": "改写"},
        api_key.key_id,
        secret,
    )
    assert response.status_code in (403, 404)
    session.expire_all()
    assert session.get(Ticket, foreign.id).body != "改写"


def _upload_batch(url: str, path, *, channel: str, creator_id: int, skip: bool, now):
    from tracker.db import session_scope
    from tracker.intake.models import ImportBatch

    with session_scope(url) as s:
        batch = ImportBatch(
            channel=channel,
            filename=path.name,
            file_sha256="x",
            stored_path=str(path),
            status="queued",
            errors=[],
            created_by_id=creator_id,
            department_code="doors_sme",
            is_skip_bad_rows=skip,
            created_at=now,
        )
        s.add(batch)
        s.flush()
        return batch.id


def test_a_staff_upload_cannot_rewrite_another_departments_order(blank_database_url, tmp_path, now):
    """The dashboard upload, imported by the worker: the row that re-sends another department's number is
    named, and nothing of the file is written (without 跳过错误行) / only that row is refused (with it)."""
    from tracker.bootstrap import load_reference_data
    from tracker.config import Settings
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from workers.tasks.intake import run_import_batch

    url = blank_database_url
    upgrade(url)
    with session_scope(url) as s:
        load_reference_data(s)
        mine = factories.department(s, "doors_sme", "中小企业服务处")
        other = factories.department(s, "doors_radio", "无线电管理处")
        staff = factories.user(s, role="staff", dept=mine, now=now)
        foreign = factories.ticket(s, now=now, dept=other, external_ref="FOREIGN-1", body="他处原文")
        staff_id, foreign_id = staff.id, foreign.id
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_DATABASE_URL": url,
            "TRACKER_SECRET_KEY": "k",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    rows = [
        hotline_row("MINE-1"),
        hotline_row("FOREIGN-1", content="改写后的内容", 答复内容="已办结", 办结时间="2016-03-06 10:00:00"),
        hotline_row("MINE-2"),
    ]
    path = write_csv(tmp_path / "up.csv", HOTLINE_HEADER, rows)

    strict = _upload_batch(url, path, channel="hotline", creator_id=staff_id, skip=False, now=now)
    assert run_import_batch(settings, strict, now=now) == "failed"
    lenient = _upload_batch(url, path, channel="hotline", creator_id=staff_id, skip=True, now=now)
    assert run_import_batch(settings, lenient, now=now) == "done"

    from tracker.intake.models import ImportBatch

    with session_scope(url) as s:
        refused = s.get(ImportBatch, strict)
        assert refused.errors and refused.errors[0]["row"] == 3 and refused.errors[0]["value"] == "FOREIGN-1"
        assert (s.get(ImportBatch, lenient).created_count, s.get(ImportBatch, lenient).rejected_count) == (
            2,
            1,
        )
        ticket = s.get(Ticket, foreign_id)
        assert ticket.body == "他处原文" and ticket.status == "received" and ticket.reply_text is None
        assert {t for t in s.scalars(select(Ticket.external_ref))} >= {"MINE-1", "MINE-2", "FOREIGN-1"}


def test_the_portal_never_updates_a_ticket(session, now, office):
    from tracker.intake.records import IntakeRecord, apply_record
    from tracker.people.access import NOTHING

    ref = _ref("P")
    factories.ticket(session, now=now, dept=office["mine"], external_ref=ref)
    forged = IntakeRecord(factories.draft(external_ref=ref, arrived_at=now, body="伪造的更新"))
    with pytest.raises(PermissionDenied):
        apply_record(session, forged, actor="门户网站", reach=NOTHING, now=now)


# --- hole 3: duplicate flags never show another department's number ------------------------------------


def test_a_scoped_key_never_sees_another_departments_number_in_a_duplicate_flag(
    client, session, now, office, scoped_key
):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    foreign = factories.ticket(
        session,
        now=now - timedelta(days=1),
        dept=office["other"],
        contact=factories.ContactDraft(name="王五", phone=phone),
    )
    session.commit()
    response = post_signed(client, "/api/v1/intake/hotline", _order(_ref("DUP"), phone=phone), *scoped_key)
    assert response.status_code == 201
    ticket_id = response.get_json()["ticket"]["id"]
    responses = [
        response,
        get_signed(client, f"/api/v1/tickets/{ticket_id}", *scoped_key),
        get_signed(client, f"/api/v1/tickets/{ticket_id}/events", *scoped_key),
        get_signed(client, "/api/v1/tickets?limit=200", *scoped_key),
    ]
    for answer in responses:
        assert answer.status_code in (200, 201)
        text = answer.get_data(as_text=True)
        assert foreign.number not in text and f'"of_id": {foreign.id}' not in text
    assert responses[1].get_json()["possible_duplicate_of_id"] is None
    # The flag itself is kept for those who may see both tickets.
    session.expire_all()
    assert session.get(Ticket, ticket_id).possible_duplicate_of_id == foreign.id


def test_an_unscoped_key_and_an_administrator_still_see_the_flag(client, session, now, office):
    api_key, secret = create_api_key(session, SECRET_KEY, name="12345平台", channel="hotline", now=now)
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    earlier = factories.ticket(
        session,
        now=now - timedelta(days=1),
        dept=office["other"],
        contact=factories.ContactDraft(phone=phone),
    )
    session.commit()
    response = post_signed(
        client, "/api/v1/intake/hotline", _order(_ref("DUP"), phone=phone), api_key.key_id, secret
    )
    assert response.get_json()["possible_duplicate_of"] == earlier.number
    flagged = session.get(Ticket, response.get_json()["ticket"]["id"])
    sign_in(client, office["admin"])
    assert earlier.number in client.get(f"/tickets/{flagged.id}").get_data(as_text=True)


def test_the_ticket_page_hides_another_departments_duplicate(client, session, now, office):
    phone = f"136{uuid.uuid4().int % 10**8:08d}"
    foreign = factories.ticket(
        session,
        now=now - timedelta(days=1),
        dept=office["other"],
        contact=factories.ContactDraft(phone=phone),
    )
    mine = factories.ticket(
        session, now=now, dept=office["mine"], contact=factories.ContactDraft(phone=phone)
    )
    mine.possible_duplicate_of_id = foreign.id
    session.commit()
    sign_in(client, office["staff"])
    page = client.get(f"/tickets/{mine.id}").get_data(as_text=True)
    assert foreign.number not in page and f"/tickets/{foreign.id}" not in page


# --- each door, tried by another department, the wrong role, a replay -----------------------------------

DOORS = {
    "start": lambda s, t, u, now, o: ds.start_work(s, t, user=u, now=now),
    "assign": lambda s, t, u, now, o: ds.assign(s, t, u, user=u, now=now),
    "transfer": lambda s, t, u, now, o: ds.transfer(s, t, o["other"], "不属本处职责", user=u, now=now),
    "reply": lambda s, t, u, now, o: ds.reply(s, t, "已答复", user=u, now=now),
    "close": lambda s, t, u, now, o: ds.close(s, t, user=u, now=now, reply_text="已答复"),
    "reopen": lambda s, t, u, now, o: ds.reopen(s, t, "再查", user=u, now=now),
    "extend": lambda s, t, u, now, o: ds.extend(s, t, user=u, length=5, reason="调取档案", now=now),
    "merge": lambda s, t, u, now, o: ds.merge(s, t, "RX-none", user=u, now=now),
    "rate": lambda s, t, u, now, o: ds.rate(s, t, "满意", user=u, now=now),
    "note": lambda s, t, u, now, o: ds.add_note(s, t, "备注", user=u, now=now),
    # 12345 回访 and 重办 (issue 19): tracker/workorders/revisits.py, redo.py
    "revisit": lambda s, t, u, now, o: record_revisit(s, t, RevisitInput(now, "不满意"), now=now, user=u),
    "redo": lambda s, t, u, now, o: redo(s, t, now=now, reason="群众不满意", user=u),
    # 退单 is a request to the 12345 platform now (tracker.workorders.sendbacks; tests/workorders/test_cycle.py).
    "return": lambda s, t, u, now, o: sendbacks.request_send_back(
        s, t, reason_code="not_our_duty", reason_text="非本单位职责", user=u, now=now
    ),
    "handling": lambda s, t, u, now, o: handling.add_handling_record(
        s, t, summary="已电话联系", user=u, now=now
    ),
}


@pytest.mark.parametrize("door", sorted(DOORS))
def test_no_door_opens_for_another_department(session, now, office, door):
    ticket = factories.ticket(session, now=now, dept=office["mine"])
    before = (ticket.status, ticket.department_id, ticket.assignee_id)
    with pytest.raises(NotFound):
        DOORS[door](session, ticket, office["neighbour"], now, office)
    assert (ticket.status, ticket.department_id, ticket.assignee_id) == before


@pytest.mark.parametrize("door", sorted(DOORS))
def test_no_door_opens_for_an_auditor(session, now, office, door):
    ticket = factories.ticket(session, now=now, dept=office["mine"])
    with pytest.raises(PermissionDenied):
        DOORS[door](session, ticket, office["auditor"], now, office)
    assert ticket.status == "received"


def test_a_staff_member_may_not_reopen_or_assign_someone_else(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"])
    ds.reply(session, ticket, "已答复", user=office["staff"], now=now, confirm_warnings=True)
    with pytest.raises(PermissionDenied):
        ds.reopen(session, ticket, "再查", user=office["staff"], now=now)
    other = factories.ticket(session, now=now, dept=office["mine"])
    with pytest.raises(PermissionDenied):
        ds.assign(session, other, office["supervisor"], user=office["staff"], now=now)
    ds.assign(session, other, office["staff"], user=office["supervisor"], now=now)
    assert other.assignee_id == office["staff"].id


def test_a_staff_member_may_not_decide_and_a_decision_is_not_replayed(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    approval = ds.reply(session, ticket, "予以公开。", user=office["staff"], now=now, outcome="public")
    assert approval is not None and ticket.status == "received"
    with pytest.raises(PermissionDenied):
        ds.decide_approval(session, approval, user=office["staff"], approve=True, now=now)
    with pytest.raises(NotFound):
        ds.decide_approval(session, approval, user=office["neighbour"], approve=True, now=now)
    ds.decide_approval(session, approval, user=office["supervisor"], approve=True, now=now)
    assert ticket.status == "replied" and ticket.outcome == "public"
    with pytest.raises(Conflict):
        ds.decide_approval(session, approval, user=office["supervisor"], approve=True, now=now)


def test_a_second_reply_or_a_close_waits_for_the_pending_signoff(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    ds.reply(session, ticket, "予以公开。", user=office["staff"], now=now, outcome="public")
    for attempt in (
        lambda: ds.reply(
            session, ticket, "另一份答复", user=office["supervisor"], now=now, outcome="partial"
        ),
        lambda: ds.close(
            session, ticket, user=office["supervisor"], now=now, outcome="partial", reply_text="x"
        ),
        lambda: ds.transfer(session, ticket, office["other"], "转", user=office["supervisor"], now=now),
    ):
        with pytest.raises(Conflict):
            attempt()
    assert ticket.status == "received" and ticket.department_id == office["mine"].id


def test_closing_cannot_change_a_signed_off_outcome(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    ds.reply(session, ticket, "予以公开。", user=office["supervisor"], now=now, outcome="public")
    with pytest.raises(Exception, match="答复结果已随答复确定"):
        ds.close(session, ticket, user=office["staff"], now=now, outcome="unable_not_held")
    ds.close(session, ticket, user=office["staff"], now=now)
    assert ticket.status == "closed" and ticket.outcome == "public"


def test_a_bulk_close_replayed_changes_nothing_more(session, now, office):
    tickets = [factories.ticket(session, now=now, dept=office["mine"]) for _ in range(2)]
    ids = [t.id for t in tickets]
    ds.bulk_action(
        session, office["staff"], ids, "close", now=now, reply_text="已办理。", confirm_warnings=True
    )
    assert all(t.status == "closed" for t in tickets)
    with pytest.raises(Exception, match="批量办结未执行") as refused:
        ds.bulk_action(
            session, office["staff"], ids, "close", now=now + timedelta(hours=1), reply_text="再次"
        )
    assert all(t.number in str(refused.value) for t in tickets)


def test_a_bulk_action_with_a_hidden_ticket_answers_not_found(session, now, office):
    mine = factories.ticket(session, now=now, dept=office["mine"])
    foreign = factories.ticket(session, now=now, dept=office["other"])
    with pytest.raises(NotFound):
        ds.bulk_action(session, office["staff"], [mine.id, foreign.id], "close", now=now, reply_text="x")
    assert mine.status == "received" and foreign.status == "received"


def test_illegal_transitions_are_refused_by_the_door(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"])
    with pytest.raises(IllegalTransition):
        ds.reopen(session, ticket, "再查", user=office["supervisor"], now=now)


def test_a_file_import_within_one_departments_reach_names_the_foreign_row(session, now, office, tmp_path):
    """import_file itself (the single pass the CLI uses), given a department's reach: the foreign row is
    a row error; without skip_bad_rows the file is refused, with it the other rows are written."""
    from tracker.intake.importer import ImportRejected, import_file
    from tracker.people.access import Reach

    foreign_ref, own_ref = _ref("FOREIGN"), _ref("OWN")
    foreign = factories.ticket(
        session, now=now, dept=office["other"], external_ref=foreign_ref, body="他处原文"
    )
    own = factories.ticket(session, now=now, dept=office["mine"], external_ref=own_ref)
    session.commit()
    rows = [
        hotline_row(own_ref, content="本处更新"),
        hotline_row(foreign_ref, content="改写", 答复内容="已办结", 办结时间="2016-03-06 10:00:00"),
    ]
    path = write_csv(tmp_path / "mixed.csv", HOTLINE_HEADER, rows)
    reach = Reach(department_id=office["mine"].id)
    with pytest.raises(ImportRejected) as refused:
        import_file(session, "hotline", path, actor="文件导入", reach=reach, now=now)
    assert "第3行" in refused.value.message and foreign_ref in refused.value.message
    session.rollback()  # what every caller does with ImportRejected
    report = import_file(session, "hotline", path, actor="文件导入", reach=reach, now=now, skip_bad_rows=True)
    assert (report.updated, report.rejected) == (1, 1)
    assert foreign.body == "他处原文" and foreign.reply_text is None and own.body == "本处更新"


def test_a_channel_reporting_the_answer_supersedes_a_pending_signoff_instead_of_orphaning_it(
    session, now, office
):
    """The update-from-channel door: a re-sent application whose history says it was answered, while a
    承办人's reply waits for sign-off here, takes the channel's answer and closes the request as
    superseded (an event says so); the request no longer blocks the ticket. Replayed, nothing more."""
    from tracker.intake.records import History, IntakeRecord, apply_record
    from tracker.people.access import EVERYTHING

    ticket = factories.ticket(session, now=now, dept=office["mine"], **DISCLOSURE)
    approval = ds.reply(session, ticket, "予以公开。", user=office["staff"], now=now, outcome="public")
    assert approval is not None and approval.state == "pending"
    answered_at = now + timedelta(hours=2)
    record = IntakeRecord(
        factories.draft(
            external_ref=ticket.external_ref, subject=ticket.subject, body=ticket.body, **DISCLOSURE
        ),
        History(reply_text="经审查，本机关不掌握该信息。", replied_at=answered_at, outcome="unable_not_held"),
    )
    for _replay in range(2):
        apply_record(session, record, actor="导入", reach=EVERYTHING, now=answered_at)
    session.flush()
    assert session.get(Approval, approval.id).state == "superseded"
    assert ticket.status == "replied" and ticket.outcome == "unable_not_held"
    assert ds.pending_approvals(session, ticket) == []
    kinds = session.scalars(
        select(TicketEvent.kind).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "approval.superseded"
        )
    ).all()
    assert kinds == ["approval.superseded"]
    ds.close(session, ticket, user=office["staff"], now=answered_at)  # no longer held up by the request
    assert ticket.status == "closed"
