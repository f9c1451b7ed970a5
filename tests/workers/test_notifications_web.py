"""The bell, the list, mark read, preferences and the failing-deliveries page."""

import re

from sqlalchemy import select

from tests import factories
from tracker.models.notifications import Delivery, Notification
from tracker.notify import notify


def _login(client, username, password=factories.PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


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
