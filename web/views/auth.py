"""Sign-in, sign-out, password change, language."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from tracker.clock import utcnow
from tracker.errors import PermissionDenied, ValidationError
from tracker.people.service import authenticate, change_password
from web.database import db
from web.security import current_user, login_required, sign_in, sign_out
from web.signin import PASSWORD_CHANGE, after_first_factor, password_policy

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after sign-in is a phishing tool.
    if not target or urlsplit(target).netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        try:
            user = authenticate(
                db(),
                request.form.get("username", "").strip(),
                request.form.get("password", ""),
                now=utcnow(),
                ip=request.remote_addr,
            )
        except PermissionDenied as exc:
            db().commit()  # keep the failure count and the audit entry
            return render_template("auth/login.html", error=exc.message), 401
        db().commit()
        return after_first_factor(user, method="password", next_url=_safe_next(request.args.get("next")))
    if current_user() is not None:
        return redirect(url_for("dashboard.home"))
    return render_template("auth/login.html", error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    policy = password_policy()
    reason = session.get(PASSWORD_CHANGE)
    if request.method == "POST":
        if request.form.get("new_password") != request.form.get("confirm_password"):
            flash("两次输入的新密码不一致", "error")
            return render_template("auth/password.html", policy=policy, reason=reason), 400
        user = current_user()
        try:
            change_password(
                db(),
                user,
                request.form.get("old_password", ""),
                request.form.get("new_password", ""),
                now=utcnow(),
                policy=policy,
                ip=request.remote_addr,
            )
        except ValidationError as exc:
            db().commit()  # keep the audit entry of the refusal
            flash(exc.message, "error")
            return render_template("auth/password.html", policy=policy, reason=reason), 400
        db().commit()
        sign_in(user)
        session.pop(PASSWORD_CHANGE, None)
        flash("密码已修改", "ok")
        return redirect(url_for("dashboard.home"))
    return render_template("auth/password.html", policy=policy, reason=reason)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code in ("zh_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))
