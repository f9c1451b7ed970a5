"""The notification channels and the Weibo poll against stand-ins that behave like the real services:
group robots that throttle past 20 messages a minute (DingTalk 130101, WeCom 45009), SMTP servers that
speak TLS from the first byte or insist on STARTTLS, with a certificate from a private CA that must be
refused until it is configured; the Weibo API refusing one endpoint while a poll is killed half-way.
Each of these fails on the senders that posted one message per delivery, counted a throttle as a failed
attempt, sent mail without verifying the server, and rolled a whole poll back."""

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests import factories
from tests.intake.servers import WeiboHandler, serve
from tests.workers.conftest import SMTP_PASSWORD, SMTP_USER, at, end_of, worker_settings
from tracker.db import session_scope
from tracker.deadlines import service as deadlines
from tracker.intake.models import AdapterState
from tracker.notify.models import Delivery, NotificationChannel
from tracker.notify.service import ROBOT_BATCH, failing_deliveries, save_channel
from tracker.people.models import User
from tracker.tickets.models import Ticket
from tracker.workflow.opening import open_ticket
from tracker.workflow.transitions import assign_ticket
from workers.senders import Message, SendError
from workers.senders.email import send_email
from workers.tasks.deliveries import send_pending
from workers.tasks.reminders import run_sweep

START = at("2026-02-25", "10:00")
MORNING = at("2026-03-04", "09:30")


