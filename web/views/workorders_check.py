"""The check before a public reply leaves and 重复件 (issue 19, items 6 and 7): the live check of a draft
reply (JSON, for web/static/app.js), linking or dismissing a repeat on the ticket page, and the office's
rules (administrators). The rules themselves live in tracker/workorders/reply_check.py and repeats.py;
the reply door applies the check on every path (tracker.workflow.doors._send_reply)."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from tracker.errors import NotFound, PermissionDenied, TrackerError
from tracker.inputs import int_arg
from tracker.people.access import can_take, require_act, require_role, require_view
from tracker.tickets.channels import CHANNELS
from tracker.workflow import doors as workflow_doors
from tracker.workflow.transitions import get_ticket
from tracker.workorders import repeats, reply_check
from tracker.workorders.models import REPEAT_BASES, ReplyCheckRules
from web.database import db
from web.security import current_user, login_required
from web.views.dashboard import now

bp = Blueprint("workorders_check", __name__)

MAX_DRAFT_CHARS = 20_000  # a draft longer than any reply is cut, not checked whole


@bp.app_context_processor
def _page_helpers() -> dict:
    """What the ticket page's partial (_workorder_repeats.html) asks for, without a change to its view."""

    def workorder_repeats(ticket):
        user = current_user()
        shown = repeats.repeats_for_page(db(), ticket, user)
        shown["can_change"] = can_take(user, "repeat", ticket)
        shown["bases"] = REPEAT_BASES
        return shown

    return {"workorder_repeats": workorder_repeats}


@bp.route("/tickets/<int:ticket_id>/reply-check", methods=["POST"])
@login_required
def check_draft(ticket_id: int):
    """The findings for the reply being written (`reply_text`), as JSON; nothing is stored. Only for a
    ticket the user may answer (404 / 403 as the ticket page)."""
    user, session = current_user(), db()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)
    text = (request.form.get("reply_text") or "")[:MAX_DRAFT_CHARS]
    config = reply_check.load_config(session)
    findings = reply_check.check_reply(ticket, text, config)
    return jsonify(
        {
            "checked": ticket.channel in config.channels,
            "blocking": config.is_blocking,
            "findings": [f.as_dict() for f in findings],
        }
    )


@bp.route("/tickets/<int:ticket_id>/repeats", methods=["POST"])
@login_required
def link_repeat(ticket_id: int):
    return _repeat_action(
        ticket_id,
        lambda session, ticket, user: repeats.link_by_hand(
            session,
            ticket,
            request.form.get("repeat_of", "")[:64],
            request.form.get("basis", ""),
            user=user,
            now=now(),
        ),
        "已关联为重复件",
    )


@bp.route("/tickets/<int:ticket_id>/repeats/dismiss", methods=["POST"])
@login_required
def dismiss_repeat(ticket_id: int):
    return _repeat_action(
        ticket_id,
        lambda session, ticket, user: repeats.dismiss(
            session, ticket, request.form.get("reason", "")[:500], user=user, now=now()
        ),
        "已标记为非重复件",
    )


def _repeat_action(ticket_id: int, action, message: str):
    user, session = current_user(), db()
    ticket = get_ticket(session, ticket_id)
    require_view(user, ticket)  # 404 before any input is read for a ticket the user may not see
    try:
        action(session, ticket, user)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        flash(f"重复件未保存：{exc.message}", "error")
        return redirect(url_for("dashboard.ticket", ticket_id=ticket_id) + "#repeats")
    session.commit()
    flash(message, "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id) + "#repeats")


@bp.route("/admin/reply-check", methods=["GET", "POST"])
@login_required
def rules():
    """答复前检查与重复件规则: administrators only; every change audited."""
    user, session = current_user(), db()
    require_role(user, "admin")
    if request.method == "POST":
        form = request.form
        try:
            row = reply_check.save_rules(
                session,
                is_blocking=form.get("is_blocking") == "on",
                min_length=int_arg(form, "min_length", high=500) or 0,
                banned_phrases=(form.get("banned_phrases") or "")[:20_000].splitlines(),
                channels=form.getlist("channels"),
                repeat_window_days=int_arg(form, "repeat_window_days", high=365) or 0,
                user_id=user.id,
                now=now(),
                known_channels=CHANNELS,
            )
        except TrackerError as exc:
            session.rollback()
            flash(exc.message, "error")
            return redirect(url_for("workorders_check.rules"))
        workflow_doors.audit(
            session,
            user,
            "reply_check.saved",
            now=now(),
            object_type="reply_check_rules",
            object_id=row.id,
            detail={
                "is_blocking": row.is_blocking,
                "min_length": row.min_length,
                "banned_phrases": row.banned_phrases,
                "channels": row.channels,
                "repeat_window_days": row.repeat_window_days,
            },
            ip=request.remote_addr,
        )
        session.commit()
        flash("答复前检查规则已保存", "ok")
        return redirect(url_for("workorders_check.rules"))
    return render_template(
        "admin/reply_check.html",
        config=reply_check.load_config(session),
        is_saved=session.get(ReplyCheckRules, 1) is not None,
        channels=CHANNELS,
    )
