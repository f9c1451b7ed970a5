"""Section 三 of the annual report: disclosure applications new, carried in, by result row and carried out,
per applicant type — from the facts on each application's row, reading its event history only when the
row cannot answer (received before the period, or changed after its end). Row keys and labels:
tracker.reports.rows; definitions: tracker.reports.scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import Grouping

from tracker.errors import ValidationError
from tracker.reports.rows import OUTCOMES_BY_CODE, UNMAPPED
from tracker.reports.scope import HANDLED_STATUSES, Scope, dialect_name, tune_for_reporting
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.tickets.models import Ticket, TicketEvent

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
    branches = _disclosure_branches(scope, dialect_name(session), grouped=True)
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
    rows = disclosure_rows(scope, dialect_name(session))
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
