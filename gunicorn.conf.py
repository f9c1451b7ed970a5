"""gunicorn settings of the web service: the Dockerfile, docker-compose.yml and bench/bench_push.py all
start gunicorn with `-c gunicorn.conf.py` (docs/operations.md §1 explains the choice)."""

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
import os  # noqa: E402

from tracker.config import parse_trusted_proxies  # noqa: E402

forwarded_allow_ips = ",".join(parse_trusted_proxies(os.environ.get("TRACKER_TRUSTED_PROXIES")))
