"""The ticket page's 回访与重办 panel (dashboard/_workorder_revisits.html): record a 回访, order a 重办, reveal
the numbers called (audited). Every form goes through its door (tracker/workorders/revisits.py, redo.py);
a refused form shows the ticket page again with the panel's message and the door's status (400/409)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for

from tracker.clock import BUSINESS_TZ
from tracker.errors import NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.inputs import MAX_DATE_CHARS
from tracker.people.access import can_reveal_personal_data, can_take, require_act, require_view
from tracker.tickets.models import Ticket
from tracker.workflow import doors as ds
from tracker.workflow.transitions import get_ticket
from tracker.workorders.models import REVISIT_RESULTS
from tracker.workorders.redo import REDONE_STATUSES, redo, redo_deadline, ticket_redos
from tracker.workorders.revisits import ANSWERED_STATUSES, RevisitInput, record_revisit, ticket_revisits
from web.database import db
from web.security import current_user, login_required
from web.views.dashboard import MAX_KEPT_FIELD_CHARS, _ticket_page, now

bp = Blueprint("workorders_revisits", __name__)

_YES_NO = {"yes": True, "no": False, "": None}


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"revisit_panel": revisit_panel}


def revisit_panel(ticket: Ticket) -> dict[str, Any]:
    """What the panel shows to the signed-in user: the 回访 (phones masked), the redos with their periods,
    and which forms this user may use."""
    user = current_user()
    session = db()
    may_act = user is not None and user.role != "auditor" and can_take(user, "revisit", ticket)
    return {
        "revisits": ticket_revisits(session, ticket),
        "redos": ticket_redos(session, ticket),
        "deadline": redo_deadline(ticket),
        "results": REVISIT_RESULTS,
        "may_record": may_act and ticket.status in ANSWERED_STATUSES,
        "may_redo": user is not None and can_take(user, "redo", ticket) and ticket.status in REDONE_STATUSES,
        "may_reveal": user is not None and can_reveal_personal_data(user, ticket),
    }


def _visited_at(raw: str | None) -> datetime:
    """The form's datetime-local (Asia/Shanghai) as an aware moment; a clear error naming the field."""
    text = (raw or "").strip()
    try:
        if not text or len(text) > MAX_DATE_CHARS or not text.isascii():
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "回访时间格式应为 YYYY-MM-DDTHH:MM", fields={"visited_at": "格式不符"}
        ) from None
    return moment.replace(tzinfo=BUSINESS_TZ) if moment.tzinfo is None else moment


def _yes_no(name: str) -> bool | None:
    value = request.form.get(name, "")
    if value not in _YES_NO:
        raise ValidationError(f"{name} 应为 是/否/未说明", fields={name: "取值无效"})
    return _YES_NO[value]


def _refused(ticket_id: int, form_code: str, exc: TrackerError):
    db().rollback()
    typed = {k: v[:MAX_KEPT_FIELD_CHARS] for k, v in request.form.items() if k != "csrf_token"}
    user = current_user()
    label = "记录回访" if form_code == "revisit" else "重办"
    return _ticket_page(
        get_ticket(db(), ticket_id),
        user,
        failed=form_code,
        error=f"{label}未完成：{exc.message}",
        typed=typed,
        status=exc.http_status,
    )


@bp.post("/tickets/<int:ticket_id>/revisits")
@login_required
def record(ticket_id: int):
    user, session, moment = current_user(), db(), now()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)  # 404 / 403 before any input error, as on the ticket page
    form = request.form
    try:
        outcome = record_revisit(
            session,
            ticket,
            RevisitInput(
                visited_at=_visited_at(form.get("visited_at")),
                result=form.get("result", ""),
                is_resolved=_yes_no("is_resolved"),
                was_contacted=_yes_no("was_contacted"),
                citizen_words=form.get("citizen_words", ""),
                phone=form.get("phone") or None,
            ),
            now=moment,
            user=user,
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(ticket_id, "revisit", exc)
    session.commit()
    if outcome.redo is not None:
        flash(f"已记录回访；按规则开启重办（{outcome.redo.reason}）", "ok")
    else:
        flash("已记录回访", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/redos")
@login_required
def order_redo(ticket_id: int):
    user, session, moment = current_user(), db(), now()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)
    try:
        redo(session, ticket, now=moment, reason=request.form.get("reason", ""), user=user)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(ticket_id, "redo", exc)
    session.commit()
    flash("已开启重办", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/revisits/reveal")
@login_required
def reveal(ticket_id: int):
    """The numbers the 回访 called, in full, with an audit entry (like the contact's reveal)."""
    user, session = current_user(), db()
    ticket = get_ticket(session, ticket_id)
    require_view(user, ticket)
    if not can_reveal_personal_data(user, ticket):
        abort(403)
    revisits = ticket_revisits(session, ticket)
    ds.audit(
        session,
        user,
        "personal_data.reveal",
        now=now(),
        object_type="ticket",
        object_id=ticket.id,
        detail={"number": ticket.number, "what": "revisit_phones", "revisits": [r.id for r in revisits]},
        ip=request.remote_addr,
    )
    session.commit()
    return jsonify({f"revisit-phone-{r.id}": r.phone for r in revisits})
