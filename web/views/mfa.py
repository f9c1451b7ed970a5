"""The second factor at sign-in: a one-time code (or a recovery code), or enrolling an authenticator.

Reached only from web/signin.py's pending state, or — to enrol voluntarily — signed in.
"""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from tracker.errors import PermissionDenied, ValidationError
from tracker.people import totp
from web.database import db, settings
from web.security import current_user
from web.signin import MAX_CODE_ATTEMPTS, PENDING, finish_sign_in, now, pending_user

bp = Blueprint("mfa", __name__)

ENROL_SECRET = "totp_enrol_secret"


def _qr_data_uri(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _back_to_login(message: str):
    session.pop(PENDING, None)
    flash(message, "error")
    return redirect(url_for("auth.login"))


@bp.route("/login/verify", methods=["GET", "POST"])
def verify():
    user = pending_user()
    if user is None or not totp.is_enrolled(user):
        return _back_to_login("登录已超时，请重新登录")
    if request.method == "GET":
        return render_template("auth/verify.html", error=None)
    pending = session[PENDING]
    try:
        used = totp.verify(
            db(),
            user,
            request.form.get("code", ""),
            secret_key=settings().secret_key,
            now=now(),
            ip=request.remote_addr,
        )
    except PermissionDenied as exc:
        db().commit()  # keep the audit entry
        pending["attempts"] += 1
        session[PENDING] = pending
        if pending["attempts"] >= MAX_CODE_ATTEMPTS:
            return _back_to_login("验证码错误次数过多，请重新登录")
        return render_template("auth/verify.html", error=exc.message), 401
    return finish_sign_in(user, method=pending["method"], next_url=pending["next"], second_factor=used)


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol():
    """Enrol an authenticator: during sign-in when the role requires one, or signed in, by choice."""
    signed_in = current_user()
    user = signed_in or pending_user()
    if user is None:
        return _back_to_login("登录已超时，请重新登录")
    if totp.is_enrolled(user):
        flash("已启用动态验证码", "ok")
        return redirect(url_for("dashboard.home") if signed_in else url_for("mfa.verify"))
    secret = session.get(ENROL_SECRET)
    if request.method == "GET" or not secret:
        # A new secret each time the page is shown; it lives in this session until confirmed.
        secret = session[ENROL_SECRET] = totp.new_secret()
        uri = totp.provisioning_uri(secret, user.username)
        return render_template("auth/enrol.html", secret=secret, uri=uri, qr=_qr_data_uri(uri), error=None)
    try:
        codes = totp.enrol(
            db(),
            user,
            secret,
            request.form.get("code", ""),
            secret_key=settings().secret_key,
            now=now(),
            ip=request.remote_addr,
        )
    except ValidationError as exc:
        db().commit()
        uri = totp.provisioning_uri(secret, user.username)
        return render_template(
            "auth/enrol.html", secret=secret, uri=uri, qr=_qr_data_uri(uri), error=exc.message
        ), 400
    db().commit()
    session.pop(ENROL_SECRET, None)
    next_url = url_for("dashboard.home")
    if signed_in is None:
        pending = session[PENDING]
        response = finish_sign_in(
            user, method=pending["method"], next_url=pending["next"], second_factor="totp"
        )
        next_url = response.location
    return render_template("auth/recovery_codes.html", codes=codes, next_url=next_url)
