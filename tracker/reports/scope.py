"""What a report covers — a period (year, quarter, month) of one department and its sub-departments or the
whole bureau (`Scope`, `period_scope`) — and the definitions every figure of the report shares.

The figures themselves: tracker.reports.interactions (政民互动, top topics), tracker.reports.disclosure
(section 三), tracker.reports.register_figures (sections 二, 四, 六).

The report's figures are computed in SQL over tickets and their event history.

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

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from tracker.clock import BUSINESS_TZ
from tracker.errors import NotFound, ValidationError
from tracker.people.models import Department
from tracker.tickets.models import Ticket
from tracker.tickets.status import FINAL_STATUSES

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
    if dialect_name(session) == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name
