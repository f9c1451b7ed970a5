"""Run Alembic programmatically, so `tracker db upgrade` needs no alembic.ini on the user's side."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def modelled(obj, name, type_, reflected, compare_to) -> bool:
    """Whether autogenerate/`alembic check` should compare this object: not SQLite's FTS5 search table
    `ticket_search_fts` and its shadow tables, which migration 0006 creates in raw SQL (no model)."""
    return not (
        type_ == "table" and reflected and compare_to is None and (name or "").startswith("ticket_search_fts")
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def applied_revisions(url: str) -> set[str]:
    """The revisions the database is at (empty: a database without the schema)."""
    from alembic.migration import MigrationContext

    from tracker.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def upgrade_summary(before: set[str], after: set[str]) -> str:
    """What `tracker db upgrade` tells the operator it did."""
    if not before:
        return f"已在空数据库上创建全部数据表（结构版本 {', '.join(sorted(after))}）。"
    if before == after:
        return f"数据库已是最新结构（版本 {', '.join(sorted(after))}），未做改动。"
    return f"数据库结构已从版本 {', '.join(sorted(before))} 升级到 {', '.join(sorted(after))}。"


def current_heads(url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
