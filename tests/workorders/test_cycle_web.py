"""The 12345 cycle through its interfaces, without a browser: the ticket page's panel and its forms (CSRF,
access, masking, escaping) and the platform's signed decision API (another department's key, a replay).
SQLite and PostgreSQL (the app's session joins the test's savepoint)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from tests import factories
from tests.intake.helpers import get_signed, post_signed
from tracker.intake.apikeys import create_api_key
from tracker.tickets.models import Ticket
from tracker.workflow import doors as ds
from tracker.workorders import handling, sendbacks
from tracker.workorders.models import HandlingRecord, SendBack
from web.views.api_openapi import openapi_document

SECRET_KEY = "test-secret-key"
NUMBER = "13911112222"
HOSTILE = "<script>alert('办理')</script>"


@pytest.fixture
def client(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


@pytest.fixture
def office(session, now):
    mine = factories.department(session, "cycw_city", "城市管理处")
    other = factories.department(session, "cycw_radio", "无线电管理处")
    people = {
        "mine": mine,
        "other": other,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=mine, now=now),
        "auditor": factories.user(session, role="auditor", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "admin": factories.user(
            session, role="admin", dept=factories.department(session, "cycw_office", "办公室"), now=now
        ),
    }
    session.commit()
    return people


def _order(session, now, office, **kw):
    ticket = factories.ticket(
        session, now=now, dept=office["mine"], external_ref=f"CW-{uuid.uuid4().hex[:10]}", **kw
    )
    session.commit()
    return ticket


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


# --- the panel and its forms -------------------------------------------------------------------------


def test_the_panel_shows_the_record_masked_and_escaped(client, session, now, office):
    ticket = _order(session, now, office)
    handling.add_handling_record(
        session,
        ticket,
        summary=HOSTILE,
        contact_method="电话",
        contact_number=NUMBER,
        user=office["staff"],
        now=now,
    )
    session.commit()
    sign_in(client, office["staff"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "data-workorder-cycle" in page and 'data-action="handling"' in page
    assert "139****2222" in page and NUMBER not in page
    assert HOSTILE not in page and "&lt;script&gt;" in page


def test_adding_a_record_needs_the_csrf_token(client, session, now, office):
    ticket = _order(session, now, office)
    sign_in(client, office["staff"])
    url = f"/tickets/{ticket.id}/handling"
    refused = client.post(url, data={"summary": "已电话联系"})
    assert refused.status_code == 400
    done = post(client, url, summary="已电话联系", contact_method="电话", contact_number=NUMBER)
    assert done.status_code == 302
    session.expire_all()
    record = session.scalar(select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id))
    assert record.summary == "已电话联系" and record.contact_number == NUMBER


def test_a_refused_record_keeps_what_was_typed(client, session, now, office):
    ticket = _order(session, now, office)
    sign_in(client, office["staff"])
    response = post(client, f"/tickets/{ticket.id}/handling", summary="已联系", contact_number="not-a-number")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "contact_number" in page and "not-a-number" in page and "data-form-error" in page


def test_the_record_is_not_for_another_department_or_an_auditor(client, session, now, office):
    ticket = _order(session, now, office)
    sign_in(client, office["neighbour"])
    assert post(client, f"/tickets/{ticket.id}/handling", summary="x").status_code == 404
    sign_in(client, office["auditor"])
    assert post(client, f"/tickets/{ticket.id}/handling", summary="x").status_code == 403
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="handling"' not in page  # an auditor reads, never writes
    session.expire_all()
    assert session.scalar(select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id)) is None


def test_a_send_back_is_asked_on_the_page_and_decided_by_the_office(client, session, now, office):
    ticket = _order(session, now, office)
    sign_in(client, office["staff"])
    response = post(
        client,
        f"/tickets/{ticket.id}/actions/return",
        reason_code="wrong_area",
        reason=HOSTILE,
        suggested_unit="某区城管局",
    )
    assert response.status_code == 302
    session.expire_all()
    send_back = session.scalar(select(SendBack).where(SendBack.ticket_id == ticket.id))
    assert send_back.state == "pending" and send_back.reason_text == HOSTILE
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "data-send-back-decision" not in page  # the unit does not decide its own request
    assert 'data-action="reply"' not in page and 'data-action="return"' not in page  # held while pending
    assert HOSTILE not in page
    # The unit's own supervisor may not enter the platform's decision either.
    sign_in(client, office["supervisor"])
    assert post(client, f"/send-backs/{send_back.id}/decision", decision="accept").status_code == 403
    sign_in(client, office["neighbour"])
    assert post(client, f"/send-backs/{send_back.id}/decision", decision="accept").status_code == 404
    sign_in(client, office["admin"])
    assert "data-send-back-decision" in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    empty = post(client, f"/send-backs/{send_back.id}/decision", decision="refuse", note="")
    assert empty.status_code == 400
    assert (
        post(client, f"/send-backs/{send_back.id}/decision", decision="refuse", note="属本单位").status_code
        == 302
    )
    replay = post(client, f"/send-backs/{send_back.id}/decision", decision="accept")
    assert replay.status_code == 409
    session.expire_all()
    assert session.get(SendBack, send_back.id).state == "refused"
    assert session.get(Ticket, ticket.id).status == "received"


def test_the_portal_never_shows_the_internal_record(client, session, now, office):
    ticket = _order(session, now, office)
    ticket.query_code = "CYCWEB" + uuid.uuid4().hex[:6].upper()
    handling.add_handling_record(
        session, ticket, summary="内部：邻居王某说", contact_number=NUMBER, user=office["staff"], now=now
    )
    ds.reply(session, ticket, "公开答复：已处理", user=office["staff"], now=now, confirm_warnings=True)
    session.commit()
    with client.session_transaction() as web_session:
        web_session["csrf_token"] = "t0ken"
    page = post(client, "/portal/query", code=ticket.query_code).get_data(as_text=True)
    assert "公开答复：已处理" in page
    assert "王某" not in page and NUMBER not in page and "139****2222" not in page


# --- the platform's decision API ---------------------------------------------------------------------


@pytest.fixture
def keys(session, now, office):
    platform, platform_secret = create_api_key(
        session, SECRET_KEY, name="12345平台", channel="hotline", now=now
    )
    other, other_secret = create_api_key(
        session, SECRET_KEY, name="他区平台", channel="hotline", now=now, department_code="cycw_radio"
    )
    website, website_secret = create_api_key(session, SECRET_KEY, name="网站", channel="website", now=now)
    session.commit()
    return {
        "platform": (platform.key_id, platform_secret),
        "other": (other.key_id, other_secret),
        "website": (website.key_id, website_secret),
    }


def _pending(session, now, office):
    ticket = _order(session, now, office)
    handling.add_handling_record(
        session, ticket, summary="内部：邻居王某说", contact_number=NUMBER, user=office["staff"], now=now
    )
    send_back = sendbacks.request_send_back(
        session,
        ticket,
        reason_code="not_our_duty",
        reason_text="属区级事权",
        user=office["staff"],
        now=now,
    )
    session.commit()
    return ticket, send_back


def test_the_platform_accepts_once_by_the_api(client, session, now, office, keys):
    ticket, send_back = _pending(session, now, office)
    url = f"/api/v1/send-backs/{send_back.id}/decision"
    body = {"decision": "accepted", "order_no": ticket.external_ref}
    response = post_signed(client, url, body, *keys["platform"], nonce="n" * 16 + uuid.uuid4().hex[:8])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["send_back"]["state"] == "accepted"
    assert response.get_json()["ticket"]["status"] == "returned"
    # The same decision again with a fresh signature: applied once — 409 with what was decided.
    again = post_signed(client, url, body, *keys["platform"])
    assert again.status_code == 409 and again.get_json()["error"]["fields"] == {"state": "accepted"}
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "returned"


def test_a_replayed_request_is_refused_by_its_nonce(client, session, now, office, keys):
    _ticket, send_back = _pending(session, now, office)
    url = f"/api/v1/send-backs/{send_back.id}/decision"
    body = {"decision": "refused", "note": "请继续办理"}
    nonce = "replay" + uuid.uuid4().hex[:16]
    at = int(time.time())  # the API checks the signature's time against the real clock
    assert post_signed(client, url, body, *keys["platform"], nonce=nonce, at=at).status_code == 200
    assert post_signed(client, url, body, *keys["platform"], nonce=nonce, at=at).status_code == 401
    session.expire_all()
    assert session.get(SendBack, send_back.id).state == "refused"


def test_another_departments_key_or_channel_cannot_decide(client, session, now, office, keys):
    _ticket, send_back = _pending(session, now, office)
    url = f"/api/v1/send-backs/{send_back.id}/decision"
    assert post_signed(client, url, {"decision": "accepted"}, *keys["other"]).status_code == 404
    assert post_signed(client, url, {"decision": "accepted"}, *keys["website"]).status_code == 403
    assert (
        post_signed(
            client, "/api/v1/send-backs/999999/decision", {"decision": "accepted"}, *keys["platform"]
        ).status_code
        == 404
    )
    session.expire_all()
    assert session.get(SendBack, send_back.id).state == "pending"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "refused"}, "note"),
        ({"decision": "refused", "note": 5}, "note"),
        ({"decision": "accepted", "order_no": "WRONG"}, "order_no"),
        ({"decision": "refused", "note": "x\ud800"}, None),
    ],
)
def test_a_bad_decision_is_a_400_naming_its_field(client, session, now, office, keys, body, field):
    _ticket, send_back = _pending(session, now, office)
    url = f"/api/v1/send-backs/{send_back.id}/decision"
    raw = None
    if field is None:  # a lone surrogate: the one bounded JSON reader refuses it
        raw = b'{"decision": "refused", "note": "x\\ud800"}'
    response = post_signed(client, url, raw or body, *keys["platform"])
    assert response.status_code == 400, response.get_json()
    if field:
        assert field in response.get_json()["error"]["fields"]
    session.expire_all()
    assert session.get(SendBack, send_back.id).state == "pending"


def test_the_api_never_serves_the_internal_record(client, session, now, office, keys):
    ticket, _send_back = _pending(session, now, office)
    for path in (f"/api/v1/tickets/{ticket.id}", f"/api/v1/tickets/{ticket.id}/events"):
        text = get_signed(client, path, *keys["platform"]).get_data(as_text=True)
        assert "王某" not in text and NUMBER not in text


def test_the_decision_endpoint_is_documented():
    document = openapi_document("https://tracker.example")
    operation = document["paths"]["/send-backs/{send_back_id}/decision"]["post"]
    assert operation["operationId"] == "decideSendBack" and "409" in operation["responses"]
    assert "SendBackDecision" in document["components"]["schemas"]


def test_evidence_files_are_kept_with_the_record(client, session, now, office):
    import io

    from tracker.workflow.models import Attachment

    ticket = _order(session, now, office)
    sign_in(client, office["staff"])
    response = client.post(
        f"/tickets/{ticket.id}/handling",
        data={
            "csrf_token": "t0ken",
            "summary": "现场查看并拍照",
            "contact_method": "现场",
            "evidence": (io.BytesIO(b"\x89PNG photo"), "现场照片.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    session.expire_all()
    attachment = session.scalar(select(Attachment).where(Attachment.ticket_id == ticket.id))
    assert attachment.purpose == "evidence" and attachment.filename == "现场照片.png"
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "现场照片.png" in page and "现场查看并拍照" in page
    # A file of a type not accepted: nothing is recorded, the form comes back with the reason.
    refused = client.post(
        f"/tickets/{ticket.id}/handling",
        data={"csrf_token": "t0ken", "summary": "再传", "evidence": (io.BytesIO(b"MZ"), "run.exe")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    session.expire_all()
    assert (
        len(session.scalars(select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id)).all()) == 1
    )
