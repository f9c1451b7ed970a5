"""The personal-data lifecycle (个人信息保护法): retention per channel, anonymisation, access requests.

* **Retention** — a channel's contact details are kept `years_after_close` years after its tickets end
  (closed, merged, withdrawn or returned), then anonymised. The periods are data (`RetentionPolicy`
  rows, one per channel, changed with `set_retention`), with `DEFAULT_RETENTION_YEARS` where no row exists.
* **Anonymisation keeps the statistics** — tickets, their status, channel, type, department, dates,
  deadlines, outcome and satisfaction, and every event stay, so past annual reports and figures do not
  move. What goes: the contact's name, phone, e-mail, address and ID number (blanked, `anonymised_at`
  set), phone numbers / ID numbers / e-mail addresses inside the ticket's text and reply, and the
  channel-specific personal keys of `Ticket.extra` (a Weibo user id). Each ticket gets a
  `privacy.anonymised` event saying which policy applied. A contact shared by several tickets is
  anonymised only once all of them are due.
* **Access requests** (art. 45) — `export_person` gathers everything held about one person, found by
  phone, ID number or e-mail: contact records, tickets with their history and deadlines, staff accounts
  with the same phone or e-mail, and the audit entries about those tickets. The export is audited.

Services flush and never commit; the CLI (`tracker privacy …`, tracker/cli/admin.py) and the beat task
(workers/tasks/privacy.py) own the transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from tracker.db import session_scope
from tracker.errors import ValidationError
from tracker.notify.models import CitizenMessage
from tracker.people.models import AuditEntry, User
from tracker.pii.cipher import blinds
from tracker.privacy.models import RetentionPolicy
from tracker.search import index_tickets
from tracker.security import (
    PERSONAL_NUMBER_PATTERNS,
    mask_email,
    mask_id_number,
    mask_phone,
    normalise_phone,
)
from tracker.tickets.channels import CHANNELS, channel
from tracker.tickets.history import record_event
from tracker.tickets.models import Contact, Ticket, TicketEvent
from tracker.tickets.status import FINAL_STATUSES, STATUS_LABELS
from tracker.workorders.models import HandlingRecord, Revisit

# Years after a ticket ends before its contact details are anonymised, where no policy row says otherwise.
# Disclosure applications are part of the agency's records (and of possible review or litigation), so
# they are kept longer than hotline orders and messages.
DEFAULT_RETENTION_YEARS: dict[str, int] = {"hotline": 3, "website": 3, "weibo": 2, "disclosure": 10}
MAX_RETENTION_YEARS = 100
SYSTEM_ACTOR = "系统（个人信息保护）"
ANONYMISED_EVENT = "privacy.anonymised"
REDACTED = "[已匿名]"

CONTACT_FIELDS = ("name", "phone", "email", "address", "id_number")
# Keys of Ticket.extra that identify a person (the Weibo adapter stores the author's user id and a link
# that contains it); everything else in `extra` is kept after redaction of its text.
PERSONAL_EXTRA_KEYS = frozenset(
    {"weibo_user_id", "weibo_url", "user", "user_id", "screen_name", "nickname", "name", "phone", "email"}
)

_PATTERNS = PERSONAL_NUMBER_PATTERNS  # defined once: the reply check finds the same numbers


def redact_text(text: str | None) -> str | None:
    """Replace phone numbers, ID numbers and e-mail addresses in free text with a marker."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


# -- retention policies ---------------------------------------------------------------------------


def retention_years(session: Session) -> dict[str, int | None]:
    """Years per channel; None where the policy is switched off (never anonymise that channel)."""
    years: dict[str, int | None] = dict(DEFAULT_RETENTION_YEARS)
    for row in session.scalars(select(RetentionPolicy)):
        years[row.channel] = row.years_after_close if row.is_active else None
    return years


def set_retention(
    session: Session,
    channel_code: str,
    years: int,
    *,
    now: datetime,
    actor: User | None = None,
    is_active: bool = True,
    note: str = "",
) -> RetentionPolicy:
    """Set how many years after closing a channel's contact details are kept (audited)."""
    channel(channel_code)  # refuses an unknown channel with a clear message
    if not 0 <= years <= MAX_RETENTION_YEARS:
        raise ValidationError(
            f"保存年限应为 0–{MAX_RETENTION_YEARS} 年，收到 {years}", fields={"years": "超出范围"}
        )
    row = session.scalar(select(RetentionPolicy).where(RetentionPolicy.channel == channel_code))
    before = retention_years(session).get(channel_code)
    if row is None:
        row = RetentionPolicy(channel=channel_code, years_after_close=years, note=note, updated_at=now)
        session.add(row)
    row.years_after_close = years
    row.is_active = is_active
    row.note = note
    row.updated_at = now
    row.updated_by_id = actor.id if actor else None
    session.add(
        AuditEntry(
            at=now,
            user_id=actor.id if actor else None,
            action="privacy.retention_changed",
            object_type="retention_policy",
            object_id=channel_code,
            detail={"years": [before, years if is_active else None], "note": note},
        )
    )
    session.flush()
    return row


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February in a year without one
        return moment.replace(year=moment.year - years, day=28)


