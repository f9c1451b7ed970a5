"""Exactly one beat schedules: a second one waits on the `beat` lease and takes over only when the first
stops renewing it. The lease itself on both databases, then two real beat processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.workers.conftest import stop_process, wait_for
from tracker.db import session_scope
from tracker.ops.leases import current_holder, hold, release

ROOT = Path(__file__).resolve().parents[2]
TTL = timedelta(seconds=60)


def _hold(url, holder, now):
    with session_scope(url) as session:
        return hold(session, "beat", holder, now=now, ttl=TTL)


def test_one_holder_at_a_time_until_it_expires_or_is_released(scratch_url, now):
    url = scratch_url
    assert _hold(url, "a", now)  # a new database: the first to ask
    assert not _hold(url, "b", now)
    assert _hold(url, "a", now + timedelta(seconds=30))  # renewed: runs to now + 90 s
    assert not _hold(url, "b", now + timedelta(seconds=80))
    with session_scope(url) as session:
        assert current_holder(session, "beat", now=now + timedelta(seconds=80)) == "a"
    # a stopped renewing: once the lease has run out, b takes it, and a is refused from then on.
    assert _hold(url, "b", now + timedelta(seconds=91))
    assert not _hold(url, "a", now + timedelta(seconds=92))
    # A clean stop hands over at once.
    with session_scope(url) as session:
        release(session, "beat", "b", now=now + timedelta(seconds=93))
    assert _hold(url, "a", now + timedelta(seconds=93))
    # Releasing somebody else's lease does nothing.
    with session_scope(url) as session:
        release(session, "beat", "b", now=now + timedelta(seconds=94))
        assert current_holder(session, "beat", now=now + timedelta(seconds=94)) == "a"


def _start_beat(tmp_path: Path, name: str, url: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"beat-{name}.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_DATABASE_URL": url,
        "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "TRACKER_SECRET_KEY": "test-secret-key",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("run_beat.py")),
                str(tmp_path / f"schedule-{name}"),
            ],
            env=env,
            cwd=str(ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def _sends(log: Path) -> int:
    return len(re.findall(r"Sending due task probe", log.read_text(errors="replace")))


def _said(log: Path, text: str, process: subprocess.Popen | None = None) -> bool:
    if process is not None and process.poll() is not None:
        raise AssertionError(
            f"beat exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
        )
    return text in log.read_text(errors="replace")


@pytest.mark.slow
def test_two_real_beats_only_one_schedules_and_the_other_takes_over(scratch_url, tmp_path):
    first, first_log = _start_beat(tmp_path, "first", scratch_url)
    second = None
    try:
        wait_for(lambda: _said(first_log, "lease as", first), message="the first beat to take the lease")
        wait_for(lambda: _sends(first_log) >= 1, message="the first beat to schedule")
        second, second_log = _start_beat(tmp_path, "second", scratch_url)
        wait_for(
            lambda: _said(second_log, "held by another beat", second), message="the second beat to stand by"
        )
        # While the first sends three more probes (one a second), the second — asking every half second —
        # schedules nothing.
        seen = _sends(first_log)
        wait_for(lambda: _sends(first_log) >= seen + 3, message="three more probes from the first beat")
        assert _sends(second_log) == 0
        assert second.poll() is None

        # The first dies without a word (no release): the second takes over once the lease runs out.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        wait_for(lambda: _sends(second_log) >= 1, message="the second beat to take over")
        assert _said(second_log, "lease as")
        with session_scope(scratch_url) as session:
            from tracker.clock import utcnow

            holder = current_holder(session, "beat", now=utcnow())
        assert holder is not None and f":{second.pid}:" in holder
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
