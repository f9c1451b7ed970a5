"""A PostgreSQL pool pings a connection before use only when it sat idle (tracker.db.PING_AFTER_IDLE_SECONDS):
one dropped meanwhile is replaced unnoticed, one used a moment ago costs no extra round trip."""

import pytest
from sqlalchemy import create_engine, text

from tracker import db

pytestmark = pytest.mark.pg


@pytest.fixture
def pool(pg_admin_url):
    engine = db.make_engine(pg_admin_url)
    pings = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        pings.append(1)
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = counted_ping
    try:
        yield engine, pings
    finally:
        engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged(pool):
    engine, pings = pool
    first = _backend_pid(engine)
    assert [_backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_dropped_while_idle_is_replaced_before_use(pool, pg_admin_url, monkeypatch):
    engine, pings = pool
    dropped = _backend_pid(engine)
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # As a restarted server or a firewall's idle timeout leaves it: gone, unbeknown to the pool.
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
    admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle that long
    assert _backend_pid(engine) != dropped
    assert pings == [1]
