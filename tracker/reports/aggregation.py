"""The report's figures, computed in SQL over tickets and their event history.

Nothing here loops over tickets in Python: each figure is a GROUP BY with CASE sums over the period's
rows; Python only arranges the handful of grouped rows into cells. The same functions serve a year, a
quarter or a month (`period_scope`) for one department and its sub-departments or the whole bureau.

Definitions (docs/annual-report.md):

* a ticket belongs to the period when its legal receipt time (`received_at`) falls in it, in
  Asia/Shanghai; merged hotline/website/Weibo duplicates (`merged_into_id`) are left out, a merged
  application stays and counts as 重复申请;
* the state of a ticket at a moment is the `status_after` of its last status event before that moment
  (events other than the creation, whose time is when the row was written, not when the application was
  received — imported history is created years later); with no such event it is 已接收 if it had been
  received by then;
* "being handled" = not in `HANDLED_STATUSES`: handling ends with the 答复 (条例 arts. 33, 36), so an
  application answered but not yet 办结 is no longer being handled — it counts in 三's result rows of
  the year of its answer, as it counts as replied in the interaction figures, and a later 办结 (in
  January, say) does not move it into the next year;
* replied = the first 答复 (`first_replied_at`) before the end of the period; on time = the first 答复
  no later than the `due_at` of the ticket's ``reply`` deadline (a reopening and a later second answer
  do not make it late); working days to reply = working days after the receipt day up to and including
  the day of the first 答复, counted on the working-day calendar (调休 included).

Speed (issue 7): the deadline's due time, the working days to reply, the label a ticket counts as in the
top topics and an application's outcome and last status change are facts written on the ticket row when
they happen (`tracker.reports.facts`), so the interaction figures and the top topics are one scan of
`tickets` without joins, and section 三 reads an application's event history only when its row cannot
answer: received before the period, or changed after its end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import Grouping

from tracker.clock import BUSINESS_TZ
from tracker.errors import NotFound, ValidationError
from tracker.people.models import Department
from tracker.reports.models import RegisterFigure, ReviewCase
from tracker.reports.rows import OUTCOMES_BY_CODE, UNMAPPED
from tracker.tickets.channels import APPLICANT_TYPES, SATISFACTION_SOURCES
from tracker.tickets.models import Ticket, TicketEvent, TicketTopic
from tracker.tickets.status import FINAL_STATUSES
from tracker.tickets.topics import label_names

# When an application's handling is over, for section 三: the 答复 ends it (2019 条例 art. 33: the agency
# replies within the period; art. 36: the reply is the decision) — 办结 is the office's own bookkeeping
# afterwards. So 已答复 counts with the final states: answered on 28 December and closed in January, an
# application is a result of the answer's year and is not carried into the next.
HANDLED_STATUSES = FINAL_STATUSES | {"replied"}
REPORT_CHANNELS = ("hotline", "website", "weibo", "disclosure")
TOPIC_CHANNELS = ("hotline", "website", "weibo")  # the channels whose topics the report names
CHANNEL_REPORT_LABELS = {
    "hotline": "12345热线",
    "website": "网站留言及咨询",
    "weibo": "政务微博",
    "disclosure": "依申请公开",
}
SATISFIED_DEFAULT = ("非常满意", "满意", "基本满意")
DAY_BASE = date(2000, 1, 1)


# -- scope ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a report covers: [start_at, end_at) in UTC and the departments (None = the whole bureau)."""

    year: int
    start_at: datetime
    end_at: datetime
    department_ids: tuple[int, ...] | None = None
    department_code: str | None = None
    department_name: str | None = None
    label: str = ""

    @property
    def first_day(self) -> date:
        return self.start_at.astimezone(BUSINESS_TZ).date()

    @property
    def last_day(self) -> date:
        return (self.end_at.astimezone(BUSINESS_TZ) - timedelta(microseconds=1)).date()

    def ticket_filter(self, ticket=Ticket, *, include_merged: bool = False) -> Any:
        conditions = [] if include_merged else [ticket.merged_into_id.is_(None)]
        if self.department_ids is not None:
            conditions.append(ticket.department_id.in_(self.department_ids))
        return and_(true(), *conditions)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def department_subtree(session: Session, code: str) -> tuple[Department, tuple[int, ...]]:
    """Return the department with this code and the ids of it and all its sub-departments."""
    root = session.scalar(select(Department).where(Department.code == code))
    if root is None:
        raise NotFound(f"部门 {code!r} 不存在")
    # The tree is small (a bureau's offices): one read, walked here.
    children: dict[int | None, list[int]] = {}
    for dept_id, parent_id in session.execute(select(Department.id, Department.parent_id)):
        children.setdefault(parent_id, []).append(dept_id)
    ids, stack = [], [root.id]
    while stack:
        current = stack.pop()
        ids.append(current)
        stack.extend(children.get(current, ()))
    return root, tuple(sorted(ids))


