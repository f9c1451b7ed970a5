"""The report's facts on the ticket row (tracker.reports.facts) agree with the deadlines and the history."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests import factories
from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ, local
from tracker.deadlines import service as deadlines
from tracker.reports.disclosure import application_facts, disclosure_counts
from tracker.reports.facts import TOPIC_FACTS, refresh_facts, refresh_topic_facts
from tracker.reports.interactions import interaction_figures, interaction_ticket_ids, ticket_figures
from tracker.reports.scope import period_scope
from tracker.tickets.models import Deadline, Ticket, TicketEvent, TopicLabel
from tracker.tickets.topics import label_ids, set_topic_facts
from tracker.workflow import transitions as svc
from tracker.workflow.routing import save_topic_rule, tag_ticket

from .builders import application, at, close, joined_topics, message, reply, reply_and_close


def _workdays(calendar, received, replied) -> int:
    """Working days after the receipt day up to and including the reply day, counted day by day."""
    day, last, n = received.date() + timedelta(days=1), replied.date(), 0
    while day <= last:
        n += calendar.is_workday(day)
        day += timedelta(days=1)
    return n


def fact_mismatches(session, ticket_ids) -> list[tuple[int, str, object, object]]:
    """(ticket, fact, on the row, from the source) for every fact that disagrees with its source."""
    calendar = load_calendar(session)
    history = {
        row.id: row
        for row in session.execute(
            application_facts(session.get_bind().dialect.name, Ticket.id.in_(ticket_ids))
        )
    }
    wrong = []
    for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))):
        due = session.scalar(
            select(Deadline.due_at).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply")
        )
        expected = {
            "reply_due_at": due,
            "reply_workdays": None,
            "status_changed_at": None,
            "history_outcome": None,
        }
        # Working days to the FIRST 答复 (issue 18: a ticket is judged by its first answer), and the first
        # answer is the earliest status event into 已答复.
        first_reply = session.scalar(
            select(func.min(TicketEvent.occurred_at)).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.status_after == "replied"
            )
        )
        if first_reply is not None and ticket.first_replied_at != first_reply:
            wrong.append((ticket.id, "first_replied_at", ticket.first_replied_at, first_reply))
        if ticket.first_replied_at is not None:
            expected["reply_workdays"] = _workdays(
                calendar, local(ticket.received_at), local(ticket.first_replied_at)
            )
        if ticket.channel == "disclosure":
            expected["status_changed_at"] = session.scalar(
                select(func.max(TicketEvent.occurred_at)).where(
                    TicketEvent.ticket_id == ticket.id,
                    TicketEvent.status_after.is_not(None),
                    TicketEvent.kind != "ticket.created",
                )
            )
            expected["history_outcome"] = history[ticket.id].history_outcome
        for name, value in expected.items():
            if getattr(ticket, name) != value:
                wrong.append((ticket.id, name, getattr(ticket, name), value))
    return wrong


def _dataset(session, office):
    t = {}
    t["hot"] = message(session, office, "2023-03-01 10:00", replied="2023-03-09 16:00")
    t["web"] = message(session, office, "2023-09-28 10:00", channel="website", replied="2023-10-09 09:00")
    t["open"] = message(session, office, "2023-05-01 10:00")
    t["public"] = application(session, office, "2023-03-01 10:00")
    reply_and_close(session, t["public"], "2023-03-20 10:00", "public")
    t["no_correction"] = application(session, office, "2023-04-03 10:00")
    svc.transition(
        session, t["no_correction"], "request_correction", actor="测试", now=at("2023-04-04 10:00")
    )
    close(session, t["no_correction"], "2023-04-28 10:00")
    t["partial"] = application(session, office, "2023-06-01 10:00")
    reply(session, t["partial"], "2023-06-10 10:00", "partial")
    svc.transition(session, t["partial"], "reopen", actor="测试", now=at("2023-06-12 10:00"))
    reply_and_close(session, t["partial"], "2023-06-20 10:00", "public")
    t["withdrawn"] = application(session, office, "2023-07-03 10:00")
    svc.transition(session, t["withdrawn"], "withdraw", actor="测试", now=at("2023-07-05 10:00"))
    t["carried_out"] = application(session, office, "2023-12-29 10:00")
    return t


def test_facts_on_the_rows_equal_deadlines_history_and_calendar(session, bureau):
    _root, office, _other = bureau
    t = _dataset(session, office)
    ids = [ticket.id for ticket in t.values()]
    assert fact_mismatches(session, ids) == []
    assert t["hot"].reply_workdays == 6  # 2–9 March 2023: six working days after the receipt day
    assert t["web"].reply_workdays == 3  # National Day holiday; 7 and 8 October (调休) and the 9th
    assert t["no_correction"].history_outcome == "other_no_correction"
    assert t["partial"].history_outcome == "partial"
    assert t["withdrawn"].history_outcome == "other"

    # The check can fail: a row written by a path that forgot a fact is named.
    t["hot"].reply_workdays = 99
    t["withdrawn"].history_outcome = None
    session.flush()
    wrong = {(ticket_id, name) for ticket_id, name, _row, _source in fact_mismatches(session, ids)}
    assert wrong == {(t["hot"].id, "reply_workdays"), (t["withdrawn"].id, "history_outcome")}

    # The backfill (migration 0011, the generator, the bulk importer) writes the same facts.
    session.execute(
        Ticket.__table__.update()
        .where(Ticket.id.in_(ids))
        .values(reply_due_at=None, reply_workdays=None, status_changed_at=None, history_outcome=None)
    )
    session.expire_all()
    refresh_facts(session, Ticket.id.in_(ids))
    assert fact_mismatches(session, ids) == []


def test_report_read_from_the_rows_equals_the_report_read_from_the_history(session, bureau):
    """Section 三 from the rows (settled applications) and from the history (everything else) agree:
    the same applications counted once with the rows, and with `status_changed_at` cleared after a
    change past the end of the year (which sends them through the history)."""
    root, office, _other = bureau
    t = _dataset(session, office)
    scope = period_scope(session, 2023, department_code=root.code)
    from_rows = disclosure_counts(session, scope).cells
    # A change after 31 December sends an application through its history; the cells stay the same.
    svc.transition(session, t["carried_out"], "start", actor="测试", now=at("2024-01-03 10:00"))
    assert t["carried_out"].status_changed_at is not None
    assert disclosure_counts(session, scope).cells == from_rows
    assert from_rows[("new", "自然人")] == 5
    assert from_rows[("carried_out", "自然人")] == 1


def test_reply_after_an_extension_is_on_time_against_the_extended_deadline(session, bureau):
    root, office, _other = bureau
    ticket = application(session, office, "2023-03-01 10:00")
    first_due = ticket.reply_due_at
    assert first_due is not None and first_due == deadlines.get_deadline(ticket, "reply").due_at
    deadlines.extend_deadline(
        session,
        ticket,
        length=20,
        approver="科室负责人",
        reason="需要调取档案",
        now=at("2023-03-20 10:00"),
        actor="测试",
    )
    assert ticket.reply_due_at == deadlines.get_deadline(ticket, "reply").due_at > first_due
    replied = first_due + timedelta(days=3)
    reply_and_close(session, ticket, replied.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M"), "public")
    scope = period_scope(session, 2023, department_code=root.code)
    figures = interaction_figures(session, scope)["disclosure"]
    assert (figures.replied, figures.on_time) == (1, 1)
    assert list(session.scalars(interaction_ticket_ids(session, scope, "disclosure", "late"))) == []
    assert fact_mismatches(session, [ticket.id]) == []


def topic_fact_mismatches(session, ticket_ids) -> list[tuple[int, str, object, object]]:
    """(ticket, fact, on the row, from its topics) for every topic fact the straightforward reading of
    ticket_topics (`refresh_topic_facts`, in SQL) disagrees with."""
    columns = [Ticket.id, *(getattr(Ticket, name) for name in TOPIC_FACTS)]
    query = select(*columns).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)
    session.flush()
    written = session.execute(query).all()
    savepoint = session.begin_nested()
    refresh_topic_facts(session, Ticket.id.in_(ticket_ids))
    derived = session.execute(query).all()
    savepoint.rollback()
    session.expire_all()
    return [
        (row.id, name, getattr(row, name), getattr(other, name))
        for row, other in zip(written, derived, strict=True)
        for name in TOPIC_FACTS
        if getattr(row, name) != getattr(other, name)
    ]


def test_topic_facts_follow_every_path_that_writes_topics_or_the_category(session, bureau):
    """Intake with no, one or several topics; tagging rules adding topics; a re-sent order changing its
    诉求分类; topics removed; each leaves the row's topic facts equal to its ticket_topics."""
    _root, office, _other = bureau
    none = message(session, office, "2023-03-01 10:00", category="供暖")
    bare = message(session, office, "2023-03-01 11:00")
    one = message(session, office, "2023-03-02 10:00", topics=["电信资费"], category="通信")
    several = message(session, office, "2023-03-03 10:00", topics=["电信资费", "新能源汽车"])
    ids = [none.id, bare.id, one.id, several.id]

    def label(ticket):
        session.flush()
        return None if ticket.topic_label_id is None else session.get(TopicLabel, ticket.topic_label_id).label

    assert [(label(t), t.has_several_topics) for t in (none, bare, one, several)] == [
        ("供暖", False),
        (None, False),
        ("电信资费", False),
        (None, True),
    ]
    assert topic_fact_mismatches(session, ids) == []

    # A tagging rule adds a topic: the category gives way to it, then a second one makes two.
    save_topic_rule(session, topic="施工噪音", keywords=["噪音"], now=at("2023-03-04 10:00"))
    assert tag_ticket(session, none, now=at("2023-03-04 10:00")) == ["施工噪音"]
    assert tag_ticket(session, one, now=at("2023-03-04 10:00")) == ["施工噪音"]
    session.flush()
    assert (label(none), none.has_several_topics) == ("施工噪音", False)
    assert (label(one), one.has_several_topics) == (None, True)

    # A re-sent order with another 诉求分类 changes what a ticket without topics counts as.
    draft = factories.draft(external_ref=bare.external_ref, category="道路维修")
    svc.update_from_draft(session, bare, draft, actor="测试", now=at("2023-03-05 10:00"))
    session.flush()
    assert label(bare) == "道路维修"

    # Topics removed (no product path removes one today; whatever does calls set_topic_facts): back to
    # one topic, then to the category.
    several.topics = [t for t in several.topics if t.topic == "新能源汽车"]
    none.topics.clear()
    session.flush()
    set_topic_facts(session, [several, none])
    assert (label(several), several.has_several_topics) == ("新能源汽车", False)
    assert label(none) == "供暖"
    assert topic_fact_mismatches(session, ids) == []

    # The check can fail: a row written by a path that bypassed the hook is named.
    telecoms = label_ids(session, ["电信资费"])["电信资费"]
    session.execute(Ticket.__table__.update().where(Ticket.id == one.id).values(topic_label_id=telecoms))
    session.execute(Ticket.__table__.update().where(Ticket.id == bare.id).values(has_several_topics=True))
    wrong = {(ticket_id, name) for ticket_id, name, _row, _source in topic_fact_mismatches(session, ids)}
    assert wrong == {(one.id, "topic_label_id"), (bare.id, "has_several_topics")}
    # The backfill (migration 0012) writes them back.
    refresh_topic_facts(session, Ticket.id.in_(ids))
    assert topic_fact_mismatches(session, ids) == []


