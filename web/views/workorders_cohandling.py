"""主办 / 协办 on the ticket page: 加派 co-handling units, and the panel of their child orders.

URL table:
    POST /tickets/<id>/cohandling        加派: department_ids (one or more), co_due_at (optional)
The panel (dashboard/_workorder_cohandling.html) reads `cohandling_panel(ticket)`, given to every
template by this module's context processor. The rules are tracker.workorders.cohandling's.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import select

from tracker.errors import NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.inputs import ids_arg
from tracker.people.access import can_take, require_act
from tracker.people.models import Department
from tracker.tickets.models import Ticket
from tracker.tickets.status import OPEN_STATUSES
from tracker.workflow.transitions import get_ticket
from tracker.workorders import cohandling
from web.database import db
from web.security import current_user, login_required
from web.views import dashboard

bp = Blueprint("workorders_cohandling", __name__)


@bp.app_context_processor
def _panel_helpers():
    return {"cohandling_panel": cohandling_panel}


def cohandling_panel(ticket: Ticket) -> dict:
    """What the lead's page shows of its co-units; on a child order, whose lead it serves."""
    session, user = db(), current_user()
    link = cohandling.child_link(session, ticket)
    can_add = (
        user is not None
        and link is None
        and ticket.status in OPEN_STATUSES
        and user.role != "auditor"
        and can_take(user, "add_co_unit", ticket)
    )
    taken = {c.department_id for c in cohandling.co_handlings(session, ticket)}
    return {
        "rows": cohandling.co_handling_panel(session, ticket),
        "lead": link,
        "can_add": can_add,
        "departments": [
            d
            for d in session.scalars(select(Department).where(Department.is_active).order_by(Department.id))
            if d.id != ticket.department_id and d.id not in taken
        ]
        if can_add
        else [],
    }


@bp.route("/tickets/<int:ticket_id>/cohandling", methods=["POST"])
@login_required
def add(ticket_id: int):
    user, session, moment = current_user(), db(), dashboard.now()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)  # 404 / 403 before any input error
    try:
        ids = ids_arg(request.form.getlist("department_ids"), "department_ids")
        departments = [session.get(Department, i) for i in ids]
        if any(d is None for d in departments):
            raise ValidationError("协办单位不存在", fields={"department_ids": "不存在"})
        due = (
            dashboard._local_datetime(request.form["co_due_at"], "co_due_at")
            if request.form.get("co_due_at")
            else None
        )
        added = cohandling.add_co_units(session, ticket, departments, user=user, now=moment, due_at=due)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        flash(f"加派协办单位未完成：{exc.message}", "error")
        page, _status = dashboard.ticket(ticket_id)
        return page, exc.http_status
    session.commit()
    flash("已加派协办单位：" + "、".join(link.department.name for link in added), "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))
