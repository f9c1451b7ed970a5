"""The bell, the list, mark read, preferences and the failing-deliveries page."""

import re

from sqlalchemy import select

from tests import factories
from tests.second_factor import complete_second_factor
from tracker.notify.models import Delivery, Notification
from tracker.notify.service import notify


def _login(client, username, password=factories.PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    complete_second_factor(client, response, username)
    return response


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_bell_counts_unread_and_list_escapes_and_marks_read(client, session, now):
    dept = factories.department(session)
    staff = factories.user(session, role="staff", dept=dept, now=now)
    other = factories.user(session, role="staff", dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept)
    [mine] = notify(
        session,
        [staff.id],
        kind="reminder",
        title="【期限提醒】<script>alert(1)</script>",
        body="正文",
        ticket_id=ticket.id,
        now=now,
    )
    notify(session, [staff.id], kind="digest", title="【每日汇总】", now=now)
    [theirs] = notify(session, [other.id], kind="reminder", title="别人的提醒", now=now)
    session.flush()
    _login(client, staff.username)

    home = client.get("/").get_data(as_text=True)
    assert re.search(r'data-bell[^>]*>.*?<span class="badge" data-unread>2</span>', home, re.S)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "别人的提醒" not in page
    assert client.get("/notifications/unread.json").get_json() == {"unread": 2}

    token = _csrf(client, "/notifications/")
    response = client.post(
        "/notifications/read", data={"csrf_token": token, "id": mine, "next": f"/tickets/{ticket.id}"}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tickets/{ticket.id}")
    assert client.get("/notifications/unread.json").get_json() == {"unread": 1}
    # Another user's notification id is simply not theirs to mark.
    client.post("/notifications/read", data={"csrf_token": token, "id": theirs})
    session.expire_all()
    assert session.get(Notification, theirs).read_at is None
    # An outside link is never followed.
    response = client.post("/notifications/read", data={"csrf_token": token, "next": "//evil.example.com/"})
    assert "evil" not in response.headers["Location"]
    assert client.get("/notifications/unread.json").get_json() == {"unread": 0}


def test_preferences_and_failing_deliveries_admin_only(client, session, now):
    dept = factories.department(session)
    staff = factories.user(session, role="staff", dept=dept, now=now)
    admin = factories.user(session, role="admin", dept=dept, now=now)
    [n] = notify(session, [staff.id], kind="reminder", title="提醒", now=now)
    session.add(
        Delivery(
            key=f"n{n}:email",
            notification_id=n,
            medium="email",
            user_id=staff.id,
            status="failed",
            attempts=8,
            next_attempt_at=now,
            last_error="SendError: 邮件服务器拒绝：550",
            created_at=now,
        )
    )
    session.flush()
    _login(client, staff.username)
    assert client.get("/notifications/deliveries").status_code == 403
    token = _csrf(client, "/notifications/preferences")
    assert client.post("/notifications/preferences", data={"csrf_token": token}).status_code == 302
    session.expire_all()
    assert staff.preferences["email"] is False
    client.post("/logout", data={"csrf_token": token})

    _login(client, admin.username)
    page = client.get("/notifications/deliveries").get_data(as_text=True)
    assert "邮件服务器拒绝：550" in page and "已放弃" in page
    token = _csrf(client, "/notifications/deliveries")
    delivery_id = session.scalar(select(Delivery.id).where(Delivery.notification_id == n))
    assert (
        client.post(f"/notifications/deliveries/{delivery_id}/retry", data={"csrf_token": token}).status_code
        == 302
    )
    session.expire_all()
    assert session.get(Delivery, delivery_id).status == "pending"


def _failing_robot(session, now):
    from tracker.notify.models import NotificationChannel
    from tracker.notify.service import record_channel_result, save_channel

    robot = save_channel(
        session,
        name="处室钉钉群<b>",
        kind="dingtalk",
        url="https://oapi.dingtalk.com/robot/send?access_token=ROBOT-TOKEN-SECRET",
        secret="SECsigning",
        now=now,
        secret_key="test-secret-key",
    )
    record_channel_result(
        session, now=now, channel_id=robot.id, code="310000", error="钉钉机器人返回错误 310000 sign not match"
    )
    session.commit()
    return session.get(NotificationChannel, robot.id)


def test_channel_page_shows_every_channel_with_its_last_error_in_chinese(app, client, session, now):
    from tracker.intake.models import adapter_state
    from tracker.intake.weibo import ADAPTER

    dept = factories.department(session)
    admin = factories.user(session, role="admin", dept=dept, now=now)
    staff = factories.user(session, role="staff", dept=dept, now=now)
    _failing_robot(session, now)
    state = adapter_state(session, ADAPTER)
    state.last_error_at, state.last_error_code, state.last_error = now, "21327", "21327：授权已过期"
    session.commit()

    other = app.test_client()
    _login(other, staff.username)
    assert other.get("/admin/channels").status_code == 403  # the office's page only
    _login(client, admin.username)
    page = client.get("/admin/channels").get_data(as_text=True)
    rows = re.findall(r'<tr data-state="(\w+)"><td>(.*?)</td>', page)
    assert [label for _, label in rows][:3] == ["政务微博接口", "12345回传", "电子邮件（SMTP）"]
    assert ("error", "处室钉钉群&lt;b&gt;（钉钉群机器人）") in rows  # escaped
    assert "<code>310000</code> 签名或关键词校验未通过" in page
    assert "授权已过期，请重新授权" in page


def test_healthz_detail_names_each_channel_and_reveals_no_secret(client, session, now):
    robot = _failing_robot(session, now)
    plain = client.get("/healthz")
    assert set(plain.json) == {"database", "broker", "worker", "beat"}  # the probe's answer is unchanged
    detailed = client.get("/healthz?detail=1")
    assert detailed.status_code == plain.status_code  # a channel's trouble is not the service's
    [row] = [c for c in detailed.json["channels"] if c["key"] == f"channel:{robot.id}"]
    assert row["state"] == "error" and row["last_error_code"] == "310000"
    assert row["meaning"].startswith("签名或关键词校验未通过")
    text = detailed.get_data(as_text=True)
    for secret in ("ROBOT-TOKEN-SECRET", "SECsigning", "sign not match", "oapi.dingtalk.com"):
        assert secret not in text
    weibo = next(c for c in detailed.json["channels"] if c["key"] == "weibo")
    assert weibo["state"] == "off" and "detail" not in weibo
