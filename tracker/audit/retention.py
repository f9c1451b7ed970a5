"""Audit retention: entries older than the configured period are deleted, never sooner than six months.

网络安全法 art. 21 (and 等保 2.0 level 3) require network logs kept for at least six months; the setting
refuses less (tracker.config). Pruning removes the oldest entries as a prefix of the chain and leaves an
anchor — the position and hash of the last entry removed — which the first remaining entry links to, so
`tracker audit verify` still checks everything that is left. The pruning is itself an entry in the chain,
naming the anchor. When syslog is configured, nothing that has not yet been forwarded is removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracker.audit.chain import chain_head
from tracker.audit.syslog import forwarded_seq
from tracker.config import MIN_AUDIT_RETENTION_DAYS
from tracker.errors import ValidationError
from tracker.people.models import AuditEntry

# Six months, counted generously: the longest six consecutive months have 184 days.
MIN_RETENTION_DAYS = MIN_AUDIT_RETENTION_DAYS


@dataclass(frozen=True)
class Pruned:
    deleted: int
    anchor_seq: int

    def summary(self) -> str:
        if not self.deleted:
            return "没有超过保存期限的审计记录。"
        return f"已删除 {self.deleted} 条超过保存期限的审计记录；哈希链锚点为第 {self.anchor_seq} 条。"


def check_retention_days(days: int) -> int:
    if days < MIN_RETENTION_DAYS:
        raise ValidationError(
            f"审计日志至少保存六个月（{MIN_RETENTION_DAYS} 天），不能设为 {days} 天",
            fields={"TRACKER_AUDIT_RETENTION_DAYS": "少于六个月"},
        )
    return days


def prune_expired(session: Session, *, retention_days: int, now: datetime, keep_unforwarded: bool) -> Pruned:
    """Delete the entries older than the retention period, as a prefix of the chain; flush, never commit."""
    check_retention_days(retention_days)
    head = chain_head(session, for_update=True)  # writers wait: nothing is chained onto a moving anchor
    cutoff = now - timedelta(days=retention_days)
    first_kept = session.scalar(select(func.min(AuditEntry.seq)).where(AuditEntry.at >= cutoff))
    upto = head.last_seq if first_kept is None else first_kept - 1
    if keep_unforwarded:
        upto = min(upto, forwarded_seq(session))
    if upto <= head.anchor_seq:
        return Pruned(0, head.anchor_seq)
    anchor_hash = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == upto))
    deleted = session.execute(
        delete(AuditEntry).where(AuditEntry.seq > head.anchor_seq, AuditEntry.seq <= upto)
    ).rowcount
    head.anchor_seq, head.anchor_hash = upto, anchor_hash
    session.flush()
    session.add(
        AuditEntry(
            at=now,
            action="audit.pruned",
            detail={
                "anchor_seq": upto,
                "anchor_hash": anchor_hash,
                "deleted": deleted,
                "older_than": cutoff.isoformat(),
                "retention_days": retention_days,
            },
        )
    )
    session.flush()
    return Pruned(deleted, upto)
