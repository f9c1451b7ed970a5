"""The staff dashboard: home, ticket lists, the ticket page."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request

from tracker.access import can_reveal_personal_data, require_view
from tracker.clock import utcnow
from tracker.models import AuditEntry
from tracker.queries import count_by_status, list_tickets, timeline
from tracker.services.tickets import get_ticket
from web.database import db
from web.security import current_user, login_required

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def home():
    user = current_user()
    before = request.args.get("before", type=int)
    page = list_tickets(db(), user, before_id=before)
    return render_template("dashboard/home.html", page=page, counts=count_by_status(db(), user))


@bp.route("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int):
    ticket = get_ticket(db(), ticket_id)
    require_view(current_user(), ticket)
    return render_template("dashboard/ticket.html", ticket=ticket, events=timeline(db(), ticket))


@bp.route("/tickets/<int:ticket_id>/reveal", methods=["POST"])
@login_required
def reveal(ticket_id: int):
    """Show the citizen's contact details in full, once, with an audit entry."""
    user = current_user()
    ticket = get_ticket(db(), ticket_id)
    require_view(user, ticket)
    if not can_reveal_personal_data(user, ticket) or ticket.contact is None:
        abort(403)
    db().add(
        AuditEntry(
            at=utcnow(),
            user_id=user.id,
            action="personal_data.reveal",
            object_type="ticket",
            object_id=str(ticket.id),
            ip=request.remote_addr,
            detail={"number": ticket.number},
        )
    )
    db().commit()
    c = ticket.contact
    return jsonify(
        {"name": c.name, "phone": c.phone, "email": c.email, "address": c.address, "id_number": c.id_number}
    )
