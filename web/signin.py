"""The steps of signing in after the first factor: the second factor, and a password that must change.

The first factor (a password, web/views/auth.py; or the identity provider, web/views/oidc.py) hands the
account to `after_first_factor`. An account with a second factor, or whose role requires one, is then
only *pending*: the session holds its id, not a signed-in user, until a code is verified or an
authenticator enrolled (web/views/mfa.py). A signed-in session whose password must change (first sign-in
with a password an administrator set, a reset, expiry: tracker.people.passwords) reaches only the
password page until it has.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, current_app, redirect, request, session, url_for

from tracker.clock import utcnow
from tracker.people.models import AuditEntry, User
from tracker.people.passwords import PasswordPolicy, password_change_reason
from tracker.people.totp import is_enrolled, is_required
from web.database import db, settings
from web.security import current_user, sign_in

PENDING = "signin_pending"
PASSWORD_CHANGE = "password_change_required"
PENDING_LIFETIME = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
# What a session that must change its password may still reach.
OPEN_DURING_PASSWORD_CHANGE = frozenset({"auth.password", "auth.logout", "auth.set_language", "static"})


def now() -> datetime:
    clock = current_app.config.get("CLOCK")
    return clock() if clock else utcnow()


def password_policy() -> PasswordPolicy:
    return PasswordPolicy.from_settings(settings())


def _password_stamp(user: User) -> str:
    changed_at = user.password_changed_at or user.created_at
    return changed_at.isoformat()


def after_first_factor(user: User, *, method: str, next_url: str):
    """Sign in, or ask for the second factor first."""
    if is_enrolled(user) or is_required(user, settings().totp_required_roles):
        session.clear()  # nothing from before the first factor survives into the pending state
        session[PENDING] = {
            "user_id": user.id,
            # Not the password hash (nothing of it goes into the cookie): its change time ends the
            # pending state as surely, since every new password sets it.
            "pw": _password_stamp(user),
            "method": method,
            "next": next_url,
            "since": now().isoformat(),
            "attempts": 0,
        }
        return redirect(url_for("mfa.verify" if is_enrolled(user) else "mfa.enrol"))
    return finish_sign_in(user, method=method, next_url=next_url, second_factor=None)


def pending_user() -> User | None:
    """The account between its first and second factor, while that state is fresh and still valid."""
    pending = session.get(PENDING)
    if not pending:
        return None
    if datetime.fromisoformat(pending["since"]) + PENDING_LIFETIME < now():
        session.pop(PENDING, None)
        return None
    user = db().get(User, pending["user_id"])
    if user is None or not user.is_active or _password_stamp(user) != pending["pw"]:
        session.pop(PENDING, None)
        return None
    return user


def finish_sign_in(user: User, *, method: str, next_url: str, second_factor: str | None):
    """The account is signed in: audit it, then send it to its page or to the password page."""
    db().add(
        AuditEntry(
            at=now(),
            user_id=user.id,
            action="login.completed",
            ip=request.remote_addr,
            detail={"method": method, "second_factor": second_factor},
        )
    )
    reason = password_change_reason(user, password_policy(), now()) if method == "password" else None
    if reason:
        db().add(
            AuditEntry(
                at=now(),
                user_id=user.id,
                action="password.change_required",
                ip=request.remote_addr,
                detail={"reason": reason},
            )
        )
    db().commit()
    sign_in(user)
    if reason:
        session[PASSWORD_CHANGE] = reason
        return redirect(url_for("auth.password"))
    return redirect(next_url)


def _require_password_change():
    if not session.get(PASSWORD_CHANGE) or request.endpoint in OPEN_DURING_PASSWORD_CHANGE:
        return None
    if request.path.startswith("/api/") or current_user() is None:
        return None
    return redirect(url_for("auth.password"))


def init_app(app: Flask) -> None:
    app.before_request(_require_password_change)
    app.jinja_env.globals.update(oidc_enabled=lambda: settings().is_oidc_enabled)
