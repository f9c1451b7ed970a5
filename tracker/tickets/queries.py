"""Read side: queues, filters, counts, the timeline — always restricted by tracker.people.access.visible_tickets.

A queue page lists tickets joined to their reply deadline (答复/办结期限, at most one per ticket) and sorts
by its due time, or by receipt time. Pages are keyset-paginated (no OFFSET): the cursor carries the sort
key of the last row, so page 500 costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, aliased, selectinload

from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ, local_date
from tracker.errors import CalendarYearMissing, ValidationError
from tracker.inputs import EARLIEST_DATE, LATEST_DATE, MAX_ID, date_arg, int_arg, parse_id
from tracker.people.access import sees_personal_data, visible_tickets
from tracker.people.models import Department, User
from tracker.search import matching_ticket_ids
from tracker.tickets.channels import CHANNELS
from tracker.tickets.models import Deadline, Ticket, TicketEvent, TicketTopic
from tracker.tickets.status import OPEN_STATUSES, STATUS_LABELS
from tracker.workflow.models import Approval

REPLY_KIND = "reply"
OPEN_DEADLINE_STATES = ("running", "breached")
RUNNING_REPLY_STATES = ("running", "paused", "breached")  # not met, not cancelled
DUE_SOON_WORKDAYS = 3
COUNT_CAP = 1_000  # counts above this show as "1000+": exact totals over a million rows cost seconds
PAGE_SIZE = 50


@dataclass(frozen=True)
class Queue:
    code: str
    label: str
    hint: str


QUEUES: dict[str, Queue] = {
    q.code: q
    for q in (
        Queue("mine", "我的待办", "分派给我、尚未办结的工单"),
        Queue("department", "本部门", "本部门尚未办结的工单"),
        Queue("due_soon", "即将到期", f"{DUE_SOON_WORKDAYS}个工作日内到期的工单"),
        Queue("overdue", "已超期", "已超过期限仍未办结的工单"),
        Queue("approvals", "待我审批", "等待我批准的延期申请和答复签发"),
        *(Queue(f"channel_{c.code}", c.label, f"{c.label}中尚未办结的工单") for c in CHANNELS.values()),
        Queue("all", "全部工单", "我有权查看的全部工单，含已办结"),
    )
}

SORTS = {"due": "按到期时间", "received": "按收到时间（新→旧）"}


@dataclass(frozen=True)
class TicketFilter:
    """The filters of a queue page. Built from request arguments by `from_args`, which validates them."""

    channel: str | None = None
    status: str | None = None
    request_type: str | None = None
    topic: str | None = None
    department_id: int | None = None
    assignee_id: int | None = None  # 0 = unassigned
    received_from: date | None = None
    received_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    q: str | None = None

    FIELDS = (
        "channel",
        "status",
        "request_type",
        "topic",
        "department_id",
        "assignee_id",
        "received_from",
        "received_to",
        "due_from",
        "due_to",
        "q",
    )

    @classmethod
    def from_args(cls, args: Any) -> TicketFilter:
        """Parse query arguments; raise ValidationError naming each bad field and why."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}

        def text(name: str, limit: int = 200) -> str | None:
            raw = (args.get(name) or "").strip()
            if len(raw) > limit:
                errors[name] = f"不能超过{limit}个字"
            return raw or None

        values["channel"] = text("channel")
        if values["channel"] and values["channel"] not in CHANNELS:
            errors["channel"] = "未知渠道"
        values["status"] = text("status")
        if (
            values["status"]
            and values["status"] not in STATUS_LABELS
            and values["status"] not in ("open", "final")
        ):
            errors["status"] = "未知状态"
        values["request_type"] = text("request_type", 32)
        values["topic"] = text("topic", 64)
        values["q"] = text("q")
        for name in ("department_id", "assignee_id"):
            try:
                # 0 is a real choice for the assignee: "unassigned".
                values[name] = int_arg(args, name, low=0, high=MAX_ID)
            except ValidationError as exc:
                errors[name] = exc.fields[name]
        for name in ("received_from", "received_to", "due_from", "due_to"):
            try:
                values[name] = date_arg(args, name)
            except ValidationError as exc:
                errors[name] = exc.fields[name]
        for lo, hi in (("received_from", "received_to"), ("due_from", "due_to")):
            if values.get(lo) and values.get(hi) and values[lo] > values[hi]:
                errors[hi] = "结束日期早于开始日期"
        if errors:
            raise ValidationError(
                "筛选条件有误：" + "；".join(f"{FILTER_LABELS.get(k, k)}：{v}" for k, v in errors.items()),
                fields=errors,
            )
        return cls(**values)

    def as_params(self) -> dict[str, str]:
        """The filter as query arguments (for links, saved filters and the next page)."""
        params = {}
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is not None:
                params[name] = value.isoformat() if isinstance(value, date) else str(value)
        return params

    def is_empty(self) -> bool:
        return not self.as_params()


