"""The worker's healthcheck in docker-compose.yml asks its own worker, not any worker: run the compose
file's own command against real workers on a private Redis."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
import yaml

from tests.workers.conftest import ROOT, start_worker, stop_process, wait_for, worker_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _healthcheck(service: str) -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (command,) = [
        part for part in compose["services"][service]["healthcheck"]["test"] if "inspect ping" in part
    ]
    return command.replace("$$", "$")  # compose's escape; the container's shell sees $HOSTNAME


def _run(command: str, env: dict) -> int:
    full_env = {
        **os.environ,
        **env,
        "HOSTNAME": socket.gethostname(),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["sh", "-c", command], env=full_env, cwd=str(ROOT), capture_output=True, timeout=60
    ).returncode


def test_the_healthcheck_pings_its_own_worker_only(private_redis, tmp_path):
    from tracker.migrate import upgrade

    # The broker is what is checked; the database only takes the worker's heartbeats.
    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}"
    upgrade(url)
    _, env = worker_settings(tmp_path, url, private_redis.url)
    # The `worker` service's node (celery@host) is up; the `worker-bulk` service's (bulk@host) is not.
    worker = start_worker(env, name="celery")
    try:
        wait_for(
            lambda: _run(_healthcheck("worker"), env) == 0, message="the worker to answer its healthcheck"
        )
        # Another container's check, asking for its own node, fails even though a worker answers here.
        assert _run(_healthcheck("worker-bulk"), env) != 0
    finally:
        stop_process(worker)
    assert _run(_healthcheck("worker"), env) != 0  # and its own fails once it is gone
