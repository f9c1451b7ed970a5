"""Issue 17 items 4, 6 and 7 and issue 21's session timeouts, tried as an attacker would:

* a cookie copied before sign-out (or before a password change, a reset, "sign out everywhere") opens
  nothing afterwards; the cookie carries nothing of the password hash; sessions end after 30 idle minutes
  and 12 hours in all;
* behind a trusted reverse proxy each client keeps its own address (sign-in limit, portal limit, audit
  log) and HTTPS is seen (HSTS); a spoofed X-Forwarded-For from any other peer changes nothing;
* sign-in answers every failure — unknown user, wrong password, deactivated, locked — with one message
  after the same work (one argon2 verification), so usernames cannot be enumerated.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import timedelta

import argon2
import pytest
from sqlalchemy import select

from tests import factories
from tests.second_factor import complete_second_factor
from tracker.config import Settings
from tracker.errors import PermissionDenied
from tracker.people.models import AuditEntry, User, UserSession
from tracker.people.service import SIGN_IN_FAILED, authenticate

COOKIE = "tracker_session"


@pytest.fixture
def office(session, now):
    dept = factories.department(session, "sme", "中小企业服务处")
    users = {
        role: factories.user(session, role=role, dept=dept, now=now, username=f"edge_{role}")
        for role in ("staff", "admin")
    }
    ticket = factories.ticket(session, now=now, dept=dept)
    session.commit()
    return users, ticket


@pytest.fixture
def clock(app, now):
    """The web layer's clock (app.config["CLOCK"]), movable by the test."""
    moment = {"now": now}
    app.config["CLOCK"] = lambda: moment["now"]
    return moment


def _csrf(client, path="/login", **kw) -> str:
    page = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client, username, password=factories.PASSWORD, **kw):
    token = _csrf(client, **kw)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, **kw
    )
    if not kw:
        complete_second_factor(client, response, username)  # administrators: issue 21's TOTP
    return response


