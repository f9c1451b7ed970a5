"""The one record every channel produces, the column rules that build it, and how it is applied.

A record is a TicketDraft plus the history a file may carry (reply, 办结, 回访). `apply_record` is the
single write path for one record: it calls `open_ticket` (idempotent by channel + external reference),
replays the history as dated events, and flags possible duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.inputs import text_error
from tracker.intake.duplicates import flag_possible_duplicate
from tracker.intake.formats import parse_bool, parse_datetime, text_value
from tracker.people.access import Reach, require_reach
from tracker.tickets.channels import SATISFACTION_LEVELS
from tracker.tickets.drafts import TicketDraft
from tracker.tickets.history import Actor
from tracker.tickets.models import Ticket
from tracker.tickets.status import OPEN_STATUSES
from tracker.workflow.doors import supersede_approvals
from tracker.workflow.opening import find_existing, open_if_new, open_ticket
from tracker.workflow.transitions import close_ticket, rate_ticket, reply_ticket, update_from_draft
from tracker.workorders.platform import PlatformNews, apply_platform_news
from tracker.workorders.repeats import link_at_intake
from tracker.workorders.revisits import RevisitInput, record_revisit

PHONE_RE = re.compile(r"^[0-9+\-（）() ]{5,32}$")
# local@domain.tld with no nested quantifiers: the domain's labels cannot contain the dot that separates
# them, so each character has exactly one way to match and the check is linear. (The previous pattern,
# [^@\s]+\.[^@\s]+ after the @, could split a run of dots every way and took 19 s on 60,000 of them.)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_EMAIL_CHARS = 254  # RFC 5321's longest path
MAX_PHONE_CHARS = 32


def email_error(text: str) -> str | None:
    """Why an e-mail address is refused, or None. The length is checked before the pattern runs."""
    if len(text) > MAX_EMAIL_CHARS:
        return f"超过{MAX_EMAIL_CHARS}字"
    if not EMAIL_RE.match(text):
        return "不是有效的电子邮箱"
    return None


def phone_error(text: str) -> str | None:
    """Why a phone number is refused, or None."""
    if len(text) > MAX_PHONE_CHARS or not PHONE_RE.match(text):
        return "不是有效的电话号码"
    return None


# The batched writer of new tickets (`tracker.workflow.opening.open_if_new`): (session, draft, *, actor,
# now, flag_duplicates, index_search) -> the opened ticket, or None when the reference has one already.


@dataclass(frozen=True)
class FieldError:
    """One reason a row (or an API field) is refused."""

    column: str
    reason: str
    value: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        where = f"第{self.row}行 " if self.row is not None else ""
        shown = f' "{self.value}"' if self.value not in (None, "") else ""
        return f"{where}{self.column}{shown} {self.reason}"


class RecordError(ValidationError):
    """A row or a request that cannot become a record; carries every field error, not just the first."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__(
            "；".join(str(e) for e in errors),
            fields={e.column: f"{e.reason}" + (f"（{e.value}）" if e.value else "") for e in errors},
        )


@dataclass(frozen=True)
class Column:
    """A column of an import file, and the same field in the API (its English key)."""

    header: str
    key: str
    kind: str = "text"  # text / datetime / choice / bool / phone / email
    required: bool = False
    choices: tuple[str, ...] = ()
    max_len: int = 5000
    aliases: tuple[str, ...] = ()


@dataclass
class History:
    """What already happened to an order before it reached us (imports of earlier records)."""

    reply_text: str | None = None
    replied_at: datetime | None = None
    outcome: str | None = None
    closed_at: datetime | None = None
    satisfaction: str | None = None
    is_resolved: bool | None = None
    rated_at: datetime | None = None
    # The platform's 回访 with its 回访编号: recorded through the 回访 door after the reply and 办结 above.
    revisit: RevisitInput | None = None

    @property
    def has_steps(self) -> bool:
        """Something happened to the order beyond its opening: such a record goes through apply_record."""
        return bool(self.reply_text or self.satisfaction or self.revisit)


