"""Task bodies called directly (no eager mode) against a committed scratch database."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests import factories
from tests.workers.conftest import at, end_of, wait_for, worker_settings
from tracker.db import session_scope
from tracker.deadlines import service as deadlines
from tracker.notify.models import Delivery, Notification
from tracker.notify.service import failing_deliveries, save_channel, set_preferences
from tracker.people.models import Department, User
from tracker.tickets.models import Deadline, Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage, ProcessedMessage
from tracker.workflow.opening import open_ticket
from tracker.workflow.routing import save_routing_rule, save_topic_rule
from tracker.workflow.transitions import assign_ticket
from workers.outbox import publish_pending
from workers.senders.webhook import dingtalk_url
from workers.tasks.deliveries import send_pending
from workers.tasks.events import process_message
from workers.tasks.reminders import run_calendar_warning, run_digest, run_sweep


def _bureau(url, now):
    with session_scope(url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
        sme = factories.department(s, "sme", "中小企业服务处")
        office = factories.department(s, "office", "办公室")
        staff = factories.user(s, role="staff", dept=sme, now=now, username="zhang")
        boss = factories.user(s, role="supervisor", dept=sme, now=now, username="liu")
        admin = factories.user(s, role="admin", dept=office, now=now, username="wang")
        return {"staff": staff.id, "supervisor": boss.id, "admin": admin.id, "sme": sme.id}


def _count(url, query):
    with session_scope(url) as s:
        return s.scalar(query)


def test_ticket_created_is_routed_tagged_and_handled_once(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        save_routing_rule(s, department_code="sme", keywords=["中小企业", "专精特新"], now=now)
        save_topic_rule(s, topic="惠企政策", keywords=["补贴", "专精特新"], now=now)
        ticket, _ = open_ticket(
            s,
            factories.draft(
                arrived_at=now,
                subject="专精特新企业认定补贴何时发放",
                body="我公司去年通过了市级专精特新中小企业认定，请问认定补贴什么时候发放？",
            ),
            actor="测试",
            now=now,
        )
        ticket_id = ticket.id
        assert ticket.department.code == "bureau"
    with session_scope(scratch_url) as s:
        from tracker.tickets.outbox import OutboxMessage

        message_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.ticket_id == ticket_id))

    assert process_message(settings, message_id, now=now) == [
        "route",
        "repeats",
        "tag",
        "deadlines",
        "search",
        "citizen",
    ]
    assert process_message(settings, message_id, now=now) == []  # redelivered: no second effect
    with session_scope(scratch_url) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket.department_id == ids["sme"]
        assert ticket.topic_names == ["惠企政策"]
        kinds = [
            e.kind
            for e in s.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
            )
        ]
        assert kinds.count("ticket.routed") == 1 and kinds.count("ticket.tagged") == 1
        assert (
            s.scalar(select(func.count()).select_from(ProcessedMessage)) == 6
        )  # one per consumer of ticket.created
        notes = s.scalars(select(Notification).where(Notification.user_id == ids["supervisor"])).all()
        assert [n.title for n in notes] == [f"新工单分办到本部门：{ticket.number}"]


def test_search_consumer_indexes_a_ticket_that_intake_left_unindexed(scratch_url, tmp_path):
    """The API's intake leaves the index row to the ticket.created consumer (no jieba in the request)."""
    from tracker.search import matching_ticket_ids
    from tracker.tickets.outbox import OutboxMessage
    from tracker.workflow.models import TicketSearch

    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket, _ = open_ticket(
            s, factories.draft(arrived_at=now, body="小区旁工厂夜间噪音扰民"), actor="测试", now=now
        )
        ticket_id = ticket.id
    with session_scope(scratch_url) as s:
        s.execute(delete(TicketSearch).where(TicketSearch.ticket_id == ticket_id))
        message_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.ticket_id == ticket_id))
    with session_scope(scratch_url) as s:
        assert s.scalars(select(Ticket.id).where(matching_ticket_ids(s, "噪音"))).all() == []

    assert "search" in process_message(settings, message_id, now=now)
    with session_scope(scratch_url) as s:
        assert s.scalars(select(Ticket.id).where(matching_ticket_ids(s, "噪音"))).all() == [ticket_id]


