"""/metrics under gunicorn with the project's gunicorn.conf.py: two worker processes each count the
requests they serve, and a scrape — answered by either process — adds both up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.workers.conftest import free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_scrape_adds_up_every_gunicorn_worker(tmp_path):
    from tracker.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}"
    upgrade(url)
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_DATABASE_URL": url,
        "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "TRACKER_SECRET_KEY": "gunicorn-test",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        "TRACKER_METRICS_ALLOW": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier start")  # cleared at start
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "web.wsgi:app",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    sent = 0

    def get(path: str) -> bytes:
        # A new connection each time, so the two processes take turns accepting.
        request = urllib.request.Request(base + path, headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def both_processes_served() -> bool:
        nonlocal sent
        if server.poll() is not None:
            raise AssertionError("gunicorn did not start")
        try:
            get("/livez")
        except OSError:
            return False
        sent += 1
        pids = {m.group(1) for f in metrics_dir.iterdir() if (m := re.match(r"counter_(\d+)\.db$", f.name))}
        return len(pids) >= 2

    try:
        wait_for(both_processes_served, interval=0.01, message="both gunicorn workers to serve a request")
        assert not (metrics_dir / "counter_999999.db").exists()
        text = get("/metrics").decode()
    finally:
        stop_process(server)
    counted = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tracker_http_requests_total" and sample.labels["route"] == "/livez":
                counted += sample.value
    assert counted == sent
