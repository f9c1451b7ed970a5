"""Private service instances for fault tests: stopping the shared PostgreSQL would disturb other tests.

`PrivatePostgres` runs its own cluster (initdb + pg_ctl from /usr/lib/postgresql/<major>/bin) in a temp
directory on a free port, as the `postgres` system user when the tests run as root (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        pytest.fail(
            f"{name} is not installed (needed for the private PostgreSQL of the fault tests)", pytrace=False
        )
    return found


class PrivatePostgres:
    """A throw-away PostgreSQL cluster that a test may stop and start at will."""

    def __init__(self, base: Path | None = None):
        # Not under pytest's tmp dir: that one is private to root, and the cluster runs as `postgres`.
        base = base or Path(tempfile.mkdtemp(prefix="tracker-private-pg-"))
        self.base = base
        self.port = free_port()
        self.dir = base / "pgdata"
        self.socket_dir = base / "pgsock"
        self.log = base / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
        for path in (base, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(base, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres")
            os.chmod(base, 0o755)

    def _run(self, *args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as_user, *args], check=check, capture_output=True, text=True, timeout=timeout
        )

    def init(self) -> PrivatePostgres:
        self._run(
            _pg_bin("initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.dir),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop at once (`immediate`: like a crash — connections cut, no checkpoint)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def is_running(self) -> bool:
        return self._run(_pg_bin("pg_ctl"), "-D", str(self.dir), "status", check=False).returncode == 0

    def wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("private PostgreSQL did not come back")
