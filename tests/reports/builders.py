"""Hand-built report datasets: tickets with their history at chosen moments (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tracker.clock import BUSINESS_TZ
from tracker.people.models import Department
from tracker.tickets.models import Deadline, Ticket, TicketTopic
from tracker.workflow import transitions as svc


def at(text: str) -> datetime:
    """A local Asia/Shanghai moment, e.g. at("2021-12-31 23:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=BUSINESS_TZ)


def application(
    session: Session,
    dept: Department,
    received: str,
    applicant: str | None = "自然人",
    *,
    created: str | None = None,
) -> Ticket:
    """A disclosure application received at `received` (created in the system at `created`, default then)."""
    return factories.ticket(
        session,
        now=at(created or received),
        dept=dept,
        channel="disclosure",
        request_type="政府信息公开申请",
        subject="申请公开某文件",
        body="请公开2020年某项目的批复文件。",
        applicant_type=applicant,
        arrived_at=at(received),
    )


def reply(session: Session, ticket: Ticket, when: str, outcome: str | None = None) -> None:
    svc.reply_ticket(session, ticket, "答复如下。", actor="测试", now=at(when), outcome=outcome)


def close(session: Session, ticket: Ticket, when: str, outcome: str | None = None) -> None:
    svc.close_ticket(session, ticket, actor="测试", now=at(when), outcome=outcome)


def reply_and_close(session: Session, ticket: Ticket, when: str, outcome: str) -> None:
    reply(session, ticket, when, outcome)
    close(session, ticket, when)


def message(
    session: Session,
    dept: Department,
    received: str,
    *,
    channel: str = "hotline",
    replied: str | None = None,
    due: str | None = None,
    satisfaction: str | None = None,
    topics: list[str] | None = None,
    category: str | None = None,
) -> Ticket:
    """A hotline/website/weibo ticket, optionally replied, with its reply deadline due at `due`."""
    ticket = factories.ticket(
        session,
        now=at(received),
        dept=dept,
        channel=channel,
        request_type="咨询" if channel != "hotline" else "投诉",
        arrived_at=at(received),
        topics=topics or [],
        category=category,
    )
    if due is not None:
        set_reply_due(session, ticket, at(due))
    if replied is not None:
        svc.reply_ticket(session, ticket, "已答复。", actor="测试", now=at(replied))
    if satisfaction is not None:
        svc.rate_ticket(session, ticket, satisfaction, actor="回访", now=at(replied or received))
    return ticket


def set_reply_due(session: Session, ticket: Ticket, due_at: datetime) -> None:
    """Pin the reply deadline (whatever the engine computed), so on-time figures have known answers."""
    deadline = next((d for d in ticket.deadlines if d.kind == "reply"), None)
    if deadline is None:
        deadline = Deadline(
            ticket=ticket,
            kind="reply",
            label="答复",
            policy_code="test",
            policy_version="test",
            starts_on=ticket.received_at,
            explanation="测试",
        )
        session.add(deadline)
    deadline.due_at = due_at
    session.flush()


def joined_topics(session: Session, scope) -> list[tuple[str, int]]:
    """Every topic of the scope's hotline, website and Weibo tickets as anyone would first count them: the
    tickets LEFT JOIN ticket_topics, a ticket without topics under its 诉求分类 (the report reads facts on the
    rows instead; tests compare the two)."""
    from tracker.reports.scope import TOPIC_CHANNELS

    label = func.coalesce(TicketTopic.topic, Ticket.category)
    return [
        tuple(row)
        for row in session.execute(
            select(label, func.count())
            .select_from(Ticket)
            .outerjoin(TicketTopic, TicketTopic.ticket_id == Ticket.id)
            .where(
                Ticket.channel.in_(TOPIC_CHANNELS),
                Ticket.received_at >= scope.start_at,
                Ticket.received_at < scope.end_at,
                scope.ticket_filter(),
                label.is_not(None),
            )
            .group_by(label)
            .order_by(func.count().desc(), label)
        )
    ]