def test_a_consumer_that_fails_is_run_again_by_the_retry(scratch_url, tmp_path, monkeypatch):
    # The consumer's ProcessedMessage row is written in a savepoint before the consumer runs; when the
    # consumer fails, the row must go with it (on SQLite its RELEASE used to commit it for good, and the
    # retry then skipped the consumer as if it had run).
    from workers.tasks import events

    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket, _ = open_ticket(s, factories.draft(arrived_at=now), actor="测试", now=now)
        s.flush()
        from tracker.tickets.outbox import OutboxMessage

        message_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.ticket_id == ticket.id))
    calls = []

    def flaky(session, settings, message, now):
        calls.append(message.id)
        if len(calls) == 1:
            raise RuntimeError("transient failure")

    monkeypatch.setitem(events.CONSUMERS, "ticket.created", [("flaky", flaky)])
    with pytest.raises(RuntimeError):
        process_message(settings, message_id, now=now)
    assert _count(scratch_url, select(func.count()).select_from(ProcessedMessage)) == 0
    assert process_message(settings, message_id, now=now) == ["flaky"]
    assert calls == [message_id, message_id]
    assert process_message(settings, message_id, now=now) == []


def test_routing_never_overrides_a_department_chosen_at_intake(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        factories.department(s, "it", "信息化推进处")
        save_routing_rule(s, department_code="sme", keywords=["补贴"], now=now)
        ticket, _ = open_ticket(
            s,
            factories.draft(arrived_at=now, department_code="it", body="补贴发放系统登录不上"),
            actor="测试",
            now=now,
        )
        ticket_id = ticket.id
        from tracker.tickets.outbox import OutboxMessage

        s.flush()
        message_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.ticket_id == ticket_id))
    process_message(settings, message_id, now=now)
    with session_scope(scratch_url) as s:
        assert s.get(Ticket, ticket_id).department.code == "it"


def test_assignment_notifies_the_assignee_not_the_actor(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket, _ = open_ticket(
            s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now
        )
        event = assign_ticket(
            s, ticket, s.get(User, ids["staff"]), actor=s.get(User, ids["supervisor"]), now=now
        )
        from tracker.tickets.outbox import OutboxMessage

        s.flush()
        message_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.event_id == event.id))
    assert process_message(settings, message_id, now=now) == ["notify", "citizen"]
    with session_scope(scratch_url) as s:
        titles = {n.user_id: n.title for n in s.scalars(select(Notification))}
        assert titles == {ids["staff"]: f"您有新分派的工单：{ticket.number}"}


def _due_ticket(url, ids, due_at, now):
    with session_scope(url) as s:
        ticket, _ = open_ticket(
            s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now
        )
        assign_ticket(s, ticket, s.get(User, ids["staff"]), actor="测试", now=now)
        deadlines.override_deadline(s, ticket, "reply", due_at=due_at, reason="测试", now=now, actor="测试")
        return ticket.id


