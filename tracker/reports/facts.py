"""The facts the annual report reads, kept on the ticket row (issue 7).

A year's report used to derive them on every run from joins over `deadlines` and `ticket_events`, a
cost that grew with the database (docs/benchmarks.md, report). They are now written on the ticket in the transaction that makes
them true, by the one function below, from the same sources and with the same definitions
(docs/annual-report.md, `tracker.reports.scope`):

* ``reply_due_at`` — the ``reply`` deadline's ``due_at`` (extensions, pauses, overrides included):
  `tracker.deadlines.engine` refreshes it whenever it recomputes that deadline;
* ``reply_workdays`` — working days after the receipt day up to and including the day of the first reply
  (`first_replied_at`; the report judges replies by the first) on the
  working-day calendar (NULL while a year in between has no schedule loaded): written at the reply and
  rewritten for the replies a calendar load touches (`tracker.calendar.service.load_year`);
* ``status_changed_at`` and ``history_outcome`` — for applications: the time of the last status event
  and the section 三 result row their history gives (部分公开 once a reply named it; 补正/缴费 never
  came, withdrawn, merged …), which the report combines with the row's own `outcome`: written at every
  status change.

`refresh_facts` is also the migration's backfill (0011), the bulk importer's and the generator's: one
definition for every write path. tests/reports/test_facts.py checks the rows against the history.

The top topics' facts, ``topic_label_id`` (the id in `topic_labels` of the ticket's only topic, or of its
诉求分类 when it has none) and ``has_several_topics``, follow a ticket's topics and 诉求分类; they are kept
by whatever changes those (`tracker.tickets.topics.set_topic_facts`, and the writers of new tickets, which
plan them with the row), both through `tracker.tickets.models.topic_facts`, and
`refresh_topic_facts` below is the same definition in SQL (the backfills, the tests' check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Grouping

from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.reports.disclosure import application_facts
from tracker.tickets.models import Deadline, Ticket, TicketTopic, TopicLabel
from tracker.tickets.topics import label_ids

FACTS = ("reply_due_at", "reply_workdays", "status_changed_at", "history_outcome")
TOPIC_FACTS = ("topic_label_id", "has_several_topics")
DAY_BASE = date(2000, 1, 1)


def _day_number(session: Session, column) -> Any:
    """The Asia/Shanghai calendar day of a stored UTC moment, as days since 2000-01-01, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        # Epoch arithmetic, not timezone(): no per-row zone lookup (China has kept UTC+8 since 1991).
        base = int(datetime.combine(DAY_BASE, time(0), UTC).timestamp())
        return cast(func.floor((func.extract("epoch", column) + (8 * 3600 - base)) / 86400), Integer)
    # SQLite stores naive UTC text; China has had no daylight saving since 1991, so +8 hours is exact.
    return cast(func.julianday(column, "+8 hours") - func.julianday(DAY_BASE.isoformat()), Integer)


@dataclass(frozen=True)
class WorkdayOrdinals:
    """Working-day ordinals for a run of days: ord(d) = working days from `first` up to d (inclusive).

    The difference of two ordinals is the number of working days after the first day up to and including
    the second. Days of years whose schedule was never loaded (and every day after them) have no ordinal,
    so the database leaves those replies out of the averages instead of guessing.
    """

    first: date
    ordinals: tuple[int | None, ...]

    @classmethod
    def build(cls, session: Session, first: date, last: date) -> WorkdayOrdinals:
        calendar = load_calendar(session)
        values: list[int | None] = []
        count, broken = 0, False
        day = first
        while day <= last:
            if broken or day.year not in calendar.loaded_years:
                broken = True
                values.append(None)
            else:
                count += calendar.is_workday(day)
                values.append(count)
            day += timedelta(days=1)
        return cls(first, tuple(values))

    def sql(self, session: Session, day_number) -> Any:
        """The ordinal of the day `day_number` (days since 2000-01-01), as an SQL expression."""
        offset = (self.first - DAY_BASE).days
        if session.get_bind().dialect.name == "postgresql":
            array = bindparam("wd_ords", value=list(self.ordinals), type_=ARRAY(Integer))
            # Parenthesised, or PostgreSQL reads `$1::INTEGER[][i]` as a type with two dimensions.
            return type_coerce(Grouping(array), ARRAY(Integer))[
                day_number - offset + 1
            ]  # PostgreSQL arrays are 1-based

        text = json.dumps(list(self.ordinals))
        index = day_number - offset
        path = func.printf("$[%d]", index)
        # Out of the run (a reply dated before its receipt's year): no ordinal, as PostgreSQL answers.
        return case((index >= 0, cast(func.json_extract(literal(text), path), Integer)))


