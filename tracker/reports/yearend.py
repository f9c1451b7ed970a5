"""Early January: prepare the previous year's figures and tell the administrators (once per year).

The beat task `reports.prepare_previous_year` (workers/tasks/reports.py) calls `prepare_previous_year`
every morning of 2–15 January; the first run that succeeds records an `AuditEntry` ("report.prepared")
and notifies every active administrator in the app (tracker.notify.service, deduplicated per year), with the
cross-check result, so the office can start from the report page. Later runs find the entry and stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.notify.service import NOTIFICATION_KINDS, notify
from tracker.people.models import AuditEntry, User
from tracker.reports.annual import build_annual_report

WINDOW = (2, 15)  # the days of January the task acts on


@dataclass
class Prepared:
    year: int
    notification_ids: list[int]
    checks_passed: bool
    already: bool = False


def prepare_previous_year(session: Session, *, now: datetime) -> Prepared | None:
    """Build last year's report, record it and notify the administrators; None outside early January."""
    today = local(now).date()
    if today.month != 1 or not WINDOW[0] <= today.day <= WINDOW[1]:
        return None
    year = today.year - 1
    done = session.scalar(
        select(AuditEntry.id).where(AuditEntry.action == "report.prepared", AuditEntry.object_id == str(year))
    )
    if done is not None:
        return Prepared(year, [], True, already=True)
    report = build_annual_report(session, year, now=now)
    hotline, website = report.interaction["hotline"], report.interaction["website"]
    new = report.disclosure.total("new")
    status = (
        "勾稽关系校验通过" if report.is_valid else f"勾稽关系校验有{len(report.failures)}项未通过，请先核对"
    )
    body = (
        f"{year}年度政府信息公开工作年度报告数据已生成（{status}）。"
        f"12345热线{hotline.received}件、网站留言{website.received}件、依申请公开新收{new}件。"
        f"请在1月31日前核对、补充登记簿并导出报告。"
    )
    session.add(
        AuditEntry(
            at=now,
            action="report.prepared",
            object_type="annual_report",
            object_id=str(year),
            detail={"checks_passed": report.is_valid, "hotline": hotline.received, "disclosure_new": new},
        )
    )
    admins = session.scalars(select(User.id).where(User.is_active, User.role == "admin")).all()
    ids = notify(
        session,
        admins,
        kind="report" if "report" in NOTIFICATION_KINDS else "digest",
        title=f"{year}年度报告数据已生成",
        body=body,
        link=f"/reports/annual?year={year}",
        now=now,
        dedupe_key=f"annual-report:{year}",
    )
    session.flush()
    return Prepared(year, ids, report.is_valid)
