"""The import's batches: an error in any of them — a COPY refused by PostgreSQL, bad bytes further down
the file — leaves nothing written and the connection usable; the phone look-up made before a batch is
written."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from sqlalchemy import func, select, text

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, write_csv
from tracker.errors import ValidationError
from tracker.intake.duplicates import WINDOW
from tracker.intake.importer import import_file
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Contact, Ticket, TicketEvent
from tracker.workflow.batch_writer import BatchWriter


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_error_in_a_copy_is_raised_by_its_write_and_the_session_rolls_back(session, now, dept):
    writer = BatchWriter(session)
    writer.start(60, {Contact: 60})
    assert writer.is_copy
    columns = ("name", "phone_ct", "is_confidential")  # the stored column; COPY seals it (tracker.pii)
    writer.write(Contact, columns, [("张先生", f"1390000{i:04d}", False) for i in range(60)], return_ids=True)
    # The same id twice: PostgreSQL refuses the COPY; the write raises, the COPY ended.
    with pytest.raises(psycopg.errors.UniqueViolation, match="pk_contacts"):
        writer.write(Contact, ("id", *columns), [(10**9, "李女士", "13500000000", False)] * 60)
    session.rollback()
    assert _count(session, Contact, Contact.name == "张先生") == 0  # nothing half-written
    assert session.execute(text("SELECT 1")).scalar_one() == 1  # the connection is usable


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_copy_refused_in_the_middle_of_an_import_leaves_nothing_written(session, now, dept, tmp_path):
    """Three batches of 50, each a COPY per table; the second batch's contacts COPY meets a contact id
    someone took by hand. The import raises, the rollback removes the first batch too, and the same
    connection then imports the file."""
    rows = [hotline_row(f"CP{i:03d}", content=f"咨询第{i}批技改资金") for i in range(150)]
    path = write_csv(tmp_path / "orders.csv", HOTLINE_HEADER, rows)
    attempt = session.begin_nested()  # as the worker's transaction: the department stays
    taken = session.scalar(text("SELECT nextval(pg_get_serial_sequence('contacts', 'id'))")) + 75
    session.execute(
        text("INSERT INTO contacts (id, name, is_confidential) VALUES (:id, '占位', false)"), {"id": taken}
    )
    with pytest.raises(psycopg.errors.UniqueViolation, match="pk_contacts"):
        import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, batch_size=50)
    attempt.rollback()
    assert _count(session, Ticket, Ticket.external_ref.like("CP%")) == 0
    assert _count(session, TicketEvent) == 0
    assert session.get(Contact, taken) is None  # rolled back with the rest
    report = import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, batch_size=50)
    assert report.created == 150
    assert _count(session, Ticket, Ticket.external_ref.like("CP%")) == 150


def test_a_file_error_after_batches_were_written_leaves_nothing_written(session, now, dept, tmp_path):
    # Longer than the part the encoding is told from, so the bad bytes are met while importing.
    rows = [hotline_row(f"FE{i:03d}", content=f"咨询第{i}批技改资金" + "申报条件" * 40) for i in range(600)]
    path = write_csv(tmp_path / "broken.csv", HOTLINE_HEADER, rows)
    data = path.read_bytes()
    # Bytes no GBK reading accepts, near the end: met after several batches (COPY on PostgreSQL) were written.
    path.write_bytes(data[: len(data) - 200] + b"\xff\xff\xff" + data[len(data) - 200 :])
    with pytest.raises(ValidationError, match="无法按"):
        import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, batch_size=50)
    session.rollback()
    assert _count(session, Ticket, Ticket.external_ref.like("FE%")) == 0
    assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_phones_shared_inside_one_copied_batch_and_with_a_stored_ticket(session, now, dept, tmp_path):
    """A batch of 60 (COPY on PostgreSQL): the look-up by phone runs before the batch is written, so pairs
    inside the batch are found in Python — by receipt time, then batch order — and a stored ticket received
    at the same moment as a row of the file is the earlier one."""
    stored = import_file(
        session,
        "hotline",
        write_csv(
            tmp_path / "stored.csv",
            HOTLINE_HEADER,
            [hotline_row("ST-1", accepted="2016-04-01 08:00:00", **{"联系电话": "13800000000"})],
        ),
        actor="测试",
        reach=EVERYTHING,
        now=now,
    )
    assert stored.created == 1
    rows = [
        hotline_row(
            f"IB{i:03d}",
            accepted=f"2016-04-{2 + i // 10:02d} {8 + i % 10:02d}:00:00",
            content=f"咨询第{i}批",
            **{"联系电话": f"1370000{i % 30:04d}"},  # i and i + 30 share a number
        )
        for i in range(60)
    ]
    # Received at the stored ticket's moment, with its number.
    rows.append(hotline_row("IB-SAME", accepted="2016-04-01 08:00:00", **{"联系电话": "13800000000"}))
    # Received before IB000 though later in the file: IB000 is then the later of the two.
    rows.append(hotline_row("IB-EARLY", accepted="2016-04-01 09:00:00", **{"联系电话": "13700000000"}))
    report = import_file(
        session,
        "hotline",
        write_csv(tmp_path / "batch.csv", HOTLINE_HEADER, rows),
        actor="测试",
        reach=EVERYTHING,
        now=now,
    )
    assert report.created == 62
    by_ref = dict(session.execute(select(Ticket.external_ref, Ticket.id)).all())
    flags = dict(session.execute(select(Ticket.external_ref, Ticket.possible_duplicate_of_id)).all())
    expected = {f"IB{i:03d}": by_ref[f"IB{i - 30:03d}"] for i in range(31, 60)}
    expected["IB030"] = by_ref["IB-EARLY"]  # the earliest within the window
    expected["IB000"] = by_ref["IB-EARLY"]
    expected["IB-SAME"] = by_ref["ST-1"]
    assert {ref: of for ref, of in flags.items() if of} == expected
    events = session.execute(
        select(TicketEvent.ticket_id, TicketEvent.data).where(TicketEvent.kind == "ticket.possible_duplicate")
    ).all()
    assert {ticket_id: data["of_id"] for ticket_id, data in events} == {
        by_ref[r]: of for r, of in expected.items()
    }
    numbers = dict(session.execute(select(Ticket.id, Ticket.number)).all())
    assert all(data["of"] == numbers[data["of_id"]] for _, data in events)


def test_the_window_bounds_the_phone_look_up(session, now, dept, tmp_path):
    """One number on many orders (a placeholder number, say): each is flagged as a duplicate of the
    earliest order within the window before it, none of one older than the window."""
    phone = {"联系电话": "13600000000"}
    days = [0, 20, 45, 46, 80, 200] + [300] * 60  # a batch of 66: COPY on PostgreSQL
    rows = [
        hotline_row(f"WN-{i:02d}", accepted=f"{date(2016, 1, 1) + timedelta(days=d)} 08:00:00", **phone)
        for i, d in enumerate(days)
    ]
    import_file(
        session,
        "hotline",
        write_csv(tmp_path / "w.csv", HOTLINE_HEADER, rows),
        actor="测试",
        reach=EVERYTHING,
        now=now,
    )
    assert timedelta(days=30) == WINDOW
    by_ref = dict(session.execute(select(Ticket.external_ref, Ticket.id)).all())
    flags = dict(session.execute(select(Ticket.external_ref, Ticket.possible_duplicate_of_id)).all())
    expected = {"WN-01": "WN-00", "WN-02": "WN-01", "WN-03": "WN-01"}
    expected |= {f"WN-{i:02d}": "WN-06" for i in range(7, 66)}  # the same moment: the first in the file
    assert {ref: of for ref, of in flags.items() if of} == {ref: by_ref[of] for ref, of in expected.items()}
