"""The push's path, `opening.open_if_new` (on PostgreSQL one statement: look-up, reference stamp check and
every write), writes exactly what `open_ticket` writes, writes nothing for an order it has already, and
computes again when the reference data changed since this process last read it."""

from dataclasses import replace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tests import factories
from tests.workflow.test_opening import drafts, snapshot
from tracker import reference
from tracker.tickets import topics as topic_labels
from tracker.tickets.drafts import CONTACT_FIELDS, ContactDraft
from tracker.tickets.models import Contact, Ticket, TicketEvent, TopicLabel
from tracker.tickets.outbox import OutboxMessage
from tracker.tickets.topics import label_ids
from tracker.workflow import opening
from tracker.workflow.opening import open_if_new, open_ticket

# Every column the push writes, but those that differ from ticket to ticket by design.
TICKET_FIELDS = tuple(
    c for c in opening.TICKET_COLUMNS if c not in ("number", "external_ref", "contact_id", "query_code")
)


def _push(session, draft, now, **options):
    return open_if_new(session, draft, actor="API:12345平台", now=now, index_search=False, **options)


def _history(session, ticket_id):
    return session.execute(
        select(TicketEvent.kind, TicketEvent.actor_label)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
    ).all()


def test_push_path_equals_open_ticket_path(session, now):
    dept = factories.department(session, "bureau", "市工业和信息化局")
    # Applications take the batched path with their report facts (not the push's one statement).
    pushed = [d for d in drafts("P") if d.channel != "disclosure"]
    for i, draft in enumerate(pushed):
        draft = replace(
            draft, department_code=dept.code, contact=ContactDraft(name="李先生", phone=f"1390000{i:04d}")
        )
        engine_ticket, _ = open_ticket(
            session, replace(draft, external_ref="E" + draft.external_ref), actor="API:12345平台", now=now
        )
        # open_ticket leaves the flag by phone to its caller: compared without it (the test below).
        opened = _push(session, draft, now, flag_duplicates=False)
        session.expire_all()
        pushed_ticket = session.get(Ticket, opened.id)
        engine_ticket = session.get(Ticket, engine_ticket.id)
        assert opened.number == pushed_ticket.number and opened.possible_duplicate_of is None
        assert pushed_ticket.number[:6] == engine_ticket.number[:6]
        assert [getattr(pushed_ticket, f) for f in TICKET_FIELDS] == [
            getattr(engine_ticket, f) for f in TICKET_FIELDS
        ]
        assert [getattr(pushed_ticket.contact, f) for f in CONTACT_FIELDS] == [
            getattr(engine_ticket.contact, f) for f in CONTACT_FIELDS
        ]
        assert snapshot(session, pushed_ticket.id) == snapshot(session, engine_ticket.id)
        # The history in the same order (ids): created first, then each deadline opened.
        assert _history(session, pushed_ticket.id) == _history(session, engine_ticket.id)
        created = session.scalar(
            select(TicketEvent).where(
                TicketEvent.ticket_id == pushed_ticket.id, TicketEvent.kind == "ticket.created"
            )
        )
        assert created.data == {
            "channel": draft.channel,
            "number": pushed_ticket.number,
            "external_ref": draft.external_ref,
        }
        (message,) = session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == pushed_ticket.id))
        assert (message.topic, message.event_id, message.published_at) == ("ticket.created", created.id, None)
        assert message.payload == {"ticket_id": pushed_ticket.id, "event_id": created.id, **created.data}


def test_a_known_order_writes_nothing(session, now):
    factories.department(session, "bureau", "市工业和信息化局")
    draft = replace(drafts("K")[0], department_code="bureau")
    first = _push(session, draft, now)
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (Ticket, Contact, TicketEvent, OutboxMessage)
    ]
    assert _push(session, replace(draft, body="再次推送"), now) is None
    assert [
        session.scalar(select(func.count()).select_from(model))
        for model in (Ticket, Contact, TicketEvent, OutboxMessage)
    ] == counts
    assert session.get(Ticket, first.id).body == draft.body


def test_the_same_phone_within_the_window_is_flagged_as_the_batched_path_flags_it(session, now):
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(drafts("D")[0], department_code="bureau", contact=ContactDraft(phone="13811112222"))
    first = _push(session, replace(base, external_ref="D-1"), now)
    second = _push(session, replace(base, external_ref="D-2"), now)
    unflagged = _push(session, replace(base, external_ref="D-3"), now, flag_duplicates=False)
    assert first.possible_duplicate_of is None and unflagged.possible_duplicate_of is None
    assert second.possible_duplicate_of == first.number
    session.expire_all()
    flagged = session.get(Ticket, second.id)
    assert flagged.possible_duplicate_of_id == first.id
    assert session.get(Ticket, unflagged.id).possible_duplicate_of_id is None
    assert _history(session, second.id)[-1] == ("ticket.possible_duplicate", "系统")
    event = session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == second.id, TicketEvent.kind == "ticket.possible_duplicate"
        )
    )
    assert event.data == {"of": first.number, "of_id": first.id, "of_channel": "hotline"}
    # The batched path (imports) flags the same way.
    (batched,) = opening.open_new(
        session, [replace(base, external_ref="D-4")], actor="导入", now=now, index_search=False
    )
    assert batched.possible_duplicate_of == first.number


