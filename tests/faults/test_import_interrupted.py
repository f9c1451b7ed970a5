"""An import killed half-way (SIGKILL, as when a server is switched off) leaves nothing half-imported,
and running the same command again completes it — each row exactly once.

`tracker import hotline FILE` runs in a real process against a scratch PostgreSQL database; the test
watches pg_stat_activity until the import's transaction has started writing, lets it write a while
longer, then kills the process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import create_scratch_pg_database, drop_pg_database
from tests.intake.helpers import write_many_orders
from tracker.db import dispose_engines

pytestmark = [pytest.mark.pg, pytest.mark.slow, pytest.mark.timeout(900)]

ROWS = 4_000  # enough for several batches of 1,000; the kill comes after the first write
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch(pg_admin_url):
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from tracker.people.service import create_department

    url = create_scratch_pg_database(pg_admin_url, prefix="h6_import_kill")
    try:
        upgrade(url)
        with session_scope(url) as session:
            load_reference_data(session)
            create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
        yield url
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


def _tracker(url: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_SECRET_KEY": "import-fault-test",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from tracker.cli.main import main; main()", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("tickets", "contacts", "ticket_events", "deadlines", "outbox")
        }


def _writing(engine, database: str) -> bool:
    """True once another session on this database holds a transaction that has written something."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db"
                    " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                ),
                {"db": database},
            ).scalar()
        )


def test_a_killed_import_leaves_nothing_and_a_rerun_completes_it(scratch, tmp_path):
    path = write_many_orders(tmp_path / "hotline.csv", "SJZ-KILL", ROWS)
    engine = create_engine(scratch)
    database = scratch.rsplit("/", 1)[1]
    process = _tracker(scratch, tmp_path, "import", "hotline", str(path))
    deadline = time.monotonic() + 240
    while not _writing(engine, database):
        assert process.poll() is None, f"the import ended before it was killed: {process.communicate()}"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.05)
    time.sleep(0.3)  # let it write a little more
    if process.poll() is not None:
        process.communicate()
        pytest.fail("the import finished before it could be interrupted; use more rows")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # Nothing half-imported: the killed transaction is gone as a whole.
    time.sleep(0.5)
    assert _counts(engine) == {"tickets": 0, "contacts": 0, "ticket_events": 0, "deadlines": 0, "outbox": 0}

    rerun = _tracker(scratch, tmp_path, "import", "hotline", str(path))
    try:
        out, err = rerun.communicate(timeout=600)
    finally:
        rerun.kill()
    assert rerun.returncode == 0, err[-2000:]
    assert f"导入 {ROWS} 条" in out
    counts = _counts(engine)
    assert counts["tickets"] == counts["contacts"] == ROWS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT external_ref) FROM tickets")).scalar() == ROWS
        created = conn.execute(
            text("SELECT count(*) FROM ticket_events WHERE kind = 'ticket.created'")
        ).scalar()
        assert created == ROWS

    # And a third run adds nothing.
    again = _tracker(scratch, tmp_path, "import", "hotline", str(path))
    try:
        out, err = again.communicate(timeout=600)
    finally:
        again.kill()
    assert again.returncode == 0, err[-2000:]
    assert "导入 0 条" in out
    assert _counts(engine)["tickets"] == ROWS
    engine.dispose()
