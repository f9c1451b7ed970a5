"""Test fixtures: databases migrated once per session, a savepoint per test, an injectable clock.

The suite runs every database test on SQLite and on PostgreSQL. PostgreSQL and Redis are used when
reachable (TRACKER_TEST_DATABASE_URL / TRACKER_TEST_REDIS_URL, defaulting to this machine's services);
under CI=true they are required, and their absence fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.db import make_engine
from tracker.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "TRACKER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TRACKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IS_CI = os.environ.get("CI", "").lower() == "true"

# The personal-data keys of the test run (tracker.pii): fixed, so a database written by one test process
# reads in another (a subprocess inherits the variable). Two keys, the first current, as after a rotation
# began. Never a real key.
TEST_PII_KEYS = (
    "test2:VGhpcyBpcyB0aGUgdGVzdCBQSUkga2V5IG51bWJlciA=,test1:dGVzdCBrZXkgb25lIC0tIG5vdCBhIHJlYWwga2V5ISE="
)
os.environ.setdefault("TRACKER_PII_KEYS", TEST_PII_KEYS)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip when a service is absent on a developer's machine; fail loudly under CI."""
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if IS_CI:
        pytest.fail(f"{message} — required when CI=true", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


def create_scratch_pg_database(admin_url: str, prefix: str = "tracker_test") -> str:
    """Create an empty PostgreSQL database of our own and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database (alembic upgrade heads), once per backend per test session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "tracker.sqlite"
        url = f"sqlite:///{path}"
        upgrade(url)
        _load_reference(url)
        yield url
        return
    admin_url = request.getfixturevalue("pg_admin_url")
    url = create_scratch_pg_database(admin_url)
    try:
        upgrade(url)
        _load_reference(url)
        yield url
    finally:
        from tracker.db import dispose_engines

        dispose_engines()
        drop_pg_database(admin_url, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_database_url(request, tmp_path) -> Iterator[str]:
    """An empty database of the test's own, on each backend, for tests that migrate it themselves."""
    from tracker.db import dispose_engines

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.sqlite'}"
        dispose_engines()
        return
    admin_url = request.getfixturevalue("pg_admin_url")
    url = create_scratch_pg_database(admin_url, prefix="tracker_blank")
    try:
        yield url
    finally:
        dispose_engines()
        drop_pg_database(admin_url, url)


def _load_reference(url: str) -> None:
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope

    with session_scope(url) as session:
        load_reference_data(session)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine):
    with engine.connect() as conn:
        # On SQLite too this emits BEGIN (tracker.db.make_engine), so the sessions' savepoints stay
        # inside the test's transaction and their RELEASE commits nothing.
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection):
    """Sessions that share the test's transaction; their commits only release a savepoint."""

    def make() -> Session:
        return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    return make


@pytest.fixture
def session(session_factory) -> Iterator[Session]:
    s = session_factory()
    yield s
    s.close()


@pytest.fixture
def now() -> datetime:
    """A fixed clock: Wednesday 2026-03-04 10:00 Asia/Shanghai."""
    return datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
            "TRACKER_SECRET_KEY": "test-secret-key",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            # Factories create accounts on the tests' fixed clock (March 2026) while requests run on the
            # real one, so every password would look expired; tests/security/test_passwords.py sets it.
            "TRACKER_PASSWORD_MAX_AGE_DAYS": "0",
        }
    )


@pytest.fixture
def app(settings: Settings, session_factory):
    from web import create_app

    app = create_app({"TESTING": True, "SESSION_FACTORY": session_factory}, settings=settings)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def _test_pii_keys():
    """Every test starts with the test run's keyring installed, whatever an earlier test's app installed."""
    from tracker.pii import cipher
    from tracker.pii.keys import Keyring, parse_keys

    keyring = Keyring(parse_keys(os.environ["TRACKER_PII_KEYS"], what="TRACKER_PII_KEYS"))
    with cipher.using(keyring):
        yield keyring


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch):
    """Block outbound connections except to this machine: tests never send real mail or HTTP."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "localhost", "::1")
            and not host.startswith("/")
        ):
            raise RuntimeError(f"test tried to reach {address!r}; only loopback is allowed")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