FILTER_LABELS = {
    "channel": "渠道",
    "status": "状态",
    "request_type": "类型",
    "topic": "主题",
    "department_id": "部门",
    "assignee_id": "承办人",
    "received_from": "收到日期起",
    "received_to": "收到日期止",
    "due_from": "到期日期起",
    "due_to": "到期日期止",
    "q": "关键词",
}


@dataclass
class QueueRow:
    ticket: Ticket
    due_at: datetime | None
    deadline_state: str | None


@dataclass
class QueuePage:
    queue: Queue
    sort: str
    rows: list[QueueRow] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def tickets(self) -> list[Ticket]:
        return [r.ticket for r in self.rows]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


def due_soon_cutoff(session: Session, now: datetime) -> datetime:
    """The end of the third working day from today (calendar days if the calendar cannot tell)."""
    today = local_date(now)
    try:
        last = load_calendar(session).add_workdays(today, DUE_SOON_WORKDAYS)
    except CalendarYearMissing:
        last = today + timedelta(days=DUE_SOON_WORKDAYS)
    return _day_start(last + timedelta(days=1))


def _any_deadline(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(
        select(Deadline.id).where(
            Deadline.ticket_id == Ticket.id, Deadline.state.in_(OPEN_DEADLINE_STATES), condition
        )
    )


def queue_condition(session: Session, user: User, code: str, now: datetime) -> ColumnElement[bool]:
    """The SQL condition of a queue for this user (on top of visibility)."""
    is_open = Ticket.status.in_(OPEN_STATUSES)
    if code == "mine":
        return and_(Ticket.assignee_id == user.id, is_open)
    if code == "department":
        return and_(Ticket.department_id == user.department_id, is_open)
    if code == "due_soon":
        cutoff = due_soon_cutoff(session, now)
        return and_(is_open, _any_deadline(and_(Deadline.due_at >= now, Deadline.due_at < cutoff)))
    if code == "overdue":
        return and_(is_open, _any_deadline(Deadline.due_at < now))
    if code == "approvals":
        if user.role not in ("supervisor", "admin"):
            return false()
        pending = select(Approval.ticket_id).where(Approval.state == "pending")
        if user.role == "supervisor":
            pending = pending.where(Approval.department_id == user.department_id)
        return Ticket.id.in_(pending)
    if code.startswith("channel_") and code[len("channel_") :] in CHANNELS:
        return and_(Ticket.channel == code[len("channel_") :], is_open)
    if code == "all":
        return true()
    raise ValidationError(f"未知队列 {code!r}", fields={"queue": "未知队列"})


def filter_conditions(
    session: Session, filters: TicketFilter, reply: Any, *, personal_data: bool = True
) -> list[ColumnElement[bool]]:
    """The filters as SQL. `personal_data`: the search may look up contacts' names and phones (a caller
    who sees personal data unmasked; never an auditor)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.channel:
        conditions.append(Ticket.channel == filters.channel)
    if filters.status == "open":
        conditions.append(Ticket.status.in_(OPEN_STATUSES))
    elif filters.status == "final":
        conditions.append(Ticket.status.not_in(OPEN_STATUSES))
    elif filters.status:
        conditions.append(Ticket.status == filters.status)
    if filters.request_type:
        conditions.append(Ticket.request_type == filters.request_type)
    if filters.topic:
        conditions.append(
            exists(
                select(TicketTopic.ticket_id).where(
                    TicketTopic.ticket_id == Ticket.id, TicketTopic.topic == filters.topic
                )
            )
        )
    if filters.department_id is not None:
        conditions.append(Ticket.department_id == filters.department_id)
    if filters.assignee_id is not None:
        conditions.append(
            Ticket.assignee_id.is_(None)
            if filters.assignee_id == 0
            else Ticket.assignee_id == filters.assignee_id
        )
    if filters.received_from:
        conditions.append(Ticket.received_at >= _day_start(filters.received_from))
    if filters.received_to:
        conditions.append(Ticket.received_at < _day_start(filters.received_to + timedelta(days=1)))
    if filters.due_from:
        conditions.append(reply.due_at >= _day_start(filters.due_from))
    if filters.due_to:
        conditions.append(reply.due_at < _day_start(filters.due_to + timedelta(days=1)))
    if filters.q:
        match = matching_ticket_ids(session, filters.q, personal_data=personal_data)
        if match is not None:
            conditions.append(match)
    return conditions


def _base_query(
    session: Session, user: User, code: str, filters: TicketFilter, now: datetime, *, columns=None
) -> tuple[Select, Any]:
    reply = aliased(Deadline, name="reply_deadline")
    query = select(*(columns or (Ticket, reply.due_at, reply.state)))
    if columns is None or filters.due_from or filters.due_to:
        query = query.outerjoin(reply, and_(reply.ticket_id == Ticket.id, reply.kind == REPLY_KIND))
    query = query.where(visible_tickets(user), queue_condition(session, user, code, now)).where(
        *filter_conditions(session, filters, reply, personal_data=sees_personal_data(user))
    )
    return query, reply


def _cursor_id(raw: str) -> int:
    ident = parse_id(raw, "after")
    if ident is None:
        raise ValueError("no id")
    return ident


def _parse_cursor(cursor: str | None) -> tuple[str, datetime | None, int] | None:
    if not cursor:
        return None
    try:
        tag, _, rest = cursor.partition("~")
        if tag == "n":
            return ("n", None, _cursor_id(rest))
        moment, _, ident = rest.rpartition("~")
        parsed = datetime.fromisoformat(moment) if len(moment) <= 40 else None
        if (
            tag in ("d", "r")
            and parsed is not None
            and parsed.tzinfo is not None
            and EARLIEST_DATE <= parsed.date() <= LATEST_DATE
        ):
            return (tag, parsed, _cursor_id(ident))
    except (ValueError, ValidationError):  # one message for any bad cursor
        pass
    raise ValidationError("分页参数无效，请回到第一页", fields={"after": "无效"})


def queue_page(
    session: Session,
    user: User,
    code: str,
    filters: TicketFilter | None = None,
    *,
    now: datetime,
    sort: str = "due",
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of a queue: visible tickets of the queue matching the filters, sorted, keyset-paginated."""
    if code not in QUEUES:
        raise ValidationError(f"未知队列 {code!r}", fields={"queue": "未知队列"})
    if sort not in SORTS:
        raise ValidationError(f"未知排序 {sort!r}", fields={"sort": "未知排序"})
    filters = filters or TicketFilter()
    query, reply = _base_query(session, user, code, filters, now)
    after = _parse_cursor(cursor)
    options = (selectinload(Ticket.department), selectinload(Ticket.assignee))
    rows: list[Any]
    if sort == "received":
        if after is not None:
            if after[0] != "r":
                raise ValidationError("分页参数无效，请回到第一页", fields={"after": "无效"})
            query = query.where(tuple_(Ticket.received_at, Ticket.id) < tuple_(after[1], after[2]))
        rows = list(
            session.execute(
                query.options(*options).order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit + 1)
            )
        )
    else:
        # Running reply deadlines by due time first, then everything else (no deadline, met, cancelled) by
        # id: two index-friendly passes instead of one ORDER BY … NULLS LAST over a CASE, which would defeat
        # the partial index on the open reply deadlines (ix_deadlines_open_reply_due).
        # The same comparisons as the partial index's predicate, so PostgreSQL can use it.
        # Rendered as SQL literals, not bound parameters: once psycopg prepares a repeated statement,
        # PostgreSQL's generic plan cannot prove a partial index's predicate from parameters.
        is_dated = and_(
            reply.state != literal_column("'met'"),
            reply.state != literal_column("'cancelled'"),
            reply.due_at.is_not(None),
        )
        rows = []
        if after is not None and after[0] not in ("d", "n"):
            raise ValidationError("分页参数无效，请回到第一页", fields={"after": "无效"})
        if after is None or after[0] == "d":
            dated = query.where(is_dated)
            if after is not None:
                # A row-value comparison, which both databases turn into an index range start (an OR of
                # the two cases would make PostgreSQL read the index from its beginning).
                dated = dated.where(tuple_(reply.due_at, reply.ticket_id) > tuple_(after[1], after[2]))
            rows = list(
                session.execute(
                    dated.options(*options).order_by(reply.due_at, reply.ticket_id).limit(limit + 1)
                )
            )
        if len(rows) <= limit:
            undated = query.where(or_(reply.id.is_(None), ~is_dated))
            if after is not None and after[0] == "n":
                undated = undated.where(Ticket.id > after[2])
            rows += list(
                session.execute(undated.options(*options).order_by(Ticket.id).limit(limit + 1 - len(rows)))
            )
    page = QueuePage(QUEUES[code], sort, [QueueRow(t, due, state) for t, due, state in rows[:limit]])
    if len(rows) > limit:
        last = page.rows[-1]
        if sort == "received":
            page.next_cursor = f"r~{last.ticket.received_at.isoformat()}~{last.ticket.id}"
        elif last.due_at is not None and last.deadline_state in RUNNING_REPLY_STATES:
            page.next_cursor = f"d~{last.due_at.isoformat()}~{last.ticket.id}"
        else:
            page.next_cursor = f"n~{last.ticket.id}"
    return page