def test_reference_data_changed_since_the_last_read_is_read_again(session, now):
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(drafts("R")[0], department_code="bureau")
    _push(session, replace(base, external_ref="R-1"), now)  # this process's copy is now current
    before = reference.last_stamp(session)
    # A department added since (the trigger gives the stamp a new value): unknown to the copy.
    added = factories.department(session, "newdept", "新设处室")
    opened = _push(session, replace(base, external_ref="R-2", department_code="newdept"), now)
    assert session.get(Ticket, opened.id).department_id == added.id
    assert reference.last_stamp(session) != before
    # A stamp changed for another reason: the statement writes nothing, hands back the stored stamp, and
    # the deadlines are computed again under it.
    stale = reference.Stamp(before.database, before.value)
    reference.seen_stamp(stale)
    opened = _push(session, replace(base, external_ref="R-3"), now)
    assert opened is not None and session.get(Ticket, opened.id).external_ref == "R-3"
    assert reference.last_stamp(session) == reference.current_stamp(session)
    assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.external_ref == "R-3")) == 1


def test_a_new_category_is_added_to_the_topic_labels_once(session, now):
    """The push writes the id of its 诉求分类 in `topic_labels`: a category never seen before is added by the
    first order that brings it — even when this process's copy of the dictionary is older — and the
    next order with it reuses the row."""
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(drafts("L")[0], department_code="bureau", topics=())
    _push(session, replace(base, external_ref="L-0", category="供暖"), now)  # the copy is current
    first = _push(session, replace(base, external_ref="L-1", category="井盖缺失"), now)
    # Another process adds a label: this one's copy does not hold it yet.
    stale = reference.last_stamp(session)
    label_ids(session, ["路灯不亮"])
    reference.seen_stamp(stale)
    second = _push(session, replace(base, external_ref="L-2", category="路灯不亮"), now)
    third = _push(session, replace(base, external_ref="L-3", category="井盖缺失"), now)
    labels = dict(session.execute(select(TopicLabel.label, TopicLabel.id)).all())
    session.expire_all()
    assert [session.get(Ticket, t.id).topic_label_id for t in (first, second, third)] == [
        labels["井盖缺失"],
        labels["路灯不亮"],
        labels["井盖缺失"],
    ]
    assert (
        session.scalar(select(func.count()).select_from(TopicLabel).where(TopicLabel.label == "井盖缺失"))
        == 1
    )


def test_a_label_whose_transaction_rolled_back_is_not_written(session, now):
    """This process last saw the stamp of a transaction that added a label and rolled back; its copy of
    the dictionary under that stamp holds an id that names nothing. The push's stamp check sends it back
    to the stored stamp, so the ticket names a label that exists."""
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(drafts("K")[0], department_code="bureau", topics=())
    _push(session, replace(base, external_ref="K-0", category="供暖"), now)
    savepoint = session.begin_nested()
    label_ids(session, ["窨井异响"])  # the copy under this transaction's stamp holds it
    savepoint.rollback()
    # What this process would use without asking the database: a copy naming a label that is not there.
    stale = topic_labels.dictionary(session, reference.last_stamp(session))
    assert session.get(TopicLabel, stale["窨井异响"]) is None
    opened = _push(session, replace(base, external_ref="K-1", category="窨井异响"), now)
    session.expire_all()
    label_id = session.get(Ticket, opened.id).topic_label_id
    assert session.get(TopicLabel, label_id).label == "窨井异响"


def _prepared_statements(session) -> list[str]:
    return session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()


def test_on_postgresql_the_push_statement_is_the_one_the_driver_prepares(session, now):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(drafts("P")[0], department_code="bureau")
    first = _push(session, replace(base, external_ref="P-1"), now)
    second = _push(session, replace(base, external_ref="P-2"), now)
    assert first.id != second.id
    # Prepared once on this connection and executed again; every other statement stays unprepared
    # (tracker/db.py), the nonce's, the look-ups' and the reference stamp's included.
    assert [statement[:30] for statement in _prepared_statements(session)] == [
        "WITH new AS MATERIALIZED ( SEL"
    ]
    assert session.get(Ticket, second.id).external_ref == "P-2"


def test_a_failing_push_statement_raises_as_sqlalchemy_does_without_the_citizens_data(
    session, now, monkeypatch
):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the driver's own cursor runs only on PostgreSQL")
    factories.department(session, "bureau", "市工业和信息化局")
    base = replace(
        drafts("F")[0],
        department_code="bureau",
        body="厂房夜间施工噪音扰民",
        contact=ContactDraft(name="王秘密", phone="13900001111"),
    )
    real_row = opening._ticket_row
    department_at = opening.TICKET_COLUMNS.index("department_id")

    def no_such_department(*args, **kwargs):
        row = list(real_row(*args, **kwargs))
        row[department_at] = 2_000_000_000  # the foreign key refuses it inside the prepared statement
        return tuple(row)

    monkeypatch.setattr(opening, "_ticket_row", no_such_department)
    savepoint = session.begin_nested()
    with pytest.raises(IntegrityError) as raised:
        _push(session, replace(base, external_ref="F-1"), now)
    savepoint.rollback()
    message = str(raised.value)
    assert "fk_tickets_department_id_departments" in message
    for personal in ("王秘密", "厂房夜间施工噪音扰民", "13900001111"):
        assert personal not in message
    # The rollback made the driver forget its prepared statements; the next push prepares it again.
    monkeypatch.setattr(opening, "_ticket_row", real_row)
    opened = _push(session, replace(base, external_ref="F-2"), now)
    assert session.get(Ticket, opened.id).status == "received"
    assert len(_prepared_statements(session)) == 1
