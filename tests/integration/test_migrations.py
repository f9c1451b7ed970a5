"""Models and migrations never drift, on SQLite and on PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tracker.migrate import current_heads, upgrade
from tracker.models import Base


def _modelled(obj, name, type_, reflected, compare_to):
    # SQLite's FTS5 search table and its shadow tables are created by the migration, not modelled.
    return not (
        type_ == "table" and reflected and compare_to is None and (name or "").startswith("ticket_search_fts")
    )


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_database_is_at_every_head(engine, database_url):
    with engine.connect() as conn:
        applied = set(MigrationContext.configure(conn).get_current_heads())
    assert applied == current_heads(database_url)


def test_upgrade_is_idempotent(database_url):
    upgrade(database_url)  # a second run changes nothing and does not fail


def test_history_is_one_line(database_url):
    # Two changes developed side by side can both follow the same revision; `upgrade heads` would then apply
    # them in an order nobody chose. Re-chain the later one onto the other (down_revision) instead.
    assert len(current_heads(database_url)) == 1, f"several migration heads: {current_heads(database_url)}"
