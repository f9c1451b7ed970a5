"""Backup and restore as docs/operations.md describes them: pg_dump -Fc, then pg_restore, round trip.

Uses the pg_dump/pg_restore of the server's major version (/usr/lib/postgresql/<major>/bin), two
scratch databases of our own, and compares every table row for row.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests import factories
from tests.conftest import create_scratch_pg_database, drop_pg_database
from tracker.bootstrap import load_reference_data
from tracker.db import dispose_engines, session_scope
from tracker.migrate import current_heads, upgrade
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Ticket
from tracker.workflow.transitions import close_ticket, reply_ticket

pytestmark = pytest.mark.pg


def pg_tool(name: str, admin_url: str) -> str:
    """The client binary matching the server's major version (a newer pg_dump refuses nothing, an
    older one refuses a newer server — so prefer the exact major)."""
    engine = create_engine(admin_url)
    with engine.connect() as conn:
        major = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    engine.dispose()
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} for PostgreSQL {major} is not installed", pytrace=False)
    return found


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every table."""
    engine = create_engine(url)
    digests = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            count, digest = conn.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
                )
            ).one()
            digests[table] = (count, digest)
    engine.dispose()
    return digests


@pytest.fixture
def populated(pg_admin_url, now):
    url = create_scratch_pg_database(pg_admin_url, prefix="h6_backup_src")
    try:
        upgrade(url)
        with session_scope(url) as session:
            load_reference_data(session)
            dept = factories.department(session, "sme", "中小企业服务处")
            staff = factories.user(session, role="staff", dept=dept, now=now, username="backup_staff")
            for i in range(12):
                ticket = factories.ticket(
                    session,
                    now=now + timedelta(hours=i),
                    dept=dept,
                    subject=f"备份测试工单{i}：含'引号'与\\反斜杠",
                    contact=ContactDraft(name="王秀英", phone=f"1381234{i:04d}"),
                )
                if i % 3 == 0:
                    reply_ticket(session, ticket, "已答复。", actor=staff, now=now + timedelta(days=1))
                    close_ticket(session, ticket, actor=staff, now=now + timedelta(days=2))
        yield url
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


def test_pg_dump_and_pg_restore_round_trip(populated, pg_admin_url, tmp_path, now):
    dump = tmp_path / "tracker.dump"
    # The documented backup command: custom format, compressed, restorable table by table.
    subprocess.run(
        [pg_tool("pg_dump", pg_admin_url), "--format=custom", "--file", str(dump), libpq(populated)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert dump.stat().st_size > 0
    listing = subprocess.run(
        [pg_tool("pg_restore", pg_admin_url), "--list", str(dump)], check=True, capture_output=True, text=True
    ).stdout
    assert "TABLE DATA public tickets" in listing and "alembic_version" in listing

    restored = create_scratch_pg_database(pg_admin_url, prefix="h6_backup_dst")
    try:
        subprocess.run(
            [
                pg_tool("pg_restore", pg_admin_url),
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                libpq(restored),
                str(dump),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        source, copy = table_digests(populated), table_digests(restored)
        assert set(copy) == set(source)
        assert copy == source
        assert source["tickets"][0] == 12 and source["ticket_events"][0] > 12

        # The restored database is at every migration head and the product works on it, sequences included.
        engine = create_engine(restored)
        with engine.connect() as conn:
            applied = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        engine.dispose()
        assert applied == current_heads(restored)
        upgrade(restored)  # nothing to do, and no failure
        with session_scope(restored) as session:
            ticket = factories.ticket(
                session, now=now + timedelta(days=3), dept=factories.department(session, "sme")
            )
            assert ticket.id == 13 and ticket.deadlines
            old = session.get(Ticket, 1)
            assert old.contact.phone == "13812340000" and old.status == "closed"
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, restored)


def test_restore_over_a_damaged_database_brings_it_back(populated, pg_admin_url, tmp_path):
    """`pg_restore --clean --if-exists` over the live database undoes a mistake made after the backup."""
    dump = tmp_path / "before.dump"
    subprocess.run(
        [pg_tool("pg_dump", pg_admin_url), "-Fc", "-f", str(dump), libpq(populated)], check=True, timeout=120
    )
    before = table_digests(populated)
    dispose_engines()
    engine = create_engine(populated)
    try:
        with engine.begin() as conn:  # the mistake
            conn.execute(text("UPDATE contacts SET phone_ct = NULL, phone_bidx = NULL"))  # stored encrypted
            conn.execute(text("DELETE FROM ticket_topics"))
    finally:
        engine.dispose()  # closed even when the statement fails: no connection left for a later test
    assert table_digests(populated) != before
    subprocess.run(
        [
            pg_tool("pg_restore", pg_admin_url),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            libpq(populated),
            str(dump),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert table_digests(populated) == before
