"""The import's overlap of Python and PostgreSQL: COPY statements left to end while the next rows are built
and read, the read-ahead done in the waits, and the phone look-up made before a batch is written."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from sqlalchemy import func, select, text

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, write_csv
from tracker.access import EVERYTHING
from tracker.errors import ValidationError
from tracker.intake import importer
from tracker.intake.importer import _BatchWriter, _ReadAhead, import_file
from tracker.models import Contact, Ticket, TicketEvent


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_read_ahead_keeps_order_and_raises_an_error_where_it_happened():
    def items():
        yield from range(60)
        raise ValueError("第61行无法读取")

    ahead = _ReadAhead(items(), limit=40)
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    while ahead.step():  # as while PostgreSQL is busy: up to the limit, then nothing more to do
        pass
    assert len(ahead.ready) == 50  # steps of 25 up to 40 ahead
    got = [next(ahead) for _ in range(55)]
    assert got == list(range(5, 60))
    while ahead.step():
        pass
    with pytest.raises(ValueError, match="第61行"):
        next(ahead)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_error_of_a_copy_left_to_end_is_raised_and_the_session_rolls_back(session, now, dept):
    writer = _BatchWriter(session)
    writer.start(60, {Contact: 60})
    assert writer.is_copy
    columns = ("name", "phone", "is_confidential")
    writer.write(Contact, columns, [("张先生", f"1390000{i:04d}", False) for i in range(60)], return_ids=True)
    # The same id twice: PostgreSQL refuses the COPY after it was sent, while Python went on.
    writer.write(Contact, ("id", *columns), [(10**9, "李女士", "13500000000", False)] * 60)
    with pytest.raises(psycopg.errors.UniqueViolation, match="pk_contacts"):
        writer.settle()
    session.rollback()
    assert _count(session, Contact, Contact.phone.like("1390000%")) == 0  # nothing half-written
    assert session.execute(text("SELECT 1")).scalar_one() == 1  # the connection is usable


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_file_error_while_a_copy_is_ending_leaves_nothing_written(session, now, dept, tmp_path):
    # Longer than the part the encoding is told from, so the bad bytes are met while importing.
    rows = [hotline_row(f"FE{i:03d}", content=f"咨询第{i}批技改资金" + "申报条件" * 40) for i in range(600)]
    path = write_csv(tmp_path / "broken.csv", HOTLINE_HEADER, rows)
    data = path.read_bytes()
    # Bytes no GBK reading accepts, near the end: found while the second batch's COPY is ending.
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
    assert timedelta(days=30) == importer.WINDOW
    by_ref = dict(session.execute(select(Ticket.external_ref, Ticket.id)).all())
    flags = dict(session.execute(select(Ticket.external_ref, Ticket.possible_duplicate_of_id)).all())
    expected = {"WN-01": "WN-00", "WN-02": "WN-01", "WN-03": "WN-01"}
    expected |= {f"WN-{i:02d}": "WN-06" for i in range(7, 66)}  # the same moment: the first in the file
    assert {ref: of for ref, of in flags.items() if of} == {ref: by_ref[of] for ref, of in expected.items()}