def period_scope(
    session: Session,
    year: int,
    *,
    department_code: str | None = None,
    month: int | None = None,
    quarter: int | None = None,
) -> Scope:
    """The scope of a year, or of one quarter or month of it, for a department subtree or the bureau."""
    if not 1990 <= year <= 2100:
        raise ValidationError(f"年度 {year} 超出范围", fields={"year": "超出范围"})
    if month is not None and quarter is not None:
        raise ValidationError("月份与季度只能选择一个", fields={"month": "与季度冲突"})
    if month is not None:
        if not 1 <= month <= 12:
            raise ValidationError("月份应为 1–12", fields={"month": "取值无效"})
        first = date(year, month, 1)
        after = date(year + (month == 12), month % 12 + 1, 1)
        label = f"{year}年{month}月"
    elif quarter is not None:
        if not 1 <= quarter <= 4:
            raise ValidationError("季度应为 1–4", fields={"quarter": "取值无效"})
        first = date(year, 3 * quarter - 2, 1)
        after = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
        label = f"{year}年第{quarter}季度"
    else:
        first, after = date(year, 1, 1), date(year + 1, 1, 1)
        label = f"{year}年度"
    ids = name = None
    if department_code:
        root, ids = department_subtree(session, department_code)
        name = root.name
    return Scope(
        year=year,
        start_at=_local_midnight(first),
        end_at=_local_midnight(after),
        department_ids=ids,
        department_code=department_code,
        department_name=name,
        label=label,
    )


def tune_for_reporting(session: Session) -> None:
    """PostgreSQL, this transaction only: no JIT, and memory to hash a year in.

    A report runs a handful of big one-off aggregations: compiling them costs more than it saves, and
    with the default 4 MB work_mem the planner sorts on disk instead of hashing a few dozen groups
    (docs/benchmarks.md). SET LOCAL ends with the transaction (the request, task or command).
    """
    if _dialect(session) == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


# -- interaction figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    def percent(self, digits: int = 1) -> str:
        if self.value is None:
            return "—"
        text = f"{self.value * 100:.{digits}f}".rstrip("0").rstrip(".")
        return f"{text}%"


@dataclass
class ChannelFigures:
    channel: str
    label: str
    received: int = 0
    replied: int = 0
    on_time: int = 0
    without_deadline: int = 0
    rated: int = 0
    satisfied: int = 0
    # Of `rated`, how many came from each source (tracker.tickets.channels.SATISFACTION_SOURCES); "unknown" for
    # ratings recorded before the source was (migration 0029).
    rated_by_source: dict[str, int] = field(default_factory=dict)
    median_workdays: float | None = None
    mean_workdays: float | None = None

    @property
    def reply_rate(self) -> Rate:
        return Rate(self.replied, self.received)

    @property
    def on_time_rate(self) -> Rate:
        return Rate(self.on_time, self.replied)

    @property
    def satisfaction_rate(self) -> Rate:
        return Rate(self.satisfied, self.rated)

    @property
    def rating_sources(self) -> dict[str, int]:
        """Rated tickets per source, in SATISFACTION_SOURCES order, with "unknown" for the rest."""
        out = {s: self.rated_by_source[s] for s in SATISFACTION_SOURCES if self.rated_by_source.get(s)}
        unknown = self.rated - sum(out.values())
        if unknown:
            out["unknown"] = unknown
        return out

    def rating_sources_text(self) -> str:
        """ "回访 12 · 网站好差评 3" — the report's line saying where the ratings came from."""
        labels = {**SATISFACTION_SOURCES, "unknown": "来源未记录"}
        return " · ".join(f"{labels[s]} {n}" for s, n in self.rating_sources.items()) or "—"


def _replied(scope: Scope):
    """Answered before the end of the period — by its first 答复, which is also what timeliness is judged
    by: answered in time, reopened and answered again later is replied, and on time."""
    return and_(Ticket.first_replied_at.is_not(None), Ticket.first_replied_at < scope.end_at)


def _interaction_filter(scope: Scope):
    """Merged duplicates are left out, except applications: a merged one is a 重复申请 in section 三,
    and the disclosure channel's figures stay equal to the table's (received = 一)."""
    return and_(
        scope.ticket_filter(include_merged=True),
        or_(Ticket.merged_into_id.is_(None), Ticket.channel == "disclosure"),
    )