APPROVAL_KIND_LABELS = {"extension": "延期申请", "reply": "答复签发"}


def pending_approval_kinds(session: Session, ticket_ids: list[int]) -> dict[int, list[str]]:
    """The kinds ("extension", "reply") of the requests waiting on each of these tickets: what 待我审批
    says each row is waiting for. One query for a page of rows."""
    kinds: dict[int, list[str]] = {}
    if not ticket_ids:
        return kinds
    rows = session.execute(
        select(Approval.ticket_id, Approval.kind)
        .where(Approval.ticket_id.in_(ticket_ids), Approval.state == "pending")
        .order_by(Approval.id)
    )
    for ticket_id, kind in rows:
        kinds.setdefault(ticket_id, []).append(kind)
    return kinds


def queue_count(
    session: Session, user: User, code: str, filters: TicketFilter | None = None, *, now: datetime
) -> int:
    """How many tickets a queue holds, counted up to COUNT_CAP + 1 (shown as "1000+")."""
    # Without the deadline join unless a due-date filter needs it: counting is an index scan on tickets.
    query, _ = _base_query(session, user, code, filters or TicketFilter(), now, columns=(Ticket.id,))
    capped = query.limit(COUNT_CAP + 1).subquery()
    return session.scalar(select(func.count()).select_from(capped)) or 0


