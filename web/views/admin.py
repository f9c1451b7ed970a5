"""Administration: users and departments, the holiday calendar, deadline policies, rules, notification
channels, API keys, canned replies — and the audit log (administrators and auditors).

Every change writes an audit entry. Services of other parts (API keys, routing, reminders, notification
channels) are imported when a page is used, so a part that is not installed only disables its page.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from tracker.audit.labels import ACTION_LABELS, action_label
from tracker.calendar.models import CalendarYear, HolidayDay
from tracker.calendar.notice import notice_source, parse_notice
from tracker.calendar.service import load_year
from tracker.calendar.store import loaded_years, next_year_missing, notice_rows
from tracker.cells import safe_row
from tracker.clock import BUSINESS_TZ, local_date
from tracker.deadlines import policies as deadline_policies
from tracker.deadlines import service as dl
from tracker.errors import TrackerError, ValidationError
from tracker.inputs import date_arg, id_arg, int_arg, parse_int
from tracker.people import totp
from tracker.people.access import require_role
from tracker.people.models import ROLES, AuditEntry, Department, User
from tracker.people.passwords import PasswordPolicy
from tracker.people.service import create_department, create_user, reset_password, update_department
from tracker.people.sessions import end_user_sessions
from tracker.reports.rows import OUTCOMES
from tracker.tickets.channels import CHANNELS
from tracker.workflow import desk as ds
from tracker.workflow import doors as workflow_doors
from web.database import db, settings
from web.security import current_user, login_required
from web.templating import format_local
from web.views.dashboard import now

bp = Blueprint("admin", __name__, url_prefix="/admin")
# Bounds of typed numbers (a holiday notice's year, a deadline's length in days, a rule's priority).
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_POLICY_LENGTH = 366
MAX_PRIORITY = 10**6


@bp.app_context_processor
def calendar_banner() -> dict:
    """From 1 October, admins see on every page that next year's holidays are not loaded yet."""
    user = current_user()
    if user is None or user.role != "admin":
        return {"calendar_warning": None}
    try:
        return {"calendar_warning": next_year_missing(db(), local_date(now()))}
    except Exception:  # the banner must never break a page (e.g. the error page after a DB failure)
        return {"calendar_warning": None}


def admin_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        require_role(current_user(), "admin")
        return view(*args, **kwargs)

    return wrapped


def _audit(action: str, object_type: str, object_id, detail: dict | None = None) -> None:
    workflow_doors.audit(
        db(),
        current_user(),
        action,
        now=now(),
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
        ip=request.remote_addr,
    )


def _saved(message: str, endpoint: str):
    """Commit the change (with its audit entry), confirm it, and go back to the list."""
    db().commit()
    flash(message, "ok")
    return redirect(url_for(endpoint))


def _fail(exc: TrackerError, endpoint: str):
    db().rollback()
    flash(exc.message, "error")
    return redirect(url_for(endpoint))


@bp.route("/")
@login_required
@admin_required
def index():
    return render_template("admin/index.html")