def _interaction_scope(scope: Scope):
    return and_(
        Ticket.channel.in_(REPORT_CHANNELS),
        Ticket.received_at >= scope.start_at,
        Ticket.received_at < scope.end_at,
        _interaction_filter(scope),
    )


def _on_time(scope: Scope):
    return and_(
        _replied(scope), Ticket.reply_due_at.is_not(None), Ticket.first_replied_at <= Ticket.reply_due_at
    )


@dataclass
class TicketFigures:
    """What one scan of the period's tickets gives: the interaction figures and the top topics."""

    interaction: dict[str, ChannelFigures]
    topics: list[tuple[str, int]]


def ticket_figures(
    session: Session,
    scope: Scope,
    *,
    satisfied_levels: Iterable[str] = SATISFIED_DEFAULT,
    topic_limit: int = 5,
) -> TicketFigures:
    """Per channel: received, replied, on time, rated, satisfied, median and mean working days to reply;
    and what citizens asked about most (topics, or the 诉求分类 of tickets that carry no topic).

    One pass over the period's unmerged tickets (the due time, working days and topic label are on the
    row, no join), one hash aggregation: the rows are grouped by channel, working days to reply and topic
    label (its integer id), so the database returns a small histogram (a few hundred groups, not tickets);
    the counts are its sums, the median and mean are read off it exactly, and the topics are its label
    column, named by one read of `topic_labels`. The merged applications, which count in the disclosure
    channel (`_interaction_filter`), come from a second, small read through the partial index of merged
    tickets. No sort of a year of replies, no join with ticket_topics except for the few tickets with
    several topics, and the same SQL on PostgreSQL and SQLite.

    The scan's WHERE is only the period and "not merged" — no channel list, no OR — and a condition
    that is NULL counts as false in a FILTER, so `replied_at < end` needs no IS NOT NULL beside it: on
    PostgreSQL each condition is evaluated for each of a year's rows (docs/benchmarks.md, report).
    """
    tune_for_reporting(session)
    levels = tuple(satisfied_levels)
    period = and_(Ticket.received_at >= scope.start_at, Ticket.received_at < scope.end_at)
    unmerged = and_(period, scope.ticket_filter())
    merged_applications = and_(
        period,
        Ticket.merged_into_id.is_not(None),
        Ticket.channel == "disclosure",
        scope.ticket_filter(include_merged=True),
    )
    figures = {code: ChannelFigures(code, CHANNEL_REPORT_LABELS[code]) for code in REPORT_CHANNELS}
    histograms: dict[str, dict[int, int]] = {code: {} for code in REPORT_CHANNELS}
    topic_ids: dict[int, int] = {}
    for where in (unmerged, merged_applications):
        for row in session.execute(_figures_query(scope, levels, where)).mappings():
            f = figures[row["channel"]]
            f.received += row["received"]
            f.replied += row["replied"]
            f.on_time += row["on_time"]
            f.without_deadline += row["without_deadline"]
            f.rated += row["rated"]
            f.satisfied += row["satisfied"]
            for source in SATISFACTION_SOURCES:
                if row[f"rated_{source}"]:
                    f.rated_by_source[source] = f.rated_by_source.get(source, 0) + row[f"rated_{source}"]
            if row["wd"] is not None and row["replied"]:
                histogram = histograms[row["channel"]]
                histogram[row["wd"]] = histogram.get(row["wd"], 0) + row["replied"]
            if row["channel"] in TOPIC_CHANNELS and row["topic"] is not None:
                topic_ids[row["topic"]] = topic_ids.get(row["topic"], 0) + row["received"]
    for code, histogram in histograms.items():
        figures[code].median_workdays, figures[code].mean_workdays = _median_mean(histogram)
    names = label_names(session, topic_ids)
    topics = {names[label_id]: n for label_id, n in topic_ids.items()}
    for topic, n in session.execute(_several_topics_query(scope)):
        topics[topic] = topics.get(topic, 0) + n
    # Most first, ties by name in code-point order (the order of the databases' C and BINARY collations).
    top = sorted(topics.items(), key=lambda item: (-item[1], item[0]))[:topic_limit]
    return TicketFigures(figures, top)


