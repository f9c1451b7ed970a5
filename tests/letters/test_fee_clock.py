"""Serving a 收费通知 starts the 缴费 clock the law gives (条例第四十二条, 国办函〔2020〕109号): the applicant
has 20 working days from the day after receiving the notice to pay, and the time until the fee is paid
is not counted in the reply period. Receiving the fee resumes the reply clock. Through the doors, on
SQLite and PostgreSQL; the attacker (another department, an auditor), a replay, the wrong step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tracker.clock import BUSINESS_TZ
from tracker.deadlines import policies as dl
from tracker.deadlines import service as deadlines_service
from tracker.errors import Conflict, NotFound, PermissionDenied
from tracker.letters import service as letters
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors, fees


def _fee_served(session, office, application, tmp_path, now):
    ticket = application()
    letter = letters.issue_letter(
        session,
        ticket,
        "fee",
        {"fee_method": "page", "pages": "150"},
        user=office["staff"],
        now=now,
        directory=tmp_path,
    )
    served = now + timedelta(days=1)  # Thursday 2026-03-05
    assert ticket.status == "received"  # issuing changes no clock; serving does
    assert deadlines_service.get_deadline(ticket, dl.REPLY).state == dl.RUNNING
    letters.serve_letter(
        session, letter, ticket, method="post", served_on=served.date(), user=office["staff"], now=served
    )
    return ticket, letter, served


def _day(moment) -> str:
    return moment.astimezone(BUSINESS_TZ).date().isoformat()


def test_serving_a_fee_notice_pauses_the_reply_and_opens_the_payment_deadline(
    session, now, office, application, tmp_path
):
    ticket, letter, served = _fee_served(session, office, application, tmp_path, now)
    assert ticket.status == "waiting_applicant"
    reply = deadlines_service.get_deadline(ticket, dl.REPLY)
    assert reply.state == dl.PAUSED
    assert [p["reason"] for p in reply.pauses] == ["申请人缴费"]
    fee = deadlines_service.get_deadline(ticket, dl.FEE_PAYMENT)
    assert fee.state == dl.RUNNING
    # 20 working days counted from the day after 2026-03-05: 3-06, 3-09…13, 3-16…20, 3-23…27, 3-30…4-02.
    assert _day(fee.due_at - timedelta(seconds=1)) == "2026-04-02"  # due at its end, 24:00
    assert "申请人收到收费通知；自次日起算20个工作日；截止2026-04-02 24:00" in fee.explanation
    kinds = [
        e.kind
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    ]
    assert "letter.served" in kinds
    # The fee notice is sent once: a second one is refused, and so is the same one served again.
    with pytest.raises(Conflict, match="已发出过收费通知"):
        letters.issue_letter(session, ticket, "fee", {}, user=office["staff"], now=served, directory=tmp_path)
    with pytest.raises(Conflict, match="不能重复送达"):
        letters.serve_letter(
            session, letter, ticket, method="post", served_on=served.date(), user=office["staff"], now=served
        )


def test_receiving_the_fee_resumes_the_reply_clock_where_it_stopped(
    session, now, office, application, tmp_path
):
    # Without the fee notice, an application received 2026-03-04 is due 20 working days later.
    reply_due_unpaused = deadlines_service.get_deadline(application(), dl.REPLY).due_at
    ticket, _letter, served = _fee_served(session, office, application, tmp_path, now)
    # Only the step the ticket waits for: it waits for the fee, not for a corrected application.
    with pytest.raises(Conflict, match="等待的是申请人缴费"):
        doors.receive_correction(session, ticket, served, user=office["staff"], now=served)
    paid = served + timedelta(days=5)  # Tuesday 2026-03-10: three working days later
    fees.receive_fee(session, ticket, user=office["staff"], now=paid)
    assert ticket.status == "in_progress"
    assert deadlines_service.get_deadline(ticket, dl.FEE_PAYMENT).state == dl.MET
    reply = deadlines_service.get_deadline(ticket, dl.REPLY)
    assert reply.state == dl.RUNNING
    assert _day(reply_due_unpaused - timedelta(seconds=1)) == "2026-04-01"
    # The days spent waiting for the fee (3-05 to 3-10) are not counted: the reply is due later.
    assert reply.due_at > reply_due_unpaused
    assert any(p["reason"] == "申请人缴费" and p.get("ended_at") for p in reply.pauses)
    with pytest.raises(Conflict, match="没有等待缴费"):  # a replay
        fees.receive_fee(session, ticket, user=office["staff"], now=paid)


def test_a_ticket_waiting_for_a_correction_is_not_waiting_for_a_fee(session, now, office, application):
    ticket = application()
    doors.request_correction(session, ticket, "请写明文号", user=office["staff"], now=now)
    with pytest.raises(Conflict, match="没有等待缴费"):
        fees.receive_fee(session, ticket, user=office["staff"], now=now)


def test_another_department_and_an_auditor_cannot_record_the_fee(session, now, office, application, tmp_path):
    ticket, _letter, served = _fee_served(session, office, application, tmp_path, now)
    with pytest.raises(NotFound):
        fees.receive_fee(session, ticket, user=office["other_staff"], now=served)
    with pytest.raises(PermissionDenied):
        fees.receive_fee(session, ticket, user=office["auditor"], now=served)
    assert ticket.status == "waiting_applicant"


def test_the_ticket_page_offers_the_payment_not_the_correction(
    app, client, session, now, office, application, tmp_path
):
    app.config["CLOCK"] = lambda: now + timedelta(days=1)
    ticket, _letter, _served = _fee_served(session, office, application, tmp_path, now)
    session.commit()
    factories.signed_in(client, office["staff"], csrf_token="t0ken")
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="receive_fee"' in page and 'data-action="receive_correction"' not in page
    assert (
        client.post(f"/tickets/{ticket.id}/actions/receive_fee", data={}).status_code == 400
    )  # no CSRF token
    response = client.post(f"/tickets/{ticket.id}/actions/receive_fee", data={"csrf_token": "t0ken"})
    assert response.status_code in (302, 303)
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "in_progress"
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="receive_fee"' not in page
