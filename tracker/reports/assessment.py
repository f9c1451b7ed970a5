"""The 12345 handling-unit assessment in SQL: per unit (department) or per person (assignee), for a month,
quarter or year — numerators, denominators, rates, the weighted score, the ranking and its trend.

Each figure is defined once, as a *source*: a SELECT giving one row per order (or call-back, or notice)
in a denominator, with the group it counts for and, per rate, a denominator flag and a numerator value.
The assessment is a GROUP BY over each source; the drill-down (`assessment_tickets`) is the same source
filtered to one group and one column — so the tickets behind a number are, by construction, the ones it
counted. The meaning of every column (which period an order belongs to, what is on time) and the
city's choices come from tracker.reports.assessment_rules; docs/assessment.md explains them.

Sources (all restricted to the rules' channels, unmerged orders, and — when repeats count once — orders
that are not a 重复件 of another):

* ``dispatched`` — orders received (派单, `received_at`) in the period: 受理量, 签收及时率 (the ``sign``
  deadline met by its due time; a sign deadline cancelled unmet — the order left before anyone signed — is
  not counted), 回退率 (an accepted 退单 by the order's unit; a refused one is not);
* ``close`` — 办结及时率: orders whose ``reply`` deadline falls due in the period (``close_basis`` "due",
  the default) or orders closed in it ("closed"); on time when the reply met the deadline by its due time;
* ``revisited`` — 响应率 / 解决率 / 满意率 over the period's call-backs (`visited_at`), by default the
  last call-back of each order in the period (``revisit_basis`` "latest");
* ``closed`` — 重办率: orders closed (办结) in the period that have a 重办 row;
* ``supervision`` — 督办 / 催办 notices issued in the period to the unit, and how many were answered by
  their due time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, text, tuple_
from sqlalchemy.orm import Session, aliased

from tracker.deadlines.policies import CANCELLED, REPLY, SIGN
from tracker.errors import NotFound, ValidationError
from tracker.people.access import visible_tickets
from tracker.people.models import Department, User
from tracker.reports.assessment_rules import RATES, AssessmentRules, Period
from tracker.reports.models import AssessmentSnapshot
from tracker.reports.scope import tune_for_reporting
from tracker.tickets.models import Deadline, Ticket
from tracker.workorders.models import Redo, Revisit, SendBack, Supervision
from tracker.workorders.repeats import counted_once

GROUPINGS = ("unit", "person")
PARTS = ("num", "den")
SUPERVISED = "supervised"
# Which source holds each figure (a rate's den and num are the columns `<rate>_den`, `<rate>_num`).
SOURCE_OF = {
    "received": "dispatched",
    "sign_on_time": "dispatched",
    "sent_back": "dispatched",
    "close_on_time": "close",
    "response": "revisited",
    "resolution": "revisited",
    "satisfaction": "revisited",
    "redone": "closed",
    SUPERVISED: "supervision",
}
SOURCE_COLUMNS = {
    "dispatched": ("received", "sign_on_time_den", "sign_on_time_num", "sent_back_den", "sent_back_num"),
    "close": ("close_on_time_den", "close_on_time_num"),
    "revisited": (
        "response_den",
        "response_num",
        "resolution_den",
        "resolution_num",
        "satisfaction_den",
        "satisfaction_num",
    ),
    "closed": ("redone_den", "redone_num"),
    "supervision": ("supervised_den", "supervised_num"),
}


def _flag(condition) -> Any:
    return case((condition, 1), else_=0)


def _in_period(column, period: Period):
    return and_(column >= period.start_at, column < period.end_at)


def _counted_ticket(rules: AssessmentRules):
    """The orders the assessment counts at all: the rules' channels, not merged, a repeat once."""
    conditions = [Ticket.channel.in_(rules.channels), Ticket.merged_into_id.is_(None)]
    if rules.count_repeats_once:
        conditions.append(
            counted_once(Ticket.id)
        )  # the one rule of a live 重复件 link (dismissed ones count)
    return and_(*conditions)


def _key(grouping: str):
    return Ticket.department_id if grouping == "unit" else Ticket.assignee_id