def _figures_query(scope: Scope, levels: tuple[str, ...], where: Any) -> Select:
    """The histogram of `ticket_figures` over the tickets `where` selects."""
    # NULL (no reply) compares as unknown, which a FILTER counts as false: no IS NOT NULL needed here.
    replied = Ticket.first_replied_at < scope.end_at  # the first 答复 (`_replied`)

    def count_if(condition):
        return func.count().filter(condition)

    # Grouped by the columns themselves, not by "workdays if replied": the planner knows their few
    # distinct values and aggregates in parallel workers; a reply after the period has its workdays but
    # is no reply here, and adds nothing to the histogram (which counts `replied`).
    workdays = Ticket.reply_workdays.label("wd")
    label = Ticket.topic_label_id.label("topic")  # an integer to hash, not the text (migration 0021)
    return (
        select(
            Ticket.channel,
            workdays,
            label,
            func.count().label("received"),
            count_if(replied).label("replied"),
            count_if(and_(replied, Ticket.first_replied_at <= Ticket.reply_due_at)).label("on_time"),
            count_if(and_(replied, Ticket.reply_due_at.is_(None))).label("without_deadline"),
            count_if(Ticket.satisfaction.is_not(None)).label("rated"),
            count_if(Ticket.satisfaction.in_(levels)).label("satisfied"),
            *(
                count_if(Ticket.satisfaction_source == source).label(f"rated_{source}")
                for source in SATISFACTION_SOURCES
            ),
        )
        .where(where)
        .group_by(Ticket.channel, workdays, label)
    )


def _several_topics_query(scope: Scope) -> Select:
    """Topic counts of the period's tickets with several topics (their `topic_label_id` is NULL): each counts
    once under each of its topics. A partial index finds them; most tickets have one topic or none."""
    return (
        select(TicketTopic.topic, func.count())
        .join(Ticket, Ticket.id == TicketTopic.ticket_id)
        .where(
            Ticket.has_several_topics,
            Ticket.channel.in_(TOPIC_CHANNELS),
            Ticket.received_at >= scope.start_at,
            Ticket.received_at < scope.end_at,
            scope.ticket_filter(),
        )
        .group_by(TicketTopic.topic)
    )


def interaction_figures(
    session: Session, scope: Scope, *, satisfied_levels: Iterable[str] = SATISFIED_DEFAULT
) -> dict[str, ChannelFigures]:
    """The interaction figures per channel (the scan of `ticket_figures`)."""
    return ticket_figures(session, scope, satisfied_levels=satisfied_levels).interaction