def test_reminders_go_out_by_email_and_group_robots_and_a_failing_channel_blocks_nothing(
    scratch_url, tmp_path, smtp_server, robot_server
):
    start = at("2026-02-25", "10:00")
    ids = _bureau(scratch_url, start)
    settings, _ = worker_settings(
        tmp_path,
        scratch_url,
        "memory://",
        TRACKER_SMTP_HOST="127.0.0.1",
        TRACKER_SMTP_PORT=str(smtp_server.port),
    )
    with session_scope(scratch_url) as s:
        sme = s.get(Department, ids["sme"])
        save_channel(
            s,
            name="处室钉钉群",
            kind="dingtalk",
            url=f"{robot_server.url}/ding?access_token=t",
            secret="SECabc",
            department_id=sme.id,
            now=start,
            secret_key=settings.secret_key,
        )
        save_channel(
            s,
            name="企业微信群",
            kind="wecom",
            url=f"{robot_server.url}/wecom",
            now=start,
            secret_key=settings.secret_key,
        )
        save_channel(
            s,
            name="坏掉的Webhook",
            kind="webhook",
            url=f"{robot_server.url}/broken",
            now=start,
            secret_key=settings.secret_key,
        )
    robot_server.fail_paths.add("/broken")
    ticket_id = _due_ticket(scratch_url, ids, end_of("2026-03-09"), start)

    totals = run_sweep(settings, now=at("2026-03-04", "09:30"))
    assert totals["reminders"] == 1 and totals["deliveries"] == 4  # e-mail + 3 group channels
    counts = send_pending(settings, now=at("2026-03-04", "09:31"))
    assert counts == {"sent": 3, "failed": 0, "retrying": 1, "held": 0}

    [mail] = smtp_server.messages
    assert "还有3个工作日到期" in str(mail["Subject"]) or "=?utf-8?" in mail["Subject"]
    text = mail.get_payload(decode=True).decode()
    assert "测试staff，您好" in text and "请在期限内办理" in text and f"/tickets/{ticket_id}" in text
    paths = {path.split("?")[0]: body for path, _, body in robot_server.requests}
    assert (
        paths["/ding"]["msgtype"] == "markdown" and "还有3个工作日到期" in paths["/ding"]["markdown"]["text"]
    )
    assert "timestamp=" in next(p for p, _, _ in robot_server.requests if p.startswith("/ding"))
    assert paths["/wecom"]["markdown"]["content"].startswith("### 【期限提醒】")
    with session_scope(scratch_url) as s:
        [failing] = failing_deliveries(s)
        assert (
            failing.medium == "webhook" and failing.status == "pending" and "HTTP 500" in failing.last_error
        )
        retry_at = failing.next_attempt_at
    assert retry_at == at("2026-03-04", "09:32")  # 1 minute backoff after the first failure
    # Nothing more before the backoff; the failed channel is retried later, alone.
    assert send_pending(settings, now=at("2026-03-04", "09:31")) == {
        "sent": 0,
        "failed": 0,
        "retrying": 0,
        "held": 0,
    }
    robot_server.fail_paths.clear()
    assert send_pending(settings, now=at("2026-03-04", "09:40"))["sent"] == 1
    assert len(smtp_server.messages) == 1


def test_a_channel_that_keeps_failing_ends_failed_and_visible(scratch_url, tmp_path, robot_server):
    from tracker.notify.service import MAX_ATTEMPTS

    start = at("2026-02-25", "10:00")
    ids = _bureau(scratch_url, start)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        save_channel(
            s,
            name="坏掉的Webhook",
            kind="webhook",
            url=f"{robot_server.url}/broken",
            now=start,
            secret_key=settings.secret_key,
        )
    robot_server.fail_paths.add("/broken")
    _due_ticket(scratch_url, ids, end_of("2026-03-09"), start)
    run_sweep(settings, now=at("2026-03-04", "09:30"))
    moment = at("2026-03-04", "09:30")
    for _ in range(MAX_ATTEMPTS):
        send_pending(settings, now=moment)
        moment += timedelta(hours=2)
    with session_scope(scratch_url) as s:
        [row] = failing_deliveries(s)
        assert row.status == "failed" and row.attempts == MAX_ATTEMPTS


def test_dingtalk_signature_follows_the_robot_protocol():
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs, urlsplit

    url = dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=x", "SEC123", now_ms=1700000000000)
    query = parse_qs(urlsplit(url).query)
    expected = base64.b64encode(
        hmac.new(b"SEC123", b"1700000000000\nSEC123", hashlib.sha256).digest()
    ).decode()
    assert query["timestamp"] == ["1700000000000"] and query["sign"] == [expected]


def test_sms_preference_needs_a_phone(scratch_url):
    from tracker.errors import ValidationError

    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    with session_scope(scratch_url) as s:
        user = s.get(User, ids["staff"])
        with pytest.raises(ValidationError):
            set_preferences(s, user, email=True, sms=True)