def _dispatched(rules: AssessmentRules, period: Period, grouping: str) -> Select:
    sign = aliased(Deadline)
    # `ticket_id`, not `id`: what the rate reads from the sign deadline is all in its covering index.
    sign_counted = and_(sign.ticket_id.is_not(None), or_(sign.state != CANCELLED, sign.met_at.is_not(None)))
    sign_met = and_(
        sign_counted, sign.met_at.is_not(None), or_(sign.due_at.is_(None), sign.met_at <= sign.due_at)
    )
    # Uncorrelated IN, not EXISTS: PostgreSQL hashes the accepted send-backs once, inside the parallel
    # workers; a correlated sub-select would keep the month's 170,000 rows from being aggregated there.
    accepted = tuple_(Ticket.id, Ticket.department_id).in_(
        select(SendBack.ticket_id, SendBack.department_id).where(SendBack.state == "accepted")
    )
    return (
        select(
            _key(grouping).label("group_key"),
            Ticket.id.label("ticket_id"),
            literal(1).label("received"),
            _flag(sign_counted).label("sign_on_time_den"),
            _flag(sign_met).label("sign_on_time_num"),
            literal(1).label("sent_back_den"),
            _flag(accepted).label("sent_back_num"),
        )
        .select_from(Ticket)
        .outerjoin(sign, and_(sign.ticket_id == Ticket.id, sign.kind == SIGN))
        .where(_in_period(Ticket.received_at, period), _counted_ticket(rules))
    )


def _close(rules: AssessmentRules, period: Period, grouping: str) -> Select:
    reply = aliased(Deadline)
    on_time = and_(reply.met_at.is_not(None), or_(reply.due_at.is_(None), reply.met_at <= reply.due_at))
    columns = (
        _key(grouping).label("group_key"),
        Ticket.id.label("ticket_id"),
        literal(1).label("close_on_time_den"),
        _flag(on_time).label("close_on_time_num"),
    )
    if rules.close_basis == "closed":
        return (
            select(*columns)
            .select_from(Ticket)
            .outerjoin(reply, and_(reply.ticket_id == Ticket.id, reply.kind == REPLY))
            .where(_in_period(Ticket.closed_at, period), _counted_ticket(rules))
        )
    # Due in the period: an order still unanswered at its due time counts as late in the month it fell
    # due; one whose deadline was cancelled unmet (sent back, merged away) was never the unit's to meet.
    return (
        select(*columns)
        .select_from(reply)
        .join(Ticket, Ticket.id == reply.ticket_id)
        .where(
            reply.kind == REPLY,
            _in_period(reply.due_at, period),
            or_(reply.state != CANCELLED, reply.met_at.is_not(None)),
            _counted_ticket(rules),
        )
    )


def _revisited(rules: AssessmentRules, period: Period, grouping: str) -> Select:
    conditions = [_in_period(Revisit.visited_at, period), _counted_ticket(rules)]
    if rules.revisit_basis == "latest":
        later = aliased(Revisit)
        conditions.append(
            ~exists().where(
                later.ticket_id == Revisit.ticket_id,
                _in_period(later.visited_at, period),
                or_(
                    later.visited_at > Revisit.visited_at,
                    and_(later.visited_at == Revisit.visited_at, later.id > Revisit.id),
                ),
            )
        )
    weight = Decimal(str(rules.basically_satisfied_weight))
    satisfied = case(
        (Revisit.result == "satisfied", literal(Decimal(1))),
        (Revisit.result == "basically_satisfied", literal(weight)),
        else_=literal(Decimal(0)),
    )
    return (
        select(
            _key(grouping).label("group_key"),
            Ticket.id.label("ticket_id"),
            literal(1).label("response_den"),
            _flag(Revisit.was_contacted.is_(True)).label("response_num"),
            literal(1).label("resolution_den"),
            _flag(Revisit.is_resolved.is_(True)).label("resolution_num"),
            literal(1).label("satisfaction_den"),
            satisfied.label("satisfaction_num"),
        )
        .select_from(Revisit)
        .join(Ticket, Ticket.id == Revisit.ticket_id)
        .where(*conditions)
    )


def _closed(rules: AssessmentRules, period: Period, grouping: str) -> Select:
    return (
        select(
            _key(grouping).label("group_key"),
            Ticket.id.label("ticket_id"),
            literal(1).label("redone_den"),
            # IN, not EXISTS: PostgreSQL hashes the few redos once instead of probing them per order.
            _flag(Ticket.id.in_(select(Redo.ticket_id))).label("redone_num"),
        )
        .select_from(Ticket)
        .where(_in_period(Ticket.closed_at, period), _counted_ticket(rules))
    )


