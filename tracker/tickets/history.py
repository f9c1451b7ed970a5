"""A ticket's history: the one writer of its events and of the outbox rows others react to.

Every service that changes a ticket appends its TicketEvent here, in the same transaction; with `publish`,
an OutboxMessage too, which the workers relay after the commit (workers/outbox.py). It sits below the
services and the deadline engine, which both record events, so neither has to import the other for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.people.models import User
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage

Actor = User | str  # a signed-in user, or a label for the system / a platform ("12345平台")


def actor_columns(actor: Actor | None) -> tuple[int | None, str]:
    """(actor_id, actor_label) of an event: a user's id and name, or the label of the system or platform.
    The batched writer of new tickets (tracker.workflow.opening) writes its events' rows with these."""
    if isinstance(actor, User):
        return actor.id, actor.display_name
    return None, actor or "系统"


def _actor_fields(actor: Actor | None) -> dict[str, Any]:
    actor_id, actor_label = actor_columns(actor)
    return {"actor_id": actor_id, "actor_label": actor_label}


# The one table of the history's event codes and what a person reads for them: the ticket page's timeline
# reads it through the `event_label` template filter (tests/web/test_label_tables.py finds every code the
# code base writes and fails when one lacks a label). English comes from web/translations (the same strings).
EVENT_LABELS = {
    "ticket.created": "收到并登记",
    "ticket.updated": "工单信息更新",
    "ticket.status_changed": "状态变更",
    "ticket.note": "内部备注",
    "ticket.rated": "回访结果",
    "ticket.merged_in": "合并了重复件",
    "ticket.converted": "转为其他渠道办理",
    "ticket.linked": "关联工单",
    "ticket.attachment_added": "上传附件",
    "ticket.attachments": "答复附带附件",
    "ticket.possible_duplicate": "疑似重复件",
    "ticket.routed": "按分办规则转至部门",
    "ticket.tagged": "按主题规则添加主题",
    "deadline.opened": "期限开始计算",
    "deadline.recomputed": "期限重新计算",
    "deadline.paused": "期限暂停",
    "deadline.resumed": "期限恢复计算",
    "deadline.extended": "期限延长",
    "deadline.overridden": "期限人工调整",
    "deadline.restarted": "期限重新起算",
    "deadline.met": "期限内完成",
    "deadline.breached": "已超期",
    "deadline.cancelled": "期限取消",
    "approval.requested": "提交审批",
    "approval.approved": "审批同意",
    "approval.refused": "审批不同意",
    "approval.superseded": "待审批申请作废",
    "reminder.sent": "发送提醒",
    "letter.issued": "出具文书",
    "letter.replaced": "替换文书文件",
    "letter.served": "文书送达",
    "revisit.recorded": "记录回访",
    "ticket.redone": "重办",
    "repeat.linked": "关联重复件",
    "repeat.dismissed": "标记为非重复件",
    "reply.check_overridden": "答复前检查有提示，仍然发送",
    "cohandling.added": "加派协办单位",
    "cohandling.replied": "协办单位答复",
    "cohandling.overridden": "协办未办结时说明理由",
    "supervision.issued": "督办/催办",
    "supervision.answered": "督办反馈",
    "supervision.escalated": "督办超期上报负责人",
    "handling.recorded": "记录办理情况",
    "sendback.requested": "申请退单",
    "sendback.decided": "退单审核结果",
    "sendback.withdrawn": "撤回退单申请",
}


def event_label(kind: str) -> str:
    """The label of an event code; an unknown code (a newer version's, in an old database) reads as a
    generic 'record' rather than a raw code."""
    return EVENT_LABELS.get(kind, "其他记录")


def record_event(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    actor: Actor | None,
    now: datetime,
    data: dict[str, Any] | None = None,
    status_before: str | None = None,
    status_after: str | None = None,
    publish: bool = False,
) -> TicketEvent:
    """Append an event to the ticket's history; with `publish`, also queue it in the outbox."""
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        occurred_at=now,
        status_before=status_before,
        status_after=status_after,
        data=data or {},
        **_actor_fields(actor),
    )
    session.add(event)
    session.flush()
    if publish:
        session.add(
            OutboxMessage(
                topic=kind,
                event_id=event.id,
                ticket_id=ticket.id,
                payload={"ticket_id": ticket.id, "event_id": event.id, **(data or {})},
                created_at=now,
            )
        )
    return event
