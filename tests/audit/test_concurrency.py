"""Two transactions writing audit entries at once never chain off the same predecessor (PostgreSQL, real
connections, real commits)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from tracker.audit.chain import verify_chain
from tracker.db import engine_for, session_factory, session_scope
from tracker.migrate import upgrade
from tracker.people.models import AuditEntry

NOW = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
def pg_url(pg_admin_url):
    from tests.conftest import create_scratch_pg_database, drop_pg_database
    from tracker.db import dispose_engines

    url = create_scratch_pg_database(pg_admin_url, prefix="tracker_audit")
    upgrade(url)
    try:
        yield url
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


def _entry(action: str) -> AuditEntry:
    return AuditEntry(at=NOW, action=action, detail={"who": action})


def _waiting_for_a_lock(url: str, application_name: str) -> bool:
    with engine_for(url).connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                    "AND wait_event_type = 'Lock'"
                ),
                {"name": application_name},
            )
        )


@pytest.mark.pg
def test_a_second_writer_waits_for_the_first_and_chains_off_its_entry(pg_url):
    first = session_factory(pg_url)()
    first.add(_entry("first"))
    first.flush()  # holds the chain's head until it commits
    outcome = {}

    def second_writer():
        with session_scope(pg_url) as session:
            session.execute(text("SET application_name = 'audit-second-writer'"))
            session.add(entry := _entry("second"))
            session.flush()
            outcome["prev"], outcome["seq"] = entry.prev_hash, entry.seq

    thread = threading.Thread(target=second_writer)
    thread.start()
    # Wait (without a clock) until PostgreSQL reports the second writer blocked on the head's row lock.
    while not _waiting_for_a_lock(pg_url, "audit-second-writer"):
        assert thread.is_alive(), "the second writer finished without waiting for the first"
    assert "seq" not in outcome
    first_entry = first.scalars(select(AuditEntry).where(AuditEntry.action == "first")).one()
    first.commit()
    first.close()
    thread.join()
    assert outcome == {"prev": first_entry.entry_hash, "seq": first_entry.seq + 1}
    with session_scope(pg_url) as session:
        assert verify_chain(session).is_intact


@pytest.mark.pg
def test_many_concurrent_writers_leave_one_unbroken_chain(pg_url):
    writers, per_writer = 8, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                with session_scope(pg_url) as session:
                    session.add(_entry(f"w{index}.{n}"))
        except BaseException as exc:  # reported below, with the chain's state
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with session_scope(pg_url) as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, writers * per_writer + 1))
        result = verify_chain(session)
        assert result.is_intact and result.checked == writers * per_writer
