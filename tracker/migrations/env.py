"""Alembic environment: the URL comes from the caller (tracker.migrate) or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from tracker.db import make_engine
from tracker.schema import metadata as target_metadata  # every model module, listed once

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from tracker.config import Settings

    return Settings.from_env().database_url


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """SQLite's FTS5 search table and its shadow tables are created by migration 0006 in raw SQL, not
    modelled: without this filter `alembic check` (and autogenerate) on SQLite would want to drop them.
    tests/integration/test_migrations.py compares with the same rule (tracker.migrate.modelled)."""
    from tracker.migrate import modelled

    return modelled(obj, name, type_, reflected, compare_to)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds tables (needs named constraints).
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