def _due_ticket_condition(session: Session, ticket, now: datetime):
    """SQL: this ticket has ended and its channel's retention period has run out."""
    ended_at = func.coalesce(ticket.closed_at, ticket.updated_at)
    per_channel = [
        and_(ticket.channel == code, ended_at < _years_before(now, years))
        for code, years in retention_years(session).items()
        if years is not None
    ]
    return and_(ticket.status.in_(FINAL_STATUSES), or_(false(), *per_channel))


def _due_contacts(session: Session, now: datetime):
    due = aliased(Ticket)
    other = aliased(Ticket)
    return (
        select(Contact.id)
        .where(
            Contact.anonymised_at.is_(None),
            exists().where(due.contact_id == Contact.id, _due_ticket_condition(session, due, now)),
            ~exists().where(other.contact_id == Contact.id, ~_due_ticket_condition(session, other, now)),
        )
        .order_by(Contact.id)
    )


def count_due(session: Session, *, now: datetime) -> int:
    """How many contacts the next anonymisation would blank."""
    return session.scalar(select(func.count()).select_from(_due_contacts(session, now).subquery())) or 0


@dataclass
class AnonymiseResult:
    contacts: int = 0
    tickets: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        detail = "，".join(f"{CHANNELS[c].label} {n} 件" for c, n in sorted(self.by_channel.items()))
        return f"已匿名化 {self.contacts} 位联系人、{self.tickets} 件工单" + (
            f"（{detail}）" if detail else ""
        )


def anonymise_due(session: Session, *, now: datetime, limit: int = 500) -> AnonymiseResult:
    """Anonymise up to `limit` contacts whose retention period has run out; flush, never commit.

    Call repeatedly (committing in between) until it returns fewer than `limit` contacts. On PostgreSQL
    the rows are taken with FOR UPDATE SKIP LOCKED, so two runs at once never do the same contact twice.
    """
    years = retention_years(session)
    ids = list(
        session.scalars(
            _due_contacts(session, now).limit(limit).with_for_update(skip_locked=True, of=Contact)
        )
    )
    result = AnonymiseResult()
    if not ids:
        return result
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    for contact in contacts.values():
        for name in CONTACT_FIELDS:
            setattr(contact, name, None)
        contact.anonymised_at = now
    result.contacts = len(contacts)

    # What the citizen was sent names their number or address and may quote the case: blanked too.
    session.execute(
        update(CitizenMessage)
        .where(CitizenMessage.ticket_id.in_(select(Ticket.id).where(Ticket.contact_id.in_(ids))))
        .values(recipient="（已匿名化）", subject="", text="", params={})
        .execution_options(synchronize_session=False)
    )
    tickets = list(session.scalars(select(Ticket).where(Ticket.contact_id.in_(ids)).order_by(Ticket.id)))
    workorder_changes = _anonymise_workorders(session, [t.id for t in tickets])
    for ticket in tickets:
        changed = ["contact", *workorder_changes.get(ticket.id, [])]
        body = redact_text(ticket.body)
        if body != ticket.body:
            ticket.body = body or ""
            changed.append("body")
            index_tickets(session, [ticket])  # the index keeps no word the ticket no longer holds
        reply = redact_text(ticket.reply_text)
        if reply != ticket.reply_text:
            ticket.reply_text = reply
            changed.append("reply_text")
        extra = _redact_extra(ticket.extra or {})
        if extra != (ticket.extra or {}):
            ticket.extra = extra
            changed.append("extra")
        record_event(
            session,
            ticket,
            ANONYMISED_EVENT,
            actor=SYSTEM_ACTOR,
            now=now,
            data={
                "fields": changed,
                "policy": f"{CHANNELS[ticket.channel].label}：办结后保存{years.get(ticket.channel)}年",
            },
        )
        result.tickets += 1
        result.by_channel[ticket.channel] = result.by_channel.get(ticket.channel, 0) + 1
    session.flush()
    return result