def _supervision(rules: AssessmentRules, period: Period, grouping: str) -> Select:
    # A notice is aimed at a unit (its own department_id); per person it counts for the order's assignee.
    key = Supervision.department_id if grouping == "unit" else Ticket.assignee_id
    answered = and_(
        Supervision.answered_at.is_not(None),
        or_(Supervision.due_at.is_(None), Supervision.answered_at <= Supervision.due_at),
    )
    return (
        select(
            key.label("group_key"),
            Ticket.id.label("ticket_id"),
            literal(1).label("supervised_den"),
            _flag(answered).label("supervised_num"),
        )
        .select_from(Supervision)
        .join(Ticket, Ticket.id == Supervision.ticket_id)
        .where(_in_period(Supervision.issued_at, period), _counted_ticket(rules))
    )


SOURCES = {
    "dispatched": _dispatched,
    "close": _close,
    "revisited": _revisited,
    "closed": _closed,
    "supervision": _supervision,
}


def tune_for_assessment(session: Session) -> None:
    """The report settings (no JIT, memory to hash in), and on PostgreSQL index look-ups priced as what
    they are for a month's orders, rows in cache: with the default random_page_cost (4, a spinning disk)
    the planner hashes every sign deadline of the year (2 million rows) to join a month's 170,000 orders,
    or scans every ticket to join a month's call-backs (docs/benchmarks.md, bench:assessment). SET LOCAL:
    this transaction only."""
    tune_for_reporting(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL random_page_cost = 1.1"))


def _figures(session: Session, rules: AssessmentRules, period: Period, grouping: str) -> dict[Any, dict]:
    """group key → {column: sum} over every source: five GROUP BYs, a few hundred rows back."""
    figures: dict[Any, dict[str, float]] = {}
    for name, build in SOURCES.items():
        members = build(rules, period, grouping).subquery(name)
        columns = SOURCE_COLUMNS[name]
        query = select(members.c.group_key, *(func.sum(members.c[c]) for c in columns)).group_by(
            members.c.group_key
        )
        for key, *sums in session.execute(query):
            row = figures.setdefault(key, {})
            for column, value in zip(columns, sums, strict=True):
                row[column] = float(value or 0)
    return figures


# -- shaping --------------------------------------------------------------------------------------------


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 2)


def rate_entry(num: float, den: float) -> dict[str, Any]:
    return {"num": _number(num), "den": _number(den), "rate": round(num / den, 4) if den else None}


def _rates(row: dict[str, float]) -> dict[str, dict]:
    return {key: rate_entry(row.get(f"{key}_num", 0), row.get(f"{key}_den", 0)) for key in RATES}


def score_of(rates: dict[str, dict], supervised: int, rules: AssessmentRules) -> float | None:
    """Weighted score out of 100 over the rates with a denominator; a 'lower is better' rate counts as
    1 − rate; `supervision_penalty` points off per notice received. None when no rate has a denominator."""
    total = weight_sum = 0.0
    for key, (_label, higher_is_better) in RATES.items():
        num, den, weight = rates[key]["num"], rates[key]["den"], rules.weights.get(key, 0)
        if not den or not weight:
            continue
        rate = num / den  # exact, not the rounded rate shown
        total += weight * (rate if higher_is_better else 1 - rate)
        weight_sum += weight
    if not weight_sum:
        return None
    return round(max(0.0, 100 * total / weight_sum - rules.supervision_penalty * supervised), 2)


def _entry(row: dict[str, float], rules: AssessmentRules) -> dict[str, Any]:
    rates = _rates(row)
    supervised = int(row.get("supervised_den", 0))
    return {
        "received": int(row.get("received", 0)),
        "rates": rates,
        "supervised": supervised,
        "supervised_on_time": int(row.get("supervised_num", 0)),
        "score": score_of(rates, supervised, rules),
    }


