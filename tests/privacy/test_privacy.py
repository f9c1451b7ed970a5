"""Personal-data lifecycle: retention per channel, anonymisation that keeps the statistics, access export."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests import factories
from tracker.migrate import upgrade
from tracker.people.models import AuditEntry
from tracker.privacy.service import (
    ANONYMISED_EVENT,
    DEFAULT_RETENTION_YEARS,
    REDACTED,
    anonymise_due,
    count_due,
    export_person,
    normalise_phone,
    redact_text,
    retention_years,
    set_retention,
)
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Contact, Ticket, TicketEvent
from tracker.workflow.transitions import close_ticket, rate_ticket, reply_ticket

YEAR = timedelta(days=365)


def _closed_ticket(session, *, closed_at, channel="hotline", phone="13812345678", **overrides):
    dept = factories.department(session, "sme", "中小企业服务处")
    received = closed_at - timedelta(days=10)
    overrides.setdefault(
        "contact",
        ContactDraft(name="李建国", phone=phone, email="li@example.com", address="长安区中山路1号"),
    )
    if channel != "hotline":
        overrides.setdefault("request_type", "咨询")
    ticket = factories.ticket(session, now=received, dept=dept, channel=channel, **overrides)
    reply_ticket(
        session, ticket, "已处理，请拨打0311-86001234咨询。", actor="测试", now=closed_at - timedelta(days=1)
    )
    if channel != "disclosure":
        rate_ticket(
            session, ticket, "满意", actor="回访", now=closed_at - timedelta(hours=2), is_resolved=True
        )
    close_ticket(session, ticket, actor="测试", now=closed_at)
    return ticket


def test_redaction_finds_phones_ids_and_emails_in_text():
    text = "我的电话138 1234 5678，身份证11010519491231002X，邮箱a.b@example.com，座机0311-86001234，编号2026"
    redacted = redact_text(text)
    for secret in ("5678", "002X", "example.com", "86001234"):
        assert secret not in redacted
    assert redacted.count(REDACTED) == 4 and redacted.endswith("编号2026")
    assert normalise_phone("+86 138-1234-5678") == "13812345678"


def test_contacts_past_retention_are_anonymised_and_the_statistics_stay(session, now):
    old = _closed_ticket(
        session, closed_at=now - 4 * YEAR, body="噪音扰民，联系我13812345678或li@example.com。"
    )
    recent = _closed_ticket(session, closed_at=now - 2 * YEAR, phone="13900001111")
    still_open = factories.ticket(session, now=now - 5 * YEAR, dept=old.department)
    before_counts = session.execute(
        select(Ticket.channel, Ticket.status, Ticket.satisfaction, func.count()).group_by(
            Ticket.channel, Ticket.status, Ticket.satisfaction
        )
    ).all()
    events_before = session.scalar(select(func.count()).select_from(TicketEvent))

    assert count_due(session, now=now) == 1
    result = anonymise_due(session, now=now)
    assert (result.contacts, result.tickets, result.by_channel) == (1, 1, {"hotline": 1})

    session.refresh(old)
    contact = session.get(Contact, old.contact_id)
    assert (contact.name, contact.phone, contact.email, contact.address, contact.id_number) == (None,) * 5
    assert contact.anonymised_at == now
    assert "13812345678" not in old.body and "li@example.com" not in old.body and REDACTED in old.body
    assert "86001234" not in old.reply_text
    # Statistics intact: same tickets, same statuses and ratings; history only grew by one event.
    after_counts = session.execute(
        select(Ticket.channel, Ticket.status, Ticket.satisfaction, func.count()).group_by(
            Ticket.channel, Ticket.status, Ticket.satisfaction
        )
    ).all()
    assert sorted(after_counts) == sorted(before_counts)
    assert session.scalar(select(func.count()).select_from(TicketEvent)) == events_before + 1
    event = session.scalar(select(TicketEvent).where(TicketEvent.kind == ANONYMISED_EVENT))
    assert event.ticket_id == old.id and "contact" in event.data["fields"] and "3年" in event.data["policy"]
    # Recent and open tickets keep their contact details.
    assert session.get(Contact, recent.contact_id).phone == "13900001111"
    assert session.get(Contact, still_open.contact_id).phone is not None
    # A second run finds nothing: idempotent.
    assert anonymise_due(session, now=now).contacts == 0


def test_retention_is_data_per_channel_and_can_be_switched_off(session, now):
    admin = factories.user(session, role="admin", now=now)
    website = _closed_ticket(session, closed_at=now - 2 * YEAR, channel="website", phone="13700002222")
    hotline = _closed_ticket(session, closed_at=now - 10 * YEAR, phone="13600003333")
    assert retention_years(session)["website"] == DEFAULT_RETENTION_YEARS["website"] == 3
    set_retention(session, "website", 1, now=now, actor=admin, note="本局个人信息保护制度")
    set_retention(session, "hotline", 3, now=now, actor=admin, is_active=False)
    assert retention_years(session) | {} == {**DEFAULT_RETENTION_YEARS, "website": 1, "hotline": None}
    result = anonymise_due(session, now=now)
    assert result.by_channel == {"website": 1}
    assert session.get(Contact, website.contact_id).anonymised_at == now
    assert session.get(Contact, hotline.contact_id).anonymised_at is None
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.retention_changed")).all()
    assert {(a.object_id, tuple(a.detail["years"])) for a in audit} == {
        ("website", (3, 1)),
        ("hotline", (3, None)),
    }
    from tracker.errors import ValidationError

    with pytest.raises(ValidationError):
        set_retention(session, "fax", 1, now=now)
    with pytest.raises(ValidationError):
        set_retention(session, "website", -1, now=now)


def test_a_contact_shared_with_an_open_ticket_is_kept(session, now):
    old = _closed_ticket(session, closed_at=now - 5 * YEAR)
    newer = factories.ticket(session, now=now - timedelta(days=3), dept=old.department)
    newer.contact_id = old.contact_id  # the same person (e.g. linked by a duplicate check)
    session.flush()
    assert anonymise_due(session, now=now).contacts == 0


def test_export_gathers_everything_about_one_person_and_is_audited(session, now):
    first = _closed_ticket(session, closed_at=now - timedelta(days=30), phone="138-1234-5678")
    second = factories.ticket(
        session,
        now=now,
        dept=first.department,
        channel="disclosure",
        request_type="政府信息公开申请",
        contact=ContactDraft(name="李建国", phone="+86 13812345678", id_number="11010519491231002X"),
    )
    other = factories.ticket(
        session, now=now, dept=first.department, contact=ContactDraft(phone="13999999999")
    )
    staff = factories.user(session, role="staff", now=now)

    document = export_person(session, now=now, actor=staff, phone="13812345678")
    assert {t["number"] for t in document["tickets"]} == {first.number, second.number}
    assert other.number not in json.dumps(document, ensure_ascii=False)
    assert {c["phone"] for c in document["contacts"]} == {"138-1234-5678", "+86 13812345678"}
    first_doc = next(t for t in document["tickets"] if t["number"] == first.number)
    assert first_doc["history"][0]["kind"] == "ticket.created"
    assert any(h["status_after"] == "closed" for h in first_doc["history"])
    assert first_doc["deadlines"] and first_doc["satisfaction"] == "满意"
    json.dumps(document, ensure_ascii=False)  # JSON-ready

    by_id = export_person(session, now=now, id_number="11010519491231002x")
    assert [t["number"] for t in by_id["tickets"]] == [second.number]

    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).all()
    assert len(audit) == 2 and audit[0].user_id == staff.id
    # The audit log itself holds no full personal data.
    assert "13812345678" not in json.dumps([a.detail for a in audit], ensure_ascii=False)
    assert audit[0].detail["criteria"]["phone"] == "138****5678"


def test_the_cli_exports_and_anonymises(tmp_path, now, monkeypatch):
    """`tracker privacy …` end to end on a database of its own (the CLI commits)."""
    from tracker.cli.main import main
    from tracker.db import session_scope

    url = f"sqlite:///{tmp_path / 'privacy.sqlite'}"
    upgrade(url)
    from tracker.bootstrap import load_reference_data

    with session_scope(url) as session:
        load_reference_data(session)
        _closed_ticket(session, closed_at=now - 4 * YEAR, phone="13512340000")
    env = {
        "TRACKER_DATABASE_URL": url,
        "TRACKER_INSTANCE_DIR": str(tmp_path),
        "TRACKER_SECRET_KEY": "k",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    runner = CliRunner()

    shown = runner.invoke(main, ["privacy", "retention"], env=env)
    assert shown.exit_code == 0 and "12345热线（hotline）：办结后保存 3 年" in shown.output

    exported = runner.invoke(main, ["privacy", "export", "--phone", "135 1234 0000"], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["contacts"][0]["phone"] == "13512340000"

    dry = runner.invoke(main, ["privacy", "anonymise-due", "--dry-run"], env=env)
    assert "1 位" in dry.output
    done = runner.invoke(main, ["privacy", "anonymise-due"], env=env)
    assert done.exit_code == 0 and "已匿名化 1 位联系人、1 件工单" in done.output
    again = runner.invoke(main, ["privacy", "export", "--phone", "13512340000"], env=env)
    assert json.loads(again.stdout)["tickets"] == []

    bad = runner.invoke(main, ["privacy", "set-retention", "--channel", "fax", "--years", "2"], env=env)
    assert bad.exit_code == 2 and "未知渠道" in bad.output
    off = runner.invoke(main, ["privacy", "set-retention", "--channel", "weibo", "--off"], env=env)
    assert off.exit_code == 0 and "已停止" in off.output


def test_the_beat_schedule_runs_the_retention_task_nightly():
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks.privacy import anonymise_due as task

    entry = BEAT_SCHEDULE["privacy-retention"]
    assert entry["task"] == task.name == "privacy.anonymise_due"


def test_anonymising_a_contact_blanks_what_the_citizen_was_sent(session, now):
    from tracker.notify.citizens import plan_message
    from tracker.notify.models import CitizenMessage

    old = _closed_ticket(session, closed_at=now - 4 * YEAR, body="请回电13812345678。")
    plan_message(
        session,
        key="old-reply",
        kind="reply",
        recipients={"sms": "13812345678"},
        values={"number": old.number, "query_code": "ABC"},
        now=now - 4 * YEAR,
        ticket_id=old.id,
    )
    anonymise_due(session, now=now)
    message = session.scalar(select(CitizenMessage).where(CitizenMessage.ticket_id == old.id))
    session.refresh(message)
    assert "13812345678" not in message.recipient and message.text == "" and message.params == {}