def queue_counts(session: Session, user: User, *, now: datetime) -> dict[str, int]:
    """The count of every queue for this user (the numbers beside the queue names)."""
    return {code: queue_count(session, user, code, now=now) for code in QUEUES}


def format_count(n: int) -> str:
    return f"{COUNT_CAP}+" if n > COUNT_CAP else str(n)


# -- kept from the foundation: the plain newest-first list and the status counts ----------------------


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next_cursor: int | None


def ticket_list_query(user: User) -> Select:
    return select(Ticket).where(visible_tickets(user))


def list_tickets(session: Session, user: User, *, before_id: int | None = None, limit: int = 50) -> Page:
    """Newest first, keyset-paginated on id (no OFFSET: deep pages cost the same as the first)."""
    query = ticket_list_query(user).options(selectinload(Ticket.department), selectinload(Ticket.assignee))
    if before_id is not None:
        query = query.where(Ticket.id < before_id)
    rows = list(session.scalars(query.order_by(Ticket.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def count_by_status(session: Session, user: User) -> dict[str, int]:
    rows = session.execute(
        select(Ticket.status, func.count()).where(visible_tickets(user)).group_by(Ticket.status)
    )
    return dict(rows.all())


def timeline(session: Session, ticket: Ticket) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .options(selectinload(TicketEvent.actor))
            .order_by(TicketEvent.occurred_at, TicketEvent.id)
        )
    )


# -- home page figures (the charts) ---------------------------------------------------------------------


def tickets_per_week(
    session: Session, user: User, *, now: datetime, weeks: int = 12
) -> list[tuple[date, dict[str, int]]]:
    """Tickets received per week (Monday, Asia/Shanghai) and channel, the last `weeks` weeks.

    Counted per local day and channel in SQL (a few hundred rows back), folded into weeks here.
    """
    today = local_date(now)
    first_monday = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone("Asia/Shanghai", Ticket.received_at))
    else:  # SQLite keeps UTC text; China has had no daylight saving time since 1991
        day = func.date(Ticket.received_at, "+8 hours")
    rows = session.execute(
        select(day, Ticket.channel, func.count())
        .where(visible_tickets(user), Ticket.received_at >= _day_start(first_monday))
        .group_by(day, Ticket.channel)
    )
    buckets: dict[date, dict[str, int]] = {first_monday + timedelta(weeks=i): {} for i in range(weeks)}
    for raw_day, chan, n in rows:
        local_day = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day))
        monday = local_day - timedelta(days=local_day.weekday())
        if monday in buckets:
            buckets[monday][chan] = buckets[monday].get(chan, 0) + int(n)
    return sorted(buckets.items())


