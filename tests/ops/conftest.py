"""The real-worker fixtures of tests/workers (a committed scratch database, a private redis-server),
shared here rather than copied."""

from tests.workers.conftest import pg_scratch_url, private_redis, scratch_url  # noqa: F401
