"""Routing a new ticket to a department, and tagging its topics, by rules administrators edit.

Routing rules match on channel, 诉求分类 (a substring of `Ticket.category`) and keywords in the subject
and body; the lowest priority number that matches wins. Topic rules tag a ticket with every topic one of
whose keywords appears among the words jieba segments from its text (a keyword jieba would split, such as a
long phrase, matches as a substring). Citizen text is only read, never changed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import NotFound, ValidationError
from tracker.notify.models import RoutingRule, TopicRule
from tracker.people.models import Department
from tracker.tickets.history import record_event
from tracker.tickets.models import Ticket, TicketTopic
from tracker.tickets.topics import set_topic_facts

log = logging.getLogger(__name__)


@functools.cache
def _jieba():
    import jieba  # on first use: loading its dictionary is slow, and most processes never segment text

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def segment(text: str) -> set[str]:
    """Return the words of ``text`` (jieba's search-engine mode, which also yields the parts of long words)."""
    return {w.strip().lower() for w in _jieba().cut_for_search(text or "") if w.strip()}


def _matches(keyword: str, words: set[str], text: str) -> bool:
    keyword = keyword.strip().lower()
    return bool(keyword) and (keyword in words or (len(keyword) >= 4 and keyword in text))


def _clean_keywords(keywords: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(k.strip() for k in keywords if k and k.strip()))
    if any(len(k) > 50 for k in cleaned):
        raise ValidationError("关键词过长（不超过50字）", fields={"keywords": "过长"})
    return cleaned


def choose_department(
    rules: Sequence[RoutingRule], *, channel: str, category: str | None, text: str
) -> RoutingRule | None:
    """Return the first active rule (by priority, then id) that matches, or None."""
    words = segment(text)
    lowered = (text or "").lower()
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if not rule.is_active:
            continue
        if rule.channel and rule.channel != channel:
            continue
        if rule.category and rule.category not in (category or ""):
            continue
        if rule.keywords and not any(_matches(k, words, lowered) for k in rule.keywords):
            continue
        if not (rule.channel or rule.category or rule.keywords):
            continue  # a rule that matches everything would swallow the office's queue
        return rule
    return None


def topics_for(rules: Sequence[TopicRule], text: str) -> list[str]:
    words = segment(text)
    lowered = (text or "").lower()
    return sorted(
        rule.topic
        for rule in rules
        if rule.is_active and any(_matches(k, words, lowered) for k in rule.keywords)
    )


def route_ticket(session: Session, ticket: Ticket, *, now: datetime) -> Department | None:
    """Move a ticket that intake left with the bureau's office to the department a rule names.

    Only tickets still in the root department and still `received` are routed: a department chosen at
    intake (or by a person since) is never overridden. Records a `ticket.routed` event. Returns the new
    department, or None when nothing changed.
    """
    if ticket.status != "received" or ticket.department.parent_id is not None:
        return None
    # A rule naming a disabled department sends nothing there (the ticket stays, or another rule matches).
    rules = session.scalars(
        select(RoutingRule).join(RoutingRule.department).where(RoutingRule.is_active, Department.is_active)
    ).all()
    rule = choose_department(
        rules, channel=ticket.channel, category=ticket.category, text=f"{ticket.subject}\n{ticket.body}"
    )
    if rule is None or rule.department_id == ticket.department_id:
        return None
    before = ticket.department.name
    ticket.department = rule.department
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        "ticket.routed",
        actor="分办规则",
        now=now,
        data={
            "department": [before, rule.department.name],
            "department_id": rule.department_id,
            "rule_id": rule.id,
        },
    )
    return rule.department


def tag_ticket(session: Session, ticket: Ticket, *, now: datetime) -> list[str]:
    """Add the topics whose keywords the ticket's text contains; returns the topics added."""
    rules = session.scalars(select(TopicRule).where(TopicRule.is_active)).all()
    if not rules:
        return []
    found = topics_for(rules, f"{ticket.subject}\n{ticket.body}")
    have = set(ticket.topic_names)
    added = [t for t in found if t not in have]
    if not added:
        return []
    for topic in added:
        ticket.topics.append(TicketTopic(topic=topic))
    session.flush()
    set_topic_facts(session, [ticket])
    record_event(session, ticket, "ticket.tagged", actor="主题规则", now=now, data={"topics": added})
    return added


# -- administration (the services the admin pages call) -------------------------------------------


def save_routing_rule(
    session: Session,
    *,
    department_code: str,
    now: datetime,
    channel: str | None = None,
    category: str | None = None,
    keywords: Iterable[str] = (),
    priority: int = 100,
    rule_id: int | None = None,
    is_active: bool = True,
) -> RoutingRule:
    department = session.scalar(select(Department).where(Department.code == department_code))
    if department is None:
        raise ValidationError(f"未知部门 {department_code!r}", fields={"department": "未知部门"})
    if not department.is_active:
        raise ValidationError(f"部门 {department.name} 已停用", fields={"department": "已停用"})
    cleaned = _clean_keywords(keywords)
    if not (channel or (category or "").strip() or cleaned):
        raise ValidationError("分办规则至少要有渠道、诉求分类或关键词之一", fields={"keywords": "必填"})
    rule = session.get(RoutingRule, rule_id) if rule_id else RoutingRule()
    if rule is None:
        raise NotFound(f"分办规则 {rule_id} 不存在")
    rule.channel = channel or None
    rule.category = (category or "").strip() or None
    rule.keywords = cleaned
    rule.priority = priority
    rule.department = department
    rule.is_active = is_active
    rule.updated_at = now
    session.add(rule)
    session.flush()
    return rule


def save_topic_rule(
    session: Session, *, topic: str, keywords: Iterable[str], now: datetime, is_active: bool = True
) -> TopicRule:
    topic = (topic or "").strip()
    if not topic or len(topic) > 64:
        raise ValidationError("主题名称必填，且不超过64字", fields={"topic": "无效"})
    cleaned = _clean_keywords(keywords)
    if not cleaned:
        raise ValidationError("主题规则至少要有一个关键词", fields={"keywords": "必填"})
    rule = session.scalar(select(TopicRule).where(TopicRule.topic == topic)) or TopicRule(topic=topic)
    rule.keywords = cleaned
    rule.is_active = is_active
    rule.updated_at = now
    session.add(rule)
    session.flush()
    return rule