def _anonymise_workorders(session: Session, ticket_ids: list[int]) -> dict[int, list[str]]:
    """The 12345 work-order rows that hold the citizen's personal data: the number a 回访 called and the
    citizen's words in it, the number a 办理情况 entry records and its summary. The results, dates and
    flags stay (the assessment counts them). Returns what changed, per ticket."""
    changed: dict[int, list[str]] = {}
    if not ticket_ids:
        return changed
    for revisit in session.scalars(select(Revisit).where(Revisit.ticket_id.in_(ticket_ids))):
        words = redact_text(revisit.citizen_words) or ""
        if revisit.phone is not None or words != revisit.citizen_words:
            revisit.phone = None
            revisit.citizen_words = words
            changed.setdefault(revisit.ticket_id, []).append("revisits")
    for record in session.scalars(select(HandlingRecord).where(HandlingRecord.ticket_id.in_(ticket_ids))):
        summary = redact_text(record.summary) or ""
        if record.contact_number is not None or summary != record.summary:
            record.contact_number = None
            record.summary = summary
            changed.setdefault(record.ticket_id, []).append("handling_records")
    return {k: sorted(set(v)) for k, v in changed.items()}


def _redact_extra(extra: dict[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact_text(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in PERSONAL_EXTRA_KEYS}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(extra)


# -- access requests ------------------------------------------------------------------------------


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment else None


def find_contacts(
    session: Session, *, phone: str | None = None, id_number: str | None = None, email: str | None = None
) -> list[Contact]:
    """Contacts matching the person, however the phone number was written when it came in."""
    if not (phone or id_number or email):
        raise ValidationError("须提供手机号、证件号码或电子邮箱之一", fields={"phone": "必填其一"})
    found: dict[int, Contact] = {}
    # The numbers are encrypted: each is found by its blind index (HMAC-SM3 of the normalised value, one
    # per configured key), an index look-up however it was written when it came in.
    wanted: list[tuple[Any, list[str]]] = []
    if phone:
        if len(normalise_phone(phone)) < 7:
            raise ValidationError("电话号码至少 7 位数字", fields={"phone": "号码过短"})
        wanted.append((Contact.phone_bidx, blinds("phone", phone)))
    if id_number:
        wanted.append((Contact.id_number_bidx, blinds("id_number", id_number)))
    if email:
        wanted.append((Contact.email_bidx, blinds("email", email)))
    for column, indexes in wanted:
        if indexes:
            for contact in session.scalars(select(Contact).where(column.in_(indexes))):
                found[contact.id] = contact
    return sorted(found.values(), key=lambda c: c.id)


def export_person(
    session: Session,
    *,
    now: datetime,
    actor: User | None = None,
    actor_label: str | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """Everything held about one person, as a JSON-ready dict (个人信息保护法 art. 45); audited."""
    contacts = find_contacts(session, phone=phone, id_number=id_number, email=email)
    contact_ids = [c.id for c in contacts]
    tickets = (
        list(session.scalars(select(Ticket).where(Ticket.contact_id.in_(contact_ids)).order_by(Ticket.id)))
        if contact_ids
        else []
    )
    ticket_ids = [t.id for t in tickets]
    account_filters = []
    if phone:
        account_filters.append(User.phone.like(f"%{normalise_phone(phone)[-4:]}"))
    if email:
        account_filters.append(func.lower(User.email) == email.strip().lower())
    accounts = [
        u
        for u in (session.scalars(select(User).where(or_(*account_filters))) if account_filters else [])
        if (email and (u.email or "").lower() == email.strip().lower())
        or (phone and normalise_phone(u.phone or "") == normalise_phone(phone))
    ]
    audit = (
        list(
            session.scalars(
                select(AuditEntry)
                .where(
                    or_(
                        and_(
                            AuditEntry.object_type == "ticket",
                            AuditEntry.object_id.in_([str(i) for i in ticket_ids]),
                        ),
                        and_(
                            AuditEntry.object_type == "contact",
                            AuditEntry.object_id.in_([str(i) for i in contact_ids]),
                        ),
                    )
                )
                .order_by(AuditEntry.id)
            )
        )
        if ticket_ids
        else []
    )
    events_by_ticket: dict[int, list[TicketEvent]] = {}
    revisits_by_ticket: dict[int, list[Revisit]] = {}
    handling_by_ticket: dict[int, list[HandlingRecord]] = {}
    if ticket_ids:
        # The 12345 work-order rows about the person's tickets: 回访 (with the number called) and 办理情况.
        for revisit in session.scalars(
            select(Revisit).where(Revisit.ticket_id.in_(ticket_ids)).order_by(Revisit.id)
        ):
            revisits_by_ticket.setdefault(revisit.ticket_id, []).append(revisit)
        for record in session.scalars(
            select(HandlingRecord).where(HandlingRecord.ticket_id.in_(ticket_ids)).order_by(HandlingRecord.id)
        ):
            handling_by_ticket.setdefault(record.ticket_id, []).append(record)
        for event in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)).order_by(TicketEvent.id)
        ):
            events_by_ticket.setdefault(event.ticket_id, []).append(event)

    criteria = {
        key: masked
        for key, masked in (
            ("phone", mask_phone(normalise_phone(phone)) if phone else None),
            ("id_number", mask_id_number(id_number) if id_number else None),
            ("email", mask_email(email) if email else None),
        )
        if masked
    }
    document = {
        "generated_at": now.isoformat(),
        "legal_basis": "《中华人民共和国个人信息保护法》第四十五条",
        "criteria": criteria,
        "contacts": [
            {
                "id": c.id,
                "name": c.name,
                "phone": c.phone,
                "email": c.email,
                "address": c.address,
                "id_type": c.id_type,
                "id_number": c.id_number,
                "is_confidential": c.is_confidential,
                "anonymised_at": _iso(c.anonymised_at),
            }
            for c in contacts
        ],
        "tickets": [
            _ticket_document(
                t,
                events_by_ticket.get(t.id, []),
                revisits_by_ticket.get(t.id, []),
                handling_by_ticket.get(t.id, []),
            )
            for t in tickets
        ],
        "accounts": [
            {
                "username": u.username,
                "display_name": u.display_name,
                "email": u.email,
                "phone": u.phone,
                "role": u.role_label,
                "department": u.department.name,
                "created_at": _iso(u.created_at),
            }
            for u in accounts
        ],
        "access_log": [
            {
                "at": _iso(a.at),
                "action": a.action,
                "object": f"{a.object_type}:{a.object_id}",
                "user_id": a.user_id,
                "detail": a.detail,
            }
            for a in audit
        ],
    }
    session.add(
        AuditEntry(
            at=now,
            user_id=actor.id if actor else None,
            action="privacy.export",
            object_type="person",
            object_id=None,
            detail={
                "criteria": criteria,
                "contacts": len(contacts),
                "tickets": len(tickets),
                "by": actor.username if actor else (actor_label or "命令行"),
            },
        )
    )
    session.flush()
    return document


