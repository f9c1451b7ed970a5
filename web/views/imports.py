"""Staff intake pages: file uploads (imported by a worker; the page shows its progress), entry of
disclosure applications that came in person, by letter or by fax (art. 31), the hotline reply export in
the platform's columns, and the art. 39 conversion between a message/order and an application."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, time, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from sqlalchemy import select

from tracker.clock import BUSINESS_TZ, utcnow
from tracker.errors import ValidationError
from tracker.inputs import date_arg
from tracker.intake import disclosure
from tracker.intake.convert import convert_ticket
from tracker.intake.formats import MAX_CELLS, MAX_COLUMNS, MAX_ROWS, declared_rows
from tracker.intake.hotline import export_replies
from tracker.intake.models import AdapterState, ImportBatch
from tracker.intake.records import RecordError, apply_record
from tracker.people.access import reach_of, require_act, require_role
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.workflow.transitions import get_ticket
from web.database import db, settings
from web.security import current_user, login_required
from web.tasks import queue_import
from web.views.dashboard import now

log = logging.getLogger(__name__)

bp = Blueprint(
    "imports", __name__, url_prefix="/imports", static_folder="../portal_static", static_url_path="/static"
)

STAFF_ROLES = ("staff", "supervisor", "admin")
CHANNEL_LABELS = {
    "hotline": "12345热线工单",
    "website": "网站留言",
    "weibo": "政务微博（JSON）",
    "disclosure": "依申请公开",
}
# What a person reads for an import batch's status (ImportBatch.status), on the page and in the progress JSON.
BATCH_STATUS_LABELS = {
    "queued": "排队中",
    "validating": "校验中",
    "importing": "导入中",
    "done": "已完成",
    "failed": "失败",
}
ALLOWED_SUFFIXES = {".csv", ".xlsx", ".json", ".txt"}
MAX_UPLOAD = 50 * 1024 * 1024


def _staff():
    user = current_user()
    require_role(user, *STAFF_ROLES)
    return user


def _department_code(user) -> str | None:
    # Staff import into their own department; the office imports for the bureau (the root).
    return None if user.role == "admin" else user.department.code


def dispatch_import(batch_id: int) -> None:
    """Queue the import task after the commit; if the broker is down, the resume scan starts it."""
    try:
        queue_import(settings(), batch_id)
    except Exception:  # the batch stays queued; intake.resume_imports picks it up
        log.warning("could not queue import batch %s; it will be resumed", batch_id)


ADAPTER_LABELS = {
    "weibo": "政务微博接口",
    "hotline-callback": "12345回传",
    "duplicate-scan": "疑似重复扫描",
    "email": "电子邮件（SMTP）",
}


def _adapters() -> list[AdapterState]:
    return list(db().scalars(select(AdapterState).order_by(AdapterState.name)))


def _visible_batches(user):
    query = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(30)
    if user.role != "admin":
        query = query.where(ImportBatch.created_by_id == user.id)
    return list(db().scalars(query))


def _batch_for(user, batch_id: int) -> ImportBatch:
    batch = db().get(ImportBatch, batch_id)
    if batch is None or (user.role != "admin" and batch.created_by_id != user.id):
        abort(404)
    return batch


def _upload_cap() -> int:
    return min(MAX_UPLOAD, current_app.config.get("MAX_CONTENT_LENGTH") or MAX_UPLOAD)


def import_columns() -> dict[str, list]:
    """The columns each file format reads, from the parsers' own definitions (so the page cannot drift
    from what the importer accepts): header, required, allowed values, other accepted names."""
    from tracker.intake import hotline, website

    return {
        "hotline": list(hotline.COLUMNS),
        "website": list(website.COLUMNS),
        "disclosure": list(disclosure.COLUMNS),
    }


def _upload_page(user, error: str | None) -> str:
    return render_template(
        "imports/upload.html",
        batches=_visible_batches(user),
        channels=CHANNEL_LABELS,
        error=error,
        adapters=_adapters(),
        adapter_labels=ADAPTER_LABELS,
        status_labels=BATCH_STATUS_LABELS,
        columns=import_columns(),
        limits={
            "rows": MAX_ROWS,
            "columns": MAX_COLUMNS,
            "cells": MAX_CELLS,
            "megabytes": _upload_cap() >> 20,
        },
    )


@bp.route("/", methods=["GET", "POST"])
@login_required
def upload():
    user = _staff()
    if request.method == "GET":
        return _upload_page(user, None)
    channel = request.form.get("channel", "")
    file = request.files.get("file")
    error = None
    if channel not in CHANNEL_LABELS:
        error = "请选择渠道"
    elif file is None or not file.filename:
        error = "请选择要上传的文件"
    elif Path(file.filename).suffix.lower() not in ALLOWED_SUFFIXES:
        error = "只支持 CSV、XLSX 或（微博）JSON 文件"
    if error:
        return _upload_page(user, error), 400
    uploads = settings().instance_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    stored = uploads / f"{secrets.token_hex(12)}{Path(file.filename).suffix.lower()}"
    file.save(stored)
    if stored.stat().st_size > MAX_UPLOAD:
        stored.unlink()
        abort(413)
    rows = declared_rows(stored)
    if rows is not None and rows > MAX_ROWS:
        # What the XLSX says it holds, read in milliseconds; a file that lies is stopped at the limit
        # by the import itself (tracker.intake.formats.bounded_rows).
        stored.unlink()
        return _upload_page(
            user, f"文件有 {rows:,} 行数据，超过每个文件 {MAX_ROWS:,} 行的上限，请分成多个文件上传"
        ), 413
    batch = ImportBatch(
        channel=channel,
        filename=Path(file.filename).name[:500],
        file_sha256=hashlib.sha256(stored.read_bytes()).hexdigest(),
        stored_path=str(stored),
        department_code=_department_code(user),
        is_skip_bad_rows=request.form.get("skip_bad_rows") == "1",
        status="queued",
        errors=[],
        created_by_id=user.id,
        created_at=utcnow(),
    )
    db().add(batch)
    db().commit()
    dispatch_import(batch.id)
    return redirect(url_for("imports.batch_page", batch_id=batch.id))


@bp.get("/<int:batch_id>")
@login_required
def batch_page(batch_id: int):
    user = _staff()
    return render_template(
        "imports/batch.html",
        batch=_batch_for(user, batch_id),
        channels=CHANNEL_LABELS,
        status_labels=BATCH_STATUS_LABELS,
    )


@bp.get("/<int:batch_id>/progress")
@login_required
def progress(batch_id: int):
    batch = _batch_for(_staff(), batch_id)
    return jsonify(
        {
            "status": batch.status,
            "status_label": gettext(BATCH_STATUS_LABELS.get(batch.status, batch.status)),
            "total": batch.total_rows,
            "processed": batch.processed_rows,
            "created": batch.created_count,
            "updated": batch.updated_count,
            "unchanged": batch.unchanged_count,
            "rejected": batch.rejected_count,
            "message": batch.message,
            "errors": (batch.errors or [])[:50],
            "is_finished": batch.status in ("done", "failed"),
        }
    )


# --- staff entry of disclosure applications (art. 31) ----------------------------------------------------


@bp.route("/disclosure/new", methods=["GET", "POST"])
@login_required
def disclosure_entry():
    user = _staff()
    choices = {
        "org_types": disclosure.ORG_TYPES,
        "id_types": disclosure.ID_TYPES_PERSON,
        "delivery_forms": disclosure.DELIVERY_FORMS,
        "delivery_ways": disclosure.DELIVERY_WAYS,
        "received_via": disclosure.STAFF_RECEIVED_VIA,
    }
    if request.method == "GET":
        return render_template("imports/disclosure_entry.html", form={}, errors={}, **choices)
    try:
        record = disclosure.record_from_form(
            request.form.to_dict(), now=utcnow(), department_code=user.department.code, staff_entry=True
        )
    except RecordError as exc:
        errors = {e.column: e.reason for e in exc.errors}
        return render_template(
            "imports/disclosure_entry.html", form=request.form, errors=errors, **choices
        ), 400
    result = apply_record(db(), record, actor=user, reach=reach_of(user), now=utcnow())
    db().commit()
    return redirect(url_for("dashboard.ticket", ticket_id=result.ticket.id))


# --- the hotline reply export ---------------------------------------------------------------------------------


def _day(name: str, default: datetime) -> datetime:
    day = date_arg(request.args, name)
    return default if day is None else datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


@bp.get("/hotline-export")
@login_required
def hotline_export():
    user = _staff()
    today = utcnow().astimezone(BUSINESS_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    since = _day("from", today - timedelta(days=30))
    until = _day("to", today) + timedelta(days=1)
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        raise ValidationError("format 应为 csv 或 xlsx", fields={"format": "取值无效"})
    department_id = None if user.role == "admin" else user.department_id
    data = export_replies(db(), since=since, until=until, fmt=fmt, department_id=department_id)
    name = f"hotline-replies-{since:%Y%m%d}-{until - timedelta(days=1):%Y%m%d}.{fmt}"
    mimetype = (
        "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})


# --- art. 39 -------------------------------------------------------------------------------------------------------


def _applicant_type(value: str) -> str | None:
    """The form's 申请人类型: one of the annual report's columns, or none (the service's default)."""
    value = value.strip()
    if value and value not in APPLICANT_TYPES:
        raise ValidationError("申请人类型无效", fields={"applicant_type": "取值无效"})
    return value or None


@bp.post("/tickets/<int:ticket_id>/convert")
@login_required
def convert(ticket_id: int):
    user = current_user()
    ticket = get_ticket(db(), ticket_id)
    require_act(user, ticket)
    target = request.form.get("channel", "")
    created = convert_ticket(
        db(),
        ticket,
        target,
        actor=user,
        now=now(),  # the dashboard's clock: the new application's art. 31 date comes from it
        reason=request.form.get("reason", "").strip() or "依《条例》第三十九条转换",
        applicant_type=_applicant_type(request.form.get("applicant_type", "")),
    )
    db().commit()
    return redirect(url_for("dashboard.ticket", ticket_id=created.id))
