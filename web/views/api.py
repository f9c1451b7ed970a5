"""The REST API (/api/v1): the 12345 push, ticket creation for other channels, read access to tickets,
their events and deadlines, and the OpenAPI document. Every call but the document is signed with an
API key (tracker.intake.apikeys); a key may be limited to a channel and a department."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from tracker.clock import BUSINESS_TZ, utcnow
from tracker.errors import NotFound, ValidationError
from tracker.inputs import date_arg, id_arg, int_arg, parse_json_object
from tracker.intake import disclosure, hotline, website, weibo
from tracker.intake.apikeys import Client, SignedRequest, verify_request
from tracker.intake.records import FieldError, RecordError, apply_record
from tracker.notify.citizens import opt_out_reply
from tracker.people.access import Reach, reach_of_client, require_channel
from tracker.people.models import Department
from tracker.security import mask_email, mask_name, mask_phone
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.status import STATUS_LABELS
from tracker.workorders.models import SendBack
from tracker.workorders.sendbacks import decide_send_back as decide_send_back_door
from web.database import db, settings
from web.views.api_openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_BODY = 512 * 1024
PAGE_MAX = 200


# --- the edge: size, content type, signature ------------------------------------------------------------


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    if request.method in ("POST", "PUT", "PATCH"):
        if request.content_length is not None and request.content_length > MAX_BODY:
            abort(413, description=f"请求体超过 {MAX_BODY // 1024} KB")
        if request.mimetype != "application/json":
            abort(415, description="Content-Type 应为 application/json")
    request.max_content_length = MAX_BODY  # a chunked body without Content-Length is cut off too
    body = request.get_data(cache=True)
    headers = request.headers
    g.api_client = verify_request(
        db(),
        settings().secret_key,
        SignedRequest(
            key_id=headers.get("X-Tracker-Key"),
            timestamp=headers.get("X-Tracker-Timestamp"),
            nonce=headers.get("X-Tracker-Nonce"),
            signature=headers.get("X-Tracker-Signature"),
            algorithm=headers.get("X-Tracker-Algorithm"),
            method=request.method,
            path=request.path,
            query=request.query_string,
            body=body,
        ),
        now=utcnow(),
    )
    # The nonce stands whatever happens to the request: a refused or failed call cannot be sent again.
    db().commit()


def client() -> Client:
    return g.api_client


def _json_object() -> dict[str, Any]:
    # Parsed by the one bounded reader (nesting depth, lone surrogates), not Flask's get_json, whose
    # recursion on 10,000 nested arrays and whose "\ud800" strings reached the database as 500s.
    return parse_json_object(request.get_data(cache=True))


def _client_department_code() -> str | None:
    if client().department_id is None:
        return None
    return db().scalar(select(Department.code).where(Department.id == client().department_id))


def reach() -> Reach:
    """The tickets this key may read and change (tracker.people.access: the one rule)."""
    return reach_of_client(client())


# --- intake -----------------------------------------------------------------------------------------------


def _apply(record) -> tuple[Any, int]:
    session = db()
    now = utcnow()
    label = f"API:{client().name}"
    try:
        result = apply_record(
            session, record, actor=label, reach=reach(), now=now, fast=True, index_search=False
        )
        session.commit()
    except IntegrityError:
        # The same order pushed twice at once: the other request created it; this one updates it.
        session.rollback()
        result = apply_record(
            session, record, actor=label, reach=reach(), now=now, fast=True, index_search=False
        )
        session.commit()
    body = {
        "result": result.status,
        "ticket": {"id": result.ticket_id, "number": result.number, "status": result.ticket_status},
        "changes": sorted(result.changes),
    }
    if result.possible_duplicate_of is not None:
        body["possible_duplicate_of"] = result.possible_duplicate_of
    return jsonify(body), 201 if result.status == "created" else 200


@bp.post("/intake/hotline")
def intake_hotline():
    require_channel(reach(), "hotline")
    record = hotline.record_from_json(_json_object(), department_code=_client_department_code())
    return _apply(record)


@bp.post("/sms/replies")
def sms_reply():
    """A citizen's reply to one of our SMS, passed on by the gateway: 退订 / TD opts the number out."""
    payload = _json_object()
    phone, text = payload.get("phone"), payload.get("text")
    if not isinstance(phone, str) or not isinstance(text, str) or len(text) > 500:
        raise ValidationError(
            "须提供 phone（手机号码）和 text（回复内容，不超过500字）",
            fields={"phone": "必填", "text": "必填"},
        )
    changed = opt_out_reply(db(), phone, text, reach=reach(), now=utcnow())
    db().commit()
    if changed is None:
        return jsonify({"result": "ignored"}), 200
    return jsonify({"result": "opted_out", "contacts": changed}), 200


