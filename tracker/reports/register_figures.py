"""The figures of the registers the office keeps (sections 二, 四, 六): proactive-disclosure totals and review
and litigation cases, for a report's scope (tracker.reports.scope)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from tracker.reports.models import RegisterFigure, ReviewCase
from tracker.reports.scope import Scope

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