@dataclass
class IntakeRecord:
    draft: TicketDraft
    history: History = field(default_factory=History)
    row: int | None = None
    news: PlatformNews | None = None  # a 12345 order's 协办单位 and 督办 (tracker.workorders.platform)


@dataclass
class IntakeResult:
    """What became of a record. The fast path writes rows without ORM objects, and its caller (the push)
    needs only the ticket's id, number and status: `ticket` loads the object on first use."""

    session: Session = field(repr=False)
    ticket_id: int
    number: str
    ticket_status: str
    status: str  # created / updated / duplicate
    changes: dict[str, Any] = field(default_factory=dict)
    possible_duplicate_of: str | None = None  # the earlier ticket's number

    @classmethod
    def of(
        cls,
        session: Session,
        ticket: Ticket,
        status: str,
        changes: dict[str, Any] | None = None,
        possible_duplicate_of: Ticket | None = None,
    ) -> IntakeResult:
        result = cls(
            session,
            ticket.id,
            ticket.number,
            ticket.status,
            status,
            changes or {},
            possible_duplicate_of.number if possible_duplicate_of else None,
        )
        result.ticket = ticket
        return result

    @cached_property
    def ticket(self) -> Ticket:
        return self.session.get(Ticket, self.ticket_id)


def parse_columns(
    columns: tuple[Column, ...], source: dict[str, Any], *, row: int | None = None, by: str = "header"
) -> tuple[dict[str, Any], list[FieldError]]:
    """Read and check every column of one row (by Chinese header) or one API object (by English key).

    Returns the values by key and the list of errors (all of them, so a row is fixed in one go).
    """
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    is_by_key = by != "header"
    for col in columns:
        name = col.key if is_by_key else col.header
        raw = source.get(name)
        if raw is None:
            for alias in col.aliases:
                if alias in source:
                    raw = source[alias]
                    break
        if raw is None:  # a column the file does not have, or an empty cell of an XLSX sheet
            if col.required:
                errors.append(FieldError(name, "不能为空", None, row))
            values[col.key] = None
            continue
        if is_by_key and not isinstance(raw, str | int | float | bool):
            values[col.key] = None
            errors.append(FieldError(name, "类型不正确", None, row))
            continue
        # Most cells are text already: strip them here rather than through text_value (same result).
        text = raw.strip() if raw.__class__ is str else text_value(raw)
        if not text:
            if col.required:
                errors.append(FieldError(name, "不能为空", None, row))
            values[col.key] = None
            continue
        if col.kind == "text" and raw.__class__ is str and len(text) <= col.max_len and "\x00" not in text:
            values[col.key] = text  # _convert's text case, inlined: most cells of every imported row
            continue
        try:
            values[col.key] = _convert(col, raw, text)
        except ValueError as exc:
            values[col.key] = None
            errors.append(FieldError(name, str(exc) or "无法识别", shown_value(text), row))
    return values, errors


def shown_value(text: str) -> str:
    """A refused value as an error message quotes it: at most 40 characters."""
    return text if len(text) <= 40 else text[:40] + "…"


def _convert(col: Column, raw: Any, text: str) -> Any:
    # Every kind is bounded before it is parsed or matched: no pattern or date parser sees a huge value
    # (phones and e-mail addresses by their own, shorter, limits).
    if len(text) > col.max_len and col.kind not in ("phone", "email"):
        raise ValueError(f"超过{col.max_len}字")
    reason = text_error(text)  # NUL (PostgreSQL stores none) or a lone surrogate from a JSON escape
    if reason:
        raise ValueError(reason)
    if col.kind == "datetime":
        try:
            return parse_datetime(raw)
        except (ValueError, OverflowError):
            raise ValueError("无法识别") from None
    if col.kind == "choice":
        if text not in col.choices:
            raise ValueError(f"应为 {'/'.join(col.choices)} 之一")
        return text
    if col.kind == "bool":
        if isinstance(raw, bool):
            return raw
        try:
            return parse_bool(text)
        except ValueError:
            raise ValueError("应为 是/否") from None
    if col.kind == "phone":
        reason = phone_error(text)
        if reason:
            raise ValueError(reason)
        return text
    if col.kind == "email":
        reason = email_error(text)
        if reason:
            raise ValueError(reason)
        return text
    # Citizen text is stored as given (only surrounding whitespace trimmed); escaping is the view's job.
    return raw.strip() if isinstance(raw, str) else text


