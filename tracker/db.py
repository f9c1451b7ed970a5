"""Engine and sessions. Services take a Session and flush; the caller owns the transaction.

No Session-wide hooks do domain work: what follows a change (a ticket's topic facts, a deadline's first
reminder check, the search row) is written by the service that makes the change, in its transaction.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

import tracker.schema  # noqa: F401 — a complete mapper registry before any session


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the web server read while the worker writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # pysqlite's own transaction handling emits BEGIN only before INSERT/UPDATE/DELETE: reads ran
    # outside any transaction, and a SAVEPOINT issued before the first write opened the transaction
    # itself, so its RELEASE committed for good (SQLAlchemy's documented recipe: the driver stops
    # emitting BEGIN, `_sqlite_begin` emits it at the start of every transaction instead).
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    """Open the transaction at its first statement, taking SQLite's write lock at once.

    IMMEDIATE, not DEFERRED: in WAL mode a deferred transaction that has read and then writes after
    another connection committed cannot upgrade its snapshot and fails with SQLITE_BUSY at once — the
    busy_timeout does not apply to that case — while BEGIN IMMEDIATE waits (busy_timeout) for the one
    writer to finish and then holds a snapshot that is also the latest. Nearly every transaction here
    reads and then writes (a ticket, then its event). The price: read-only transactions queue behind
    writers too, so no transaction may stay open on slow work — the importer commits in batches, the
    outbox relay publishes outside its transaction — and a deployment that needs concurrent writers
    runs on PostgreSQL.
    """
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Tables here grow from empty (a new install, an import, a benchmark) while connections live long:
    # a generic plan cached for a prepared statement while `tickets` was small stays a sequential scan.
    # So the driver prepares nothing by itself: each statement is planned with its values and current
    # statistics. Not plan_cache_mode=force_custom_plan, which re-planned every foreign-key check of every
    # inserted row as well (docs/benchmarks.md). A statement whose plan cannot go wrong so and costs more
    # to plan than to run is prepared on purpose (`prepare=True`: the push's, tracker/workflow/opening.py);
    # psycopg prepares nothing at all under a threshold of None, so the threshold is a count never reached.
    kwargs.setdefault("connect_args", {"prepare_threshold": PREPARE_ONLY_WHEN_ASKED})
    # Connections kept open between uses: one per thread of a web process (gunicorn.conf.py: 8) and its
    # outbox relay; SQLAlchemy's default of 5 made a busy process open new backends (docs/benchmarks.md).
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POOL_SIZE)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


POOL_SIZE = 10
PREPARE_ONLY_WHEN_ASKED = sys.maxsize  # executions of one statement before psycopg prepares it

# A pooled connection that was in use a moment ago is alive; one that sat idle in the pool may have been
# dropped meanwhile (PostgreSQL restarted, a firewall's idle timeout). Only those are pinged before use:
# SQLAlchemy's pool_pre_ping pings at every checkout, a round trip per request (docs/benchmarks.md,
# push). A connection found broken in use
# (a restart within the last seconds) fails that request with 503 (web/errors.py), and SQLAlchemy then
# discards every connection the pool made before it.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    def checkin(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (a new one if need be).
            raise DisconnectionError(f"pooled connection dropped while idle: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """One engine (one pool) per URL per process."""
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = make_engine(url)
        return _ENGINES[url]


def dispose_engines() -> None:
    """Close every pooled connection (at test teardown, and in a process after fork)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _FACTORIES.clear()


def session_factory(url: str) -> sessionmaker[Session]:
    """One factory per URL per process, as the engine: a sessionmaker makes a Session subclass of its
    own, whose event dispatch SQLAlchemy sets up again for the first session of every new class."""
    factory = _FACTORIES.get(url)
    if factory is None:
        engine = engine_for(url)
        with _ENGINES_LOCK:
            factory = _FACTORIES.setdefault(url, sessionmaker(bind=engine, expire_on_commit=False))
    return factory


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Open a session whose transaction commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