def test_two_sweeps_started_at_the_same_moment_send_each_reminder_once(pg_scratch_url, tmp_path, smtp_server):
    start = at("2026-02-25", "10:00")
    ids = _bureau(pg_scratch_url, start)
    settings, _ = worker_settings(
        tmp_path,
        pg_scratch_url,
        "memory://",
        TRACKER_SMTP_HOST="127.0.0.1",
        TRACKER_SMTP_PORT=str(smtp_server.port),
    )
    for n in range(60):
        _due_ticket(pg_scratch_url, ids, end_of("2026-03-09") if n % 2 else end_of("2026-03-06"), start)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait()
            results.append(run_sweep(settings, now=at("2026-03-04", "10:00"), batch=7))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    # 30 tickets are 3 working days from due (before:3), 30 are 1 working day from due (before:1).
    assert sum(r["reminders"] for r in results) == 60
    assert _count(pg_scratch_url, select(func.count()).select_from(Notification)) == 60
    reminder_keys = select(
        Notification.deadline_id, Notification.deadline_version, Notification.threshold, Notification.user_id
    ).distinct()
    assert _count(pg_scratch_url, select(func.count()).select_from(reminder_keys.subquery())) == 60

    def send():
        barrier.wait()
        send_pending(settings, now=at("2026-03-04", "10:01"))

    barrier.reset()
    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids_sent = [m["Message-ID"] for m in smtp_server.messages]
    assert len(ids_sent) == 60 == len(set(ids_sent))
    assert (
        _count(pg_scratch_url, select(func.count()).select_from(Delivery).where(Delivery.status == "sent"))
        == 60
    )


def test_one_sweep_runs_in_two_lanes_on_postgresql_and_visits_each_due_deadline_once(
    pg_scratch_url, tmp_path, monkeypatch
):
    import workers.tasks.reminders as task

    start = at("2026-02-25", "10:00")
    now = at("2026-03-04", "10:00")
    ids = _bureau(pg_scratch_url, start)
    settings, _ = worker_settings(tmp_path, pg_scratch_url, "memory://")
    for n in range(60):
        _due_ticket(pg_scratch_url, ids, end_of("2026-03-09") if n % 2 else end_of("2026-03-06"), start)
    batches_of: dict[str, int] = {}  # transactions opened per thread
    barrier = threading.Barrier(2, timeout=30)

    def transaction(url):
        name = threading.current_thread().name
        if name not in batches_of:
            barrier.wait()  # both lanes are running before either takes a batch
        batches_of[name] = batches_of.get(name, 0) + 1
        return session_scope(url)

    monkeypatch.setattr(task, "session_scope", transaction)
    totals = run_sweep(settings, now=now, batch=7)
    # Two lanes, each with batches of its own, between them every reminder once.
    assert len(batches_of) == 2 and all(count >= 2 for count in batches_of.values())
    assert totals["reminders"] == 60
    reminder_keys = select(
        Notification.deadline_id, Notification.deadline_version, Notification.threshold, Notification.user_id
    ).distinct()
    assert _count(pg_scratch_url, select(func.count()).select_from(reminder_keys.subquery())) == 60
    assert _count(pg_scratch_url, select(func.count()).select_from(Notification)) == 60
    still_due = (
        select(func.count())
        .select_from(Deadline)
        .where(Deadline.state.in_(("running", "breached")), Deadline.next_check_at <= now)
    )
    assert _count(pg_scratch_url, still_due) == 0
    assert run_sweep(settings, now=now, batch=7)["visited"] == 0


def test_a_failing_lane_stops_the_other_and_its_error_is_raised(pg_scratch_url):
    from tracker.reminders.sweep import sweep_all

    start = at("2026-02-25", "10:00")
    now = at("2026-03-04", "10:00")
    ids = _bureau(pg_scratch_url, start)
    for _ in range(60):
        _due_ticket(pg_scratch_url, ids, end_of("2026-03-09"), start)
    opened, lock, failing = [], threading.Lock(), [True]

    def transaction():
        with lock:
            opened.append(threading.current_thread().name)
            if failing[0] and len(opened) == 3:
                raise RuntimeError("the database went away")
        return session_scope(pg_scratch_url)

    with pytest.raises(RuntimeError, match="went away"):
        sweep_all(transaction, now=now, batch=7, lanes=2)
    # The whole sweep takes at least ten batches of 7 (60 deadlines, each lane ending on a short batch);
    # the lane still running stopped after the batch it was in.
    assert len(opened) < 10
    assert 0 < _count(pg_scratch_url, select(func.count()).select_from(Notification)) < 60
    # The batches that committed are kept, the rest is swept next time: each reminder once.
    failing[0] = False
    sweep_all(transaction, now=now, batch=7, lanes=2)
    reminder_keys = select(
        Notification.deadline_id, Notification.deadline_version, Notification.threshold, Notification.user_id
    ).distinct()
    assert _count(pg_scratch_url, select(func.count()).select_from(reminder_keys.subquery())) == 60
    assert _count(pg_scratch_url, select(func.count()).select_from(Notification)) == 60