def refresh_facts(session: Session, condition: Any = None, *, reply_at: Any = None) -> None:
    """Recompute the report facts of the tickets matching `condition` (every ticket when None).

    `reply_at`: the reply whose working days are counted, the first (`first_replied_at`) unless a
    migration older than that column (0011) names `replied_at`.

    UPDATE … FROM statements: the reply facts of the matching tickets (one per year of receipt), then the
    facts of the matching applications. Loaded Ticket objects are expired, so they read the new values.
    """
    session.flush()
    condition = true() if condition is None else condition
    reply_at = Ticket.first_replied_at if reply_at is None else reply_at
    dialect = session.get_bind().dialect.name
    bounds = session.execute(
        select(
            func.min(Ticket.received_at),
            func.max(Ticket.received_at),
            func.max(reply_at),
        ).where(condition)
    ).one()
    if bounds[0] is None:
        return
    received_first, received_last, replied_last = (_local_day(m) if m is not None else None for m in bounds)
    tickets = Ticket.__table__
    for year in range(received_first.year, received_last.year + 1):
        # Counted from 1 January of the receipt's year, as the year's report counts: a year without a
        # schedule leaves the replies after it without a figure, never one from before.
        first, last = date(year, 1, 1), max(date(year, 1, 1), replied_last or received_last)
        ordinals = WorkdayOrdinals.build(session, first, last)
        workdays = case(
            (
                reply_at.is_not(None),
                ordinals.sql(session, _day_number(session, reply_at))
                - ordinals.sql(session, _day_number(session, Ticket.received_at)),
            )
        )
        in_year = and_(
            condition,
            Ticket.received_at >= datetime.combine(first, time(0), BUSINESS_TZ),
            Ticket.received_at < datetime.combine(date(year + 1, 1, 1), time(0), BUSINESS_TZ),
        )
        reply = (
            select(
                Ticket.id.label("id"), Deadline.due_at.label("reply_due_at"), workdays.label("reply_workdays")
            )
            .outerjoin(Deadline, and_(Deadline.ticket_id == Ticket.id, Deadline.kind == "reply"))
            .where(in_year)
            .subquery("reply_facts")
        )
        session.execute(
            update(tickets)
            .where(tickets.c.id == reply.c.id)
            .values(reply_due_at=reply.c.reply_due_at, reply_workdays=reply.c.reply_workdays)
        )
    applications = application_facts(dialect, condition).subquery("application_facts")
    session.execute(
        update(tickets)
        .where(tickets.c.id == applications.c.id)
        .values(
            history_outcome=applications.c.history_outcome,
            status_changed_at=applications.c.status_changed_at,
        )
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Ticket):
            session.expire(obj, FACTS)


def refresh_topic_facts(session: Session, condition: Any = None) -> None:
    """Recompute `topic_label_id` and `has_several_topics` of the tickets matching `condition` (all when
    None), adding the labels the dictionary lacks."""
    session.flush()
    tickets = Ticket.__table__
    matching = true() if condition is None else condition
    own = TicketTopic.ticket_id == tickets.c.id
    # Correlated to the ticket explicitly: they also stand inside the label look-up below.
    n_topics = select(func.count()).where(own).correlate(tickets).scalar_subquery()
    only_topic = select(func.min(TicketTopic.topic)).where(own).correlate(tickets).scalar_subquery()
    label = case((n_topics == 0, tickets.c.category), (n_topics == 1, only_topic))
    labels = session.scalars(select(label).where(matching, label.is_not(None)).distinct())
    label_ids(session, labels)
    labels_table = TopicLabel.__table__
    session.execute(
        update(tickets)
        .where(matching)
        .values(
            topic_label_id=select(labels_table.c.id).where(labels_table.c.label == label).scalar_subquery(),
            has_several_topics=n_topics > 1,
        )
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Ticket):
            session.expire(obj, TOPIC_FACTS)


def _local_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()