def _ticket_document(
    ticket: Ticket,
    events: list[TicketEvent],
    revisits: Sequence[Revisit] = (),
    handling: Sequence[HandlingRecord] = (),
) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "channel": CHANNELS[ticket.channel].label,
        "request_type": ticket.request_type,
        "subject": ticket.subject,
        "body": ticket.body,
        "incident_address": ticket.incident_address,
        "received_at": _iso(ticket.received_at),
        "department": ticket.department.name,
        "status": STATUS_LABELS.get(ticket.status, ticket.status),
        "reply_text": ticket.reply_text,
        "replied_at": _iso(ticket.replied_at),
        "closed_at": _iso(ticket.closed_at),
        "satisfaction": ticket.satisfaction,
        "query_code": ticket.query_code,
        "extra": ticket.extra,
        "deadlines": [
            {"label": d.label, "due_at": _iso(d.due_at), "state": d.state, "explanation": d.explanation}
            for d in ticket.deadlines
        ],
        "revisits": [
            {
                "visited_at": _iso(r.visited_at),
                "phone": r.phone,
                "result": r.result,
                "is_resolved": r.is_resolved,
                "was_contacted": r.was_contacted,
                "citizen_words": r.citizen_words,
                "source": r.source,
            }
            for r in revisits
        ],
        "handling_records": [
            {
                "contacted_at": _iso(h.contacted_at),
                "contact_method": h.contact_method,
                "contact_number": h.contact_number,
                "summary": h.summary,
            }
            for h in handling
        ],
        "history": [
            {
                "at": _iso(e.occurred_at),
                "kind": e.kind,
                "by": e.actor_label,
                "status_before": e.status_before,
                "status_after": e.status_after,
                "data": e.data,
            }
            for e in events
        ],
    }


def run_anonymisation(database_url: str, *, now: datetime, batch: int = 500) -> AnonymiseResult:
    """Anonymise everything due, one committed transaction per batch (the beat task and the CLI)."""
    total = AnonymiseResult()
    while True:
        with session_scope(database_url) as session:
            done = anonymise_due(session, now=now, limit=batch)
            if done.contacts:
                session.add(
                    AuditEntry(
                        at=now,
                        action="privacy.anonymised",
                        object_type="contacts",
                        detail={
                            "contacts": done.contacts,
                            "tickets": done.tickets,
                            "by_channel": done.by_channel,
                        },
                    )
                )
        total.contacts += done.contacts
        total.tickets += done.tickets
        for code, count in done.by_channel.items():
            total.by_channel[code] = total.by_channel.get(code, 0) + count
        if done.contacts < batch:
            return total