def test_top_topics_from_the_rows_equal_the_join_with_ticket_topics(session, bureau):
    """The report's topics (labels on the rows, several topics from ticket_topics) equal the straightforward
    LEFT JOIN of the period's tickets with their topics, for the bureau and for one department."""
    root, office, other = bureau
    message(session, office, "2023-02-01 10:00", topics=["电信资费", "新能源汽车"])
    message(session, office, "2023-02-02 10:00", topics=["电信资费"], category="通信")
    message(session, other, "2023-02-03 10:00", channel="website", category="通信")
    message(session, other, "2023-02-04 10:00", channel="weibo", topics=["供暖", "电信资费", "物业"])
    message(session, office, "2023-02-05 10:00", category="供暖")
    message(session, office, "2022-12-31 10:00", topics=["物业", "供暖"])  # the year before
    merged = message(session, office, "2023-02-06 10:00", topics=["物业", "新能源汽车"])
    merged.merged_into_id = message(session, office, "2023-02-06 11:00", category="物业").id
    tagged = application(session, office, "2023-02-07 10:00")
    save_topic_rule(session, topic="供暖", keywords=["批复"], now=at("2023-02-07 10:00"))
    assert tag_ticket(session, tagged, now=at("2023-02-07 10:00")) == ["供暖"]
    session.flush()

    for code in (root.code, office.code, other.code):
        scope = period_scope(session, 2023, department_code=code)
        assert ticket_figures(session, scope, topic_limit=100).topics == joined_topics(session, scope)
    bureau_topics = ticket_figures(session, period_scope(session, 2023, department_code=root.code)).topics
    assert bureau_topics[:3] == [("电信资费", 3), ("供暖", 2), ("物业", 2)]
