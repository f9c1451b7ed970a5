"""Migration 0027 chains the entries written before it, so `verify` holds from the first one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text

from tracker.audit.chain import verify_chain
from tracker.db import engine_for, session_scope
from tracker.migrate import upgrade


def test_existing_entries_are_chained_in_order(blank_database_url):
    upgrade(blank_database_url, "0023")
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with engine_for(blank_database_url).begin() as conn:
        for n, action in enumerate(["login.ok", "contact.revealed", "report.downloaded"]):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, action, object_type, object_id, detail, ip) "
                    "VALUES (:at, :action, 'ticket', :oid, :detail, '10.1.1.1')"
                ),
                {
                    "at": at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else at,
                    "action": action,
                    "oid": str(n),
                    "detail": json.dumps({"字段": "电话", "n": n}, ensure_ascii=False),
                },
            )
    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        result = verify_chain(session)
        assert result.is_intact and result.checked == 3
        rows = session.execute(text("SELECT seq, action FROM audit_log ORDER BY seq")).all()
        assert [tuple(r) for r in rows] == [
            (1, "login.ok"),
            (2, "contact.revealed"),
            (3, "report.downloaded"),
        ]
        # The syslog cursor starts after them: a newly configured receiver gets what comes next.
        assert session.execute(text("SELECT forwarded_seq FROM audit_syslog_cursor")).scalar() == 3