@bp.post("/tickets")
def create_ticket():
    payload = _json_object()
    channel = payload.get("channel")
    if channel == "hotline":
        raise ValidationError(
            "12345 工单请使用 POST /api/v1/intake/hotline", fields={"channel": "请使用专用接口"}
        )
    if channel not in ("website", "weibo", "disclosure"):
        raise ValidationError("channel 应为 website/weibo/disclosure 之一", fields={"channel": "取值无效"})
    require_channel(reach(), channel)
    department_code = _client_department_code()
    if channel == "weibo":
        item = payload.get("item")
        if not isinstance(item, dict):
            raise RecordError([FieldError("item", "应为微博接口返回的对象")])
        kind = payload.get("kind") or ("comment" if "status" in item else "mention")
        if kind not in ("comment", "mention", "direct_message"):
            raise RecordError([FieldError("kind", "应为 comment/mention/direct_message 之一", str(kind))])
        record = weibo.record_from_item(kind, item, department_code=department_code)
    else:
        module = website if channel == "website" else disclosure
        record = module.record_from_row(payload, department_code=department_code, by="key")
    return _apply(record)


# --- 退单: the platform's decision -----------------------------------------------------------------------


@bp.post("/send-backs/<int:send_back_id>/decision")
def decide_send_back(send_back_id: int):
    """The 12345 platform's decision on a unit's 退单 request (the id the `sendback` callback carried).
    Through the one door (tracker.workorders.sendbacks.decide_send_back): applied once — a second decision,
    a replay with a fresh signature included, is a 409 whose `fields.state` says what was decided."""
    require_channel(reach(), "hotline")
    payload = _json_object()
    decision, note = payload.get("decision"), payload.get("note", "")
    session = db()
    send_back = session.get(SendBack, send_back_id)
    if send_back is None or not reach().allows_ticket(send_back.ticket):
        raise NotFound("退单申请不存在或无权查看")  # another department's request looks missing
    errors = {}
    if decision not in ("accepted", "refused"):
        errors["decision"] = "应为 accepted 或 refused"
    if not isinstance(note, str):
        errors["note"] = "应为字符串"
    order_no = payload.get("order_no")
    if order_no is not None and order_no != send_back.ticket.external_ref:
        errors["order_no"] = "与退单申请的工单编号不符"
    if errors:
        raise ValidationError("退单审核结果有误", fields=errors)
    decide_send_back_door(
        session,
        send_back,
        accept=decision == "accepted",
        note=note,
        reach=reach(),
        label=f"API:{client().name}",
        now=utcnow(),
    )
    session.commit()
    ticket = send_back.ticket
    return jsonify(
        {
            "send_back": {
                "id": send_back.id,
                "state": send_back.state,
                "decided_at": _iso(send_back.decided_at),
                "reason_code": send_back.reason_code,
            },
            "ticket": {"id": ticket.id, "number": ticket.number, "status": ticket.status},
        }
    )


# --- read access ----------------------------------------------------------------------------------------


def _day_start_arg(name: str) -> datetime | None:
    day = date_arg(request.args, name)
    return None if day is None else datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


@bp.get("/tickets")
def list_tickets():
    query = select(Ticket).options(selectinload(Ticket.department), selectinload(Ticket.contact))
    query = query.where(reach().condition())
    channel = request.args.get("channel")
    if channel:
        query = query.where(Ticket.channel == channel)
    status = request.args.get("status")
    if status:
        if status not in STATUS_LABELS:
            raise ValidationError("status 取值无效", fields={"status": "取值无效"})
        query = query.where(Ticket.status == status)
    department = request.args.get("department")
    if department:
        query = query.join(Department, Ticket.department_id == Department.id).where(
            Department.code == department
        )
    external_ref = request.args.get("external_ref")
    if external_ref:
        query = query.where(Ticket.external_ref == external_ref)
    received_from, received_to = _day_start_arg("received_from"), _day_start_arg("received_to")
    if received_from:
        query = query.where(Ticket.received_at >= received_from)
    if received_to:
        query = query.where(Ticket.received_at < received_to + timedelta(days=1))
    before = id_arg(request.args, "before")  # ids are 32-bit integers (PostgreSQL refuses more)
    if before:
        query = query.where(Ticket.id < before)
    limit = int_arg(request.args, "limit", low=1, high=PAGE_MAX) or 50
    rows = list(db().scalars(query.order_by(Ticket.id.desc()).limit(limit + 1)))
    next_before = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"tickets": [_ticket_json(t) for t in rows[:limit]], "next_before": next_before})


