"""The TOTP second factor: administrators enrol at their first sign-in, a code is good once, recovery
codes are hashed and single-use, and nothing is reachable between the two factors."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests import factories
from tracker.errors import PermissionDenied
from tracker.people import totp
from tracker.people.models import AuditEntry, User


@pytest.fixture(autouse=True)
def _clock(app, now):
    app.config["CLOCK"] = lambda: now


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _login(client, username, password=factories.PASSWORD):
    token = _csrf(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def _post(client, path, **data):
    return client.post(path, data={"csrf_token": _csrf(client, path), **data})


def _actions(session):
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def _enrol(client, now):
    page = client.get("/login/enrol").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7]+)<', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).at(now)})
    return secret, response


def test_an_administrator_enrols_at_first_sign_in(client, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    response = _login(client, admin.username)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/enrol")
    # Between the factors nothing is reachable.
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.get("/admin/users").headers["Location"].startswith("/login")

    page = client.get("/login/enrol").get_data(as_text=True)
    assert "otpauth://totp/" in page and "data:image/svg+xml;base64," in page
    wrong = _post(client, "/login/enrol", code="000000")
    assert wrong.status_code == 400 and "验证码不正确" in wrong.get_data(as_text=True)

    secret, enrolled = _enrol(client, now)
    assert enrolled.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", enrolled.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_CODE_COUNT
    assert client.get("/").status_code == 200
    session.expire_all()
    stored = session.get(User, admin.id)
    assert stored.totp_secret_encrypted and secret not in stored.totp_secret_encrypted
    assert all(h.startswith("$argon2") for h in stored.totp_recovery_hashes)
    assert all(code.replace("-", "") not in str(stored.totp_recovery_hashes) for code in codes)
    actions = _actions(session)
    assert "totp.enrol_failed" in actions and actions[-2:] == ["totp.enrolled", "login.completed"]


def test_a_code_is_good_once(app, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    first = app.test_client()
    _login(first, admin.username)
    secret, _ = _enrol(first, now)  # the enrolment used the current step

    second = app.test_client()
    assert _login(second, admin.username).headers["Location"].endswith("/login/verify")
    replayed = _post(second, "/login/verify", code=pyotp.TOTP(secret).at(now))
    assert replayed.status_code == 401 and "已使用" in replayed.get_data(as_text=True)
    assert second.get("/").status_code == 302
    # The next step's code works, once; the one before it is then refused too.
    app.config["CLOCK"] = lambda: now + timedelta(seconds=30)
    accepted = _post(second, "/login/verify", code=pyotp.TOTP(secret).at(now + timedelta(seconds=30)))
    assert accepted.status_code == 302 and second.get("/").status_code == 200
    third = app.test_client()
    _login(third, admin.username)
    assert _post(third, "/login/verify", code=pyotp.TOTP(secret).at(now)).status_code == 401
    actions = _actions(session)
    assert actions.count("totp.replayed") == 2


def test_recovery_codes_work_once(app, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    client = app.test_client()
    _login(client, admin.username)
    _, enrolled = _enrol(client, now)
    code = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", enrolled.get_data(as_text=True))[0]
    for attempt, expected in ((1, 302), (2, 401)):
        other = app.test_client()
        _login(other, admin.username)
        response = _post(other, "/login/verify", code=code.upper())
        assert response.status_code == expected, attempt
    assert "totp.recovery_used" in _actions(session)
    session.expire_all()
    assert len(session.get(User, admin.id).totp_recovery_hashes) == totp.RECOVERY_CODE_COUNT - 1


def test_too_many_wrong_codes_end_the_attempt(app, client, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    _login(client, admin.username)
    _enrol(client, now)
    other = app.test_client()
    _login(other, admin.username)
    for _ in range(4):
        assert _post(other, "/login/verify", code="123456").status_code == 401
    assert _post(other, "/login/verify", code="123456").headers["Location"].endswith("/login")
    assert other.get("/login/verify").headers["Location"].endswith("/login")  # back to the password
    assert _actions(session).count("totp.failed") == 5


def test_the_pending_state_expires(app, client, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    _login(client, admin.username)
    app.config["CLOCK"] = lambda: now + timedelta(minutes=11)
    assert client.get("/login/enrol").headers["Location"].endswith("/login")


def test_roles_without_the_requirement_sign_in_with_the_password_alone(app, client, session, now):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    assert _login(client, staff.username).headers["Location"] == "/"
    app.config["TRACKER_SETTINGS"] = replace(
        app.config["TRACKER_SETTINGS"], totp_required_roles=frozenset({"staff", "admin"})
    )
    other = app.test_client()
    assert _login(other, staff.username).headers["Location"].endswith("/login/enrol")


def test_a_staff_member_may_enrol_by_choice_and_is_then_asked(app, client, session, now):
    from tests.web.test_dashboard import sign_in

    staff = factories.user(session, role="staff", now=now)
    session.commit()
    sign_in(client, staff)
    _enrol(client, now)
    other = app.test_client()
    assert _login(other, staff.username).headers["Location"].endswith("/login/verify")


def test_an_administrator_removes_a_lost_second_factor(app, session, now):
    from tests.web.test_dashboard import post, sign_in

    admin = factories.user(session, role="admin", now=now)
    colleague = factories.user(session, role="admin", now=now)
    session.commit()
    lost = app.test_client()
    _login(lost, colleague.username)
    _enrol(lost, now)
    office = app.test_client()
    sign_in(office, admin)
    post(office, f"/admin/users/{colleague.id}", role="admin", is_active="on", remove_totp="on")
    session.expire_all()
    assert session.get(User, colleague.id).totp_secret_encrypted is None
    removed = session.scalars(select(AuditEntry).where(AuditEntry.action == "totp.removed")).one()
    assert removed.user_id == admin.id and removed.object_id == str(colleague.id)
    again = app.test_client()
    assert _login(again, colleague.username).headers["Location"].endswith("/login/enrol")


def test_only_an_administrator_removes_a_second_factor(session, now):
    staff = factories.user(session, role="staff", now=now)
    admin = factories.user(session, role="admin", now=now)
    with pytest.raises(PermissionDenied):
        totp.remove(session, admin, admin=staff, now=now, ip=None)


def test_hostile_codes_are_refused_not_crashed(app, client, session, now):
    admin = factories.user(session, role="admin", now=now)
    session.commit()
    _login(client, admin.username)
    _enrol(client, now)
    other = app.test_client()
    _login(other, admin.username)
    # A NUL is refused at the web's door for every field (web/inputs.py) before the view counts a try.
    assert _post(other, "/login/verify", code="\x00" * 6).status_code == 400
    codes = ("", "x" * 10_000, "１２３４５６", "' OR 1=1 --", "\u202e654321")
    statuses = [_post(other, "/login/verify", code=code).status_code for code in codes]
    assert statuses == [401, 401, 401, 401, 302]  # the fifth wrong code ends the attempt
