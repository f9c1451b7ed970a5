"""The password policy (tracker.people.passwords): one check for the web form, an administrator's reset and
`tracker user create`; history; expiry; a forced change at first sign-in and after a reset."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests import factories
from tracker.errors import ValidationError
from tracker.people.models import AuditEntry, User
from tracker.people.passwords import (
    CHANGE_EXPIRED,
    CHANGE_REQUIRED,
    PasswordPolicy,
    check_new_password,
    password_change_reason,
    set_password,
)
from tracker.people.service import create_user
from tracker.security import verify_password

POLICY = PasswordPolicy()
STRONG = [
    "Winter-Lantern-42",
    "Autumn#River#77",
    "Spring-Bamboo-18",
    "Summer+Cloud+35",
    "Harbor-Pine-2026x",
    "Quiet!Field!63",
]


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _login(client, username, password=factories.PASSWORD):
    token = _csrf(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short-1a", "太短"),  # 8 characters: enough before, not now
        ("alllowercaseletters", "字符种类不足"),
        ("lowercase-and-symbols", "字符种类不足"),
        ("X" * 257 + "a1-", "太长"),
        ("Zhangwei-2026-pass", "包含用户名"),
    ],
)
def test_weak_passwords_are_refused_naming_the_reason(password, reason):
    with pytest.raises(ValidationError) as refused:
        check_new_password(POLICY, password, username="zhangwei")
    assert refused.value.fields == {"password": reason}


def test_a_password_meeting_the_policy_passes():
    check_new_password(POLICY, "Correct-horse-battery", username="zhangwei")
    check_new_password(replace(POLICY, min_classes=4), "Correct-horse-battery-9", username="zhangwei")


def test_the_last_passwords_cannot_be_reused(session, now):
    user = factories.user(session, now=now)
    policy = replace(POLICY, history=3)
    with pytest.raises(ValidationError, match="最近 3 次"):
        set_password(session, user, factories.PASSWORD, policy=policy, now=now)
    set_password(session, user, STRONG[0], policy=policy, now=now)
    set_password(session, user, STRONG[1], policy=policy, now=now)
    for recent in (factories.PASSWORD, STRONG[0], STRONG[1]):
        with pytest.raises(ValidationError) as refused:
            set_password(session, user, recent, policy=policy, now=now)
        assert refused.value.fields == {"password": "与近期密码相同"}
    set_password(session, user, STRONG[2], policy=policy, now=now)
    # Three changes later the first password has left the history.
    set_password(session, user, factories.PASSWORD, policy=policy, now=now)
    assert verify_password(user.password_hash, factories.PASSWORD)
    assert len(user.password_history) == 2


def test_expiry_and_forced_change(session, now):
    user = factories.user(session, now=now)
    assert password_change_reason(user, POLICY, now + timedelta(days=89)) is None
    assert password_change_reason(user, POLICY, now + timedelta(days=90)) == CHANGE_EXPIRED
    assert password_change_reason(user, replace(POLICY, max_age_days=0), now + timedelta(days=900)) is None
    admin = factories.user(session, role="admin", now=now)
    set_password(session, user, STRONG[0], policy=POLICY, now=now, by_admin=admin)
    assert password_change_reason(user, POLICY, now) == CHANGE_REQUIRED
    reset = session.scalars(select(AuditEntry).where(AuditEntry.action == "password.reset")).one()
    assert reset.user_id == admin.id and reset.object_id == str(user.id)
    assert STRONG[0] not in str(reset.detail)


def test_a_new_account_must_change_its_password_at_first_sign_in(session, now):
    dept = factories.department(session)
    user = create_user(
        session,
        username="newcomer",
        password=STRONG[0],
        role="staff",
        department_code=dept.code,
        display_name="新人",
        now=now,
        policy=POLICY,
    )
    assert password_change_reason(user, POLICY, now) == CHANGE_REQUIRED


def test_first_sign_in_reaches_only_the_password_page_until_changed(client, session, now):
    dept = factories.department(session)
    create_user(
        session,
        username="newcomer",
        password=STRONG[0],
        role="staff",
        department_code=dept.code,
        display_name="新人",
        now=now,
        policy=POLICY,
    )
    session.commit()
    response = _login(client, "newcomer", STRONG[0])
    assert response.status_code == 302 and response.headers["Location"].endswith("/password")
    for path in ("/", "/queues/all", "/notifications"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/password"), path
    page = client.get("/password").get_data(as_text=True)
    assert "首次登录" in page and "至少 12 位" in page
    token = _csrf(client, "/password")
    same = client.post(
        "/password",
        data={
            "old_password": STRONG[0],
            "new_password": STRONG[0],
            "confirm_password": STRONG[0],
            "csrf_token": token,
        },
    )
    assert same.status_code == 400 and "最近" in same.get_data(as_text=True)
    weak = client.post(
        "/password",
        data={
            "old_password": STRONG[0],
            "new_password": "short",
            "confirm_password": "short",
            "csrf_token": token,
        },
    )
    assert weak.status_code == 400 and "至少 12 位" in weak.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still held at the password page
    done = client.post(
        "/password",
        data={
            "old_password": STRONG[0],
            "new_password": STRONG[1],
            "confirm_password": STRONG[1],
            "csrf_token": token,
        },
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions[-6:] == [
        "login.ok",
        "login.completed",
        "password.change_required",
        "password.change_failed",
        "password.change_failed",
        "password.changed",
    ]


def test_an_expired_password_must_be_changed(app, client, session, now):
    app.config["TRACKER_SETTINGS"] = replace(app.config["TRACKER_SETTINGS"], password_max_age_days=90)
    app.config["CLOCK"] = lambda: now + timedelta(days=91)
    user = factories.user(session, now=now)
    session.commit()
    response = _login(client, user.username)
    assert response.headers["Location"].endswith("/password")
    assert "密码已过期" in client.get("/password").get_data(as_text=True)
    assert client.get("/queues/all").headers["Location"].endswith("/password")


def test_the_admin_reset_uses_the_same_policy_and_forces_a_change(client, session, now):
    from tests.web.test_dashboard import post, sign_in

    admin = factories.user(session, role="admin", now=now)
    staff = factories.user(session, now=now)
    session.commit()
    sign_in(client, admin)
    weak = post(
        client, f"/admin/users/{staff.id}", new_password="abc12345", role="supervisor", is_active="on"
    )
    assert weak.status_code in (302, 400)
    session.expire_all()
    refreshed = session.get(User, staff.id)
    assert verify_password(refreshed.password_hash, factories.PASSWORD)
    assert refreshed.role == "staff"  # nothing half-written
    post(client, f"/admin/users/{staff.id}", new_password=STRONG[3], role="staff", is_active="on")
    session.expire_all()
    refreshed = session.get(User, staff.id)
    assert verify_password(refreshed.password_hash, STRONG[3]) and refreshed.must_change_password
    other = client.application.test_client()
    response = _login(other, staff.username, STRONG[3])
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/password")


def test_user_create_takes_no_password_on_the_command_line(blank_database_url, tmp_path):
    from tracker.cli.main import main
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from tracker.people.service import create_department

    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        create_department(session, code="office", name="办公室")
    env = {"TRACKER_DATABASE_URL": blank_database_url, "TRACKER_INSTANCE_DIR": str(tmp_path)}
    args = ["user", "create", "--role", "admin", "--department", "office"]
    runner = CliRunner()
    on_the_line = runner.invoke(main, [*args, "--username", "a1", "--password", STRONG[0]], env=env)
    assert on_the_line.exit_code == 2 and "--password" in on_the_line.output

    weak = runner.invoke(main, [*args, "--username", "a2", "--password-stdin"], input="weakpass\n", env=env)
    assert weak.exit_code == 2 and "至少 12 位" in weak.output

    piped = runner.invoke(
        main, [*args, "--username", "a3", "--password-stdin"], input=STRONG[0] + "\n", env=env
    )
    assert piped.exit_code == 0, piped.output
    secret_file = tmp_path / "pw"
    secret_file.write_text(STRONG[1] + "\n")
    from_file = runner.invoke(main, [*args, "--username", "a4", "--password-file", str(secret_file)], env=env)
    assert from_file.exit_code == 0, from_file.output
    prompted = runner.invoke(main, [*args, "--username", "a5"], input=f"{STRONG[2]}\n{STRONG[2]}\n", env=env)
    assert prompted.exit_code == 0, prompted.output
    assert STRONG[2] not in prompted.output  # hidden input is not echoed
    with session_scope(blank_database_url) as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert set(users) == {"a3", "a4", "a5"}
        assert verify_password(users["a3"].password_hash, STRONG[0])
        assert verify_password(users["a4"].password_hash, STRONG[1])
        assert all(u.must_change_password for u in users.values())
        created = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.created")).all()
        assert len(created) == 3 and all(STRONG[0] not in str(e.detail) for e in created)