def test_digest_and_calendar_warning_once_a_day(scratch_url, tmp_path):
    start = at("2026-02-25", "10:00")
    ids = _bureau(scratch_url, start)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    _due_ticket(scratch_url, ids, end_of("2026-03-06"), start)
    _due_ticket(scratch_url, ids, end_of("2026-03-02"), start)
    run_sweep(settings, now=at("2026-03-04", "08:00"))  # marks the second one breached
    assert run_digest(settings, now=at("2026-03-04", "08:30")) == 2  # the supervisor and the office
    assert run_digest(settings, now=at("2026-03-04", "08:31")) == 0
    assert run_digest(settings, now=at("2026-03-07", "08:30")) == 0  # Saturday
    with session_scope(scratch_url) as s:
        note = s.scalar(
            select(Notification).where(
                Notification.user_id == ids["supervisor"], Notification.kind == "digest"
            )
        )
        assert note.title == "【每日汇总】03月04日：已超期1件，本周到期1件"
        assert "中小企业服务处" in note.body
    # 2026 is the last bundled year: from 1 October 2026 the office hears about 2027 every day.
    assert run_calendar_warning(settings, now=at("2026-09-30")) == 0
    assert run_calendar_warning(settings, now=at("2026-10-08")) == 1
    assert run_calendar_warning(settings, now=at("2026-10-08", "15:00")) == 0
    assert run_calendar_warning(settings, now=at("2026-10-09")) == 1


@pytest.mark.parametrize(
    ("configured", "alerts"),
    [({}, 0), ({"TRACKER_WEIBO_SILENCE_HOURS": "6"}, 1)],
    ids=["default-24h", "6h"],
)
def test_weibo_silence_window_comes_from_the_settings(scratch_url, tmp_path, configured, alerts):
    from tracker.intake.models import adapter_state
    from tracker.intake.weibo import ADAPTER
    from tracker.tickets.outbox import OutboxMessage
    from workers.tasks.intake import run_adapter_health

    now = at("2026-03-04", "10:00")
    settings, _ = worker_settings(
        tmp_path, scratch_url, "memory://", TRACKER_WEIBO_API_URL="http://127.0.0.1:9", **configured
    )
    with session_scope(scratch_url) as s:
        state = adapter_state(s, ADAPTER)
        state.last_received_at = state.last_success_at = now - timedelta(hours=7)
    assert run_adapter_health(settings, now=now) == alerts
    assert run_adapter_health(settings, now=now + timedelta(minutes=5)) == 0  # once per silence
    with session_scope(scratch_url) as s:
        messages = s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "adapter.silent")
        ).all()
    assert [m["message"] for m in messages] == ["weibo 渠道已超过6小时未收到新内容"] * alerts


@pytest.mark.parametrize("raw", ["0", "-3", "一天", "1.5"])
def test_weibo_silence_setting_refuses_what_is_not_a_positive_whole_number(tmp_path, raw):
    with pytest.raises(ValueError, match="TRACKER_WEIBO_SILENCE_HOURS"):
        worker_settings(tmp_path, "sqlite://", "memory://", TRACKER_WEIBO_SILENCE_HOURS=raw)