# -- users and departments ----------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@login_required
@admin_required
def users():
    session = db()
    if request.method == "POST":
        form = request.form
        try:
            user = create_user(
                session,
                username=form.get("username", "").strip(),
                password=form.get("password", ""),
                role=form.get("role", ""),
                department_code=form.get("department", ""),
                display_name=form.get("display_name", "").strip() or form.get("username", "").strip(),
                now=now(),
                policy=PasswordPolicy.from_settings(settings()),
                email=form.get("email") or None,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.users")
        _audit("user.created", "user", user.id, {"username": user.username, "role": user.role})
        return _saved(f"已创建用户 {user.username}", "admin.users")
    return render_template(
        "admin/users.html",
        users=session.scalars(select(User).order_by(User.id)).all(),
        departments=session.scalars(select(Department).order_by(Department.id)).all(),
        roles=ROLES,
    )


@bp.route("/users/<int:user_id>", methods=["POST"])
@login_required
@admin_required
def update_user(user_id: int):
    session = db()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    form = request.form
    changes = {}
    role = form.get("role")
    if role and role != user.role:
        if role not in ROLES:
            flash("角色无效", "error")
            return redirect(url_for("admin.users"))
        changes["role"] = [user.role, role]
        user.role = role
    department_id = id_arg(form, "department_id")
    if department_id and department_id != user.department_id:
        target = session.get(Department, department_id)
        if target is None or not target.is_active:
            flash("部门不存在或已停用", "error")
            return redirect(url_for("admin.users"))
        changes["department_id"] = [user.department_id, department_id]
        user.department_id = department_id
    is_active = form.get("is_active") == "on"
    if is_active != user.is_active:
        if user.id == current_user().id and not is_active:
            flash("不能停用自己的账号", "error")
            return redirect(url_for("admin.users"))
        changes["is_active"] = [user.is_active, is_active]
        user.is_active = is_active
        if not is_active:
            end_user_sessions(session, user.id)
    new_password = form.get("new_password", "")
    if new_password:
        try:
            # The one policy check (tracker.people.passwords); the holder must change it at the next sign-in.
            reset_password(
                session,
                current_user(),
                user,
                new_password,
                now=now(),
                policy=PasswordPolicy.from_settings(settings()),
                ip=request.remote_addr,
            )
        except TrackerError as exc:
            session.rollback()
            return _fail(exc, "admin.users")
        changes["password"] = "reset"  # never the password itself
    if form.get("remove_totp") == "on" and user.totp_secret_encrypted is not None:
        totp.remove(session, user, admin=current_user(), now=now(), ip=request.remote_addr)
        changes["totp"] = "removed"
    if changes:
        _audit("user.updated", "user", user.id, {"username": user.username, "changes": changes})
        session.commit()
        flash(f"已更新用户 {user.username}", "ok")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/sign-out-everywhere", methods=["POST"])
@login_required
@admin_required
def sign_out_everywhere(user_id: int):
    """End every session of a user (a lost laptop, a cookie that may have been copied)."""
    session = db()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    ended = end_user_sessions(session, user.id)
    _audit("user.signed_out_everywhere", "user", user.id, {"username": user.username, "sessions": ended})
    if user.id == current_user().id:
        session.commit()
        flash(f"已结束 {user.username} 的全部 {ended} 个会话，请重新登录", "ok")
        return redirect(url_for("auth.login"))
    return _saved(f"已结束 {user.username} 的全部 {ended} 个会话", "admin.users")


@bp.route("/departments", methods=["GET", "POST"])
@login_required
@admin_required
def departments():
    session = db()
    if request.method == "POST":
        form = request.form
        try:
            department = create_department(
                session,
                code=form.get("code", ""),
                name=form.get("name", ""),
                parent_code=form.get("parent") or None,
                actor=current_user(),
                now=now(),
                ip=request.remote_addr,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.departments")
        return _saved(f"已创建部门 {department.name}", "admin.departments")
    return render_template(
        "admin/departments.html",
        departments=session.scalars(select(Department).order_by(Department.id)).all(),
    )


def _department_changes(form) -> dict:
    """Only what the form carries: a field left out changes nothing (an unchecked checkbox is sent as
    nothing, so the page says with `is_active_shown` that its checkbox was there)."""
    changes: dict = {}
    if "name" in form:
        changes["name"] = form["name"]
    if "parent" in form:
        changes["parent_code"] = form["parent"] or None
    if "is_active_shown" in form:
        changes["is_active"] = form.get("is_active") == "on"
    return changes


@bp.route("/departments/<int:department_id>", methods=["POST"])
@login_required
@admin_required
def update_department_view(department_id: int):
    """Rename, move (parent) or disable/enable one department: tracker.people.service.update_department."""
    session = db()
    department = session.get(Department, department_id)
    if department is None:
        abort(404)
    form = request.form
    try:
        changes = update_department(
            session,
            department,
            now=now(),
            actor=current_user(),
            ip=request.remote_addr,
            **_department_changes(form),
        )
    except TrackerError as exc:
        return _fail(exc, "admin.departments")
    if not changes:
        flash(f"部门 {department.name} 没有变化", "ok")
        return redirect(url_for("admin.departments"))
    return _saved(f"已更新部门 {department.name}", "admin.departments")


# -- the holiday calendar -------------------------------------------------------------------------------


@bp.route("/calendar")
@login_required
@admin_required
def calendar():
    session = db()
    years = loaded_years(session)
    recent = session.scalars(select(CalendarYear).order_by(CalendarYear.year.desc()).limit(3)).all()
    days = {
        y.year: session.scalars(
            select(HolidayDay).where(HolidayDay.year == y.year).order_by(HolidayDay.day)
        ).all()
        for y in recent
    }
    return render_template(
        "admin/calendar.html",
        years=years,
        recent=recent,
        days=days,
        missing=next_year_missing(session, local_date(now())),
        preview=None,
        text="",
    )


@bp.route("/calendar/preview", methods=["POST"])
@login_required
@admin_required
def calendar_preview():
    text = request.form.get("notice", "")
    try:
        parsed = parse_notice(text, year=int_arg(request.form, "year", low=MIN_YEAR, high=MAX_YEAR))
    except TrackerError as exc:
        flash(f"无法识别通知：{exc.message}", "error")
        return render_template(
            "admin/calendar.html",
            years=loaded_years(db()),
            recent=[],
            days={},
            missing=None,
            preview=None,
            text=text,
        ), 400
    return render_template(
        "admin/calendar.html",
        years=loaded_years(db()),
        recent=[],
        days={},
        missing=None,
        preview=parsed,
        text=text,
        already=parsed.year in loaded_years(db()),
    )


@bp.route("/calendar/save", methods=["POST"])
@login_required
@admin_required
def calendar_save():
    # The notice text is parsed again: what is saved is what the server read, not what a form claims.
    text = request.form.get("notice", "")
    session = db()
    try:
        parsed = parse_notice(text, year=int_arg(request.form, "year", low=MIN_YEAR, high=MAX_YEAR))
        result = load_year(
            session,
            parsed.year,
            notice_rows(parsed),
            source=notice_source(parsed.year),
            now=now(),
            actor=current_user(),
        )
    except TrackerError as exc:
        return _fail(exc, "admin.calendar")
    _audit(
        "calendar.loaded",
        "calendar_year",
        parsed.year,
        {"rows": result.rows, "recomputed": result.recomputed_deadlines},
    )
    return _saved(result.summary(), "admin.calendar")


# -- deadline policies ---------------------------------------------------------------------------------


@bp.route("/policies", methods=["GET", "POST"])
@login_required
@admin_required
def policies():
    session = db()
    if request.method == "POST":
        form = request.form
        try:
            effective_from = date_arg(form, "effective_from")
            length = int_arg(form, "length", low=1, high=MAX_POLICY_LENGTH)
            if effective_from is None or length is None:
                raise ValidationError("生效日期应为 YYYY-MM-DD，期限长度应为整数", fields={"length": "必填"})
            row = dl.add_policy_override(
                session,
                code=form.get("code", ""),
                unit=form.get("unit", ""),
                length=length,
                effective_from=effective_from,
                reason=form.get("reason", ""),
                now=now(),
                request_type=form.get("request_type") or None,
                created_by_id=current_user().id,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.policies")
        _audit(
            "policy.override_added",
            "deadline_policy",
            row.id,
            {"code": row.code, "length": length, "unit": row.unit},
        )
        return _saved("期限规则已调整，此后收到的工单按新规则计算", "admin.policies")
    from tracker.deadlines.models import DeadlinePolicyOverride

    overrides = session.scalars(
        select(DeadlinePolicyOverride).order_by(DeadlinePolicyOverride.id.desc())
    ).all()
    return render_template(
        "admin/policies.html",
        defaults=deadline_policies.DEFAULT_POLICIES,
        overrides=overrides,
        units=deadline_policies.UNIT_WORDS,
        kind_labels=deadline_policies.KIND_LABELS,
        codes=sorted({p.code for p in deadline_policies.DEFAULT_POLICIES}),
    )


# -- API keys (helper service: tracker.intake.apikeys) ---------------------------------------------------


@bp.route("/api-keys", methods=["GET", "POST"])
@login_required
@admin_required
def api_keys():
    from tracker.intake import apikeys

    session = db()
    new_secret = None
    if request.method == "POST":
        form = request.form
        try:
            key, new_secret = apikeys.create_api_key(
                session,
                settings().secret_key,
                name=form.get("name", ""),
                channel=form.get("channel") or None,
                now=now(),
                department_code=form.get("department") or None,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.api_keys")
        _audit("api_key.created", "api_key", key.key_id, {"name": key.name, "channel": key.channel})
        session.commit()
        flash("密钥已创建。密钥只显示这一次，请立即复制交给对方平台。", "ok")
    departments = {d.id: d.name for d in session.scalars(select(Department))}
    return render_template(
        "admin/api_keys.html",
        keys=apikeys.list_api_keys(session),
        new_secret=new_secret,
        departments=departments,
        department_list=session.scalars(select(Department).order_by(Department.id)).all(),
    )


@bp.route("/api-keys/<key_id>/revoke", methods=["POST"])
@login_required
@admin_required
def revoke_api_key(key_id: str):
    from tracker.intake import apikeys

    try:
        apikeys.revoke_api_key(db(), key_id, now=now())
    except TrackerError as exc:
        return _fail(exc, "admin.api_keys")
    _audit("api_key.revoked", "api_key", key_id)
    return _saved(f"密钥 {key_id} 已吊销", "admin.api_keys")


# -- routing, topic and reminder rules; notification channels (helper services) ------------------------


def _split_keywords(raw: str) -> list[str]:
    return [w.strip() for w in raw.replace("，", ",").replace("、", ",").split(",") if w.strip()]


@bp.route("/rules", methods=["GET"])
@login_required
@admin_required
def rules():
    from tracker.notify.models import ReminderRule, RoutingRule, TopicRule

    session = db()
    return render_template(
        "admin/rules.html",
        routing=session.scalars(select(RoutingRule).order_by(RoutingRule.priority, RoutingRule.id)).all(),
        topics=session.scalars(select(TopicRule).order_by(TopicRule.topic)).all(),
        reminders=session.scalars(select(ReminderRule).order_by(ReminderRule.id)).all(),
        departments=session.scalars(select(Department).order_by(Department.id)).all(),
        kind_labels=deadline_policies.KIND_LABELS,
    )


@bp.route("/rules/<kind>", methods=["POST"])
@login_required
@admin_required
def save_rule(kind: str):
    session, form = db(), request.form
    try:
        if kind == "routing":
            from tracker.workflow.routing import save_routing_rule

            row = save_routing_rule(
                session,
                department_code=form.get("department", ""),
                now=now(),
                channel=form.get("channel") or None,
                category=form.get("category") or None,
                keywords=_split_keywords(form.get("keywords", "")),
                priority=int_arg(form, "priority", high=MAX_PRIORITY) or 100,
            )
        elif kind == "topic":
            from tracker.workflow.routing import save_topic_rule

            row = save_topic_rule(
                session,
                topic=form.get("topic", ""),
                keywords=_split_keywords(form.get("keywords", "")),
                now=now(),
            )
        elif kind == "reminder":
            from tracker.reminders.engine.rules import save_reminder_rule

            days = [
                parse_int(x, "days_before", high=MAX_POLICY_LENGTH)
                for x in _split_keywords(form.get("days_before", ""))
            ]
            row = save_reminder_rule(
                session,
                channel=form.get("channel") or None,
                deadline_kind=form.get("deadline_kind") or None,
                days_before=days,
                is_escalating=form.get("is_escalating") == "on",
                is_repeating=form.get("is_repeating") == "on",
                now=now(),
                actor_id=current_user().id,
            )
        else:
            abort(404)
    except TrackerError as exc:
        return _fail(exc, "admin.rules")
    _audit(f"rule.{kind}.saved", f"{kind}_rule", row.id, {k: v for k, v in form.items() if k != "csrf_token"})
    return _saved("规则已保存", "admin.rules")


@bp.route("/channels", methods=["GET", "POST"])
@login_required
@admin_required
def channels():
    from tracker.notify import service as notify
    from tracker.notify.models import NotificationChannel

    session = db()
    if request.method == "POST":
        form = request.form
        try:
            row = notify.save_channel(
                session,
                name=form.get("name", ""),
                kind=form.get("kind", ""),
                url=form.get("url", "").strip(),
                now=now(),
                secret_key=settings().secret_key,
                secret=form.get("secret") or None,
                department_id=id_arg(form, "department_id"),
                kinds=form.getlist("kinds"),
                # An SMS gateway's provider and its non-secret settings (docs/citizens.md).
                options={
                    name: form.get(f"sms_{name}", "")[:200]
                    for name in (
                        "provider",
                        "access_key_id",
                        "secret_id",
                        "sdk_app_id",
                        "sign_name",
                        "region",
                    )
                }
                if form.get("kind") == "sms"
                else None,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.channels")
        _audit(
            "notification_channel.saved", "notification_channel", row.id, {"name": row.name, "kind": row.kind}
        )
        return _saved("通知渠道已保存", "admin.channels")
    from tracker.ops.channel_status import channel_statuses

    return render_template(
        "admin/channels.html",
        statuses=channel_statuses(session, settings(), now=now()),
        channels=session.scalars(select(NotificationChannel).order_by(NotificationChannel.id)).all(),
        kinds=notify.CHANNEL_KINDS,
        notification_kinds=notify.NOTIFICATION_KINDS,
        sms_providers=notify.SMS_PROVIDER_LABELS,
        departments=session.scalars(select(Department).order_by(Department.id)).all(),
    )


# -- the office's wording of messages to citizens ---------------------------------------------------------


@bp.route("/message-templates", methods=["GET", "POST"])
@login_required
@admin_required
def message_templates():
    from tracker.notify import citizens

    session = db()
    if request.method == "POST":
        form = request.form
        try:
            row = citizens.save_template(
                session,
                kind=form.get("kind", ""),
                medium=form.get("medium", ""),
                subject=form.get("subject", "")[:300],
                text=form.get("text", "")[:2000],
                gateway_template=form.get("gateway_template") or None,
                now=now(),
                user=current_user(),
            )
        except TrackerError as exc:
            return _fail(exc, "admin.message_templates")
        _audit("message_template.saved", "message_template", row.id, {"kind": row.kind, "medium": row.medium})
        return _saved("告知模板已保存", "admin.message_templates")
    return render_template(
        "admin/message_templates.html",
        templates=citizens.templates(session),
        kinds=citizens.KINDS,
        variables=citizens.VARIABLES,
        params=citizens.PARAMS,
    )


# -- canned replies ---------------------------------------------------------------------------------------


@bp.route("/canned-replies", methods=["GET", "POST"])
@login_required
@admin_required
def canned_replies():
    from tracker.workflow.models import CannedReply

    session = db()
    if request.method == "POST":
        form = request.form
        try:
            row = ds.create_canned_reply(
                session,
                title=form.get("title", ""),
                body=form.get("body", ""),
                now=now(),
                channel=form.get("channel") or None,
                request_type=form.get("request_type") or None,
                outcome=form.get("outcome") or None,
            )
        except TrackerError as exc:
            return _fail(exc, "admin.canned_replies")
        _audit("canned_reply.created", "canned_reply", row.id, {"title": row.title})
        return _saved("常用答复已保存", "admin.canned_replies")
    return render_template(
        "admin/canned_replies.html",
        rows=session.scalars(select(CannedReply).order_by(CannedReply.id)).all(),
        channels=CHANNELS,
        outcomes=OUTCOMES,
    )


# -- the audit log (admins and auditors) -------------------------------------------------------------------


# One export holds at most this many entries (a bounded response); a longer period is exported in parts.
MAX_AUDIT_EXPORT = 100_000


def _audit_filters() -> tuple[str, date | None, date | None, Any]:
    """The log's filters (action prefix, from/to dates in Beijing time) and the query they select."""
    action = (request.args.get("action") or "").strip()[:100]
    since, until = date_arg(request.args, "from"), date_arg(request.args, "to")
    if since and until and since > until:
        raise ValidationError("开始日期不能晚于结束日期", fields={"from": "晚于结束日期"})
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if since:
        query = query.where(AuditEntry.at >= datetime.combine(since, time.min, tzinfo=BUSINESS_TZ))
    if until:
        query = query.where(
            AuditEntry.at < datetime.combine(until + timedelta(days=1), time.min, tzinfo=BUSINESS_TZ)
        )
    return action, since, until, query


@bp.route("/audit")
@login_required
def audit_log():
    require_role(current_user(), "admin", "auditor")
    session = db()
    before = id_arg(request.args, "before")
    try:
        action, since, until, query = _audit_filters()
    except ValidationError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.audit_log"))
    query = query.order_by(AuditEntry.id.desc()).limit(101)
    if before:
        query = query.where(AuditEntry.id < before)
    rows = session.scalars(query).all()
    users = {u.id: u for u in session.scalars(select(User))}
    filters = {
        "action": action,
        "from": since.isoformat() if since else "",
        "to": until.isoformat() if until else "",
    }
    return render_template(
        "admin/audit.html",
        rows=rows[:100],
        users=users,
        action=action,
        filters=filters,
        action_labels=ACTION_LABELS,
        next_before=rows[99].id if len(rows) > 100 else None,
    )


@bp.route("/audit.csv")
@login_required
def audit_export():
    """The filtered log as CSV (UTF-8 with BOM, for Excel), every cell formula-escaped; the export itself
    is audited. At most MAX_AUDIT_EXPORT entries, newest first; the last line says when more exist."""
    require_role(current_user(), "admin", "auditor")
    session = db()
    action, since, until, query = _audit_filters()
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(MAX_AUDIT_EXPORT + 1)).all()
    users = {u.id: u.username for u in session.scalars(select(User))}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "时间", "用户", "操作代码", "操作", "对象", "对象编号", "详情", "IP"])
    for entry in rows[:MAX_AUDIT_EXPORT]:
        writer.writerow(
            safe_row(
                [
                    entry.seq,
                    format_local(entry.at, "%Y-%m-%d %H:%M:%S"),
                    users.get(entry.user_id, ""),
                    entry.action,
                    action_label(entry.action),
                    entry.object_type or "",
                    entry.object_id or "",
                    json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True),
                    entry.ip or "",
                ]
            )
        )
    if len(rows) > MAX_AUDIT_EXPORT:
        writer.writerow([f"仅导出最新的 {MAX_AUDIT_EXPORT} 条，请缩短日期范围分次导出"])
    _audit(
        "audit.exported",
        "audit_log",
        None,
        {
            "action": action,
            "from": str(since or ""),
            "to": str(until or ""),
            "rows": min(len(rows), MAX_AUDIT_EXPORT),
        },
    )
    session.commit()
    name = f"audit-{since or 'start'}-{until or local_date(now())}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
