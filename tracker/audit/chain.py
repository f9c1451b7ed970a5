"""Verify the audit hash chain, and change the algorithm new entries use.

Entries are linked as they are inserted (tracker.audit.models). Verification walks them in `seq` order
from the retention anchor and names the first entry that does not hold: a gap in the numbering (an entry
deleted), a `prev_hash` that is not its predecessor's hash (an entry deleted or inserted), or an
`entry_hash` that does not match the entry's columns (an entry altered). It ends by comparing the head
with the last entry (entries cut off the end) and the anchor with the pruning entry that recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.audit.hashing import ALGORITHMS, hash_of_entry
from tracker.audit.models import CHAIN_ROW_ID, AuditChain
from tracker.errors import ValidationError
from tracker.people.models import AuditEntry

BATCH = 2000


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str | None = None

    @property
    def is_intact(self) -> bool:
        return self.reason is None

    def summary(self) -> str:
        if self.is_intact:
            return f"审计日志完整：已校验 {self.checked} 条记录的哈希链。"
        where = (
            f"第 {self.broken_seq} 条（id {self.broken_id}）"
            if self.broken_id
            else f"第 {self.broken_seq} 条"
        )
        return f"审计日志哈希链在{where}断开：{self.reason}（此前 {self.checked} 条完好）"


def chain_head(session: Session, *, for_update: bool = False) -> AuditChain:
    # populate_existing: the insert hook moves the head with Core statements the identity map never sees.
    query = select(AuditChain).where(AuditChain.id == CHAIN_ROW_ID).execution_options(populate_existing=True)
    return session.scalars(query.with_for_update() if for_update else query).one()


def verify_chain(session: Session) -> Verification:
    """Walk the whole chain and return the first broken link, if any."""
    head = chain_head(session)
    expected_seq, expected_prev = head.anchor_seq + 1, head.anchor_hash
    checked = 0
    last_seen = head.anchor_seq
    while True:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last_seen).order_by(AuditEntry.seq).limit(BATCH)
        ).all()
        if not entries:
            break
        for entry in entries:
            if entry.seq != expected_seq:
                return Verification(
                    checked,
                    expected_seq,
                    None,
                    f"缺少第 {expected_seq} 条（下一条是第 {entry.seq} 条），记录被删除",
                )
            if entry.prev_hash != expected_prev:
                return Verification(
                    checked, entry.seq, entry.id, "记录的前一条哈希与前一条记录不符，记录被删除或插入"
                )
            if entry.hash_algorithm not in ALGORITHMS or entry.entry_hash != hash_of_entry(entry):
                return Verification(checked, entry.seq, entry.id, "记录内容与其哈希不符，记录被修改")
            checked += 1
            expected_seq, expected_prev = entry.seq + 1, entry.entry_hash
            last_seen = entry.seq
        session.expunge_all()  # the walk holds one batch at a time, however long the log
    if head.last_seq != expected_seq - 1 or head.last_hash != expected_prev:
        return Verification(
            checked,
            expected_seq,
            None,
            f"链头记录为第 {head.last_seq} 条，实际最后一条为第 {expected_seq - 1} 条：末尾记录被删除",
        )
    anchor_problem = _check_anchor(session, head)
    if anchor_problem:
        return Verification(checked, head.anchor_seq + 1, None, anchor_problem)
    return Verification(checked)


def _check_anchor(session: Session, head: AuditChain) -> str | None:
    """The anchor is where pruning cut the chain; the pruning itself is an entry in the chain that
    names the anchor, so moving the anchor to hide deleted entries shows."""
    if head.anchor_seq == 0:
        return None
    pruning = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "audit.pruned").order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    if pruning is None:
        return "有保留期锚点，但没有对应的清理记录"
    if (
        pruning.detail.get("anchor_seq") != head.anchor_seq
        or pruning.detail.get("anchor_hash") != head.anchor_hash
    ):
        return "保留期锚点与最近一次清理记录不符"
    return None


def set_algorithm(session: Session, algorithm: str, *, now: datetime) -> bool:
    """Switch the algorithm new entries are hashed with (earlier entries keep theirs); audited. Return
    whether anything changed."""
    if algorithm not in ALGORITHMS:
        raise ValidationError(
            f"审计哈希算法应为 {'/'.join(ALGORITHMS)} 之一", fields={"TRACKER_AUDIT_HASH": "取值无效"}
        )
    head = chain_head(session, for_update=True)
    if head.algorithm == algorithm:
        return False
    previous = head.algorithm
    head.algorithm = algorithm
    session.flush()
    session.add(
        AuditEntry(at=now, action="audit.algorithm_changed", detail={"from": previous, "to": algorithm})
    )
    session.flush()
    return True