def _median_mean(histogram: dict[int, int]) -> tuple[float | None, float | None]:
    """Median (the mean of the two middle values for an even count) and mean of a value → count table."""
    total = sum(histogram.values())
    if not total:
        return None, None
    mean = sum(value * n for value, n in histogram.items()) / total
    middle = ((total + 1) // 2, (total + 2) // 2)  # 1-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while len(found) < 2 and seen >= middle[len(found)]:
            found.append(value)
    return (found[0] + found[1]) / 2, mean


def interaction_ticket_ids(
    session: Session,
    scope: Scope,
    channel: str,
    measure: str,
    *,
    satisfied_levels: Iterable[str] = SATISFIED_DEFAULT,
) -> Select:
    """The tickets behind one interaction figure (drill-down): a Select of Ticket.id."""
    if channel not in REPORT_CHANNELS:
        raise ValidationError(f"未知渠道 {channel!r}", fields={"channel": "未知渠道"})
    replied = _replied(scope)
    conditions = {
        "received": None,
        "replied": replied,
        "unreplied": ~replied,
        "on_time": _on_time(scope),
        "late": and_(replied, ~_on_time(scope)),
        "rated": Ticket.satisfaction.is_not(None),
        "satisfied": Ticket.satisfaction.in_(tuple(satisfied_levels)),
    }
    if measure not in conditions:
        raise ValidationError(f"未知指标 {measure!r}", fields={"measure": "未知指标"})
    query = select(Ticket.id).where(Ticket.channel == channel, _interaction_scope(scope))
    if conditions[measure] is not None:
        query = query.where(conditions[measure])
    return query


# -- disclosure applications (section 三) ------------------------------------------------------------


def _last_status_before(moment: datetime, ticket_ids):
    """Per ticket: the last status event before `moment` (creation events excluded, see module doc)."""
    e = TicketEvent
    rank = func.row_number().over(partition_by=e.ticket_id, order_by=(e.occurred_at.desc(), e.id.desc()))
    inner = (
        select(
            e.ticket_id,
            e.status_after,
            e.status_before,
            e.occurred_at,
            rank.label("rn"),
        )
        .where(
            e.status_after.is_not(None),
            e.kind != "ticket.created",
            e.occurred_at < moment,
            e.ticket_id.in_(ticket_ids),
        )
        .subquery()
    )
    return (
        select(inner.c.ticket_id, inner.c.status_after, inner.c.status_before, inner.c.occurred_at)
        .where(inner.c.rn == 1)
        .subquery()
    )


def _read_from_history(scope: Scope):
    """The applications of the year's table that their rows cannot answer for (`_settled_in` can): received
    before the period and possibly still open on its first day, or received in it and changed after its end.

    An application received before 1 January matters only if it was being handled on that day or changed
    since; every status change sets `updated_at`, so one finished earlier and untouched since is left out
    without reading its history (this keeps the cost with the year, not with the age of the database).
    Written as two index ranges — receipt before the period (ix_tickets_applications_received), last
    change after it (ix_tickets_applications_changed) — so finding these few does not mean reading every
    application of the year a second time.
    """
    final = tuple(sorted(HANDLED_STATUSES))
    return and_(
        Ticket.channel == "disclosure",
        or_(
            and_(
                Ticket.received_at < scope.start_at,
                or_(Ticket.status.not_in(final), Ticket.updated_at >= scope.start_at),
            ),
            and_(
                Ticket.status_changed_at >= scope.end_at,
                Ticket.received_at >= scope.start_at,
                Ticket.received_at < scope.end_at,
            ),
        ),
        scope.ticket_filter(include_merged=True),
    )


@dataclass(frozen=True)
class _History:
    """What the report needs from an application's status events, as SQL columns joined to Ticket."""

    froms: list  # (selectable, on-clause) pairs to LEFT JOIN
    state_start: Any  # status at 1 January 00:00 (None: no status event before)
    state_end: Any  # status at the end of 31 December
    before_end: Any  # the status the last change before the end came from
    last_at_end: Any  # when that last change happened
    was_partial: Any  # some reply before the end named 部分公开
    waiting_action: Any  # the action of the last change into 等待申请人 before the end
    entered_handled: Any  # some change during the period went from being handled to handled (answered …)


def _history_portable(start_at: datetime, end_at: datetime, relevant) -> _History:
    """Window functions and correlated subqueries: SQLite (and any database), for modest volumes."""
    ids = select(Ticket.id).where(relevant)
    at_start = _last_status_before(start_at, ids)
    at_end = _last_status_before(end_at, ids)
    e = TicketEvent
    was_partial = exists().where(
        e.ticket_id == Ticket.id,
        e.status_after == "replied",
        e.occurred_at < end_at,
        e.data["outcome"].as_string() == "partial",
    )
    waiting_action = (
        select(e.data["action"].as_string())
        .where(e.ticket_id == Ticket.id, e.status_after == "waiting_applicant", e.occurred_at < end_at)
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    entered_handled = exists().where(
        e.ticket_id == Ticket.id, e.occurred_at >= start_at, _enters_handled(e, end_at)
    )
    return _History(
        [(at_start, at_start.c.ticket_id == Ticket.id), (at_end, at_end.c.ticket_id == Ticket.id)],
        at_start.c.status_after,
        at_end.c.status_after,
        at_end.c.status_before,
        at_end.c.occurred_at,
        was_partial,
        waiting_action,
        entered_handled,
    )


def _enters_handled(e, end_at: datetime):
    """A status change before `end_at` from being handled to handled (an answer, a withdrawal …)."""
    handled = tuple(sorted(HANDLED_STATUSES))
    return and_(
        e.occurred_at < end_at,
        e.kind != "ticket.created",
        e.status_before.not_in(handled),
        e.status_after.in_(handled),
    )


def _history_postgresql(start_at: datetime, end_at: datetime) -> _History:
    """PostgreSQL: one LATERAL aggregate per application over its own status events.

    One probe of ix_ticket_events_ticket_at per application reads its few status events once and
    derives everything (ordered array_agg … FILTER); the cost follows the number of applications of the
    year, not the size of the event table.
    """
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    e = aliased(TicketEvent)
    order = (e.occurred_at.desc(), e.id.desc())

    def last(column, condition):
        agg = func.array_agg(aggregate_order_by(column, *order)).filter(condition)
        return type_coerce(Grouping(agg), ARRAY(column.type))[1]

    before_end = e.occurred_at < end_at
    history = (
        select(
            last(e.status_after, e.occurred_at < start_at).label("state_start"),
            last(e.status_after, before_end).label("state_end"),
            last(e.status_before, before_end).label("before_end"),
            func.max(e.occurred_at).filter(before_end).label("last_at_end"),
            func.bool_or(and_(e.status_after == "replied", e.data["outcome"].as_string() == "partial"))
            .filter(before_end)
            .label("was_partial"),
            last(e.data["action"].as_string(), and_(before_end, e.status_after == "waiting_applicant")).label(
                "waiting_action"
            ),
            func.bool_or(true())
            .filter(and_(e.occurred_at >= start_at, _enters_handled(e, end_at)))
            .label("entered_handled"),
        )
        .where(e.ticket_id == Ticket.id, e.status_after.is_not(None), e.kind != "ticket.created")
        .lateral("history")
    )
    c = history.c
    return _History(
        [(history, true())],
        c.state_start,
        c.state_end,
        c.before_end,
        c.last_at_end,
        func.coalesce(c.was_partial, False),
        c.waiting_action,
        func.coalesce(c.entered_handled, False),
    )


def _history(dialect: str, start_at: datetime, end_at: datetime, relevant) -> _History:
    if dialect == "postgresql":
        return _history_postgresql(start_at, end_at)
    return _history_portable(start_at, end_at, relevant)


def _history_outcome(h: _History, state_end) -> Any:
    """The section 三 result row an application's history gives, before its own `outcome` is looked at
    (`_outcome` combines the two): 部分公开 once any reply named it, else what its last states mean."""
    return case(
        # Partial disclosure wins over any later reply: the application is counted once, as 部分公开.
        (h.was_partial, literal("partial")),
        # Closed while waiting for the applicant, without a named outcome: 补正 or 缴费 never came.
        (
            h.before_end == "waiting_applicant",
            case(
                (h.waiting_action == "request_correction", literal("other_no_correction")),
                (h.waiting_action == "request_fee", literal("other_fee_unpaid")),
                else_=literal(UNMAPPED),
            ),
        ),
        (state_end.in_(("withdrawn", "returned")), literal("other")),
        # A duplicate merged into another application is a repeat application (art. 36(6)).
        (state_end == "merged", literal("np_repeat")),
        else_=literal(UNMAPPED),
    )


def _outcome(history_outcome, outcome: Any = Ticket.outcome) -> Any:
    """The result row: the application's own outcome, except that 部分公开 in its history wins; the
    history's row when it names none."""
    return case(
        (outcome == "partial", literal("partial")),
        (history_outcome == "partial", literal("partial")),
        (outcome.in_(tuple(OUTCOMES_BY_CODE)), outcome),
        (outcome.is_(None), history_outcome),
        else_=literal(UNMAPPED),
    )


# Later than any event: an application's facts are its history "up to now and whatever comes".
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


def application_facts(dialect: str, condition) -> Select:
    """Per application matching `condition`: its id, `history_outcome` and `status_changed_at` as its whole
    history says — what `tracker.reports.facts.refresh_facts` writes on the row."""
    relevant = and_(Ticket.channel == "disclosure", condition)
    h = _history(dialect, _FOREVER, _FOREVER, relevant)
    query = select(
        Ticket.id.label("id"),
        # NULL for "no row" (UNMAPPED), as on an application that has not changed status yet.
        func.nullif(_history_outcome(h, func.coalesce(h.state_end, "received")), UNMAPPED).label(
            "history_outcome"
        ),
        h.last_at_end.label("status_changed_at"),
    ).select_from(Ticket)
    for selectable, on in h.froms:
        query = query.outerjoin(selectable, on)
    return query.where(relevant)


def _settled_in(scope: Scope):
    """Applications received in the period whose last status change (if any) came before its end: their
    state at the end is the row's status, their last change `status_changed_at` and their result row
    `history_outcome` — no history to read."""
    return and_(
        Ticket.channel == "disclosure",
        Ticket.received_at >= scope.start_at,
        Ticket.received_at < scope.end_at,
        or_(Ticket.status_changed_at.is_(None), Ticket.status_changed_at < scope.end_at),
        scope.ticket_filter(include_merged=True),
    )


def _disclosure_branches(scope: Scope, dialect: str, *, grouped: bool = False) -> tuple[Select, Select]:
    """The two halves of `disclosure_rows`: the applications settled in the period (`_settled_in`, the
    great majority), read from their rows; and the others (`_read_from_history`), from their events.

    `grouped`: the first half as weighted rows, one per distinct combination of the columns its cells
    depend on, for counting (`disclosure_counts`) — a year of applications is grouped by plain columns
    first and the cell expressions are worked out once per group, not once per application.
    """
    # Handling ends with the 答复 (HANDLED_STATUSES), not with the 办结 click.
    final = tuple(sorted(HANDLED_STATUSES))

    def settled_cells(outcome, history_outcome, status, changed_in_period, weight) -> list[Any]:
        return [
            _outcome(func.coalesce(history_outcome, literal(UNMAPPED)), outcome).label("outcome"),
            weight.label("is_new"),
            literal(0).label("is_carried_in"),
            (case((and_(status.in_(final), changed_in_period), 1), else_=0) * weight).label("is_finished"),
            (case((status.not_in(final), 1), else_=0) * weight).label("is_carried_out"),
        ]

    settled = _settled_in(scope)
    if grouped:
        changed = (Ticket.status_changed_at >= scope.start_at).label("changed_in_period")
        plain = [Ticket.applicant_type, Ticket.outcome, Ticket.history_outcome, Ticket.status, changed]
        g = select(*plain, func.count().label("n")).where(settled).group_by(*plain).subquery()
        from_row = select(
            g.c.applicant_type,
            *settled_cells(g.c.outcome, g.c.history_outcome, g.c.status, g.c.changed_in_period, g.c.n),
        )
    else:
        from_row = select(
            Ticket.id.label("ticket_id"),
            Ticket.applicant_type.label("applicant_type"),
            *settled_cells(
                Ticket.outcome,
                Ticket.history_outcome,
                Ticket.status,
                Ticket.status_changed_at >= scope.start_at,
                literal(1),
            ),
        ).where(settled)

    relevant = _read_from_history(scope)
    h = _history(dialect, scope.start_at, scope.end_at, relevant)
    state_start = func.coalesce(h.state_start, "received")
    state_end = func.coalesce(h.state_end, "received")
    is_new = Ticket.received_at >= scope.start_at
    # Counted in 三 when its handling ended during the period: new in it or being handled on its first
    # day, and handled at its end — or handled again after a reopening in it (neither new nor carried
    # in: the balance check names it). Answered on 28 December and closed in January is not a result
    # of January's year: it was handled on 1 January and only its bookkeeping changed.
    finished = and_(
        state_end.in_(final),
        or_(is_new, state_start.not_in(final), h.entered_handled),
    )
    from_history = select(
        Ticket.id.label("ticket_id"),
        Ticket.applicant_type.label("applicant_type"),
        _outcome(_history_outcome(h, state_end)).label("outcome"),
        case((is_new, 1), else_=0).label("is_new"),
        case((and_(~is_new, state_start.not_in(final)), 1), else_=0).label("is_carried_in"),
        case((finished, 1), else_=0).label("is_finished"),
        case((state_end.not_in(final), 1), else_=0).label("is_carried_out"),
    ).select_from(Ticket)
    for selectable, on in h.froms:
        from_history = from_history.outerjoin(selectable, on)
    return from_row, from_history.where(relevant)


def disclosure_rows(scope: Scope, dialect: str = "sqlite"):
    """One row per disclosure application relevant to the year, with its cell coordinates.

    Columns: ticket_id, applicant_type, outcome (an outcome code or UNMAPPED), is_new (一), is_carried_in
    (二), is_finished (counted in 三: its handling ended during the period — answered, closed, withdrawn … —
    and is over at its end),
    is_carried_out (四).
    """
    from_row, from_history = _disclosure_branches(scope, dialect)
    return from_row.union_all(from_history).subquery("disclosure_rows")


@dataclass
class DisclosureCounts:
    """Counts by (row key, applicant type); applicant None = the application names no known type.

    Row keys: "new" (一), "carried_in" (二), an outcome code or UNMAPPED (三 result rows), "finished"
    (三（七）), "carried_out" (四).
    """

    cells: dict[tuple[str, str | None], int] = field(default_factory=dict)

    def get(self, row: str, applicant: str | None) -> int:
        return self.cells.get((row, applicant), 0)

    def total(self, row: str) -> int:
        """All applications of the row, whatever their applicant type (what 总计 must equal)."""
        return sum(n for (r, _a), n in self.cells.items() if r == row)

    def column_sum(self, row: str) -> int:
        return sum(self.get(row, a) for a in APPLICANT_TYPES)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def disclosure_counts(session: Session, scope: Scope) -> DisclosureCounts:
    tune_for_reporting(session)

    def cells(branch: Select) -> Select:
        rows = branch.subquery()
        return select(
            rows.c.applicant_type,
            rows.c.outcome,
            func.sum(rows.c.is_new),
            func.sum(rows.c.is_carried_in),
            func.sum(rows.c.is_finished),
            func.sum(rows.c.is_carried_out),
        ).group_by(rows.c.applicant_type, rows.c.outcome)

    # Each half grouped on its own (the cells of both are added below): the year's applications are
    # hashed into a few dozen groups straight off the index, not appended to the others and sorted.
    branches = _disclosure_branches(scope, _dialect(session), grouped=True)
    query = union_all(*(cells(branch) for branch in branches))
    counts = DisclosureCounts()
    for applicant, outcome, new, carried_in, finished, carried_out in session.execute(query):
        applicant = applicant if applicant in APPLICANT_TYPES else None
        for key, n in (
            ("new", new),
            ("carried_in", carried_in),
            ("finished", finished),
            ("carried_out", carried_out),
        ):
            if n:
                counts.cells[(key, applicant)] = counts.cells.get((key, applicant), 0) + int(n)
        if finished:
            counts.cells[(outcome, applicant)] = counts.cells.get((outcome, applicant), 0) + int(finished)
    return counts


def disclosure_ticket_ids(session: Session, scope: Scope, row: str, applicant: str | None = None) -> Select:
    """The applications behind one cell of section 三 (applicant None = the 总计 column)."""
    rows = disclosure_rows(scope, _dialect(session))
    flags = {"new": rows.c.is_new, "carried_in": rows.c.is_carried_in, "finished": rows.c.is_finished}
    flags["carried_out"] = rows.c.is_carried_out
    query = select(rows.c.ticket_id)
    if row in flags:
        query = query.where(flags[row] == 1)
    elif row in OUTCOMES_BY_CODE or row == UNMAPPED:
        query = query.where(rows.c.is_finished == 1, rows.c.outcome == row)
    elif row in {"（三）不予公开", "（四）无法提供", "（五）不予处理", "（六）其他处理"}:
        codes = [o.code for o in OUTCOMES_BY_CODE.values() if o.group == row]
        query = query.where(rows.c.is_finished == 1, rows.c.outcome.in_(codes))
    else:
        raise ValidationError(f"未知行 {row!r}", fields={"row": "未知行"})
    if applicant == "":  # no known applicant type
        query = query.where(
            or_(rows.c.applicant_type.is_(None), rows.c.applicant_type.not_in(APPLICANT_TYPES))
        )
    elif applicant is not None:
        query = query.where(rows.c.applicant_type == applicant)
    return query


def ticket_states_at(session: Session, moment: datetime, ticket_ids: Sequence[int]) -> dict[int, str | None]:
    """The status of each ticket at `moment`, reconstructed from its events (None: not yet received)."""
    last = _last_status_before(moment, list(ticket_ids))
    query = (
        select(
            Ticket.id,
            case(
                (last.c.status_after.is_not(None), last.c.status_after),
                (Ticket.received_at < moment, literal("received")),
            ),
        )
        .outerjoin(last, last.c.ticket_id == Ticket.id)
        .where(Ticket.id.in_(list(ticket_ids)))
    )
    return dict(session.execute(query).all())


# -- registers (sections 二, 四, 六) ------------------------------------------------------------------


def register_totals(session: Session, scope: Scope) -> dict[tuple[str, str], Decimal]:
    """The proactive-disclosure register for the year, summed over the departments in scope."""
    query = (
        select(RegisterFigure.item, RegisterFigure.measure, func.sum(RegisterFigure.value))
        .where(RegisterFigure.year == scope.year)
        .group_by(RegisterFigure.item, RegisterFigure.measure)
    )
    if scope.department_ids is not None:
        query = query.where(RegisterFigure.department_id.in_(scope.department_ids))
    return {(item, measure): Decimal(value) for item, measure, value in session.execute(query)}


def _case_in_scope(scope: Scope):
    conditions = [ReviewCase.filed_on >= scope.first_day, ReviewCase.filed_on <= scope.last_day]
    if scope.department_ids is not None:
        conditions.append(ReviewCase.department_id.in_(scope.department_ids))
    return and_(*conditions)


def _case_result(scope: Scope):
    """The result as it stood at the end of the period: undecided then = 尚未审结."""
    return case(
        (or_(ReviewCase.decided_on.is_(None), ReviewCase.decided_on > scope.last_day), literal("pending")),
        (ReviewCase.result == "pending", literal("pending")),
        else_=ReviewCase.result,
    )


def review_counts(session: Session, scope: Scope) -> dict[tuple[str, str], int]:
    """Cases filed in the period, by kind and result at its end."""
    result = _case_result(scope).label("result")
    query = (
        select(ReviewCase.kind, result, func.count())
        .where(_case_in_scope(scope))
        .group_by(ReviewCase.kind, result)
    )
    return {(kind, res): int(n) for kind, res, n in session.execute(query)}


def review_case_query(scope: Scope, kind: str | None = None, result: str | None = None) -> Select:
    query = select(ReviewCase).where(_case_in_scope(scope)).order_by(ReviewCase.filed_on, ReviewCase.id)
    if kind:
        query = query.where(ReviewCase.kind == kind)
    if result:
        query = query.where(_case_result(scope) == result)
    return query
