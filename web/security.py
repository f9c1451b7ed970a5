"""Sign-in state, CSRF on every form, and the security headers on every response.

Sign-in state lives on the server (tracker.people.sessions): the cookie carries a random token and the CSRF
token, nothing of the password hash. Every page request resumes the session before its view runs, so
sign-out, a password change, an administrator's "sign out everywhere", the idle timeout and the absolute
lifetime end every copy of the cookie at once."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import func, select

from tracker.clock import utcnow
from tracker.people import sessions
from tracker.people.models import AuditEntry, User
from web.database import db, settings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Machine clients authenticate each request with a signed API key instead of a cookie.
CSRF_EXEMPT_PREFIXES = ("/api/",)


SESSION_TOKEN = "sid"


def clock_now():
    clock = current_app.config.get("CLOCK")  # tests pin the time (as the dashboard does)
    return clock() if clock else utcnow()


def session_policy() -> sessions.SessionPolicy:
    config = settings()
    return sessions.SessionPolicy(
        idle=timedelta(minutes=config.session_idle_minutes),
        lifetime=timedelta(hours=config.session_lifetime_hours),
    )


def current_user() -> User | None:
    if "current_user" not in g:
        g.current_user = _resume()
    return g.current_user


def _resume() -> User | None:
    token = session.get(SESSION_TOKEN)
    if not token:
        return None
    user = sessions.resume_session(db(), token, now=clock_now(), policy=session_policy())
    # The touch (or an expired session's deletion) stands whatever the view does; nothing else is pending,
    # because this runs before the view (_load_user).
    db().commit()
    if user is None:
        session.pop(SESSION_TOKEN, None)
        flash("登录已超时或已退出，请重新登录", "error")
    return user


def _load_user() -> None:
    if request.path.startswith(CSRF_EXEMPT_PREFIXES) or request.endpoint in (None, "static"):
        return
    current_user()


def sign_in(user: User) -> None:
    session.clear()  # a fresh session on sign-in: no fixation
    session[SESSION_TOKEN] = sessions.open_session(db(), user, now=clock_now(), policy=session_policy())
    db().commit()
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    g.current_user = user


def sign_out() -> None:
    sessions.end_session(db(), session.get(SESSION_TOKEN))
    db().commit()
    session.clear()
    g.pop("current_user", None)


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    wrapped.login_required = True  # read by the authorization-matrix test
    return wrapped


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        abort(400, description="CSRF 校验失败，请刷新页面后重试")


# Per-IP sign-in limit, on top of the per-account lockout (tracker.people.service): guessing across many
# usernames from one address is stopped too. Counted from the audit log, so it holds across processes.
LOGIN_FAILURES_PER_IP = 20
LOGIN_WINDOW = timedelta(minutes=15)


def _limit_logins():
    if request.endpoint != "auth.login" or request.method != "POST":
        return None
    since = utcnow() - LOGIN_WINDOW
    failures = db().scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "login.rejected",
            AuditEntry.ip == request.remote_addr,
            AuditEntry.at >= since,
        )
    )
    if failures >= LOGIN_FAILURES_PER_IP:
        abort(429, description="该地址登录失败次数过多，请15分钟后再试")
    return None


def _record_login_failure(response):
    if request.endpoint == "auth.login" and request.method == "POST" and response.status_code == 401:
        # No username here: people type passwords into the username field.
        db().add(
            AuditEntry(at=utcnow(), user_id=None, action="login.rejected", ip=request.remote_addr, detail={})
        )
        db().commit()
    return response


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _headers(response):
    nonce = _nonce()
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure or settings().secure_cookies:
        # HTTPS as seen through a trusted proxy (web.proxies), or a deployment that declares it.
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if current_user_loaded():
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_user_loaded() -> bool:
    return g.get("current_user") is not None


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, not opened for the API: machine clients sign every request and send
    no cookie, so nothing is read or written (the signer is not even built)."""

    def open_session(self, app: Flask, request):
        if request.path.startswith(CSRF_EXEMPT_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.before_request(_limit_logins)
    app.after_request(_headers)
    app.after_request(_record_login_failure)
    app.jinja_env.globals.update(csrf_token=csrf_token, csp_nonce=_nonce, current_user=current_user)
