"""The bell: unread count on every page, the list, mark read, e-mail/SMS preferences; for administrators,
the deliveries that are failing. Also publishes the outbox right after a write request's commit."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from tracker.clock import utcnow
from tracker.errors import TrackerError
from tracker.inputs import id_arg, ids_arg
from tracker.notify import service as notify
from tracker.notify.models import Delivery
from tracker.people.access import require_role
from tracker.people.models import User
from web.database import db, settings
from web.security import current_user, login_required
from web.tasks import wake_relay

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PAGE = 50


def _safe_link(link: str | None) -> str | None:
    """Only the tracker's own relative links are followed (never another site)."""
    return link if link and link.startswith("/") and not link.startswith("//") else None


@bp.app_context_processor
def _bell():
    def unread_notifications() -> int:
        user = current_user()
        return notify.unread_count(db(), user) if user else 0

    return {"unread_notifications": unread_notifications}


@bp.after_app_request
def _publish_after_commit(response):
    """After a write request, have this process's relay thread publish its outbox rows to the workers.

    The view committed already; the thread publishes in the background (batched under load), and the
    broker being down costs nothing here (the periodic relay takes over).
    """
    if (
        request.method in ("POST", "PUT", "PATCH", "DELETE")
        and response.status_code < 400
        and not current_app.config.get("TESTING")
    ):
        current = settings()
        response.call_on_close(lambda: wake_relay(current))
    return response


@bp.route("/")
@login_required
def index():
    user = current_user()
    before = id_arg(request.args, "before")
    items = notify.list_notifications(db(), user, limit=PAGE, before_id=before)
    return render_template(
        "notifications/index.html",
        items=items,
        unread=notify.unread_count(db(), user),
        safe_link=_safe_link,
        kinds=notify.NOTIFICATION_KINDS,
        next_before=items[-1].id if len(items) == PAGE else None,
    )


@bp.route("/unread.json")
@login_required
def unread_json():
    return jsonify({"unread": notify.unread_count(db(), current_user())})


@bp.route("/read", methods=["POST"])
@login_required
def mark_read():
    """Mark one (``id``), several (``ids``) or all of the signed-in user's notifications read."""
    session = db()
    raw = request.form.getlist("ids") or request.form.getlist("id")
    ids = ids_arg(raw, "ids") if raw else None
    count = notify.mark_read(session, current_user(), now=utcnow(), ids=ids)
    session.commit()
    go = _safe_link(request.form.get("next"))
    if go:
        return redirect(go)
    flash(f"已标记 {count} 条为已读", "ok")
    return redirect(url_for("notifications.index"))


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    session = db()
    user = session.get(User, current_user().id)
    if request.method == "POST":
        try:
            notify.set_preferences(
                session, user, email=request.form.get("email") == "on", sms=request.form.get("sms") == "on"
            )
        except TrackerError as exc:
            flash(exc.message if hasattr(exc, "message") else str(exc), "error")
            return redirect(url_for("notifications.preferences"))
        session.commit()
        flash("通知设置已保存", "ok")
        return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html",
        prefs=notify.preferences(user),
        has_email=bool(user.email),
        has_phone=bool(user.phone),
        smtp_ready=bool(settings().smtp_host),
    )


@bp.route("/deliveries")
@login_required
def deliveries():
    """Administrators: deliveries that gave up or are retrying, with the channel's last error."""
    require_role(current_user(), "admin")
    rows = notify.failing_deliveries(db())
    return render_template(
        "notifications/deliveries.html",
        rows=rows,
        kinds=notify.CHANNEL_KIND_LABELS,
        max_attempts=notify.MAX_ATTEMPTS,
        users={u.id: u.display_name for u in db().scalars(select(User))},
    )


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@login_required
def retry(delivery_id: int):
    require_role(current_user(), "admin")
    session = db()
    if session.get(Delivery, delivery_id) is None:
        abort(404)
    notify.retry_delivery(session, delivery_id, now=utcnow())
    session.commit()
    flash("已重新排队发送", "ok")
    return redirect(url_for("notifications.deliveries"))
