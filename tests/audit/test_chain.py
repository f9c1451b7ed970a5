"""The audit log is a hash chain: every entry, whoever writes it, links to its predecessor, and
`verify_chain` / `tracker audit verify` name the first link an edit, a deletion or an insertion broke."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from tests import factories
from tracker.audit.chain import chain_head, set_algorithm, verify_chain
from tracker.audit.hashing import GENESIS_HASH, digest
from tracker.errors import ValidationError
from tracker.people.models import AuditEntry
from tracker.workflow import doors as ds


def write_entries(session, now, count=5, **detail):
    user = factories.user(session, now=now)
    for index in range(count):
        ds.audit(
            session,
            user,
            "contact.revealed",
            now=now + timedelta(seconds=index),
            object_type="ticket",
            object_id=index,
            detail={"field": "phone", "n": index, **detail},
            ip="10.0.0.1",
        )
    session.flush()
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()


def test_every_entry_links_to_the_one_before(session, now):
    entries = write_entries(session, now)
    assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + len(entries)))
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    assert all(e.hash_algorithm == "sha256" and len(e.entry_hash) == 64 for e in entries)
    head = chain_head(session)
    assert (head.last_seq, head.last_hash) == (entries[-1].seq, entries[-1].entry_hash)
    result = verify_chain(session)
    assert result.is_intact and result.checked == len(entries)


def test_a_new_database_starts_the_chain_at_genesis(blank_database_url, now):
    from tracker.db import session_scope
    from tracker.migrate import upgrade

    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        assert verify_chain(session).is_intact
        assert (chain_head(session).last_seq, chain_head(session).last_hash) == (0, GENESIS_HASH)
        first = write_entries(session, now, count=1)[0]
        assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)


def test_an_altered_entry_is_named(session, now):
    entries = write_entries(session, now)
    target_seq, target_id = entries[2].seq, entries[2].id
    # The attacker edits the row directly (a DBA, an injection): the chain columns are left as they were.
    session.execute(text("UPDATE audit_log SET ip = '192.168.9.9' WHERE seq = :seq"), {"seq": target_seq})
    session.expire_all()
    result = verify_chain(session)
    assert not result.is_intact
    assert (result.broken_seq, result.broken_id) == (target_seq, target_id)
    assert "修改" in result.reason
    assert f"第 {target_seq} 条" in result.summary()


def test_an_edit_that_rehashes_the_entry_breaks_the_next_link(session, now):
    target_seq = write_entries(session, now)[1].seq
    session.execute(
        text("UPDATE audit_log SET entry_hash = :h WHERE seq = :seq"), {"h": "f" * 64, "seq": target_seq}
    )
    session.expire_all()
    result = verify_chain(session)
    # The recomputed hash no longer matches the stored one: the edited entry is named first.
    assert result.broken_seq == target_seq


def test_a_deleted_entry_is_named(session, now):
    deleted = write_entries(session, now)[3].seq
    session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": deleted})
    session.expire_all()
    result = verify_chain(session)
    assert not result.is_intact and result.broken_seq == deleted and "删除" in result.reason


def test_entries_cut_off_the_end_are_found(session, now):
    last = write_entries(session, now)[-1].seq
    session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": last})
    session.expire_all()
    result = verify_chain(session)
    assert not result.is_intact and result.broken_seq == last and "末尾" in result.reason


def test_an_inserted_entry_is_named(session, now):
    third = write_entries(session, now)[2].seq
    # Renumber the tail and forge an entry in the gap, with a self-consistent hash but the wrong link.
    session.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= :seq"), {"seq": third})
    session.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= :seq"), {"seq": third + 1000})
    session.expire_all()
    result = verify_chain(session)
    assert not result.is_intact and result.broken_seq == third


def test_sm3_is_selectable_and_verifies(session, now):
    write_entries(session, now, count=2)
    assert set_algorithm(session, "sm3", now=now) is True
    assert set_algorithm(session, "sm3", now=now) is False  # unchanged: nothing audited twice
    later = write_entries(session, now + timedelta(minutes=1), count=3)
    switched = [e for e in later if e.action == "audit.algorithm_changed"]
    assert switched and switched[0].detail == {"from": "sha256", "to": "sm3"}
    assert later[-1].hash_algorithm == "sm3"
    assert verify_chain(session).is_intact
    with pytest.raises(ValidationError):
        set_algorithm(session, "md5", now=now)


def test_sm3_is_the_national_standard_digest():
    # GB/T 32905-2016, appendix A, example 1.
    assert digest("sm3", b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_tracker_audit_verify_names_the_broken_link(blank_database_url, tmp_path, monkeypatch, now):
    from tracker.cli.main import main
    from tracker.db import session_scope
    from tracker.migrate import upgrade

    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        write_entries(session, now, count=4)
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    env = {"TRACKER_DATABASE_URL": blank_database_url, "TRACKER_INSTANCE_DIR": str(tmp_path)}
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"], env=env)
    assert ok.exit_code == 0 and "完整" in ok.output

    with session_scope(blank_database_url) as session:
        session.execute(text("UPDATE audit_log SET action = 'noop' WHERE seq = :seq"), {"seq": seqs[1]})
    broken = runner.invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert f"第 {seqs[1]} 条" in broken.output and "修改" in broken.output
