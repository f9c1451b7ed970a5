"""gunicorn settings of the web service: the Dockerfile, docker-compose.yml and bench/bench_push.py all
start gunicorn with `-c gunicorn.conf.py` (docs/operations.md §1 explains the choice)."""

import glob
import os
import tempfile

from tracker.config import parse_trusted_proxies

# Inside the container; docker-compose publishes it on 127.0.0.1 only, for the reverse proxy.
bind = "0.0.0.0:8000"
# Threaded workers: a thread waiting on PostgreSQL or the network leaves the core to another, and kept-alive
# connections (the 12345 platform pushes over one) are served without a new TCP handshake per request.
worker_class = "gthread"
workers = 2
threads = 8
keepalive = 30
timeout = 60

# gunicorn believes X-Forwarded-Proto only from the proxies the tracker itself trusts (web/proxies.py,
# TRACKER_TRUSTED_PROXIES): one list, so the two never disagree about who may say "this was HTTPS".
# Empty: gunicorn believes nobody's forwarded headers (its own default would trust 127.0.0.1).
forwarded_allow_ips = ",".join(parse_trusted_proxies(os.environ.get("TRACKER_TRUSTED_PROXIES")))

# Access log lines (when --access-logfile is given) carry the path, never the query string: searches
# and filters hold citizens' names and phone numbers. %(U)s is the path alone; %(r)s would be the line.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s'

# /metrics adds up the request counters of every worker process (prometheus_client's multiprocess mode,
# web/observability.py): each process writes its own files here. Set before the workers import the app;
# a fresh directory per server start, so figures of processes from an earlier start are not counted.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tracker-metrics-")


def on_starting(server):
    # Only prometheus_client's own files: the directory may have been given as one that holds others.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    # The dead process's gauges would otherwise stay; its counters are kept (they are totals).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
