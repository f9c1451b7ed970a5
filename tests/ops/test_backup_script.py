"""scripts/backup.sh, the scheduled backup: a readable dump under its day's name that restores to the
same rows; a failed dump leaves no file that looks like a backup; old dumps pruned, monthly ones kept."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import create_scratch_pg_database, drop_pg_database
from tests.ops.test_backup_restore import libpq, pg_tool, populated, table_digests  # noqa: F401
from tracker.db import dispose_engines

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "backup.sh"

pytestmark = pytest.mark.pg


def _backup(directory: Path, url: str, admin_url: str, day: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TRACKER_BACKUP_DUMP": f"{pg_tool('pg_dump', admin_url)} --format=custom {libpq(url)}",
        "TRACKER_BACKUP_LIST": f"{pg_tool('pg_restore', admin_url)} --list",
        "TRACKER_BACKUP_DATE": day,
    }
    return subprocess.run([str(SCRIPT), str(directory)], env=env, capture_output=True, text=True, timeout=120)


def _age(path: Path, days: int) -> None:
    moment = time.time() - days * 86400
    os.utime(path, (moment, moment))


def test_the_backup_restores_to_the_same_rows_and_old_dumps_are_pruned(populated, pg_admin_url, tmp_path):  # noqa: F811
    backups = tmp_path / "backups"
    backups.mkdir()
    old_daily = backups / "tracker-2026-01-14.dump"
    old_monthly = backups / "tracker-2026-01-01.dump"
    ancient_monthly = backups / "tracker-2024-06-01.dump"
    recent = backups / "tracker-2026-03-01.dump"
    for path, days in ((old_daily, 45), (old_monthly, 45), (ancient_monthly, 500), (recent, 3)):
        path.write_bytes(b"an older dump")
        _age(path, days)
    unrelated = backups / "notes.txt"
    unrelated.write_text("kept")
    _age(unrelated, 900)

    result = _backup(backups, populated, pg_admin_url, "2026-03-04")
    assert result.returncode == 0, result.stderr
    dump = backups / "tracker-2026-03-04.dump"
    assert dump.stat().st_size > 0 and (dump.stat().st_mode & 0o077) == 0  # personal data: owner only
    assert not list(backups.glob("*.partial"))
    assert not old_daily.exists() and not ancient_monthly.exists()
    assert old_monthly.exists() and recent.exists() and unrelated.exists()

    restored = create_scratch_pg_database(pg_admin_url, prefix="h6_backup_script")
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
        assert table_digests(restored) == table_digests(populated)
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, restored)


def test_a_failed_dump_leaves_no_backup_and_prunes_nothing(pg_admin_url, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "tracker-2026-01-14.dump"
    old.write_bytes(b"the last good dump")
    _age(old, 45)
    gone = pg_admin_url.rsplit("/", 1)[0] + "/no_such_database_h6"
    result = _backup(backups, gone, pg_admin_url, "2026-03-04")
    assert result.returncode != 0
    assert not (backups / "tracker-2026-03-04.dump").exists()
    assert not list(backups.glob("*.partial"))
    assert old.exists()  # an old dump is not pruned when tonight's failed