def _rank(units: list[dict], rules: AssessmentRules) -> None:
    """Competition ranking (1, 2, 2, 4) by score among the units with at least the minimum sample."""
    ranked = [u for u in units if u["received"] >= rules.minimum_sample and u["score"] is not None]
    ranked.sort(key=lambda u: -u["score"])
    previous_score, previous_rank = None, 0
    for position, unit in enumerate(ranked, start=1):
        if unit["score"] != previous_score:
            previous_rank, previous_score = position, unit["score"]
        unit["rank"] = previous_rank
    for unit in units:
        unit.setdefault("rank", None)
        unit["ranked"] = unit["rank"] is not None


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str


def _units(session: Session, ids) -> dict[int, Unit]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(Department.id, Department.code, Department.name).where(Department.id.in_(ids))
    )
    return {row.id: Unit(row.id, row.code, row.name) for row in rows}


def _unit_results(session: Session, rules: AssessmentRules, period: Period) -> tuple[list[dict], dict]:
    figures = _figures(session, rules, period, "unit")
    names = _units(session, figures)
    units = []
    for dept_id, row in figures.items():
        unit = names[dept_id]
        units.append({"code": unit.code, "name": unit.name, **_entry(row, rules)})
    _rank(units, rules)
    units.sort(key=lambda u: (u["rank"] is None, u["rank"] or 0, -u["received"], u["code"]))
    bureau: dict[str, float] = {}
    for row in figures.values():
        for column, value in row.items():
            bureau[column] = bureau.get(column, 0) + value
    return units, _entry(bureau, rules)


def _trend(current: dict, before: dict | None) -> dict[str, Any]:
    if before is None:
        return {"previous_score": None, "previous_rank": None, "score_change": None, "rank_change": None}
    score_change = (
        round(current["score"] - before["score"], 2)
        if current["score"] is not None and before["score"] is not None
        else None
    )
    rank_change = (
        before["rank"] - current["rank"]
        if current["rank"] is not None and before["rank"] is not None
        else None
    )
    return {
        "previous_score": before["score"],
        "previous_rank": before["rank"],
        "score_change": score_change,
        "rank_change": rank_change,  # positive: moved up the ranking
    }


def build_assessment(
    session: Session,
    period: Period,
    rules: AssessmentRules,
    *,
    department_code: str | None = None,
    with_trend: bool = True,
) -> dict[str, Any]:
    """The assessment as JSON-ready data (shape in docs/assessment.md). Ranks are over every unit; with
    `department_code` only that unit's entry is listed (its rank still among all), the bureau's stays."""
    tune_for_assessment(session)
    units, bureau = _unit_results(session, rules, period)
    trend_basis = None
    if with_trend:
        before_units, before_bureau, trend_basis = _previous_results(session, rules, period.previous())
        by_code = {u["code"]: u for u in before_units}
        for unit in units:
            unit["trend"] = _trend(unit, by_code.get(unit["code"]))
        bureau["trend"] = _trend({**bureau, "rank": None}, {**before_bureau, "rank": None})
    if department_code is not None:
        if session.scalar(select(Department.id).where(Department.code == department_code)) is None:
            raise NotFound(f"部门 {department_code!r} 不存在")
        units = [u for u in units if u["code"] == department_code]
    return {
        "period": period.key,
        "label": period.label,
        "units": units,
        "bureau": bureau,
        "ranked_units": sum(1 for u in units if u["ranked"]),
        "rules": rules.as_dict(),
        "trend_basis": trend_basis,
    }


def _previous_results(
    session: Session, rules: AssessmentRules, previous: Period
) -> tuple[list[dict], dict, str]:
    """Last period's units and bureau: as prepared for the office (the snapshot the beat task kept —
    the ranking that was reported, which late call-backs do not rewrite) when it was prepared under the
    same rules; otherwise computed now. The third value says which ("prepared" / "computed")."""
    snapshot = session.scalar(
        select(AssessmentSnapshot.data).where(AssessmentSnapshot.period == previous.key)
    )
    if snapshot and snapshot.get("rules") == json.loads(json.dumps(rules.as_dict())):
        return snapshot["units"], snapshot["bureau"], "prepared"
    units, bureau = _unit_results(session, rules, previous)
    return units, bureau, "computed"