def _ticket_in_scope(ticket_id: int) -> Ticket:
    ticket = db().get(Ticket, ticket_id)
    if ticket is None or not reach().allows_ticket(ticket):
        # Out of scope looks like missing: an id must not reveal that another department's ticket exists.
        raise NotFound("工单不存在或无权查看")
    return ticket


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int):
    return jsonify(_ticket_json(_ticket_in_scope(ticket_id), full=True))


@bp.get("/tickets/<int:ticket_id>/events")
def ticket_events(ticket_id: int):
    ticket = _ticket_in_scope(ticket_id)
    events = db().scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.occurred_at, TicketEvent.id)
    )
    return jsonify(
        {
            "events": [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "occurred_at": _iso(e.occurred_at),
                    "actor": e.actor_label or (e.actor.display_name if e.actor else None),
                    "status_before": e.status_before,
                    "status_after": e.status_after,
                    "data": _public_event_data(e.kind, e.data or {}),
                }
                for e in events
            ]
        }
    )


@bp.get("/tickets/<int:ticket_id>/deadlines")
def ticket_deadlines(ticket_id: int):
    ticket = _ticket_in_scope(ticket_id)
    return jsonify(
        {
            "deadlines": [
                {
                    "kind": d.kind,
                    "label": d.label,
                    "due_at": _iso(d.due_at),
                    "state": d.state,
                    "version": d.version,
                    "policy": f"{d.policy_code}@{d.policy_version}",
                    "explanation": d.explanation,
                }
                for d in ticket.deadlines
            ]
        }
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["TRACKER_SETTINGS"].public_url))


# --- serialisation --------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _public_event_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    # Notes can hold personal data typed by staff; machine clients see that a note exists, not its text.
    shown = {k: v for k, v in data.items() if k not in ("note",)}
    if kind == "ticket.possible_duplicate" and _duplicate_id_shown(data.get("of_id")) is None:
        # The flag points at a ticket outside this key's reach: its number must not reach the key.
        for key in ("of", "of_id", "of_channel"):
            shown.pop(key, None)
    return shown


def _duplicate_id_shown(ticket_id: int | None) -> int | None:
    """A possible duplicate's id if this key may see that ticket, else None."""
    if ticket_id is None:
        return None
    other = db().get(Ticket, ticket_id)
    return ticket_id if other is not None and reach().allows_ticket(other) else None


def _ticket_json(ticket: Ticket, *, full: bool = False) -> dict[str, Any]:
    contact = ticket.contact
    data: dict[str, Any] = {
        "id": ticket.id,
        "number": ticket.number,
        "channel": ticket.channel,
        "external_ref": ticket.external_ref,
        "request_type": ticket.request_type,
        "subject": ticket.subject,
        "status": ticket.status,
        "status_label": STATUS_LABELS.get(ticket.status, ticket.status),
        "department": ticket.department.code,
        "received_at": _iso(ticket.received_at),
        "arrived_at": _iso(ticket.arrived_at),
        "replied_at": _iso(ticket.replied_at),
        "closed_at": _iso(ticket.closed_at),
        "satisfaction": ticket.satisfaction,
        "outcome": ticket.outcome,
        "possible_duplicate_of_id": _duplicate_id_shown(ticket.possible_duplicate_of_id),
        "linked_ticket_id": ticket.linked_ticket_id,
    }
    if full:
        data.update(
            {
                "body": ticket.body,
                "category": ticket.category,
                "urgency": ticket.urgency,
                "incident_address": ticket.incident_address,
                "reply_text": ticket.reply_text,
                "applicant_type": ticket.applicant_type,
                "received_via": ticket.received_via,
                # Machine clients get personal data masked, like an auditor.
                "contact": {
                    "name": mask_name(contact.name) if contact else "",
                    "phone": mask_phone(contact.phone) if contact else "",
                    "email": mask_email(contact.email) if contact else "",
                },
                "extra": ticket.extra or {},
            }
        )
    return data
