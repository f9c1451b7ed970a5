"""Tickets, their contacts, events and outbox rows, users, departments, deadlines and notifications are
never deleted: no code of the product deletes them.

They are the history and the figures of the annual report. The foreign keys between them (restored by
migration 0023, tests/schema/test_foreign_keys.py) refuse a row that points at nothing; this test
keeps the product from deleting the rows they point at in the first place.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path
    for package in ("tracker", "web", "workers")
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
)
ORM_DELETES = {"tracker/workflow/desk.py"}  # a user's saved queue filter
KEPT = {
    "Ticket": "tickets",
    "Contact": "contacts",
    "TicketEvent": "ticket_events",
    "OutboxMessage": "outbox",
    "User": "users",
    "Department": "departments",
    "Deadline": "deadlines",
    "Notification": "notifications",
}


def deletions(source: str) -> set[str]:
    """Return the kept tables that ``source`` deletes from (ORM ``delete(Model)`` or SQL ``DELETE FROM``)."""
    found = set()
    for model, table in KEPT.items():
        if re.search(rf"\bdelete\(\s*{model}\b", source) or re.search(
            rf"DELETE\s+FROM\s+{table}\b", source, re.IGNORECASE
        ):
            found.add(table)
    # Ticket.deadlines cascades "delete-orphan": taking a deadline off its ticket deletes it.
    if re.search(r"\.deadlines\.(remove|pop|clear)\(|\.deadlines\s*=[^=]", source):
        found.add("deadlines")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_deletes_the_kept_tables(path):
    source = path.read_text(encoding="utf-8")
    assert not deletions(source), f"{path} deletes from {deletions(source)}"
    # An ORM delete names no table: each place that has one is looked at and listed here.
    if "session.delete(" in source:
        assert path.relative_to(ROOT).as_posix() in ORM_DELETES, f"{path}: what does it delete?"


def test_a_deletion_is_detected():
    assert deletions("session.execute(delete(Ticket).where(Ticket.id == 1))") == {"tickets"}
    assert deletions('text("delete from notifications where id = 1")') == {"notifications"}
    assert deletions("ticket.deadlines.remove(deadline)") == {"deadlines"}
    assert deletions("session.execute(delete(HolidayDay))") == set()