def people_assessment(
    session: Session, period: Period, rules: AssessmentRules, *, department_code: str
) -> list[dict[str, Any]]:
    """Per person (assignee) of one unit's orders: the same figures; not ranked (docs/assessment.md)."""
    department_id = session.scalar(select(Department.id).where(Department.code == department_code))
    if department_id is None:
        raise NotFound(f"部门 {department_code!r} 不存在")
    tune_for_assessment(session)
    figures = _figures(session, rules, period, "person")
    users = {
        row.id: row
        for row in session.execute(
            select(User.id, User.username, User.display_name, User.department_id).where(
                User.id.in_([k for k in figures if k is not None])
            )
        )
    }
    people = []
    for user_id, row in figures.items():
        user = users.get(user_id)
        if user is None or user.department_id != department_id:
            continue
        people.append(
            {"user_id": user_id, "username": user.username, "name": user.display_name, **_entry(row, rules)}
        )
    people.sort(key=lambda p: (-p["received"], p["username"]))
    return people


# -- drill-down -----------------------------------------------------------------------------------------


def assessment_tickets(
    session: Session,
    period: Period,
    rules: AssessmentRules,
    *,
    figure: str,
    part: str,
    department_code: str | None = None,
    user_id: int | None = None,
    limit: int = 5000,
) -> list[tuple[int, str]]:
    """(id, number) of the orders behind one number: `figure` (a rate, ``received`` or ``supervised``)
    and `part` (``num`` or ``den``) of one unit, one person (`user_id`) or the whole bureau."""
    if figure not in SOURCE_OF:
        raise ValidationError(f"未知的考核指标 {figure!r}", fields={"figure": "未知"})
    if part not in PARTS:
        raise ValidationError("part 应为 num 或 den", fields={"part": "取值无效"})
    grouping = "person" if user_id is not None else "unit"
    source = SOURCE_OF[figure]
    column = "received" if figure == "received" else f"{figure}_{part}"
    members = SOURCES[source](rules, period, grouping).subquery("members")
    conditions = [members.c[column] > 0]
    if user_id is not None:
        conditions.append(members.c.group_key == user_id)
    elif department_code is not None:
        department_id = session.scalar(select(Department.id).where(Department.code == department_code))
        if department_id is None:
            raise NotFound(f"部门 {department_code!r} 不存在")
        conditions.append(members.c.group_key == department_id)
    ids = select(members.c.ticket_id).where(*conditions).distinct().subquery("ids")
    query = (
        select(Ticket.id, Ticket.number)
        .join(ids, ids.c.ticket_id == Ticket.id)
        .order_by(Ticket.received_at, Ticket.id)
        .limit(limit)
    )
    return [(row.id, row.number) for row in session.execute(query)]


def plain_group_by_baseline(session: Session, period: Period) -> list[tuple]:
    """The benchmark's yardstick: one GROUP BY over the month's hotline orders (docs/benchmarks.md)."""
    tune_for_assessment(session)
    query = (
        select(Ticket.department_id, func.count(), func.count(Ticket.closed_at))
        .where(Ticket.channel == "hotline", _in_period(Ticket.received_at, period))
        .group_by(Ticket.department_id)
    )
    return list(session.execute(query))


@dataclass
class AssessmentDrill:
    """The orders behind one number as one user may see them (the page's list)."""

    tickets: list[Ticket]
    total: int
    hidden: int  # behind the number, but outside what the user may see
    truncated: bool


def drill_for(
    session: Session,
    period: Period,
    rules: AssessmentRules,
    user: User,
    *,
    figure: str,
    part: str,
    department_code: str | None = None,
    user_id: int | None = None,
    limit: int = 500,
) -> AssessmentDrill:
    """`assessment_tickets` restricted to the tickets `user` may see (tracker.people.access)."""
    found = assessment_tickets(
        session, period, rules, figure=figure, part=part, department_code=department_code, user_id=user_id
    )
    ids = [ticket_id for ticket_id, _number in found]
    visible: list[Ticket] = []
    for start in range(0, len(ids), 1000):  # IN lists of bounded size on both databases
        chunk = ids[start : start + 1000]
        visible.extend(session.scalars(select(Ticket).where(Ticket.id.in_(chunk), visible_tickets(user))))
    visible.sort(key=lambda t: (t.received_at, t.id))
    return AssessmentDrill(visible[:limit], len(ids), len(ids) - len(visible), len(visible) > limit)
