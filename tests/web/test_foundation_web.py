"""Sign-in, health, the ticket page's object-level check, CSRF and headers."""

import re

from tests import factories
from tracker.ops.models import Heartbeat
from tracker.people.models import AuditEntry


def _login(client, username, password=factories.PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def _csrf(client, path="/"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_login_page_is_chinese_and_has_security_headers(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "登录" in response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_dashboard_requires_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_without_csrf_is_refused(client, session, now):
    staff = factories.user(session, now=now)
    response = client.post("/login", data={"username": staff.username, "password": factories.PASSWORD})
    assert response.status_code == 400


def test_staff_sees_own_department_only(client, session, now):
    mine, other = factories.department(session), factories.department(session)
    staff = factories.user(session, dept=mine, now=now)
    own = factories.ticket(session, now=now, dept=mine, subject="本处工单")
    foreign = factories.ticket(session, now=now, dept=other, subject="他处工单")
    session.commit()
    assert _login(client, staff.username).status_code == 302
    home = client.get("/queues/all").get_data(as_text=True)  # every ticket the user may see
    assert "本处工单" in home and "他处工单" not in home
    assert client.get(f"/tickets/{own.id}").status_code == 200
    assert client.get(f"/tickets/{foreign.id}").status_code == 404


def test_contact_masked_and_reveal_audited(client, session, now):
    dept = factories.department(session)
    staff = factories.user(session, dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept)
    session.commit()
    _login(client, staff.username)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page
    token = _csrf(client, f"/tickets/{ticket.id}")
    revealed = client.post(f"/tickets/{ticket.id}/reveal", headers={"X-CSRF-Token": token})
    assert revealed.json["phone"] == "13812345678"
    audit = session.query(AuditEntry).filter_by(action="personal_data.reveal", object_id=str(ticket.id)).one()
    assert audit.user_id == staff.id


def test_citizen_text_is_escaped(client, session, now):
    dept = factories.department(session)
    staff = factories.user(session, dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept, subject="<script>alert(1)</script>")
    session.commit()
    _login(client, staff.username)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_lockout_after_repeated_failures(client, session, now):
    staff = factories.user(session, now=now)
    session.commit()
    for _ in range(5):
        assert _login(client, staff.username, "wrong-password").status_code == 401
    response = _login(client, staff.username)  # right password, but locked now
    assert response.status_code == 401 and "锁定" in response.get_data(as_text=True)


def test_healthz_reports_each_part(client, session, now):
    response = client.get("/healthz")
    body = response.json
    assert set(body) == {"database", "broker", "worker", "beat"}
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert response.status_code == 503  # no worker or beat has ever beaten in this test
    from tracker.clock import utcnow

    session.add_all(
        [
            Heartbeat(name="worker", beat_at=utcnow(), info={}),
            Heartbeat(name="beat", beat_at=utcnow(), info={}),
        ]
    )
    session.commit()
    response = client.get("/healthz")
    assert response.status_code == 200 and set(response.json.values()) == {"ok"}


def test_open_redirect_after_login_is_refused(client, session, now):
    staff = factories.user(session, now=now)
    session.commit()
    token = _csrf(client, "/login")
    response = client.post(
        "/login?next=//evil.example.com/",
        data={"username": staff.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"
