"""The ticket page's 12345 cycle panel (dashboard/_workorder_cycle.html): the internal 办理情况 with its
form, the order's 退单 requests and, for the bureau office, the form that enters the platform's decision.
Every route checks access before reading input and then calls the door (tracker.workorders.handling,
tracker.workorders.sendbacks), which checks again."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from tracker.errors import NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.people.access import can_take, require_act, require_action
from tracker.security import mask_phone
from tracker.tickets.models import Ticket
from tracker.workflow import doors as ds
from tracker.workflow.transitions import get_ticket
from tracker.workorders import handling, sendbacks
from tracker.workorders.models import SEND_BACK_REASONS
from web.database import db
from web.security import current_user, login_required
from web.views.dashboard import MAX_KEPT_FIELD_CHARS, _attachment_dir, _local_datetime, _ticket_page, now

bp = Blueprint("workorders_cycle", __name__)


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"workorder_cycle": cycle_panel}


def cycle_panel(ticket: Ticket) -> dict[str, Any]:
    """What the panel shows this user: the record (contact numbers always masked: the number is kept for the
    record, not for reading off the page), the requests, and which forms."""
    user, session = current_user(), db()
    records = handling.handling_records(session, ticket)
    evidence = handling.evidence_of(session, ticket)
    writer = user is not None and user.role != "auditor"
    return {
        "records": [
            {
                "r": r,
                "number": mask_phone(r.contact_number) if r.contact_number else "",
                "evidence": evidence.get(r.id, []),
            }
            for r in records
        ],
        "send_backs": sendbacks.ticket_send_backs(session, ticket),
        "reasons": SEND_BACK_REASONS,
        "state_labels": sendbacks.STATE_LABELS,
        "methods": handling.CONTACT_METHODS,
        "can_record": writer and can_take(user, "record_handling", ticket),
        "can_withdraw": writer and can_take(user, "request_send_back", ticket),
        "can_decide": writer and sendbacks.can_decide_send_back(user, ticket),
    }


def _user():
    user = current_user()
    assert user is not None  # login_required ran
    return user


def _refused(ticket_id: int, code: str, exc: TrackerError):
    """The ticket page again with the panel's form open, what was typed kept, and why (400 / 409)."""
    db().rollback()
    typed = {k: v[:MAX_KEPT_FIELD_CHARS] for k, v in request.form.items() if k != "csrf_token"}
    return _ticket_page(
        get_ticket(db(), ticket_id),
        _user(),
        failed=code,
        error=f"未完成：{exc.message}",
        typed=typed,
        status=exc.http_status,
    )


@bp.route("/tickets/<int:ticket_id>/handling", methods=["POST"])
@login_required
def add_record(ticket_id: int):
    """Add an entry to the internal record, with evidence files (attachments of purpose "evidence")."""
    user, moment, session = _user(), now(), db()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)  # 404 / 403 before any input error
    form = request.form
    try:
        contacted = (
            _local_datetime(form.get("contacted_at"), "contacted_at") if form.get("contacted_at") else None
        )
        evidence_ids = []
        for upload in request.files.getlist("evidence"):
            if upload and upload.filename:
                attachment = ds.save_attachment(
                    session,
                    ticket,
                    filename=upload.filename,
                    data=upload.read(ds.MAX_ATTACHMENT_BYTES + 1),
                    content_type=upload.mimetype,
                    user=user,
                    now=moment,
                    directory=_attachment_dir(),
                    purpose=handling.EVIDENCE_PURPOSE,
                )
                evidence_ids.append(attachment.id)
        handling.add_handling_record(
            session,
            ticket,
            summary=form.get("summary", ""),
            contacted_at=contacted,
            contact_method=form.get("contact_method") or None,
            contact_number=form.get("contact_number") or None,
            evidence_ids=evidence_ids,
            user=user,
            now=moment,
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(ticket_id, "handling", exc)
    session.commit()
    flash("已记录办理情况", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id) + "#workorder-cycle")


@bp.route("/send-backs/<int:send_back_id>/decision", methods=["POST"])
@login_required
def decide(send_back_id: int):
    """The bureau office enters the 12345 platform's decision on a 退单 request."""
    user, moment, session = _user(), now(), db()
    send_back = sendbacks.get_send_back(session, send_back_id)
    # Access before input: another department's request is missing (404), the unit's own people are
    # refused (403) — entering the platform's decision is the office's (tracker.people.access).
    require_action(user, "decide_send_back", send_back.ticket)
    decision = request.form.get("decision")
    try:
        if decision not in ("accept", "refuse"):
            raise ValidationError("请选择同意或不同意", fields={"decision": "取值无效"})
        sendbacks.decide_send_back(
            session,
            send_back,
            accept=decision == "accept",
            note=request.form.get("note", ""),
            user=user,
            now=moment,
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(send_back.ticket_id, "send_back_decision", exc)
    session.commit()
    flash("已录入平台的退单审核结果", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=send_back.ticket_id) + "#workorder-cycle")


@bp.route("/send-backs/<int:send_back_id>/withdraw", methods=["POST"])
@login_required
def withdraw(send_back_id: int):
    user, moment, session = _user(), now(), db()
    send_back = sendbacks.get_send_back(session, send_back_id)
    require_act(user, send_back.ticket)
    try:
        sendbacks.withdraw_send_back(session, send_back, user=user, now=moment)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        return _refused(send_back.ticket_id, "send_back_withdraw", exc)
    session.commit()
    flash("已撤回退单申请", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=send_back.ticket_id) + "#workorder-cycle")
