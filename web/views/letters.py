"""Statutory letters on the ticket page (preview, issue, replace the file, serve, download) and the office's
templates (administrators). Every view checks the caller may act on the ticket (tracker.people.access) before it
reads its input; the doors in tracker.letters.service check it again, with the kind's fit to the ticket."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for

from tracker.errors import NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.inputs import parse_date
from tracker.letters import service as letters
from tracker.letters.context import VARIABLES
from tracker.letters.kinds import KINDS
from tracker.letters.render import MAX_TEMPLATE_BYTES, LetterRenderError, to_pdf
from tracker.people.access import require_act, require_role
from tracker.reports.rows import OUTCOMES
from tracker.workflow import doors as ds
from tracker.workflow.models import Attachment
from tracker.workflow.transitions import get_ticket
from web.database import db, settings
from web.security import current_user, login_required
from web.views.dashboard import now

bp = Blueprint("letters", __name__)

FORM_FIELDS = (
    "outcome",
    "reply_text",
    "notice",
    "correction_due_on",
    "third_party",
    "matter",
    "fee_method",
    "pages",
)


def _attachment_dir() -> Path:
    return Path(settings().instance_dir) / "attachments"


def _raw(source) -> dict[str, str]:
    return {name: source.get(name, "") for name in FORM_FIELDS}


def _back(ticket_id: int):
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id) + "#letters")


@bp.route("/tickets/<int:ticket_id>/letters/preview")
@login_required
def preview(ticket_id: int):
    """The letter as it would be issued now (no 文号, nothing stored), and the form that issues it."""
    user, session = current_user(), db()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)
    kind = request.args.get("kind", "")
    raw = _raw(request.args)
    try:
        draft = letters.preview_letter(session, ticket, kind, raw, user=user, now=now())
    except (PermissionDenied, NotFound):
        raise
    except TrackerError as exc:
        flash(f"文书未生成：{exc.message}", "error")
        return _back(ticket_id)
    return render_template(
        "dashboard/letter_preview.html",
        ticket=ticket,
        kind=KINDS[kind],
        raw=raw,
        paragraphs=draft.paragraphs,
        custom=draft.template_id is not None,
    )


@bp.route("/tickets/<int:ticket_id>/letters", methods=["POST"])
@login_required
def issue(ticket_id: int):
    user, session = current_user(), db()
    ticket = get_ticket(session, ticket_id)
    require_act(user, ticket)
    try:
        letter = letters.issue_letter(
            session,
            ticket,
            request.form.get("kind", ""),
            _raw(request.form),
            user=user,
            now=now(),
            directory=_attachment_dir(),
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        flash(f"文书未出具：{exc.message}", "error")
        return _back(ticket_id)
    session.commit()
    flash(f"已出具{KINDS[letter.kind].title}（{letter.doc_number}），可下载修改后上传替换，再登记送达", "ok")
    return _back(ticket_id)


def _letter_for_action(letter_id: int):
    user, session = current_user(), db()
    letter, ticket = letters.get_letter(session, letter_id, user=user)
    require_act(user, ticket)
    return user, session, letter, ticket


@bp.route("/letters/<int:letter_id>/serve", methods=["POST"])
@login_required
def serve(letter_id: int):
    user, session, letter, ticket = _letter_for_action(letter_id)
    try:
        served_on = parse_date(request.form.get("served_on"), "served_on")
        if served_on is None:
            raise ValidationError("请填写送达日期", fields={"served_on": "必填"})
        letters.serve_letter(
            session,
            letter,
            ticket,
            method=request.form.get("served_via", ""),
            served_on=served_on,
            user=user,
            now=now(),
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        flash(f"送达未登记：{exc.message}", "error")
        return _back(ticket.id)
    session.commit()
    flash(f"已登记{letter.doc_number}送达（{letters.SERVICE[letter.served_via]}，{letter.served_on}）", "ok")
    return _back(ticket.id)


@bp.route("/letters/<int:letter_id>/file", methods=["POST"])
@login_required
def replace_file(letter_id: int):
    user, session, letter, ticket = _letter_for_action(letter_id)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationError("请选择修改后的文书文件", fields={"file": "必填"})
        letters.replace_letter_file(
            session,
            letter,
            ticket,
            filename=upload.filename,
            data=upload.read(ds.MAX_ATTACHMENT_BYTES + 1),
            user=user,
            now=now(),
            directory=_attachment_dir(),
        )
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        flash(f"文书未替换：{exc.message}", "error")
        return _back(ticket.id)
    session.commit()
    flash(f"已替换{letter.doc_number}的文件", "ok")
    return _back(ticket.id)


@bp.route("/letters/<int:letter_id>/pdf")
@login_required
def pdf(letter_id: int):
    """The letter's DOCX converted to PDF (when LibreOffice is installed); the DOCX is its attachment."""
    user, session = current_user(), db()
    letter, _ticket = letters.get_letter(session, letter_id, user=user)
    attachment = session.get(Attachment, letter.attachment_id)
    path = _attachment_dir() / attachment.stored_name
    if not attachment.filename.lower().endswith(".docx") or not path.is_file():
        abort(404)  # a replaced PDF is downloaded as it is; a file gone from the disk is not there
    data = path.read_bytes()
    try:
        converted = to_pdf(data)
    except LetterRenderError as exc:
        flash(exc.message, "error")
        return _back(letter.ticket_id)
    if converted is None:
        flash("服务器未安装 LibreOffice，无法生成 PDF；请下载 DOCX", "error")
        return _back(letter.ticket_id)
    ds.audit(session, user, "letter.download", now=now(), object_type="letter", object_id=letter.id)
    session.commit()
    return send_file(
        io.BytesIO(converted),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"{letter.doc_number}.pdf",
    )


# -- templates (administrators) -------------------------------------------------------------------------------


@bp.route("/admin/letter-templates", methods=["GET", "POST"])
@login_required
def templates():
    user, session = current_user(), db()
    require_role(user, "admin")
    if request.method == "POST":
        kind = request.form.get("kind", "")
        try:
            if request.form.get("restore"):
                letters.restore_default_template(session, kind, user=user, now=now())
                message = "已恢复内置模板"
            else:
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise ValidationError("请选择模板文件（.docx）", fields={"file": "必填"})
                letters.upload_template(
                    session,
                    kind,
                    filename=upload.filename,
                    data=upload.read(MAX_TEMPLATE_BYTES + 1),
                    user=user,
                    now=now(),
                )
                message = "模板已检查并启用"
        except TrackerError as exc:
            session.rollback()
            flash(f"模板未更新：{exc.message}", "error")
            return redirect(url_for("letters.templates"))
        session.commit()
        flash(message, "ok")
        return redirect(url_for("letters.templates"))
    active = {kind: letters.active_template(session, kind) for kind in KINDS}
    return render_template(
        "admin/letter_templates.html", kinds=KINDS, active=active, variables=VARIABLES, outcomes=OUTCOMES
    )


@bp.route("/admin/letter-templates/<kind>.docx")
@login_required
def template_download(kind: str):
    require_role(current_user(), "admin")
    if kind not in KINDS:
        abort(404)
    name, data = letters.template_file(db(), kind)
    return send_file(
        io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True, download_name=name
    )
