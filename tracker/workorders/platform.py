"""What a 12345 push or import row says about 协办 and 督办, and how the intake door applies it.

`tracker.intake.hotline` reads the fields (协办单位, 协办时限, 督办编号, 督办时间, 督办内容, 督办时限) into a
`PlatformNews`; `tracker.intake.records.apply_record` calls `apply_platform_news` after the order itself
is opened or updated, in the same transaction, with the caller's reach. Both doors are idempotent, so a
re-sent order adds no second child order and records its 督办 once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.people.access import Reach
from tracker.tickets.history import Actor
from tracker.tickets.models import Ticket
from tracker.workorders.cohandling import add_co_units_from_platform
from tracker.workorders.supervision import issue_supervision


@dataclass
class PlatformNews:
    co_units: list[str] = field(default_factory=list)
    co_due_at: datetime | None = None
    supervision_ref: str | None = None
    supervised_at: datetime | None = None
    supervision_text: str | None = None
    supervision_due_at: datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.co_units or self.supervision_ref)


def apply_platform_news(
    session: Session,
    ticket: Ticket,
    news: PlatformNews | None,
    *,
    actor: Actor | None,
    reach: Reach,
    now: datetime,
) -> dict[str, Any]:
    """Add the co-handling units and record the 督办 the platform sent; what changed, for the result."""
    done: dict[str, Any] = {}
    if not news:
        return done
    label = actor or "12345平台"
    if news.co_units:
        added = add_co_units_from_platform(
            session, ticket, news.co_units, actor=label, reach=reach, now=now, due_at=news.co_due_at
        )
        if added:
            done["cohandling.added"] = [None, [link.department.code for link in added]]
    if news.supervision_ref:
        supervision, created = issue_supervision(
            session,
            ticket,
            text=news.supervision_text or "",
            now=now,
            actor=label,
            reach=reach,
            external_ref=news.supervision_ref,
            issued_at=news.supervised_at,
            due_at=news.supervision_due_at,
        )
        if created:
            done["supervision.issued"] = [None, supervision.external_ref]
    return done
