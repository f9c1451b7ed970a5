"""A citizen's SMS reply passed on by the gateway (POST /api/v1/sms/replies): 退订 / TD opts the number out
through the one opt-out door, found by the phone's blind index (phones are encrypted at rest); signed and
replay-proof as every API call; only a key that reaches every ticket; hostile and malformed input 4xx."""

from __future__ import annotations

from sqlalchemy import select

from tests import factories
from tests.intake.helpers import post_signed, signed_headers
from tracker.intake.apikeys import create_api_key
from tracker.notify.citizens import is_opt_out_reply, tell_citizen
from tracker.notify.service import save_channel
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Contact, Ticket

SECRET_KEY = "test-secret-key"  # the settings fixture's TRACKER_SECRET_KEY
PATH = "/api/v1/sms/replies"


def _gateway_key(session, now, **limits):
    api_key, secret = create_api_key(session, SECRET_KEY, name="短信网关", now=now, **limits)
    session.commit()
    return api_key.key_id, secret


def _citizens(session, now):
    dept = factories.department(session, "bureau", "市工业和信息化局")
    other = factories.department(session, "sme", "中小企业服务处", parent="bureau")
    made = []
    for department, phone in ((dept, "13812345678"), (other, "138 1234 5678"), (dept, "13900000000")):
        made.append(
            factories.ticket(
                session,
                now=now,
                dept=department,
                channel="website",
                request_type="咨询",
                external_ref=None,
                with_query_code=True,
                contact=ContactDraft(name="李建国", phone=phone),
            )
        )
    session.commit()
    return [t.id for t in made]


def _opted_out(session, ticket_ids):
    session.expire_all()
    return [
        session.scalar(
            select(Contact.notify_opt_out_at)
            .join(Ticket, Ticket.contact_id == Contact.id)
            .where(Ticket.id == i)
        )
        is not None
        for i in ticket_ids
    ]


def test_td_opts_out_every_contact_with_the_number_once(client, session, now):
    ids = _citizens(session, now)
    key = _gateway_key(session, now, channel=None)
    response = post_signed(client, PATH, {"phone": "+86 138-1234-5678", "text": " ＴＤ。"}, *key)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"result": "opted_out", "contacts": 2}
    assert _opted_out(session, ids) == [True, True, False]  # the other number is untouched
    # No more messages planned for them; the other citizen still hears.
    save_channel(
        session,
        name="短信",
        kind="sms",
        url="http://127.0.0.1:9/sms",
        secret="token",
        now=now,
        secret_key=SECRET_KEY,
        options={"provider": "generic"},
    )
    tickets = [session.get(Ticket, i) for i in ids]
    for n, ticket in enumerate(tickets):
        planned = tell_citizen(
            session,
            ticket,
            "receipt",
            key=f"t{n}",
            now=now,
            public_url="https://x",
            secret_key=SECRET_KEY,
            media=("sms",),
        )
        assert bool(planned) == (n == 2)
    again = post_signed(client, PATH, {"phone": "13812345678", "text": "退订"}, *key)
    assert again.get_json() == {"result": "opted_out", "contacts": 0}


def test_other_replies_are_ignored_and_bad_input_is_400(client, session, now):
    ids = _citizens(session, now)
    key = _gateway_key(session, now, channel=None)
    for text in ("好的，谢谢", "TD退订了吗", "", "T D"):
        response = post_signed(client, PATH, {"phone": "13812345678", "text": text}, *key)
        assert response.get_json() == {"result": "ignored"}, text
    assert _opted_out(session, ids) == [False, False, False]
    for payload in ({"phone": "12345", "text": "TD"}, {"text": "TD"}, {"phone": 13812345678, "text": "TD"}):
        response = post_signed(client, PATH, payload, *key)
        assert response.status_code == 400
        assert "phone" in response.get_json()["error"]["fields"]
    response = post_signed(client, PATH, {"phone": "13812345678", "text": "TD" * 300}, *key)
    assert response.status_code == 400
    assert post_signed(client, PATH, b"[1,2]", *key).status_code == 400


def test_unsigned_replayed_and_limited_keys_are_refused(client, session, now):
    ids = _citizens(session, now)
    body = b'{"phone": "13812345678", "text": "TD"}'
    assert client.post(PATH, data=body, content_type="application/json").status_code == 401
    key_id, secret = _gateway_key(session, now, channel=None)
    headers = signed_headers(key_id, secret, "POST", PATH, body)
    headers["X-Tracker-Signature"] = "0" * 64
    assert client.post(PATH, data=body, headers=headers).status_code == 401
    headers = signed_headers(key_id, secret, "POST", PATH, body)
    assert client.post(PATH, data=body, headers=headers).status_code == 200
    assert client.post(PATH, data=body, headers=headers).status_code == 401  # the same request again
    session.expire_all()
    for ticket_id in ids[:2]:  # undo, to see that the limited keys below change nothing
        session.get(Ticket, ticket_id).contact.notify_opt_out_at = None
    session.commit()
    # A key limited to a channel or a department cannot stop another department's messages.
    for limits in ({"channel": "hotline"}, {"channel": None, "department_code": "sme"}):
        response = post_signed(
            client, PATH, {"phone": "13812345678", "text": "TD"}, *_gateway_key(session, now, **limits)
        )
        assert response.status_code == 403
    assert _opted_out(session, ids) == [False, False, False]


def test_the_keywords():
    assert all(is_opt_out_reply(t) for t in ("TD", "td", "ＴＤ", "退订", " 退订！", "TD."))
    assert not any(is_opt_out_reply(t) for t in ("", "T", "TDD", "不退订", "退订？", "退 订"))