def on_time_rate(session: Session, user: User, *, now: datetime, days: int = 90) -> tuple[int, int]:
    """(met on time, finished) reply deadlines of the last `days` days — numerator and denominator."""
    since = now - timedelta(days=days)
    # Only tickets received in the window plus 60 days before it (a reply period with its one extension is
    # at most 40 working days): the receipt index bounds the scan instead of reading every deadline.
    base = (
        select(func.count())
        .select_from(Deadline)
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(
            visible_tickets(user),
            Deadline.kind == REPLY_KIND,
            Ticket.received_at >= since - timedelta(days=60),
        )
    )
    finished = session.scalar(
        base.where(
            or_(
                and_(Deadline.state == "met", Deadline.met_at >= since),
                and_(Deadline.state == "breached", Deadline.breached_at >= since),
            )
        )
    )
    on_time = session.scalar(
        base.where(
            Deadline.state == "met",
            Deadline.met_at >= since,
            or_(Deadline.due_at.is_(None), Deadline.met_at <= Deadline.due_at),
        )
    )
    return int(on_time or 0), int(finished or 0)


def overdue_by_department(session: Session, user: User, *, now: datetime) -> list[tuple[str, int]]:
    rows = session.execute(
        select(Department.name, func.count(func.distinct(Ticket.id)))
        .select_from(Ticket)
        .join(Department, Department.id == Ticket.department_id)
        .join(Deadline, Deadline.ticket_id == Ticket.id)
        .where(
            visible_tickets(user),
            Ticket.status.in_(OPEN_STATUSES),
            Deadline.state.in_(OPEN_DEADLINE_STATES),
            Deadline.due_at < now,
        )
        .group_by(Department.name)
        .order_by(func.count(func.distinct(Ticket.id)).desc())
    )
    return [(name, int(n)) for name, n in rows]


def top_topics(
    session: Session, user: User, *, now: datetime, days: int = 90, limit: int = 8
) -> list[tuple[str, int]]:
    rows = session.execute(
        select(TicketTopic.topic, func.count())
        .join(Ticket, Ticket.id == TicketTopic.ticket_id)
        .where(visible_tickets(user), Ticket.received_at >= now - timedelta(days=days))
        .group_by(TicketTopic.topic)
        .order_by(func.count().desc(), TicketTopic.topic)
        .limit(limit)
    )
    return [(topic, int(n)) for topic, n in rows]