def check_order(
    errors: list[FieldError],
    earlier: datetime | None,
    later: datetime | None,
    column: str,
    *,
    earlier_label: str,
    row: int | None,
) -> None:
    if earlier is not None and later is not None and later < earlier:
        errors.append(FieldError(column, f"早于{earlier_label}", later.strftime("%Y-%m-%d %H:%M"), row))


def check_satisfaction(errors: list[FieldError], value: str | None, column: str, row: int | None) -> None:
    if value is not None and value not in SATISFACTION_LEVELS:
        errors.append(FieldError(column, f"应为 {'/'.join(SATISFACTION_LEVELS)} 之一", value, row))


def iso_local(moment: datetime | None) -> str | None:
    """A platform time as stored in Ticket.extra: ISO with its offset (the deadline engine reads it)."""
    return moment.isoformat() if moment else None


# --- applying --------------------------------------------------------------------------------------

DuplicateCheck = Callable[[Session, Ticket], Ticket | None]


def apply_record(
    session: Session,
    record: IntakeRecord,
    *,
    actor: Actor | None,
    reach: Reach,
    now: datetime,
    check_duplicates: bool = True,
    fast: bool = False,
    index_search: bool = True,
) -> IntakeResult:
    """Open the ticket for one record, or update it from its channel; replay its history; flag a possible
    duplicate; link a 重复件 (tracker.workorders.repeats). The open and update-from-channel doors of every intake path (API, imports, portal, Weibo).

    Re-delivery of the same channel + external reference never creates a second ticket: it updates the
    first (recording what changed) or, when nothing changed, reports `duplicate` — but only when that
    ticket is within the caller's `reach` (tracker.people.access): an API key scoped to one department, or a
    承办人's upload, may not rewrite or close another department's ticket by re-sending its number
    (PermissionDenied, nothing changed). The possible duplicate's number is reported only when that
    ticket is within the reach too. Possible duplicates by phone are flagged here (an indexed look-up);
    by similar text, by `duplicates.scan_similar_text` (a beat task), which keeps the cost of a text
    comparison out of the request.

    With `fast` (the 12345 push and file imports) a new ticket without history is opened by
    `tracker.workflow.opening.open_if_new` — the same planned rows as `open_ticket`, on PostgreSQL in one
    statement, look-up included — which returns what the push answers with, so the new ticket is not read
    back. Without
    `index_search` that path leaves the search index row to the `ticket.created` consumer
    (workers/tasks/events.py), keeping jieba's segmentation out of the request.
    """
    is_plain = not (record.history.has_steps or record.draft.topics or record.news)
    if fast and is_plain:
        opened = open_if_new(
            session,
            record.draft,
            actor=actor,
            now=now,
            flag_duplicates=check_duplicates,
            index_search=index_search,
        )
        if opened is not None:
            if check_duplicates and index_search:
                # The push (no search row in the request) leaves this to the `ticket.created` consumer
                # "repeats": jieba and the look-ups stay out of the request, as the search row does.
                link_at_intake(session, opened.id, phone=record.draft.contact.phone, now=now)
            shown = _shown_duplicate_number(session, reach, opened.possible_duplicate_of)
            return IntakeResult(session, opened.id, opened.number, "received", "created", {}, shown)
    existing = find_existing(session, record.draft)
    if existing is None:
        ticket, created = open_ticket(session, record.draft, actor=actor, now=now)
        if created:
            replay_history(session, ticket, record.history, actor=actor)
            duplicate = (
                flag_possible_duplicate(session, ticket, now=now, by_text=not fast)
                if check_duplicates
                else None
            )
            if check_duplicates and index_search:
                link_at_intake(session, ticket.id, phone=record.draft.contact.phone, now=now)
            if duplicate is not None and not reach.allows_ticket(duplicate):
                duplicate = None  # flagged for those who may see both; not shown to this caller
            apply_revisit(session, ticket, record.history, actor=actor, reach=reach, now=now)
            news = apply_platform_news(session, ticket, record.news, actor=actor, reach=reach, now=now)
            return IntakeResult.of(session, ticket, "created", news, possible_duplicate_of=duplicate)
        existing = ticket  # another transaction created it between our look-up and open_ticket
    require_reach(reach, existing, what=f"编号 {record.draft.external_ref} 的工单")
    changes: dict[str, Any] = dict(update_from_draft(session, existing, record.draft, actor=actor, now=now))
    changes.update(replay_history(session, existing, record.history, actor=actor))
    changes.update(apply_revisit(session, existing, record.history, actor=actor, reach=reach, now=now))
    changes.update(apply_platform_news(session, existing, record.news, actor=actor, reach=reach, now=now))
    return IntakeResult.of(session, existing, "updated" if changes else "duplicate", changes)