def test_publish_pending_marks_what_it_published(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        for _ in range(3):
            open_ticket(s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now)
    assert publish_pending(settings) == 3
    assert publish_pending(settings) == 0


@pytest.mark.redis
def test_a_relay_pass_sends_its_task_messages_in_one_broker_round_trip(
    scratch_url, private_redis, tmp_path, monkeypatch
):
    import base64
    import json

    import redis

    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, private_redis.url)

    def open_tickets(count):
        with session_scope(scratch_url) as s:
            for _ in range(count):
                open_ticket(s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now)

    open_tickets(1)
    assert publish_pending(settings) == 1  # the first pass also declares the queue
    open_tickets(20)
    writes = []
    real_send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(connection, *args, **kwargs):
        writes.append(1)
        return real_send(connection, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted_send)
    assert publish_pending(settings) == 20
    assert len(writes) == 1
    # Ordinary task messages, one per outbox row: what the worker consumes (tests/workers/test_real_worker.py),
    # on the events queue (workers/queues.py).
    from workers.queues import EVENTS_QUEUE

    queued = [json.loads(m) for m in redis.Redis.from_url(private_redis.url).lrange(EVENTS_QUEUE, 0, -1)]
    assert {m["headers"]["task"] for m in queued} == {"events.handle"}
    sent_ids = sorted(json.loads(base64.b64decode(m["body"]))[0][0] for m in queued)
    with session_scope(scratch_url) as s:
        assert sent_ids == sorted(s.scalars(select(OutboxMessage.id)))


def test_others_write_while_the_relay_waits_on_the_broker(scratch_url, tmp_path, monkeypatch):
    # On SQLite a transaction held open while publishing would hold the one write lock: the heartbeat
    # written meanwhile (another connection, as the worker's timer does) would wait and fail.
    from tracker.ops.models import Heartbeat
    from workers import outbox

    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        open_ticket(s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now)
    real_send = outbox._send

    def slow_broker(app, rows):
        with session_scope(scratch_url) as other:
            other.merge(Heartbeat(name="worker", beat_at=now, info={}))
        return real_send(app, rows)

    monkeypatch.setattr(outbox, "_send", slow_broker)
    assert publish_pending(settings) == 1
    assert _count(scratch_url, select(func.count()).select_from(Heartbeat)) == 1
    assert _count(scratch_url, select(func.count()).where(OutboxMessage.published_at.is_(None))) == 0


def test_sms_gateway_and_signed_generic_webhook(scratch_url, tmp_path, robot_server):
    import hashlib
    import hmac
    import json

    start = at("2026-02-25", "10:00")
    ids = _bureau(scratch_url, start)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        save_channel(
            s,
            name="短信网关",
            kind="sms",
            url=f"{robot_server.url}/sms",
            secret="gw-token",
            now=start,
            secret_key=settings.secret_key,
        )
        save_channel(
            s,
            name="OA系统",
            kind="webhook",
            url=f"{robot_server.url}/oa",
            secret="hook-key",
            now=start,
            secret_key=settings.secret_key,
        )
        staff = s.get(User, ids["staff"])
        staff.phone = "13900001111"
        set_preferences(s, staff, email=False, sms=True)
    _due_ticket(scratch_url, ids, end_of("2026-03-09"), start)
    run_sweep(settings, now=at("2026-03-04", "09:30"))
    assert send_pending(settings, now=at("2026-03-04", "09:31"))["sent"] == 2
    by_path = {path: (headers, body) for path, headers, body in robot_server.requests}
    headers, body = by_path["/sms"]
    assert headers["Authorization"] == "Bearer gw-token"
    assert body["phone"] == "13900001111" and body["text"].startswith("【政民互动】【期限提醒】")
    headers, body = by_path["/oa"]
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert (
        headers["X-Tracker-Signature"] == "sha256=" + hmac.new(b"hook-key", raw, hashlib.sha256).hexdigest()
    )
    assert body["event"] == "reminder" and body["link"].endswith("/tickets/" + body["link"].rsplit("/", 1)[1])


def test_the_relay_thread_publishes_when_woken_and_ends_when_stopped(scratch_url, tmp_path):
    from workers import outbox

    now = at("2026-03-04", "10:00")
    _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        open_ticket(s, factories.draft(arrived_at=now, department_code="sme"), actor="测试", now=now)
    outbox.wake_relay(settings)
    unpublished = select(func.count()).where(OutboxMessage.published_at.is_(None))
    wait_for(lambda: _count(scratch_url, unpublished) == 0, timeout=30, message="the relay published")
    threads = [t for t in threading.enumerate() if t.name == "outbox-relay"]
    assert threads, "the relay ran in its own thread"
    outbox.stop_relays()
    assert not any(t.is_alive() for t in threads)
    assert outbox._RELAYS == {}