def _bureau_with_tickets(url, count: int) -> dict:
    with session_scope(url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
        sme = factories.department(s, "sme", "中小企业服务处")
        staff = factories.user(s, role="staff", dept=sme, now=START, username="zhang")
        factories.user(s, role="supervisor", dept=sme, now=START, username="liu")
        numbers = []
        for _ in range(count):
            ticket, _ = open_ticket(
                s, factories.draft(arrived_at=START, department_code="sme"), actor="测试", now=START
            )
            assign_ticket(s, ticket, s.get(User, staff.id), actor="测试", now=START)
            deadlines.override_deadline(
                s, ticket, "reply", due_at=end_of("2026-03-09"), reason="测试", now=START, actor="测试"
            )
            numbers.append(ticket.number)
        return {"sme": sme.id, "numbers": numbers}


def _robots(url, settings, robot_server, sme_id):
    with session_scope(url) as s:
        ding = save_channel(
            s,
            name="处室钉钉群",
            kind="dingtalk",
            url=f"{robot_server.url}/ding?access_token=t",
            secret="SECabc",
            department_id=sme_id,
            now=START,
            secret_key=settings.secret_key,
        )
        wecom = save_channel(
            s,
            name="企业微信群",
            kind="wecom",
            url=f"{robot_server.url}/wecom",
            now=START,
            secret_key=settings.secret_key,
        )
        return ding.id, wecom.id


def _robot_deliveries(url):
    with session_scope(url) as s:
        return s.execute(
            select(Delivery.status, Delivery.attempts, Delivery.last_error).where(
                Delivery.channel_id.is_not(None)
            )
        ).all()


def test_a_morning_burst_reaches_each_robot_paced_and_batched(scratch_url, tmp_path, robot_server):
    """40 reminders fall due at once: each robot gets a few digests, never more than 20 a minute, and
    every ticket is in one of them; the robot never has to throttle."""
    ids = _bureau_with_tickets(scratch_url, 40)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    _robots(scratch_url, settings, robot_server, ids["sme"])
    assert run_sweep(settings, now=MORNING)["reminders"] == 40

    moment, rounds = MORNING, 0
    while any(status != "sent" for status, _, _ in _robot_deliveries(scratch_url)):
        send_pending(settings, now=moment)
        moment += timedelta(seconds=3)
        rounds += 1
        assert rounds < 60, "robot deliveries never finished"

    assert all(ok for *_, ok in robot_server.answered), "a robot had to throttle"
    for prefix in ("/ding", "/wecom"):
        posts = robot_server.accepted(prefix)
        assert 2 <= len(posts) <= -(-40 // ROBOT_BATCH) + 1
        text = "".join(p["markdown"].get("text") or p["markdown"].get("content") for p in posts)
        assert all(number in text for number in ids["numbers"]), prefix
    assert {attempts for _, attempts, _ in _robot_deliveries(scratch_url)} == {1}


@pytest.mark.parametrize(("kind", "code", "wait"), [("dingtalk", "130101", 600), ("wecom", "45009", 60)])
def test_a_throttled_robot_waits_and_it_is_not_a_failure(
    scratch_url, tmp_path, robot_server, kind, code, wait
):
    ids = _bureau_with_tickets(scratch_url, 3)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    ding_id, wecom_id = _robots(scratch_url, settings, robot_server, ids["sme"])
    channel_id = ding_id if kind == "dingtalk" else wecom_id
    run_sweep(settings, now=MORNING)
    robot_server.throttled = True
    counts = send_pending(settings, now=MORNING)
    assert counts["held"] == 6 and counts["retrying"] == counts["failed"] == 0
    with session_scope(scratch_url) as s:
        assert failing_deliveries(s) == []  # not on the failure list: nothing failed
        channel = s.get(NotificationChannel, channel_id)
        assert channel.last_error_code == code and channel.paused_until == MORNING + timedelta(seconds=wait)
        waiting = s.scalars(select(Delivery).where(Delivery.channel_id == channel_id)).all()
        assert {(d.status, d.attempts) for d in waiting} == {("pending", 0)}
    # Nothing is posted while the robot is throttled, not even after the usual retry minute.
    posted = len(robot_server.requests)
    send_pending(settings, now=MORNING + timedelta(seconds=wait - 1))
    assert [p for p, *_ in robot_server.requests[posted:] if p.startswith(f"/{kind[:4]}")] == []
    robot_server.throttled = False
    robot_server.throttled_until.clear()
    assert send_pending(settings, now=MORNING + timedelta(seconds=wait))["sent"] >= 1
    with session_scope(scratch_url) as s:
        sent = s.scalars(select(Delivery).where(Delivery.channel_id == channel_id)).all()
        assert {d.status for d in sent} == {"sent"}
        assert s.get(NotificationChannel, channel_id).last_success_at == MORNING + timedelta(seconds=wait)


# -- SMTP ------------------------------------------------------------------------------------------------


def _mail_settings(tmp_path, port: int, **extra):
    settings, _ = worker_settings(
        tmp_path,
        "sqlite://",
        "memory://",
        TRACKER_SMTP_HOST="127.0.0.1",
        TRACKER_SMTP_PORT=str(port),
        TRACKER_SMTP_SENDER="tracker@example.gov.cn",
        **extra,
    )
    return settings


MAIL = Message(
    delivery_id=7,
    delivery_key="n7:email",
    medium="email",
    title="【期限提醒】RX2026000007 还有1个工作日到期",
    body="",
    link="/tickets/7",
    kind="reminder",
    recipient_name="张伟",
    email="zhangwei@example.gov.cn",
)


def test_starttls_is_used_whenever_offered_and_an_unknown_ca_is_refused(tmp_path, tls_smtp):
    server = tls_smtp("starttls")  # no user configured: STARTTLS anyway
    with pytest.raises(SendError) as refused:
        send_email(MAIL, _mail_settings(tmp_path, server.port))
    assert refused.value.code == "tls" and server.messages == []
    send_email(
        MAIL, _mail_settings(tmp_path, server.port, TRACKER_SMTP_CA_FILE=str(server.certificate.ca_file))
    )
    [mail] = server.messages
    assert server.encrypted == [True]
    assert mail["Message-ID"] == "<n7.email.7@example.gov.cn>"


def test_implicit_tls_with_a_login_sends_the_password_only_encrypted(tmp_path, tls_smtp):
    server = tls_smtp("implicit", login=True)
    extra = {"TRACKER_SMTP_USER": SMTP_USER, "TRACKER_SMTP_PASSWORD": SMTP_PASSWORD}
    with pytest.raises(SendError) as refused:
        send_email(MAIL, _mail_settings(tmp_path, server.port, TRACKER_SMTP_TLS="implicit", **extra))
    assert refused.value.code == "tls" and server.logins == []
    ca = str(server.certificate.ca_file)
    send_email(
        MAIL,
        _mail_settings(tmp_path, server.port, TRACKER_SMTP_TLS="implicit", TRACKER_SMTP_CA_FILE=ca, **extra),
    )
    assert server.logins == [(SMTP_USER, True)] and server.encrypted == [True]


def test_a_certificate_for_another_host_is_refused(tmp_path, tls_smtp):
    server = tls_smtp("starttls", hosts=("mail.example.gov.cn",))
    ca = str(server.certificate.ca_file)
    with pytest.raises(SendError) as refused:
        send_email(MAIL, _mail_settings(tmp_path, server.port, TRACKER_SMTP_CA_FILE=ca))
    assert refused.value.code == "tls" and server.messages == []


def test_a_password_is_never_sent_to_a_server_without_tls(tmp_path, smtp_server):
    smtp_server.logins = []
    settings = _mail_settings(
        tmp_path, smtp_server.port, TRACKER_SMTP_USER=SMTP_USER, TRACKER_SMTP_PASSWORD=SMTP_PASSWORD
    )
    with pytest.raises(SendError) as refused:
        send_email(MAIL, settings)
    assert refused.value.code == "no-starttls" and smtp_server.messages == []
    # Without a user, a local relay that offers no TLS still gets its mail (nothing secret to protect).
    send_email(MAIL, _mail_settings(tmp_path, smtp_server.port))
    assert smtp_server.encrypted == [False]


@pytest.mark.parametrize("raw", ["ssl", "yes"])
def test_smtp_tls_setting_refuses_unknown_modes(tmp_path, raw):
    with pytest.raises(ValueError, match="TRACKER_SMTP_TLS"):
        worker_settings(tmp_path, "sqlite://", "memory://", TRACKER_SMTP_TLS=raw)


def test_a_refused_certificate_is_on_the_channel_status(scratch_url, tmp_path, tls_smtp):
    from tracker.ops.channel_status import channel_statuses

    server = tls_smtp("starttls")
    ids = _bureau_with_tickets(scratch_url, 1)
    settings, _ = worker_settings(
        tmp_path, scratch_url, "memory://", TRACKER_SMTP_HOST="127.0.0.1", TRACKER_SMTP_PORT=str(server.port)
    )
    with session_scope(scratch_url) as s:
        s.execute(User.__table__.update().values(email="someone@example.gov.cn"))
    run_sweep(settings, now=MORNING)
    assert send_pending(settings, now=MORNING)["retrying"] >= 1
    with session_scope(scratch_url) as s:
        [email] = [row for row in channel_statuses(s, settings, now=MORNING) if row.key == "email"]
        assert email.state == "error" and email.last_error_code == "tls"
        assert "证书校验失败" in email.meaning
    assert ids["numbers"]


# -- Weibo: each endpoint committed on its own ---------------------------------------------------------------


class WorkerKilled(BaseException):
    """The worker dies half-way through a poll (SIGKILL, an out-of-memory kill)."""


def test_a_poll_killed_half_way_keeps_what_the_endpoints_before_committed(scratch_url, tmp_path):
    from tracker.intake.weibo import http_fetch
    from workers.tasks.intake import run_weibo_poll

    with session_scope(scratch_url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
    with serve(WeiboHandler) as (_server, url):
        settings, _ = worker_settings(
            tmp_path, scratch_url, "memory://", TRACKER_WEIBO_API_URL=url, TRACKER_WEIBO_ACCESS_TOKEN="tok"
        )

        def dies_on_the_third_endpoint(endpoint_url, params, **kw):
            if endpoint_url.endswith("/2/comments/mentions.json"):
                raise WorkerKilled
            return http_fetch(endpoint_url, params, **kw)

        with pytest.raises(WorkerKilled):
            run_weibo_poll(settings, now=MORNING, fetch=dies_on_the_third_endpoint)
    with session_scope(scratch_url) as s:
        refs = set(s.scalars(select(Ticket.external_ref).where(Ticket.channel == "weibo")))
        assert refs == {"12438492184", "12438492190", "11488058300"}  # comments and mentions, committed
        cursor = s.get(AdapterState, "weibo").cursor
        assert cursor["comments"] == "12438492190" and cursor["mentions"] == "11488058300"
        assert "comment_mentions" not in cursor


def test_tracker_channel_poll_and_status_tell_the_operator(scratch_url, tmp_path, monkeypatch):
    from tracker.cli.main import main

    with session_scope(scratch_url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
    with serve(WeiboHandler) as (server, url):
        server.fail_paths = {"/2/statuses/mentions.json": 21327}
        _, env = worker_settings(
            tmp_path, scratch_url, "memory://", TRACKER_WEIBO_API_URL=url, TRACKER_WEIBO_ACCESS_TOKEN="tok"
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        runner = CliRunner()
        polled = runner.invoke(main, ["channel", "poll", "weibo"])
        assert polled.exit_code == 1, polled.output
        assert "comments: 取到 2 条，新建工单 2 个" in polled.output
        assert (
            "21327：授权已过期，请重新授权" in polled.output
            or "21327 授权已过期，请重新授权" in polled.output
        )
        status = runner.invoke(main, ["channel", "status"])
    assert status.exit_code == 0, status.output
    assert "政务微博接口 [出错]" in status.output and "21327（授权已过期，请重新授权）" in status.output
    assert "12345回传 [未配置]" in status.output and "电子邮件（SMTP） [未配置]" in status.output
    assert "tok" not in status.output
    with session_scope(scratch_url) as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 2
