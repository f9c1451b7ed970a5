"""The scale generator writes rows the product reads: counts, events, deadlines, the ORM, new inserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from bench.generate import generate, id_number, query_code
from tests.conftest import create_scratch_pg_database, drop_pg_database
from tracker.db import dispose_engines, session_scope
from tracker.people.access import visible_tickets
from tracker.people.models import User
from tracker.tickets.channels import CHANNELS
from tracker.tickets.drafts import TicketDraft
from tracker.tickets.models import Contact, Deadline, Ticket, TicketEvent
from tracker.tickets.status import OPEN_STATUSES
from tracker.workflow.opening import open_ticket

pytestmark = pytest.mark.pg

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
N = 2_000


@pytest.fixture(scope="module")
def generated(pg_admin_url):
    url = create_scratch_pg_database(pg_admin_url, prefix="h6_generate")
    try:
        summary = generate(url, N, seed=7, now=NOW, open_fraction=0.25, due_fraction=0.1)
        yield url, summary
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


def test_counts_by_channel_match_the_summary(generated):
    url, summary = generated
    with session_scope(url) as session:
        rows = dict(session.execute(select(Ticket.channel, func.count()).group_by(Ticket.channel)).all())
    assert rows == summary.by_channel
    assert sum(rows.values()) == N
    assert set(rows) == set(CHANNELS)
    # Roughly the demo's proportions: hotline the largest, disclosure the smallest share.
    assert rows["hotline"] > rows["website"] > rows["weibo"] > 0 and rows["disclosure"] > 0


def test_every_ticket_has_its_history_and_deadlines(generated):
    url, summary = generated
    with session_scope(url) as session:
        per_ticket = session.execute(
            text(
                "SELECT t.id, count(e.id) AS events,"
                " count(e.id) FILTER (WHERE e.kind = 'ticket.created') AS created"
                " FROM tickets t LEFT JOIN ticket_events e ON e.ticket_id = t.id GROUP BY t.id"
            )
        ).all()
        assert len(per_ticket) == N
        assert all(row.created == 1 for row in per_ticket)
        assert sum(row.events for row in per_ticket) == summary.events
        assert summary.events / N > 3  # created, deadline opened, assigned, started, replied, closed …
        # Every ticket has a reply deadline; closed ones met or cancelled, none left running.
        reply_states = dict(
            session.execute(
                text(
                    "SELECT t.status, count(*) FROM tickets t"
                    " JOIN deadlines d ON d.ticket_id = t.id AND d.kind = 'reply'"
                    " WHERE d.state = 'running' GROUP BY 1"
                )
            ).all()
        )
        assert set(reply_states) <= OPEN_STATUSES
        assert session.scalar(select(func.count()).select_from(Deadline).where(Deadline.kind == "reply")) == N
        # The status each ticket ends in is the status_after of its last status event.
        mismatched = session.scalar(
            text(
                "SELECT count(*) FROM tickets t JOIN LATERAL ("
                "  SELECT status_after FROM ticket_events e WHERE e.ticket_id = t.id"
                "  AND e.status_after IS NOT NULL ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) last ON true"
                " WHERE last.status_after <> t.status"
            )
        )
        assert mismatched == 0


def test_every_reference_has_its_row(generated):
    """The load skips the foreign-key triggers (`session_replication_role = replica`): the rows must
    satisfy every key anyway, or the scale data would hold what the product can never write."""
    from tracker.orm import Base

    url, _summary = generated
    dangling = {}
    with session_scope(url) as session:
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                column, referred = fk.parent.name, fk.column
                count = session.scalar(
                    text(
                        f"SELECT count(*) FROM {table.name} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
                        f"(SELECT 1 FROM {referred.table.name} p WHERE p.{referred.name} = c.{column})"
                    )
                )
                if count:
                    dangling[f"{table.name}.{column}"] = count
    assert dangling == {}


def test_open_and_due_counts_are_exact(generated):
    url, summary = generated
    with session_scope(url) as session:
        open_count = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
        )
        due = session.scalar(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.state == "running", Deadline.next_check_at <= NOW)
        )
    assert open_count == summary.open == N // 4
    assert due == summary.due == N // 4 // 10


def test_the_orm_loads_a_generated_ticket_whole(generated):
    url, _ = generated
    with session_scope(url) as session:
        disclosure = session.scalar(
            select(Ticket).where(Ticket.channel == "disclosure", Ticket.status == "closed").limit(1)
        )
        assert disclosure.number.startswith("GK")
        assert disclosure.outcome and disclosure.reply_text and disclosure.replied_at.tzinfo is not None
        assert disclosure.contact.id_number == id_number(
            disclosure.contact.id_number[:6],
            datetime.strptime(disclosure.contact.id_number[6:14], "%Y%m%d").date(),
            int(disclosure.contact.id_number[14:17]),
        )
        assert disclosure.query_code == query_code(disclosure.id)
        reply = next(d for d in disclosure.deadlines if d.kind == "reply")
        assert reply.due_at > disclosure.received_at and "工作日" in reply.explanation
        hotline = session.scalar(
            select(Ticket).where(Ticket.channel == "hotline", Ticket.topics.any()).limit(1)
        )
        assert hotline.topic_names and hotline.category == hotline.topic_names[0]
        assert {d.kind for d in hotline.deadlines} == {"sign", "reply"}
        rated = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.satisfaction.is_not(None))
        )
        assert rated > N // 3
        # The access rules of the product apply: a staff member sees only their department's tickets.
        staff = session.scalar(select(User).where(User.username == "bench_sme_1"))
        mine = session.scalar(select(func.count()).select_from(Ticket).where(visible_tickets(staff)))
        assert 0 < mine < N
        events = session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == hotline.id).order_by(TicketEvent.id)
        ).all()
        assert events[0].kind == "ticket.created" and events[0].data["number"] == hotline.number


def test_the_product_keeps_inserting_after_the_load(generated):
    """Sequences were moved past the copied ids: open_ticket allocates fresh ids and numbers."""
    url, summary = generated
    with session_scope(url) as session:
        ticket, created = open_ticket(
            session,
            TicketDraft(
                channel="website",
                request_type="咨询",
                subject="生成数据之后的新留言",
                body="请问专精特新申报何时开始？",
                arrived_at=NOW + timedelta(hours=1),
                external_ref="after-load-1",
                department_code="sme",
            ),
            actor="测试",
            now=NOW + timedelta(hours=1),
        )
        assert created and ticket.id == summary.last_ticket_id + 1
        assert session.get(Contact, ticket.contact_id) is not None
        session.rollback()


def test_same_seed_same_rows(pg_admin_url):
    digests = []
    for _ in range(2):
        url = create_scratch_pg_database(pg_admin_url, prefix="h6_generate_seed")
        try:
            generate(url, 150, seed=11, now=NOW, analyze=False)
            with session_scope(url) as session:
                digests.append(
                    session.scalar(
                        text(
                            "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM ("
                            " SELECT tickets.id, number, channel, subject, body, status, received_at,"
                            " replied_at, satisfaction, c.name, c.phone_bidx FROM tickets"  # ciphertext is randomised
                            " JOIN contacts c ON c.id = tickets.contact_id) t"
                        )
                    )
                )
        finally:
            dispose_engines()
            drop_pg_database(pg_admin_url, url)
    assert digests[0] == digests[1]


def test_id_numbers_carry_a_valid_check_character():
    from datetime import date

    # GB 11643 example from the standard: 11010519491231002X
    assert id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


def test_the_report_facts_on_the_rows_equal_what_refresh_facts_derives(generated):
    """The generator writes the report's facts with each row (no UPDATE of a million tickets); they must
    equal what `tracker.reports.facts.refresh_facts` derives from the deadlines, events and calendar."""
    from tracker.reports.facts import FACTS, TOPIC_FACTS, refresh_facts, refresh_topic_facts

    url, _summary = generated
    columns = [Ticket.id, *(getattr(Ticket, name) for name in (*FACTS, *TOPIC_FACTS))]
    with session_scope(url) as session:
        written = session.execute(select(*columns).order_by(Ticket.id)).all()
        assert any(row.history_outcome for row in written) and any(row.reply_workdays for row in written)
        assert any(row.topic_label_id for row in written)
        refresh_facts(session)
        refresh_topic_facts(session)
        derived = session.execute(select(*columns).order_by(Ticket.id)).all()
        session.rollback()
    assert [row for row in written if row not in derived] == []


def _straightforward_figures(session, scope) -> tuple[dict, list]:
    """The interaction counts and topics as anyone would first write them: tickets joined with their reply
    deadline, and with ticket_topics (`joined_topics`), no facts read from the row."""
    from sqlalchemy import and_, case, or_

    from tests.reports.builders import joined_topics
    from tracker.reports.scope import REPORT_CHANNELS

    replied = and_(Ticket.replied_at.is_not(None), Ticket.replied_at < scope.end_at)

    def count_if(condition):
        return func.sum(case((condition, 1), else_=0))

    in_period = and_(Ticket.received_at >= scope.start_at, Ticket.received_at < scope.end_at)
    counts = session.execute(
        select(
            Ticket.channel,
            func.count(),
            count_if(replied),
            count_if(and_(replied, Deadline.due_at.is_not(None), Ticket.replied_at <= Deadline.due_at)),
            count_if(Ticket.satisfaction.is_not(None)),
            count_if(Ticket.satisfaction.in_(("满意", "基本满意"))),
        )
        .outerjoin(Deadline, and_(Deadline.ticket_id == Ticket.id, Deadline.kind == "reply"))
        .where(
            Ticket.channel.in_(REPORT_CHANNELS),
            in_period,
            or_(Ticket.merged_into_id.is_(None), Ticket.channel == "disclosure"),
        )
        .group_by(Ticket.channel)
    ).all()
    return {channel: tuple(int(n) for n in row) for channel, *row in counts}, joined_topics(session, scope)


def test_the_report_from_the_row_facts_equals_the_straightforward_joins(generated):
    """On generated data, the interaction figures and top topics of `ticket_figures` (facts read from the
    rows, one scan) equal the joins over deadlines and ticket_topics — also after some tickets gain a
    second topic (counted from ticket_topics) or are merged into another."""
    from tracker.reports.interactions import ticket_figures
    from tracker.reports.scope import period_scope
    from tracker.tickets.models import TicketTopic
    from tracker.tickets.topics import set_topic_facts

    url, _summary = generated
    with session_scope(url) as session:
        years = sorted(
            {
                received.year
                for received in session.scalars(select(Ticket.received_at))
                if received is not None
            }
        )

        def compare() -> None:
            for year in years:
                scope = period_scope(session, year)
                counts, topics = _straightforward_figures(session, scope)
                figures = ticket_figures(session, scope, topic_limit=1_000)
                assert figures.topics == topics
                for channel, f in figures.interaction.items():
                    assert (f.received, f.replied, f.on_time, f.rated, f.satisfied) == counts.get(
                        channel, (0, 0, 0, 0, 0)
                    ), (year, channel)

        compare()
        messages = session.scalars(
            select(Ticket)
            .where(Ticket.channel == "hotline", Ticket.merged_into_id.is_(None))
            .order_by(Ticket.id)
        ).all()
        assert len(messages) > 100
        for ticket in messages[:60]:
            ticket.topics.append(TicketTopic(topic="第二主题"))
        for ticket in messages[60:70]:
            ticket.merged_into_id = messages[70].id
        session.flush()
        set_topic_facts(session, messages[:60])  # what every writer of topics calls (tagging, intake)
        assert sum(t.has_several_topics for t in messages[:60]) == 60
        compare()
        session.rollback()
