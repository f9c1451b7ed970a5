"""Weibo poller against a local server of recorded API responses; callbacks to a local 12345 endpoint;
duplicates across channels; art. 39 conversion."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.intake.servers import CallbackHandler, WeiboHandler, serve
from tracker.intake import hotline, website
from tracker.intake.apikeys import create_api_key, sign
from tracker.intake.callbacks import deliver_due, plan_callbacks
from tracker.intake.convert import convert_ticket
from tracker.intake.models import CallbackDelivery, adapter_state
from tracker.intake.records import apply_record
from tracker.intake.weibo import ADAPTER, poll_weibo, raise_silence_alerts
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow.transitions import close_ticket, reply_ticket


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


def test_weibo_poll_creates_tickets_once_and_records_health(session, now, dept):
    with serve(WeiboHandler) as (server, url):
        counts = poll_weibo(session, api_url=url, access_token="tok-123", now=now)
        assert counts["created"] + counts["duplicate"] == 4
        tickets = session.scalars(
            select(Ticket).where(
                Ticket.channel == "weibo",
                Ticket.external_ref.in_(["12438492184", "12438492190", "11488058300", "12438492301"]),
            )
        ).all()
        assert len(tickets) == 4
        assert all(t.deadlines for t in tickets)
        mention = next(t for t in tickets if t.external_ref == "11488058300")
        assert mention.extra["weibo_url"] == "https://weibo.com/1900000002/11488058300"
        assert mention.request_type == "建议"
        # A comment @-ing the bureau under someone else's post (comments/mentions) links to that post.
        elsewhere = next(t for t in tickets if t.external_ref == "12438492301")
        assert elsewhere.extra["weibo_kind"] == "comment_mention"
        assert elsewhere.extra["weibo_url"] == "https://weibo.com/1900000077/11488058999"
        state = adapter_state(session, ADAPTER)
        assert state.last_success_at == now and state.consecutive_failures == 0
        assert state.cursor["comments"] == "12438492190"
        # The second poll, one interval later, asks only for newer items (since_id) and creates nothing.
        again = poll_weibo(session, api_url=url, access_token="tok-123", now=now + timedelta(minutes=4))
        assert again["created"] == 0
        _path, query = [r for r in server.requests if r[0] == "/2/comments/to_me.json"][-1]
        assert query["since_id"] == ["12438492190"]
        assert query["access_token"] == ["tok-123"]


def test_weibo_poll_backs_off_after_errors(session, now, dept):
    with serve(WeiboHandler) as (server, url):
        server.fail_with = 21327
        counts = poll_weibo(session, api_url=url, access_token="bad", now=now)
        assert counts["failed"] == 1 and counts["error"] == "21327"
        state = adapter_state(session, ADAPTER)
        assert state.consecutive_failures == 1 and state.last_error_code == "21327"
        assert "授权已过期，请重新授权" in state.last_error
        assert state.next_attempt_at == now + timedelta(minutes=1)
        assert poll_weibo(session, api_url=url, access_token="bad", now=now + timedelta(seconds=30))[
            "skipped"
        ]
        server.fail_with = 500
        later = now + timedelta(minutes=5)
        counts = poll_weibo(session, api_url=url, access_token="bad", now=later)
        assert state.last_error_code == "HTTP 500" and counts["failed"] == 3
        # A server error is each endpoint's own: each waits 1, 2, 4 … minutes, the adapter does not.
        assert state.next_attempt_at is None
        assert {e["at"] for e in state.cursor["retry"].values()} == {
            (later + timedelta(minutes=1)).isoformat()
        }
        assert "tok" not in (state.last_error or "")  # the token never lands in the recorded error
        assert "bad" not in (state.last_error or "")
        server.fail_with = None
        poll_weibo(session, api_url=url, access_token="good", now=later + timedelta(minutes=5))
        assert state.consecutive_failures == 0 and state.next_attempt_at is None and not state.cursor["retry"]


def test_silence_raises_one_alert(session, now, dept):
    state = adapter_state(session, ADAPTER)
    state.last_received_at = state.last_success_at = now - timedelta(hours=25)
    session.flush()
    assert raise_silence_alerts(session, now=now, silence=timedelta(hours=24)) == 1
    alert = session.scalar(
        select(OutboxMessage).where(OutboxMessage.topic == "adapter.silent").order_by(OutboxMessage.id.desc())
    )
    assert alert.payload["adapter"] == "weibo" and "未收到" in alert.payload["message"]
    # once per silence
    assert raise_silence_alerts(session, now=now + timedelta(hours=1), silence=timedelta(hours=24)) == 0


def _pushed_order(session, now, number="CB-1"):
    record = hotline.record_from_json(
        {
            "order_no": number,
            "accepted_at": "2026-03-04 09:00",
            "request_type": "咨询",
            "content": "咨询技改补贴",
        }
    )
    return apply_record(session, record, actor="API:12345平台", reach=EVERYTHING, now=now).ticket


def test_replies_go_back_to_the_platform_signed_with_retries(session, now, dept):
    api_key, secret = create_api_key(session, "test-secret-key", name="12345平台", channel="hotline", now=now)
    ticket = _pushed_order(session, now, "CB-100")
    reply_ticket(session, ticket, "已电话答复", actor="承办人", now=now + timedelta(hours=1))
    close_ticket(session, ticket, actor="承办人", now=now + timedelta(hours=2))
    assert plan_callbacks(session, now=now + timedelta(hours=3)) >= 2
    assert plan_callbacks(session, now=now + timedelta(hours=3)) == 0  # each event once
    deliveries = session.scalars(
        select(CallbackDelivery).where(CallbackDelivery.ticket_id == ticket.id).order_by(CallbackDelivery.id)
    ).all()
    assert [d.kind for d in deliveries] == ["reply", "close"]
    assert deliveries[0].payload == {
        "工单编号": "CB-100",
        "类型": "reply",
        "答复内容": "已电话答复",
        "答复时间": "2026-03-04 11:00:00",
    }
    with serve(CallbackHandler) as (server, url):
        server.status = 503
        later = now + timedelta(hours=3)
        counts = deliver_due(session, url=url, secret_key="test-secret-key", now=later)
        assert counts["retry"] >= 2 and deliveries[0].next_attempt_at == later + timedelta(minutes=1)
        server.status = 200
        counts = deliver_due(session, url=url, secret_key="test-secret-key", now=later + timedelta(minutes=1))
        assert counts["sent"] >= 2 and deliveries[0].status == "sent"
        path, headers, body = server.requests[-1]
        assert headers["X-Tracker-Key"] == api_key.key_id
        # Signed as the push is: method, path, query, timestamp, nonce and body, each attempt a new nonce.
        assert headers["X-Tracker-Signature"] == sign(
            secret,
            method="POST",
            path=path.split("?")[0],
            query=path.partition("?")[2],
            timestamp=headers["X-Tracker-Timestamp"],
            nonce=headers["X-Tracker-Nonce"],
            body=body,
        )
        nonces = [h["X-Tracker-Nonce"] for _, h, _ in server.requests]
        assert len(set(nonces)) == len(nonces)
        assert json.loads(body)["类型"] in ("reply", "close")


def test_imported_history_is_not_sent_back(session, now, dept):
    record = hotline.record_from_row(
        {
            "工单编号": "CB-H1",
            "受理时间": "2016-03-01",
            "诉求类型": "咨询",
            "诉求内容": "x",
            "办结时间": "2016-03-02",
            "答复内容": "已答复",
        }
    )
    ticket = apply_record(session, record, actor="文件导入", reach=EVERYTHING, now=now).ticket
    plan_callbacks(session, now=now)
    assert session.scalar(select(CallbackDelivery).where(CallbackDelivery.ticket_id == ticket.id)) is None


def test_same_phone_across_channels_is_flagged(session, now, dept):
    first = _pushed_order(session, now, "DUP-1")
    first.contact.phone = "13600009999"
    session.flush()
    record = website.record_from_portal(
        {"request_type": "咨询", "title": "另一件事", "content": "完全不同的内容", "phone": "13600009999"},
        now=now + timedelta(days=2),
    )
    result = apply_record(session, record, actor="门户网站", reach=EVERYTHING, now=now + timedelta(days=2))
    assert result.possible_duplicate_of == first.number
    assert result.ticket.possible_duplicate_of_id == first.id
    assert session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == result.ticket.id, TicketEvent.kind == "ticket.possible_duplicate"
        )
    )


def test_very_similar_text_is_flagged(session, now, dept):
    text = "开发区管委会门口的两个公共充电桩坏了一个多月，打运营商电话也没人处理，请尽快协调修复。"
    first = apply_record(
        session,
        website.record_from_portal(
            {"request_type": "投诉", "title": "充电桩", "content": text, "email": "a@example.com"},
            now=now,
        ),
        actor="门户网站",
        reach=EVERYTHING,
        now=now,
    ).ticket
    second = apply_record(
        session,
        website.record_from_portal(
            {
                "request_type": "投诉",
                "title": "充电桩坏了",
                "content": text.replace("一个多月", "一个月"),
                "email": "b@example.com",
            },
            now=now,
        ),
        actor="门户网站",
        reach=EVERYTHING,
        now=now,
    )
    assert second.possible_duplicate_of == first.number


def test_hotline_order_converted_to_disclosure_keeps_both_histories(session, now, dept):
    order = _pushed_order(session, now, "CONV-1")
    application = convert_ticket(
        session,
        order,
        "disclosure",
        actor="承办人",
        now=now + timedelta(hours=1),
        reason="诉求实为申请公开技改资金分配结果",
    )
    assert application.channel == "disclosure" and application.linked_ticket_id == order.id
    assert order.linked_ticket_id == application.id and order.status == "received"
    assert application.received_at == now + timedelta(hours=1) and application.query_code
    kinds = [
        e.kind
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == order.id).order_by(TicketEvent.id)
        )
    ]
    assert "ticket.created" in kinds and "ticket.converted" in kinds and "ticket.linked" in kinds
    with pytest.raises(Exception, match="已关联"):
        convert_ticket(session, order, "website", actor="承办人", now=now, reason="再转")


def test_pushed_orders_with_similar_text_are_flagged_by_the_scan(session, now, dept):
    from tracker.intake.duplicates import scan_similar_text

    text = "工业园区东侧某企业夜间生产噪音很大，影响附近居民休息，请尽快处理。"
    first = apply_record(
        session,
        hotline.record_from_json(
            {"order_no": "SIM-1", "accepted_at": "2026-03-04 09:00", "request_type": "投诉", "content": text}
        ),
        actor="API:12345平台",
        reach=EVERYTHING,
        now=now,
        fast=True,
    ).ticket
    second = apply_record(
        session,
        hotline.record_from_json(
            {
                "order_no": "SIM-2",
                "accepted_at": "2026-03-04 10:00",
                "request_type": "投诉",
                "content": text + "谢谢",
            }
        ),
        actor="API:12345平台",
        reach=EVERYTHING,
        now=now,
        fast=True,
    ).ticket
    assert second.possible_duplicate_of_id is None  # not inline on the fast path
    assert scan_similar_text(session, now=now, limit=100_000) >= 1
    session.refresh(second)
    assert second.possible_duplicate_of_id == first.id and first.possible_duplicate_of_id is None


def test_extension_goes_back_with_reason_and_new_time(session, now, dept):
    from tracker.deadlines.service import extend_deadline

    ticket = _pushed_order(session, now, "CB-EXT")
    extend_deadline(
        session, ticket, "reply", length=2, approver="科长", reason="需现场核查", now=now, actor="承办人"
    )
    plan_callbacks(session, now=now + timedelta(minutes=1))
    delivery = session.scalar(
        select(CallbackDelivery).where(
            CallbackDelivery.ticket_id == ticket.id, CallbackDelivery.kind == "extension"
        )
    )
    assert delivery.payload["延期理由"] == "需现场核查"
    assert delivery.payload["新时限"].startswith("2026-03-")
