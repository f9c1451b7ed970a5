"""The dictionary of top-topic labels: a ticket stores the id of the label it counts as (`topic_label_id`).

Every process keeps a copy of the dictionary, rebuilt when `reference_stamp` changes: `topic_labels` is
one of the stamped reference tables (migration 0021), so adding a label gives the stamp a new value. A
transaction that adds a label sees its own new stamp and copy; if it rolls back, that stamp value is
never seen again and the copy holding the label is never used. The labels of an import or a 12345 push
are therefore found without a query per ticket, and a label is added once, by whoever meets it first.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import reference
from tracker.sql.bulk import insert_rows
from tracker.tickets.models import Ticket, TopicLabel, topic_facts


def dictionary(session: Session, stamp: reference.Stamp | None = None) -> MappingProxyType[str, int]:
    """Every label's id, as this process last read them under `stamp` (the current stamp when None)."""
    stamp = stamp or reference.current_stamp(session)
    table = TopicLabel.__table__

    def build() -> MappingProxyType[str, int]:
        return MappingProxyType(dict(session.execute(select(table.c.label, table.c.id)).all()))

    return reference.cached(stamp, "topic_labels", build)


def label_ids(session: Session, labels: Iterable[str | None]) -> dict[str, int]:
    """The ids of `labels` (None left out), adding to the dictionary the labels it does not hold yet."""
    wanted = {label for label in labels if label is not None}
    if not wanted:
        return {}
    known = dictionary(session)
    missing = wanted - known.keys()
    if missing:
        # ON CONFLICT DO NOTHING: another transaction may be adding the same label; it waits for that one
        # to commit. Either way the label is in the dictionary read next (the stamp has moved on).
        insert_rows(
            session,
            TopicLabel.__table__,
            [{"label": label} for label in sorted(missing)],
            ignore_conflicts=True,
        )
        known = dictionary(session)
    return {label: known[label] for label in wanted}


def label_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The labels of `ids` (a report's groups): read from the table, not the cached copy."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    table = TopicLabel.__table__
    return dict(session.execute(select(table.c.id, table.c.label).where(table.c.id.in_(wanted))).all())


def set_topic_facts(session: Session, tickets: Iterable[Ticket]) -> None:
    """Recompute the topic facts kept on each ticket's row (the label it counts as in the annual report's top
    topics, and whether it has several) from its topics and 诉求分类. Called by whatever changes them —
    opening a ticket (planned with its row), an update from its channel, tagging by rule."""
    facts = {}
    for ticket in tickets:
        topics = sorted({t.topic for t in ticket.topics})
        facts[ticket] = topic_facts(topics, ticket.category)
    if not facts:
        return
    ids = label_ids(session, (label for label, _several in facts.values()))
    for ticket, (label, several) in facts.items():
        label_id = None if label is None else ids[label]
        if (ticket.topic_label_id, ticket.has_several_topics) != (label_id, several):
            ticket.topic_label_id, ticket.has_several_topics = label_id, several