def _shown_duplicate_number(session: Session, reach: Reach, number: str | None) -> str | None:
    """The number the fast path flagged, if the earlier ticket is within `reach` (else None). Read only
    for a limited reach that got a flag: the push's usual case costs nothing more."""
    if number is None or reach.is_everything:
        return number
    tickets = Ticket.__table__
    row = session.execute(
        select(tickets.c.department_id, tickets.c.channel).where(tickets.c.number == number)
    ).one_or_none()
    return number if row is not None and reach.allows(row.department_id, row.channel) else None


def replay_history(
    session: Session, ticket: Ticket, history: History, *, actor: Actor | None
) -> dict[str, Any]:
    """Bring the ticket as far as the history says (reply → 办结 → 回访), events dated from the source.

    Steps the ticket has already taken are not repeated, so replaying twice changes nothing.
    """
    done: dict[str, Any] = {}
    if history.reply_text and ticket.replied_at is None and ticket.status in OPEN_STATUSES:
        at = history.replied_at or history.closed_at
        # The channel says it was answered: a reply or extension still waiting here is moot, not orphaned.
        superseded = supersede_approvals(
            session, ticket, reason="渠道回传该件已答复，待审批的申请自动作废", now=at, actor=actor
        )
        if superseded:
            done["history.superseded_approvals"] = [None, superseded]
        reply_ticket(
            session, ticket, history.reply_text, actor=actor, now=at, outcome=history.outcome, replied_at=at
        )
        done["history.reply"] = [None, at.isoformat()]
    if history.closed_at and ticket.status == "replied":
        close_ticket(session, ticket, actor=actor, now=history.closed_at, outcome=history.outcome)
        done["history.close"] = [None, history.closed_at.isoformat()]
    if history.satisfaction and ticket.satisfaction != history.satisfaction:
        at = history.rated_at or history.closed_at or history.replied_at or ticket.received_at
        before = ticket.satisfaction
        rate_ticket(
            session,
            ticket,
            history.satisfaction,
            actor="回访",
            now=at,
            is_resolved=history.is_resolved,
            source="platform",  # the platform's 回访, brought in by the import
        )
        done["history.rating"] = [before, history.satisfaction]
    return done


def apply_revisit(
    session: Session, ticket: Ticket, history: History, *, actor: Actor | None, reach: Reach, now: datetime
) -> dict[str, Any]:
    """The platform's 回访 of a record, through the one 回访 door (`tracker.workorders.revisits`): recorded
    once per 回访编号 — delivered again it changes nothing — and a 重办 opened when the city's rule says so."""
    if history.revisit is None:
        return {}
    outcome = record_revisit(
        session,
        ticket,
        history.revisit,
        now=now,
        reach=reach,
        actor=actor if isinstance(actor, str) else "12345平台回访",
    )
    if not outcome.created:
        return {}
    done: dict[str, Any] = {"history.revisit": [None, outcome.revisit.external_ref]}
    if outcome.redo is not None:
        done["history.redo"] = [None, outcome.redo.due_at.isoformat() if outcome.redo.due_at else None]
    return done
