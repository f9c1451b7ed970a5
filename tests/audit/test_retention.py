"""Retention never drops below six months, and the chain still verifies after pruning (the anchor)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from tracker.audit.chain import chain_head, verify_chain
from tracker.audit.models import SyslogCursor
from tracker.audit.retention import MIN_RETENTION_DAYS, prune_expired
from tracker.config import Settings
from tracker.errors import ValidationError
from tracker.people.models import AuditEntry


def _write(session, at, count, action="report.downloaded"):
    for n in range(count):
        session.add(AuditEntry(at=at + timedelta(minutes=n), action=action, detail={"n": n}))
    session.flush()


def _forward_everything(session):
    session.get(SyslogCursor, 1).forwarded_seq = chain_head(session).last_seq
    session.flush()


def test_old_entries_go_and_the_chain_still_verifies(session, now):
    _write(session, now - timedelta(days=400), 3)
    _write(session, now - timedelta(days=10), 2)
    result = prune_expired(session, retention_days=365, now=now, keep_unforwarded=False)
    assert result.deleted == 3
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["report.downloaded", "report.downloaded", "audit.pruned"]
    head = chain_head(session)
    pruning = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.pruned")).one()
    assert pruning.detail["anchor_seq"] == head.anchor_seq == result.anchor_seq
    verification = verify_chain(session)
    assert verification.is_intact and verification.checked == 3
    # Pruning again finds nothing more to delete.
    assert prune_expired(session, retention_days=365, now=now, keep_unforwarded=False).deleted == 0


def test_moving_the_anchor_to_hide_a_deletion_is_found(session, now):
    _write(session, now - timedelta(days=400), 2)
    _write(session, now - timedelta(days=10), 3)
    prune_expired(session, retention_days=365, now=now, keep_unforwarded=False)
    first_kept = session.scalar(select(AuditEntry).order_by(AuditEntry.seq).limit(1))
    # Delete the oldest remaining entry and move the anchor onto it, as a pruning would.
    session.execute(
        text("UPDATE audit_chain SET anchor_seq = :seq, anchor_hash = :hash"),
        {"seq": first_kept.seq, "hash": first_kept.entry_hash},
    )
    session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": first_kept.seq})
    session.expire_all()
    result = verify_chain(session)
    assert not result.is_intact and "锚点" in result.reason


@pytest.mark.parametrize("days", [0, 30, 180, MIN_RETENTION_DAYS - 1])
def test_less_than_six_months_is_refused(session, now, days):
    _write(session, now - timedelta(days=400), 2)
    with pytest.raises(ValidationError) as refused:
        prune_expired(session, retention_days=days, now=now, keep_unforwarded=False)
    assert "TRACKER_AUDIT_RETENTION_DAYS" in refused.value.fields
    assert session.scalar(select(AuditEntry.id).limit(1)) is not None


def test_the_setting_refuses_less_than_six_months(tmp_path):
    env = {"TRACKER_INSTANCE_DIR": str(tmp_path), "TRACKER_AUDIT_RETENTION_DAYS": "90"}
    with pytest.raises(ValueError, match="TRACKER_AUDIT_RETENTION_DAYS"):
        Settings.from_env(env)
    env["TRACKER_AUDIT_RETENTION_DAYS"] = str(MIN_RETENTION_DAYS)
    assert Settings.from_env(env).audit_retention_days == MIN_RETENTION_DAYS
    del env["TRACKER_AUDIT_RETENTION_DAYS"]
    assert Settings.from_env(env).audit_retention_days is None  # kept for ever


def test_entries_not_yet_forwarded_to_syslog_are_kept(session, now):
    _write(session, now - timedelta(days=400), 2)
    _forward_everything(session)
    _write(session, now - timedelta(days=399), 2)  # old, but the receiver has not had them
    result = prune_expired(session, retention_days=365, now=now, keep_unforwarded=True)
    assert result.deleted == 2
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "report.downloaded")).all()) == 2
    assert verify_chain(session).is_intact
