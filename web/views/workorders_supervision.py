"""督办 / 催办: issued by the office on the ticket page, answered by the unit, and the register.

URL table:
    POST /tickets/<id>/supervisions          督办/催办 (administrators): kind, text, due_at (optional)
    POST /supervisions/<id>/answer           the unit's 反馈: answer
    GET  /supervisions                       the register: ?department=&state=&from=&to=[&format=xlsx]
The panel (dashboard/_workorder_supervision.html) reads `supervision_panel(ticket)`. The rules are
tracker.workorders.supervision's; this module parses input and maps errors.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from tracker.clock import BUSINESS_TZ
from tracker.errors import NotFound, PermissionDenied, TrackerError
from tracker.inputs import date_arg, id_arg
from tracker.intake.formats import write_xlsx
from tracker.people.access import can_take, require_act, view_reach_of
from tracker.tickets.models import Ticket
from tracker.tickets.status import FINAL_STATUSES
from tracker.workflow.transitions import get_ticket
from tracker.workorders import supervision as sv
from tracker.workorders.models import SUPERVISION_KINDS
from web.database import db
from web.security import current_user, login_required
from web.views import dashboard

bp = Blueprint("workorders_supervision", __name__)


@bp.app_context_processor
def _panel_helpers():
    return {"supervision_panel": supervision_panel}


def supervision_panel(ticket: Ticket) -> dict:
    session, user, moment = db(), current_user(), dashboard.now()
    acting = user is not None and user.role != "auditor"
    return {
        "rows": [
            (s, sv.STATE_LABELS[sv.state_of(s, moment)]) for s in sv.ticket_supervisions(session, ticket)
        ],
        "can_issue": acting and ticket.status not in FINAL_STATUSES and can_take(user, "supervise", ticket),
        "can_answer": acting and can_take(user, "answer_supervision", ticket),
        "kinds": SUPERVISION_KINDS,
    }


def _refused(ticket_id: int, what: str, exc: TrackerError):
    db().rollback()
    flash(f"{what}未完成：{exc.message}", "error")
    page, _status = dashboard.ticket(ticket_id)
    return page, exc.http_status


@bp.route("/tickets/<int:ticket_id>/supervisions", methods=["POST"])
@login_required
def issue(ticket_id: int):
    user, session, moment = current_user(), db(), dashboard.now()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)  # 404 / 403 before any input error
    form = request.form
    try:
        due = dashboard._local_datetime(form["due_at"], "due_at") if form.get("due_at") else None
        supervision, _ = sv.issue_supervision(
            session,
            ticket,
            user=user,
            kind=form.get("kind", "supervise"),
            text=form.get("text", ""),
            now=moment,
            due_at=due,
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(ticket_id, "督办", exc)
    session.commit()
    flash(f"已{SUPERVISION_KINDS[supervision.kind]}", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.route("/supervisions/<int:supervision_id>/answer", methods=["POST"])
@login_required
def answer(supervision_id: int):
    user, session, moment = current_user(), db(), dashboard.now()
    supervision = sv.get_supervision(session, supervision_id)
    ticket_id = supervision.ticket_id
    require_act(user, supervision.ticket)
    try:
        sv.answer_supervision(session, supervision, request.form.get("answer", ""), user=user, now=moment)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(ticket_id, "督办反馈", exc)
    session.commit()
    flash("已反馈督办", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


def _day_start(name: str, *, next_day: bool = False) -> datetime | None:
    day = date_arg(request.args, name)
    if day is None:
        return None
    start = datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)
    return start + timedelta(days=1) if next_day else start


@bp.get("/supervisions")
@login_required
def register():
    user, session, moment = current_user(), db(), dashboard.now()
    reach = view_reach_of(user)
    department_id = id_arg(request.args, "department")
    if department_id is not None and not reach.allows(department_id, None):
        department_id = reach.department_id  # another department's register is not this user's
    wanted = sv.RegisterFilter(
        department_id=department_id,
        state=request.args.get("state") or None,
        since=_day_start("from"),
        until=_day_start("to", next_day=True),
    )
    rows = sv.register(session, reach, wanted, now=moment)
    if request.args.get("format") == "xlsx":
        data = write_xlsx(sv.register_rows(rows, now=moment), sv.REGISTER_HEADER, "督办登记")
        return Response(
            data,
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": "attachment; filename=supervisions.xlsx"},
        )
    return render_template(
        "dashboard/supervisions.html",
        rows=[(s, sv.STATE_LABELS[sv.state_of(s, moment)]) for s in rows],
        departments=sv.departments_for_filter(session, reach),
        states=sv.STATE_LABELS,
        kinds=SUPERVISION_KINDS,
        wanted=wanted,
        args=request.args,
    )
