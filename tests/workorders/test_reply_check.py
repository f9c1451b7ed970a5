"""The check before a public reply leaves (issue 19, item 6): the findings, and the reply door applying
them the same way on every path — the ticket page, bulk 办结 with a reply, a supervisor's sign-off — in
warning mode (confirm "仍然发送", recorded) and in blocking mode (refused, each finding named). The attacker:
another department, hostile text. SQLite and PostgreSQL (the `session` fixture)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests import factories
from tracker.errors import NotFound, ValidationError
from tracker.people.models import AuditEntry
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors as ds
from tracker.workorders import reply_check
from tracker.workorders.models import ReplyCheckRules
from tracker.workorders.reply_check import ReplyCheckConfig, ReplyCheckRefused, check_reply, key_words

GOOD = "您好，关于您反映的小区夜间施工噪音问题，我单位已约谈施工单位，要求其夜间停止施工，特此答复。"
VALID_ID = "11010519491231002X"  # check digit right (GB 11643)
ORDER_NO = "202603041234567890"  # 18 digits, check digit wrong: an order number, not an ID


def codes(findings) -> list[str]:
    return [f.code for f in findings]


@pytest.fixture
def office(session, now):
    mine = factories.department(session, "chk_city", "城市管理处")
    other = factories.department(session, "chk_radio", "无线电管理处")
    return {
        "mine": mine,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "admin": factories.user(session, role="admin", dept=mine, now=now),
    }


def rules(session, **values) -> ReplyCheckRules:
    row = session.get(ReplyCheckRules, 1) or ReplyCheckRules(id=1)
    defaults = dict(
        is_blocking=False,
        min_length=15,
        banned_phrases=[],
        channels=list(reply_check.DEFAULT_CHANNELS),
        repeat_window_days=30,
    )
    for name, value in {**defaults, **values}.items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    return row


def working(session, now, office, **overrides) -> Ticket:
    ticket = factories.ticket(session, now=now, dept=office["mine"], **overrides)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    return ticket


# -- the findings -----------------------------------------------------------------------------------------


def test_key_words_come_from_the_subject_and_the_last_level_of_the_category(session, now, office):
    ticket = factories.ticket(
        session,
        now=now,
        dept=office["mine"],
        subject="请问小区夜间施工噪音扰民",
        category="城乡建设/噪音污染",
    )
    words = key_words(ticket)
    assert "施工" in words and "噪音" in words and "噪音污染" in words
    assert "请问" not in words  # a request verb says nothing about the matter


def test_each_finding(session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["mine"])
    config = ReplyCheckConfig(banned_phrases=("无法处理", "ABC"))
    assert codes(check_reply(ticket, GOOD, config)) == []
    assert codes(check_reply(ticket, "   \n", config)) == ["empty"]
    assert "too_short" in codes(check_reply(ticket, "已处理施工。", config))
    assert codes(check_reply(ticket, "您好，已转交有关单位处理完毕，感谢您对我们工作的支持。", config)) == [
        "missing_key_words"
    ]
    found = check_reply(ticket, GOOD + "请联系138 1234 5678或0571-87654321。", config)
    assert codes(found) == ["phone", "phone"]
    assert all("5678" not in f.message[:-5] for f in found)  # numbers shown masked
    assert codes(check_reply(ticket, GOOD + f"身份证{VALID_ID}", config)) == ["id_number"]
    assert codes(check_reply(ticket, GOOD + f"工单号{ORDER_NO}", config)) == []
    # Full-width letters and digits are found as their ASCII forms.
    assert codes(check_reply(ticket, GOOD + "此事无法处理，ａｂｃ", config)) == ["banned", "banned"]
    assert codes(check_reply(ticket, GOOD + "１３８１２３４５６７８", config)) == ["phone"]


def test_a_channel_the_office_does_not_check_has_no_findings(session, now, office):
    application = factories.ticket(
        session, now=now, dept=office["mine"], channel="disclosure", request_type="政府信息公开申请"
    )
    assert check_reply(application, "", ReplyCheckConfig()) == []
    assert codes(check_reply(application, "", ReplyCheckConfig(channels=frozenset({"disclosure"})))) == [
        "empty"
    ]


# -- the door: warning mode --------------------------------------------------------------------------------


def test_a_warning_refuses_until_confirmed_then_the_override_is_recorded(session, now, office):
    ticket = working(session, now, office)
    with pytest.raises(ReplyCheckRefused) as refused:
        ds.reply(session, ticket, "已处理。", user=office["staff"], now=now)
    assert isinstance(refused.value, ValidationError) and refused.value.http_status == 400
    assert "答复过短" in refused.value.message and "仍然发送" in refused.value.message
    assert ticket.replied_at is None

    ds.reply(session, ticket, "已处理。", user=office["staff"], now=now, confirm_warnings=True)
    assert ticket.reply_text == "已处理。"
    event = session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reply.check_overridden"
        )
    )
    assert event.actor_id == office["staff"].id
    assert {f["code"] for f in event.data["findings"]} == {"too_short", "missing_key_words"}


def test_a_clean_reply_goes_out_without_an_override_event(session, now, office):
    ticket = working(session, now, office)
    ds.reply(session, ticket, GOOD, user=office["staff"], now=now)
    assert ticket.reply_text == GOOD
    assert not session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reply.check_overridden"
        )
    ).all()


# -- the door: blocking mode, on every path ----------------------------------------------------------------


def test_blocking_refuses_the_reply_even_confirmed(session, now, office):
    rules(session, is_blocking=True, banned_phrases=["无可奉告"])
    ticket = working(session, now, office)
    with pytest.raises(ReplyCheckRefused) as refused:
        ds.reply(session, ticket, GOOD + "无可奉告", user=office["staff"], now=now, confirm_warnings=True)
    assert "本单位要求修改后再发送" in refused.value.message and "无可奉告" in refused.value.message
    assert ticket.replied_at is None


def test_blocking_refuses_bulk_close_with_a_reply_naming_each_ticket(session, now, office):
    rules(session, is_blocking=True)
    first, second = working(session, now, office), working(session, now, office)
    with pytest.raises(ValidationError) as refused:
        ds.bulk_action(
            session,
            office["staff"],
            [first.id, second.id],
            "close",
            now=now,
            reply_text="已办结",
            confirm_warnings=True,
        )
    assert first.number in refused.value.message and second.number in refused.value.message
    assert "答复过短" in refused.value.message


def test_warning_mode_bulk_close_needs_the_confirmation(session, now, office):
    ticket = working(session, now, office)
    with pytest.raises(ValidationError):
        ds.bulk_action(session, office["staff"], [ticket.id], "close", now=now, reply_text="已办结")
    ds.bulk_action(
        session, office["staff"], [ticket.id], "close", now=now, reply_text="已办结", confirm_warnings=True
    )
    assert ticket.status == "closed" and ticket.reply_text == "已办结"


def test_blocking_refuses_the_sign_off_of_a_reply(session, now, office):
    # The office checks disclosure replies too; the text was clean when submitted, the rules changed since.
    rules(session, channels=["hotline", "disclosure"])
    application = factories.ticket(
        session,
        now=now,
        dept=office["mine"],
        channel="disclosure",
        request_type="政府信息公开申请",
        subject="申请公开小区施工许可信息",
    )
    ds.start_work(session, application, user=office["staff"], now=now)
    text = "您申请公开的小区施工许可信息，经查属于主动公开范围，已在网站公开，请查阅。"
    approval = ds.reply(session, application, text, user=office["staff"], now=now, outcome="public")
    assert approval is not None
    rules(session, channels=["hotline", "disclosure"], is_blocking=True, banned_phrases=["请查阅"])
    with pytest.raises(ReplyCheckRefused):
        ds.decide_approval(session, approval, user=office["supervisor"], approve=True, now=now)
    assert application.replied_at is None and approval.state == "pending"


def test_a_signoff_in_warning_mode_is_the_approvers_confirmation(session, now, office):
    rules(session, channels=["hotline", "disclosure"])
    application = factories.ticket(
        session,
        now=now,
        dept=office["mine"],
        channel="disclosure",
        request_type="政府信息公开申请",
        subject="申请公开小区施工许可信息",
    )
    ds.start_work(session, application, user=office["staff"], now=now)
    with pytest.raises(ReplyCheckRefused):  # the 承办人 hears of it when submitting
        ds.reply(session, application, "已公开。", user=office["staff"], now=now, outcome="public")
    approval = ds.reply(
        session,
        application,
        "已公开。",
        user=office["staff"],
        now=now,
        outcome="public",
        confirm_warnings=True,
    )
    ds.decide_approval(session, approval, user=office["supervisor"], approve=True, now=now)
    assert application.reply_text == "已公开。"
    actors = session.scalars(
        select(TicketEvent.actor_id).where(
            TicketEvent.ticket_id == application.id, TicketEvent.kind == "reply.check_overridden"
        )
    ).all()
    assert actors == [office["staff"].id, office["supervisor"].id]


def test_rules_are_validated(session, now, office):
    with pytest.raises(ValidationError) as refused:
        reply_check.save_rules(
            session,
            is_blocking=False,
            min_length=900,
            banned_phrases=["x" * 60],
            channels=["fax"],
            repeat_window_days=0,
            user_id=office["admin"].id,
            now=now,
            known_channels={"hotline": 1},
        )
    assert set(refused.value.fields) == {"min_length", "banned_phrases", "channels", "repeat_window_days"}


# -- the pages ---------------------------------------------------------------------------------------------


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


@pytest.fixture
def client(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


def test_the_page_shows_the_findings_and_sends_when_confirmed(client, session, now, office):
    ticket = working(session, now, office)
    session.commit()
    sign_in(client, office["staff"])
    url = f"/tickets/{ticket.id}/actions/reply"
    refused = client.post(url, data={"csrf_token": "t0ken", "reply_text": "已处理。"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "答复过短" in page and "data-reply-confirm" in page and 'name="confirm_warnings"' in page
    sent = client.post(url, data={"csrf_token": "t0ken", "reply_text": "已处理。", "confirm_warnings": "on"})
    assert sent.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).reply_text == "已处理。"


def test_blocking_bulk_page_refuses(client, session, now, office):
    rules(session, is_blocking=True)
    ticket = working(session, now, office)
    session.commit()
    sign_in(client, office["staff"])
    client.post(
        "/queues/all/bulk",
        data={
            "csrf_token": "t0ken",
            "ticket_ids": str(ticket.id),
            "action": "close",
            "reply_text": "好",
            "confirm_warnings": "on",
        },
    )
    session.expire_all()
    assert session.get(Ticket, ticket.id).reply_text is None


def test_live_check_json(client, session, now, office):
    hostile = '<img src=x onerror=alert(1)>=HYPERLINK("http://evil")小区垃圾清运'
    ticket = working(session, now, office, subject=hostile)
    session.commit()
    sign_in(client, office["staff"])
    url = f"/tickets/{ticket.id}/reply-check"
    answer = client.post(url, data={"reply_text": "好的"}, headers={"X-CSRF-Token": "t0ken"})
    assert answer.status_code == 200 and answer.is_json
    data = answer.get_json()
    assert data["checked"] is True and data["blocking"] is False
    assert {f["code"] for f in data["findings"]} == {"too_short", "missing_key_words"}
    assert "<img" not in answer.get_data(as_text=True)  # key words are Chinese terms, never the markup
    # The ticket page escapes the hostile subject.
    assert "<img src=x" not in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    # No CSRF token: refused; another department: as a missing ticket.
    assert client.post(url, data={"reply_text": "好的"}).status_code in (400, 403)
    sign_in(client, office["neighbour"])
    assert client.post(url, data={"reply_text": "好的"}, headers={"X-CSRF-Token": "t0ken"}).status_code == 404


def test_the_rules_page_is_for_administrators_and_audited(client, session, now, office):
    session.commit()
    sign_in(client, office["supervisor"])
    assert client.get("/admin/reply-check").status_code == 403
    sign_in(client, office["admin"])
    assert client.get("/admin/reply-check").status_code == 200
    saved = client.post(
        "/admin/reply-check",
        data={
            "csrf_token": "t0ken",
            "is_blocking": "on",
            "min_length": "20",
            "repeat_window_days": "60",
            "channels": ["hotline", "weibo"],
            "banned_phrases": "无可奉告\n\n不归我们管\n",
        },
    )
    assert saved.status_code == 302
    session.expire_all()
    row = session.get(ReplyCheckRules, 1)
    assert row.is_blocking and row.min_length == 20 and row.repeat_window_days == 60
    assert row.banned_phrases == ["无可奉告", "不归我们管"] and row.channels == ["hotline", "weibo"]
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "reply_check.saved")) is not None


def test_no_finding_for_a_ticket_never_shown(session, now, office):
    ticket = working(session, now, office)
    with pytest.raises(NotFound):
        ds.reply(session, ticket, GOOD, user=office["neighbour"], now=now)


def test_hostile_reply_text_is_stored_as_given_and_shown_escaped(client, session, now, office):
    rules(session, banned_phrases=["<script>"])
    ticket = working(session, now, office)
    session.commit()
    sign_in(client, office["staff"])
    hostile = '=HYPERLINK("http://evil")<script>alert(1)</script>关于小区夜间施工噪音，已责令停工整改。'
    refused = client.post(
        f"/tickets/{ticket.id}/actions/reply", data={"csrf_token": "t0ken", "reply_text": hostile}
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "答复含禁用语" in page
    assert "<script>alert(1)" not in page  # the finding and the kept text are escaped
    live = client.post(
        f"/tickets/{ticket.id}/reply-check", data={"reply_text": hostile}, headers={"X-CSRF-Token": "t0ken"}
    )
    assert [f["code"] for f in live.get_json()["findings"]] == ["banned"]
    sent = client.post(
        f"/tickets/{ticket.id}/actions/reply",
        data={"csrf_token": "t0ken", "reply_text": hostile, "confirm_warnings": "on"},
    )
    assert sent.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).reply_text == hostile
    assert "<script>alert(1)" not in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