def _copy_of(app, client):
    """Another browser holding the same cookie, as an attacker who copied it would."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def _opens(client, ticket) -> bool:
    response = client.get(f"/tickets/{ticket.id}")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _post_with_token(client, url, data=None):
    token = _csrf(client, "/password")
    return client.post(url, data={**(data or {}), "csrf_token": token})


# --- item 4: sign-out ends the session ------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_opens_nothing_after(app, client, office, clock):
    users, ticket = office
    assert _sign_in(client, users["staff"].username).status_code == 302
    thief = _copy_of(app, client)
    assert _opens(thief, ticket)  # the copy works while the session lives…
    assert _post_with_token(client, "/logout").status_code == 302
    assert not _opens(thief, ticket)  # …and not a moment after sign-out
    assert not _opens(client, ticket)


def test_the_cookie_carries_nothing_of_the_password_hash(app, client, session, office, clock):
    users, _ = office
    _sign_in(client, users["staff"].username)
    raw = client.get_cookie(COOKIE).value
    content = app.session_interface.get_signing_serializer(app).loads(raw)
    assert set(content) <= {"sid", "csrf_token", "_flashes"}, content
    text = json.dumps(content)
    password_hash = session.get(User, users["staff"].id).password_hash
    fragments = {password_hash[i : i + 8] for i in range(len(password_hash) - 8)}
    assert not any(fragment in text for fragment in fragments)
    # The token in the cookie is not what the database keeps (a stolen table opens no session).
    assert session.scalar(select(UserSession.token_hash)) != content["sid"]


def test_password_change_ends_every_other_copy(app, client, office, clock):
    users, ticket = office
    _sign_in(client, users["staff"].username)
    other_browser = app.test_client()
    _sign_in(other_browser, users["staff"].username)
    thief = _copy_of(app, client)
    response = _post_with_token(
        client,
        "/password",
        {
            "old_password": factories.PASSWORD,
            "new_password": "Another-long-pass",
            "confirm_password": "Another-long-pass",
        },
    )
    assert response.status_code == 302
    assert _opens(client, ticket)  # the browser that changed it stays signed in, on a new session
    assert not _opens(thief, ticket)
    assert not _opens(other_browser, ticket)


def test_an_administrator_signs_a_user_out_everywhere(app, client, session, office, clock):
    users, ticket = office
    laptop, phone = app.test_client(), app.test_client()
    _sign_in(laptop, users["staff"].username)
    _sign_in(phone, users["staff"].username)
    thief = _copy_of(app, laptop)
    _sign_in(client, users["admin"].username)
    page = client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{users['staff'].id}/sign-out-everywhere" in page  # the button is on the page
    response = _post_with_token(client, f"/admin/users/{users['staff'].id}/sign-out-everywhere")
    assert response.status_code == 302
    assert not any(_opens(c, ticket) for c in (laptop, phone, thief))
    assert _opens(client, ticket)  # the administrator's own session is untouched
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.signed_out_everywhere"))
    assert entry.detail["sessions"] == 2 and entry.object_id == str(users["staff"].id)


def test_staff_cannot_sign_others_out(app, client, office, clock):
    users, ticket = office
    victim = app.test_client()
    _sign_in(victim, users["admin"].username)
    _sign_in(client, users["staff"].username)
    response = _post_with_token(client, f"/admin/users/{users['admin'].id}/sign-out-everywhere")
    assert response.status_code == 403
    assert _opens(victim, ticket)


def test_an_administrators_reset_or_deactivation_ends_the_users_sessions(app, client, office, clock):
    users, ticket = office
    staff = app.test_client()
    _sign_in(staff, users["staff"].username)
    _sign_in(client, users["admin"].username)
    url = f"/admin/users/{users['staff'].id}"
    form = {"role": "staff", "is_active": "on", "new_password": "Reset-by-the-office"}
    assert _post_with_token(client, url, form).status_code == 302
    assert not _opens(staff, ticket)
    _sign_in(staff, users["staff"].username, password="Reset-by-the-office")
    # Signed in again, and held at the password page until choosing a new one (issue 21: a reset forces a
    # change at the next sign-in).
    assert staff.get(f"/tickets/{ticket.id}").headers["Location"].endswith("/password")
    assert staff.get("/password").status_code == 200
    assert _post_with_token(client, url, {"role": "staff"}).status_code == 302  # unchecked: deactivated
    assert "/login" in staff.get("/password").headers["Location"]
    assert not _opens(staff, ticket)


def test_a_session_ends_after_30_idle_minutes(app, client, office, clock, now):
    users, ticket = office
    _sign_in(client, users["staff"].username)
    clock["now"] = now + timedelta(minutes=29)
    assert _opens(client, ticket)  # active: the idle time starts again
    clock["now"] = now + timedelta(minutes=29 + 29)
    assert _opens(client, ticket)
    clock["now"] = now + timedelta(minutes=29 + 29 + 31)
    assert not _opens(client, ticket)
    assert "登录已超时" in client.get("/login").get_data(as_text=True)
    clock["now"] = now + timedelta(minutes=29 + 29 + 32)
    assert not _opens(client, ticket)  # the ended session does not come back


def test_a_session_ends_after_12_hours_however_active(app, client, office, clock, now):
    users, ticket = office
    _sign_in(client, users["staff"].username)
    for minutes in range(20, 12 * 60, 20):
        clock["now"] = now + timedelta(minutes=minutes)
        assert _opens(client, ticket), minutes
    clock["now"] = now + timedelta(hours=12, minutes=1)
    assert not _opens(client, ticket)


def test_timeouts_are_settings(tmp_path, database_url):
    custom = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            "TRACKER_SESSION_IDLE_MINUTES": "10",
            "TRACKER_SESSION_LIFETIME_HOURS": "8",
        }
    )
    assert (custom.session_idle_minutes, custom.session_lifetime_hours) == (10, 8)
    with pytest.raises(ValueError, match="TRACKER_SESSION_IDLE_MINUTES"):
        Settings.from_env({"TRACKER_INSTANCE_DIR": str(tmp_path), "TRACKER_SESSION_IDLE_MINUTES": "0"})


# --- item 6: trusted proxies ----------------------------------------------------------------------------

PROXY, ALICE, BOB, OUTSIDER = "10.0.0.2", "203.0.113.5", "198.51.100.8", "192.0.2.50"


@pytest.fixture
def proxied_app(settings, session_factory):
    from dataclasses import replace

    from web import create_app

    behind = replace(settings, trusted_proxies=("10.0.0.0/24",), proxy_hops=1)
    return create_app({"TESTING": True, "SESSION_FACTORY": session_factory}, settings=behind)


def _via(peer: str, forwarded_for: str | None = None, proto: str | None = None) -> dict:
    kw: dict = {"environ_base": {"REMOTE_ADDR": peer}, "headers": {}}
    if forwarded_for:
        kw["headers"]["X-Forwarded-For"] = forwarded_for
    if proto:
        kw["headers"]["X-Forwarded-Proto"] = proto
    return kw


def test_behind_the_proxy_one_persons_failures_lock_only_that_person(proxied_app, session, office):
    users, _ = office
    alice, bob = proxied_app.test_client(), proxied_app.test_client()
    statuses = [
        _sign_in(
            alice, users["admin"].username if n % 2 else f"nobody{n}", "wrong", **_via(PROXY, ALICE)
        ).status_code
        for n in range(21)
    ]
    assert statuses[-1] == 429  # Alice is stopped…
    # …and the supervisor behind the same proxy is not (issue 17 item 6: the whole city shared one address).
    assert _sign_in(bob, users["staff"].username, **_via(PROXY, BOB)).status_code == 302
    addresses = set(session.scalars(select(AuditEntry.ip).where(AuditEntry.action.like("login.%"))))
    assert ALICE in addresses and BOB in addresses and PROXY not in addresses


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(proxied_app, session, office):
    attacker = proxied_app.test_client()
    statuses = [
        _sign_in(attacker, f"nobody{n}", "wrong", **_via(OUTSIDER, f"203.0.113.{n}")).status_code
        for n in range(21)
    ]
    assert statuses[-1] == 429  # a new X-Forwarded-For each time did not give a new address
    recorded = set(session.scalars(select(AuditEntry.ip).where(AuditEntry.action == "login.rejected")))
    assert recorded == {OUTSIDER}


def test_without_configured_proxies_no_forwarded_header_is_believed(app, session, office):
    client = app.test_client()
    _sign_in(client, "nobody", "wrong", **_via(PROXY, ALICE))
    assert set(session.scalars(select(AuditEntry.ip).where(AuditEntry.action == "login.rejected"))) == {PROXY}


def test_the_portal_limit_counts_each_client_behind_the_proxy(proxied_app, office):
    alice, bob = proxied_app.test_client(), proxied_app.test_client()

    def submit(client, who):
        token = _csrf(client, "/portal/message", **_via(PROXY, who))
        return client.post(
            "/portal/message", data={"csrf_token": token, "content": "x"}, **_via(PROXY, who)
        ).status_code

    statuses = [submit(alice, ALICE) for _ in range(21)]
    assert statuses[-1] == 429 and 429 not in statuses[:20]
    assert submit(bob, BOB) == 400  # refused for its content, not limited


def test_hsts_over_https_through_the_proxy_only(proxied_app, office):
    client = proxied_app.test_client()
    through_proxy = client.get("/login", **_via(PROXY, ALICE, proto="https"))
    assert through_proxy.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    spoofed = client.get("/login", **_via(OUTSIDER, ALICE, proto="https"))
    assert "Strict-Transport-Security" not in spoofed.headers
    assert "Strict-Transport-Security" not in client.get("/login", **_via(PROXY, ALICE)).headers


def test_trusted_proxies_setting_is_checked_and_gunicorn_agrees(tmp_path, monkeypatch):
    from pathlib import Path

    from tracker.config import parse_trusted_proxies

    assert parse_trusted_proxies(" 10.0.0.5, 172.18.0.0/16 ;::1") == (
        "10.0.0.5/32",
        "172.18.0.0/16",
        "::1/128",
    )
    with pytest.raises(ValueError, match="TRACKER_TRUSTED_PROXIES"):
        parse_trusted_proxies("10.0.0.300")
    conf = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
    for raw, expected in (("10.0.0.5, 172.18.0.0/16", "10.0.0.5/32,172.18.0.0/16"), ("", "")):
        monkeypatch.setenv("TRACKER_TRUSTED_PROXIES", raw)
        namespace: dict = {}
        exec(compile(conf.read_text(), str(conf), "exec"), namespace)
        assert namespace["forwarded_allow_ips"] == expected


# --- item 7: no enumeration -----------------------------------------------------------------------------


def _error_of(response) -> str:
    return re.search(r'class="flash error" role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)


def test_every_sign_in_failure_gives_the_same_answer(app, session, office, now):
    users, _ = office
    inactive = factories.user(
        session, role="staff", dept=users["staff"].department, now=now, username="edge_gone"
    )
    inactive.is_active = False
    session.commit()
    client = app.test_client()
    answers = {"unknown user": _sign_in(client, "edge_nobody", "whatever")}
    answers["wrong password"] = _sign_in(client, users["staff"].username, "whatever")
    answers["deactivated"] = _sign_in(client, "edge_gone")
    for attempt in range(5):
        _sign_in(client, users["admin"].username, f"guess-{attempt}")
    answers["locked (right password)"] = _sign_in(client, users["admin"].username)
    texts = {name: (r.status_code, _error_of(r)) for name, r in answers.items()}
    assert set(texts.values()) == {(401, SIGN_IN_FAILED)}, texts


def test_every_sign_in_costs_one_argon2_verification(session, office, now, monkeypatch):
    """Timing: an unknown user used to answer in 4–8 ms, a known one in 158–238 ms. Counted, not timed:
    every path verifies exactly one argon2 hash."""
    users, _ = office
    verified = []
    real_verify = argon2.PasswordHasher.verify

    def counting_verify(self, hash, password):
        verified.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    attempts = {
        "unknown user": ("edge_nobody", "whatever"),
        "wrong password": (users["staff"].username, "whatever"),
        "right password": (users["staff"].username, factories.PASSWORD),
    }
    for name, (username, password) in attempts.items():
        verified.clear()
        with contextlib.suppress(PermissionDenied):
            authenticate(session, username, password, now=now)
        assert len(verified) == 1, name
        # The dummy hash has the real hashes' parameters, so it costs the same.
        assert verified[0].split("$")[3] == session.get(User, users["staff"].id).password_hash.split("$")[3]
    users["admin"].locked_until = now + timedelta(minutes=10)
    verified.clear()
    with pytest.raises(PermissionDenied):
        authenticate(session, users["admin"].username, factories.PASSWORD, now=now)
    assert len(verified) == 1, "locked"
