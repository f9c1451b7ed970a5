"""The dictionary of top-topic labels (tracker.tickets.topics): each label once, and a process's copy never
hands out the id of a label whose transaction rolled back."""

import threading
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.tickets.models import TopicLabel
from tracker.tickets.topics import dictionary, label_ids


def _count(session: Session, label: str) -> int:
    return session.scalar(select(func.count()).select_from(TopicLabel).where(TopicLabel.label == label))


def test_a_label_added_in_a_rolled_back_transaction_is_not_used_afterwards(engine):
    label = f"回滚-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session:
        added = label_ids(session, [label, None])
        assert dictionary(session)[label] == added[label] and None not in added
        session.rollback()
    with Session(engine) as session:
        assert label not in dictionary(session)  # the copy built inside the rolled-back transaction is gone
        again = label_ids(session, [label])[label]
        assert session.get(TopicLabel, again).label == label
        session.commit()
    with Session(engine) as session:
        assert label_ids(session, [label, label]) == {label: again} and _count(session, label) == 1


# PostgreSQL only: on SQLite one writer holds the whole database until it commits, so there is no race.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_transactions_adding_the_same_label_get_the_same_row(engine):
    label = f"并发-{uuid.uuid4().hex[:8]}"
    first = Session(engine)
    first_id = label_ids(first, [label])[label]  # inserted, not committed: the second insert waits on it
    seen: dict[str, int] = {}

    def second() -> None:
        with Session(engine) as session:
            seen.update(label_ids(session, [label]))
            session.commit()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # waiting for the first transaction
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert seen == {label: first_id}
    with Session(engine) as session:
        assert _count(session, label) == 1
