"""The staff dashboard: home with charts, queues with filters and bulk actions, the ticket page and its
actions, approvals, attachments, saved filters. Every view checks object-level access (tracker.people.access)."""

from __future__ import annotations

import threading
import time as time_module
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale, gettext
from sqlalchemy import select

from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ, local, local_date, utcnow
from tracker.deadlines import policies as dl
from tracker.errors import CalendarYearMissing, NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.inputs import MAX_DATE_CHARS, id_arg, ids_arg, int_arg, parse_date
from tracker.letters import service as letter_service
from tracker.letters.context import fitting_kinds
from tracker.letters.kinds import KINDS as LETTER_KINDS
from tracker.notify.citizens import DELIVERY_STATUS_LABELS, ticket_messages
from tracker.notify.citizens import KINDS as CITIZEN_KINDS
from tracker.people.access import (
    can_act_on_ticket,
    can_reveal_personal_data,
    can_take,
    can_view_ticket,
    require_act,
    require_view,
)
from tracker.people.models import Department, User
from tracker.portal.uploads import PURPOSES as UPLOAD_PURPOSES
from tracker.reports.rows import OUTCOME_GROUPS, OUTCOMES, OUTCOMES_BY_CODE
from tracker.security import mask_email, mask_phone
from tracker.tickets.channels import APPLICANT_TYPES, CHANNELS, SATISFACTION_LEVELS, SATISFACTION_SOURCES
from tracker.tickets.models import Ticket
from tracker.tickets.queries import (
    APPROVAL_KIND_LABELS,
    QUEUES,
    SORTS,
    TicketFilter,
    format_count,
    on_time_rate,
    overdue_by_department,
    pending_approval_kinds,
    queue_count,
    queue_counts,
    queue_page,
    tickets_per_week,
    timeline,
    top_topics,
)
from tracker.tickets.status import OPEN_STATUSES, TRANSITIONS, allowed_actions
from tracker.workflow import desk, fees
from tracker.workflow import doors as ds
from tracker.workflow.models import Attachment
from tracker.workflow.transitions import get_ticket
from tracker.workorders import sendbacks
from tracker.workorders.models import SEND_BACK_REASONS
from web import charts
from web.database import db, settings
from web.security import current_user, login_required

bp = Blueprint("dashboard", __name__)

# An extension is counted in days (or the rule's unit); the rule refuses more than it allows, this only
# keeps a typed number within what the date arithmetic can hold.
MAX_EXTENSION_DAYS = 366

# Actions of the ticket page: code → (label, status transition it needs or None). Who may take each is
# tracker.people.access's rule (ACTION_ROLES), asked by the door itself; the page asks only to decide what to show.
TICKET_ACTIONS: dict[str, tuple[str, str | None]] = {
    "start": ("签收/开始办理", "start"),
    "assign": ("分派", "assign"),
    "transfer": ("转办", "transfer"),
    "return": ("退单申请", "return_to_platform"),
    "request_correction": ("告知补正", "request_correction"),
    "receive_correction": ("收到补正材料", "receive_correction"),
    "receive_fee": ("收到缴费", "receive_fee"),
    "start_consultation": ("征求意见", "start_consultation"),
    "end_consultation": ("征求意见结束", "end_consultation"),
    "extend": ("延期", None),
    "reply": ("答复", "reply"),
    "close": ("办结", "close"),
    "reopen": ("重新办理", "reopen"),
    "rate": ("回访", None),
    "merge": ("合并重复件", "merge"),
    "note": ("内部备注", None),
}
CHANNEL_ONLY = {
    "return": "hotline",
    "request_correction": "disclosure",
    "receive_correction": "disclosure",
    "receive_fee": "disclosure",
}


def now() -> datetime:
    clock = current_app.config.get("CLOCK")
    return clock() if clock else utcnow()


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran
    return user


# -- home -------------------------------------------------------------------------------------------------


@bp.route("/")
@login_required
def home():
    user, moment, session = _user(), now(), db()
    return render_template(
        "dashboard/home.html",
        counts=queue_counts(session, user, now=moment),
        queues=QUEUES,
        figures=_figures(session, user, moment),
        format_count=format_count,
    )


# The charts read months of tickets; they change slowly, so each visibility scope (a department, or
# everything) computes them at most once a minute per process. Counts stay live.
_FIGURES: dict[tuple, tuple[float, dict]] = {}
_FIGURES_LOCK = threading.Lock()


def _figures(session, user: User, moment: datetime) -> dict:
    ttl = current_app.config.get("CHART_CACHE_SECONDS", 60)
    scope = "all" if user.role in ("admin", "auditor") else user.department_id
    # The charts carry their words (legend, titles, "no data"): one cached copy per language.
    key = (settings().database_url, scope, local_date(moment), str(get_locale()))
    cached = _FIGURES.get(key)
    if ttl and cached and time_module.monotonic() - cached[0] < ttl:
        return cached[1]
    labels = {code: gettext(c.label) for code, c in CHANNELS.items()}
    on_time, finished = on_time_rate(session, user, now=moment)
    figures = {
        "weekly": charts.weekly_by_channel(
            tickets_per_week(session, user, now=moment), labels, title=gettext("每周收到工单（按渠道）")
        ),
        "on_time": charts.rate_gauge(on_time, finished, title=gettext("按期办结率")),
        "overdue": charts.horizontal_bars(
            overdue_by_department(session, user, now=moment),
            title=gettext("各部门超期工单"),
            colour="#b3261e",
            empty=gettext("没有超期工单"),
        ),
        "topics": charts.horizontal_bars(
            top_topics(session, user, now=moment), title=gettext("近90天热点主题"), empty=gettext("暂无数据")
        ),
    }
    with _FIGURES_LOCK:
        if len(_FIGURES) > 256:
            _FIGURES.clear()
        _FIGURES[key] = (time_module.monotonic(), figures)
    return figures


# -- queues -----------------------------------------------------------------------------------------------


@bp.route("/queues/<code>")
@login_required
def queue(code: str):
    if code not in QUEUES:
        abort(404)
    user, moment, session = _user(), now(), db()
    try:
        filters = TicketFilter.from_args(request.args)
        error = None
    except ValidationError as exc:
        filters, error = TicketFilter(), exc.message
    sort = request.args.get("sort", "due")
    if sort not in SORTS:
        sort = "due"
    try:
        page = queue_page(
            session, user, code, filters, now=moment, sort=sort, cursor=request.args.get("after")
        )
    except ValidationError as exc:
        error = exc.message
        page = queue_page(session, user, code, filters, now=moment, sort=sort)
    total = queue_count(session, user, code, filters, now=moment)
    params = filters.as_params()
    next_url = None
    if page.next_cursor:
        next_url = url_for("dashboard.queue", code=code, **params, sort=sort, after=page.next_cursor)
    departments = session.query(Department).order_by(Department.id).all()
    people = select(User).where(User.is_active, User.role.in_(("staff", "supervisor"))).order_by(User.id)
    if user.role not in ("admin", "auditor"):
        people = people.where(User.department_id == user.department_id)
    assignees = session.scalars(people).all()
    return render_template(
        "dashboard/queue.html",
        page=page,
        code=code,
        queues=QUEUES,
        filters=filters,
        params=params,
        sort=sort,
        sorts=SORTS,
        total=format_count(total),
        next_url=next_url,
        error=error,
        departments=departments,
        assignees=assignees,
        saved=desk.saved_filters(session, user),
        urgency=lambda due, state: _urgency(due, state, moment),
        workdays_left=lambda due: _workdays_left(due, moment),
        outcomes=OUTCOMES,
        can_bulk=user.role in ("staff", "supervisor", "admin"),
        statuses=_status_choices(),
        query_string=urlencode({**params, "sort": sort}),
        approval_kinds=pending_approval_kinds(session, [r.ticket.id for r in page.rows])
        if code == "approvals"
        else {},
        approval_kind_labels=APPROVAL_KIND_LABELS,
    )


def _status_choices():
    from tracker.tickets.status import STATUS_LABELS

    return [("open", "未办结"), ("final", "已结束"), *STATUS_LABELS.items()]


@bp.route("/search")
@login_required
def search():
    """The search box in the top bar: all visible tickets matching the words, Chinese segmented."""
    return redirect(url_for("dashboard.queue", code="all", q=request.args.get("q", "")))


@bp.route("/queues/<code>/bulk", methods=["POST"])
@login_required
def bulk(code: str):
    user = _user()
    form = request.form
    ids = ids_arg(form.getlist("ticket_ids"), "ticket_ids")
    back = url_for("dashboard.queue", code=code if code in QUEUES else "all") + _back_query(
        form.get("back", "")
    )
    try:
        result = ds.bulk_action(
            db(),
            user,
            ids,
            form.get("action", ""),
            now=now(),
            assignee_id=id_arg(form, "assignee_id"),
            department_id=id_arg(form, "department_id"),
            reason=form.get("reason", ""),
            outcome=form.get("outcome") or None,
            reply_text=form.get("reply_text", ""),
            confirm_warnings=form.get("confirm_warnings") == "on",
        )
    except (PermissionDenied, NotFound):
        db().rollback()
        raise  # an id the user may not see answers like a missing ticket
    except TrackerError as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(back)
    db().commit()
    flash(f"{ds.BULK_ACTIONS[form['action']]}完成：{'、'.join(result.done)}", "ok")
    return redirect(back)


def _back_query(raw: str) -> str:
    # Only a query string of our own: never a URL.
    return "?" + raw if raw and "://" not in raw and not raw.startswith("/") else ""


@bp.route("/filters", methods=["POST"])
@login_required
def save_filter():
    user = _user()
    code = request.form.get("queue", "all")
    if code not in QUEUES:
        abort(400)
    filters = TicketFilter.from_args(request.form)
    desk.save_filter(db(), user, request.form.get("name", ""), code, filters.as_params(), now=now())
    db().commit()
    flash("筛选已保存", "ok")
    return redirect(url_for("dashboard.queue", code=code, **filters.as_params()))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete_filter(filter_id: int):
    desk.delete_saved_filter(db(), _user(), filter_id)
    db().commit()
    flash("筛选已删除", "ok")
    return redirect(url_for("dashboard.home"))


# -- the ticket page ----------------------------------------------------------------------------------------


def last_day(due_at: datetime):
    """The last day of the period: a due time of 24:00 is the end of that day, not the next day."""
    return local_date(due_at - timedelta(microseconds=1))


@bp.app_template_filter("due_cn")
def due_cn(due_at: datetime | None) -> str:
    """A due time as the law words it: "2026-11-11（周三）24:00" rather than the next day's 00:00."""
    if due_at is None:
        return ""
    moment = local(due_at)
    day = last_day(due_at)
    clock = "24:00" if moment.time() == time(0, 0) else f"{moment:%H:%M}"
    return f"{day:%Y-%m-%d}（周{'一二三四五六日'[day.weekday()]}）{clock}"


def _workdays_left(due_at: datetime | None, moment: datetime) -> int | None:
    """Working days after today up to and including the last day (negative once it has passed)."""
    if due_at is None:
        return None
    try:
        return _calendar().workdays_between(local_date(moment), last_day(due_at))
    except CalendarYearMissing:
        return None


def _calendar():
    """The working-day calendar, looked up once per request (a page asks for every row's days left)."""
    if "work_calendar" not in g:
        g.work_calendar = load_calendar(db())
    return g.work_calendar


def _urgency(due_at: datetime | None, state: str | None, moment: datetime) -> str:
    """A colour class: overdue (red), due within 2 working days (orange), later (green), done (grey)."""
    if state in ("met", "cancelled"):
        return "u-done"
    if state == "paused":
        return "u-paused"
    if due_at is None:
        return "u-none"
    if due_at <= moment or state == "breached":
        return "u-overdue"
    left = _workdays_left(due_at, moment)
    if left is not None and left <= 2:
        return "u-soon"
    return "u-ok"


# The actions a pending request holds back (their doors refuse them meanwhile, tracker.workflow.doors
# `_refuse_while_pending`): a reply awaiting sign-off holds back another reply; any pending request holds
# back what would leave it orphaned; an extension request holds back another one.
HELD_BY_PENDING = {
    "reply": frozenset({"reply", "close", "transfer", "return", "merge"}),
    "extension": frozenset({"extend", "close", "transfer", "return", "merge"}),
    # A 退单 request waiting for the 12345 platform (tracker.workorders.sendbacks).
    "send_back": frozenset({"reply", "close", "transfer", "return", "merge"}),
}


def available_actions(
    user: User, ticket: Ticket, pending_kinds: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """The actions the state machine AND the role allow on this ticket, in page order; not those a pending
    request (`pending_kinds`: "reply", "extension") holds back — the door would refuse them."""
    if not can_act_on_ticket(user, ticket):
        return []
    held = frozenset().union(*(HELD_BY_PENDING.get(k, ()) for k in pending_kinds))
    allowed_transitions = {t.action for t in allowed_actions(ticket.status)}
    result = []
    for code, (_label, needed) in TICKET_ACTIONS.items():
        if code in held or not can_take(user, needed or code, ticket):
            continue
        if needed is not None and needed not in allowed_transitions:
            continue
        if CHANNEL_ONLY.get(code, ticket.channel) != ticket.channel:
            continue
        if code == "extend" and not any(
            d.kind == dl.REPLY and d.state in dl.OPEN_STATES for d in ticket.deadlines
        ):
            continue
        if code == "rate" and (ticket.status not in ("replied", "closed") or ticket.channel == "hotline"):
            continue  # a 12345 order's 回访 has its own form (dashboard/_workorder_revisits.html)
        if code in ("start_consultation", "end_consultation") and ticket.channel != "disclosure":
            continue
        # 补正 and 缴费 both leave the ticket 「等待申请人」: offer the step the ticket waits for (the doors refuse the other).
        waits_for_fee = fees.waits_for(ticket, dl.FEE_PAYMENT)
        if code == "receive_fee" and not waits_for_fee:
            continue
        if code == "receive_correction" and waits_for_fee and not fees.waits_for(ticket, dl.CORRECTION):
            continue
        result.append(code)
    return result


@bp.route("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int):
    user, session = _user(), db()
    ticket = get_ticket(session, ticket_id)
    require_view(user, ticket)
    return _ticket_page(ticket, user)


# What a refused form gives back: at most this many characters per field (the page is rendered again with
# them; a field longer than any door accepts has been refused for that anyway).
MAX_KEPT_FIELD_CHARS = 20_000


def _ticket_page(
    ticket: Ticket,
    user: User,
    *,
    failed: str | None = None,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
):
    """The ticket page; after a refused action (`failed`), with its form open and what was typed in it."""
    moment, session = now(), db()
    typed = typed or {}

    def kept(code: str, name: str, default: str = "") -> str:
        """The value a field of action `code`'s form shows: what was typed if that form was refused."""
        return typed.get(name, default) if code == failed else default

    deadlines = [
        {
            "d": d,
            "urgency": _urgency(d.due_at, d.state, moment),
            "left": _workdays_left(d.due_at, moment) if d.state in dl.OPEN_STATES else None,
        }
        for d in ticket.deadlines
    ]
    same_department = ds.assignable_handlers(session, ticket, user)
    approvals = ds.pending_approvals(session, ticket)
    pending_kinds = {a.kind for a in approvals}
    if ticket.channel == "hotline" and sendbacks.pending_send_back(session, ticket) is not None:
        pending_kinds.add("send_back")
    actions_allowed = can_act_on_ticket(user, ticket) and user.role != "auditor"
    duplicate_of = ticket.possible_duplicate_of_id and session.get(Ticket, ticket.possible_duplicate_of_id)
    return render_template(
        "dashboard/ticket.html",
        ticket=ticket,
        # Only a ticket this user may see: another department's number is not shown.
        duplicate_of=duplicate_of if duplicate_of and can_view_ticket(user, duplicate_of) else None,
        events=timeline(session, ticket),
        deadlines=deadlines,
        actions=available_actions(user, ticket, pending_kinds),
        failed=failed,
        action_error=error,
        kept=kept,
        action_labels={k: v[0] for k, v in TICKET_ACTIONS.items()},
        transitions=TRANSITIONS,
        assignees=same_department,
        departments=session.query(Department)
        .filter(Department.id != ticket.department_id)
        .order_by(Department.id)
        .all(),
        outcomes=OUTCOMES,
        outcome_groups=OUTCOME_GROUPS,
        outcomes_by_code=OUTCOMES_BY_CODE,
        canned=desk.canned_replies_for(session, ticket),
        satisfaction_levels=SATISFACTION_LEVELS,
        approvals=approvals,
        can_decide=lambda a: ds.can_decide(user, a),
        linked_number=session.scalar(select(Ticket.number).where(Ticket.id == ticket.linked_ticket_id))
        if ticket.linked_ticket_id
        else None,
        convert_targets=[(code, c) for code, c in CHANNELS.items() if code != ticket.channel],
        applicant_types=APPLICANT_TYPES,
        # What the citizen was told (SMS, e-mail) and how each message fared; recipients masked.
        citizen_messages=ticket_messages(session, ticket.id),
        citizen_kinds=CITIZEN_KINDS,
        delivery_labels=DELIVERY_STATUS_LABELS,
        mask_recipient=lambda m: mask_phone(m.recipient) if m.medium == "sms" else mask_email(m.recipient),
        upload_purposes=UPLOAD_PURPOSES,
        rating_sources=SATISFACTION_SOURCES,
        needs_signoff=ds.reply_needs_signoff(user, ticket),
        attachments=ds.ticket_attachments(session, ticket),
        can_reveal=can_reveal_personal_data(user, ticket),
        kind_labels=dl.KIND_LABELS,
        consultation_kinds=ds.CONSULTATION_KINDS,
        letters=letter_service.ticket_letters(session, ticket) if ticket.channel == "disclosure" else [],
        letter_kinds=fitting_kinds(ticket) if ticket.channel == "disclosure" and actions_allowed else [],
        letter_titles={k: v.title for k, v in LETTER_KINDS.items()},
        service_methods=letter_service.SERVICE,
        today=local_date(moment).isoformat(),
        send_back_reasons=SEND_BACK_REASONS,
    ), status


@bp.route("/tickets/<int:ticket_id>/reveal", methods=["POST"])
@login_required
def reveal(ticket_id: int):
    """Show the citizen's contact details in full, once, with an audit entry."""
    user = _user()
    ticket = get_ticket(db(), ticket_id)
    require_view(user, ticket)
    if not can_reveal_personal_data(user, ticket) or ticket.contact is None:
        abort(403)
    ds.audit(
        db(),
        user,
        "personal_data.reveal",
        now=now(),
        object_type="ticket",
        object_id=ticket.id,
        detail={"number": ticket.number},
        ip=request.remote_addr,
    )
    db().commit()
    c = ticket.contact
    return jsonify(
        {"name": c.name, "phone": c.phone, "email": c.email, "address": c.address, "id_number": c.id_number}
    )


def _local_datetime(raw: str | None, field: str) -> datetime:
    """A datetime-local / date input (Asia/Shanghai) as an aware moment."""
    raw = (raw or "").strip()
    try:
        if len(raw) > MAX_DATE_CHARS or not raw.isascii():
            raise ValueError("too long")
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"{field}格式应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM", fields={field: "格式不符"}
        ) from None
    parse_date(moment.date().isoformat(), field)  # within the years a person can mean
    if len(raw) == 10:
        return datetime.combine(moment.date(), time(12, 0), tzinfo=BUSINESS_TZ)
    return moment.replace(tzinfo=BUSINESS_TZ)


@bp.route("/tickets/<int:ticket_id>/actions/<action>", methods=["POST"])
@login_required
def act(ticket_id: int, action: str):
    """Perform one action of the ticket page through its door (tracker.workflow.doors), which checks
    reach, role, transition and approvals. Business errors come back as a message on the page."""
    user, moment, session = _user(), now(), db()
    ticket = get_ticket(session, ticket_id)
    # Access is answered before any input error (the same rule the door applies again, from tracker.people.access):
    # a ticket the user may not see is missing (404), one they may not change is forbidden (403).
    require_act(user, ticket)
    if action not in TICKET_ACTIONS:
        abort(404)
    form = request.form
    message = f"已{TICKET_ACTIONS[action][0]}"
    try:
        if action == "start":
            ds.start_work(session, ticket, user=user, now=moment)
        elif action == "assign":
            assignee = session.get(User, id_arg(form, "assignee_id") or 0)
            if assignee is None:
                raise ValidationError("请选择承办人", fields={"assignee_id": "必填"})
            ds.assign(session, ticket, assignee, user=user, now=moment)
        elif action == "transfer":
            department = session.get(Department, id_arg(form, "department_id") or 0)
            if department is None:
                raise ValidationError("请选择转办部门", fields={"department_id": "必填"})
            ds.transfer(session, ticket, department, form.get("reason", ""), user=user, now=moment)
        elif action == "return":
            sendbacks.request_send_back(
                session,
                ticket,
                reason_code=form.get("reason_code", ""),
                reason_text=form.get("reason", ""),
                suggested_unit=form.get("suggested_unit"),
                user=user,
                now=moment,
            )
            message = "退单申请已提交，等待12345平台审核（期限照常计算）"
        elif action == "request_correction":
            due = (
                _local_datetime(form["correction_due"], "correction_due")
                if form.get("correction_due")
                else None
            )
            ds.request_correction(
                session, ticket, form.get("note", ""), user=user, now=moment, correction_due_at=due
            )
        elif action == "receive_correction":
            received = _local_datetime(form.get("corrected_received_at"), "corrected_received_at")
            ds.receive_correction(session, ticket, received, user=user, now=moment)
        elif action == "receive_fee":
            fees.receive_fee(session, ticket, user=user, now=moment)
        elif action == "start_consultation":
            ds.start_consultation(session, ticket, form.get("kind", ""), user=user, now=moment)
        elif action == "end_consultation":
            ds.end_consultation(session, ticket, user=user, now=moment)
        elif action == "extend":
            length = int_arg(form, "length", low=1, high=MAX_EXTENSION_DAYS)
            if length is None:
                raise ValidationError("延长天数须为正整数", fields={"length": "须为数字"})
            approval = ds.extend(
                session,
                ticket,
                user=user,
                length=length,
                reason=form.get("reason", ""),
                now=moment,
                notice=form.get("notice", ""),
            )
            message = "已批准延期" if approval.state == "approved" else "延期申请已提交，等待科室负责人审批"
        elif action == "reply":
            attachment_ids = _upload_files(ticket, user, moment)
            approval = ds.reply(
                session,
                ticket,
                form.get("reply_text", ""),
                user=user,
                now=moment,
                outcome=form.get("outcome") or None,
                attachment_ids=attachment_ids,
                confirm_warnings=form.get("confirm_warnings") == "on",
                cohandling_reason=form.get("cohandling_reason"),
            )
            if approval is not None:
                message = "答复已提交科室负责人签发"
        elif action == "close":
            ds.close(
                session,
                ticket,
                user=user,
                now=moment,
                outcome=form.get("outcome") or None,
                cohandling_reason=form.get("cohandling_reason"),
            )
        elif action == "reopen":
            ds.reopen(session, ticket, form.get("reason", ""), user=user, now=moment)
        elif action == "rate":
            resolved = {"yes": True, "no": False}.get(form.get("is_resolved", ""))
            ds.rate(
                session, ticket, form.get("satisfaction", ""), user=user, now=moment, is_resolved=resolved
            )
        elif action == "merge":
            ds.merge(session, ticket, form.get("into", ""), user=user, now=moment)
        elif action == "note":
            ds.add_note(session, ticket, form.get("note", ""), user=user, now=moment)
    except (PermissionDenied, NotFound):
        session.rollback()
        raise
    except TrackerError as exc:
        session.rollback()
        # The page again, with this action's form open and what was typed kept (a redirect would lose
        # it); 400 for bad input, 409 for a state that refuses the action.
        typed = {k: v[:MAX_KEPT_FIELD_CHARS] for k, v in form.items() if k != "csrf_token"}
        ticket = get_ticket(session, ticket_id)
        return _ticket_page(
            ticket,
            user,
            failed=action,
            error=f"{TICKET_ACTIONS[action][0]}未完成：{exc.message}",
            typed=typed,
            status=exc.http_status,
        )
    session.commit()
    flash(message, "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


def _attachment_dir() -> Path:
    return Path(settings().instance_dir) / "attachments"


def _upload_files(ticket: Ticket, user: User, moment: datetime) -> list[int]:
    ids = []
    for upload in request.files.getlist("files"):
        if not upload or not upload.filename:
            continue
        attachment = ds.save_attachment(
            db(),
            ticket,
            filename=upload.filename,
            data=upload.read(ds.MAX_ATTACHMENT_BYTES + 1),
            content_type=upload.mimetype,
            user=user,
            now=moment,
            directory=_attachment_dir(),
        )
        ids.append(attachment.id)
    return ids


@bp.route("/tickets/<int:ticket_id>/attachments", methods=["POST"])
@login_required
def upload(ticket_id: int):
    user = _user()
    ticket = get_ticket(db(), ticket_id)
    require_act(user, ticket)
    try:
        ids = _upload_files(ticket, user, now())
    except ValidationError as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))
    db().commit()
    flash(f"已上传{len(ids)}个附件" if ids else "没有选择文件", "ok" if ids else "error")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.route("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    user = _user()
    row = db().get(Attachment, attachment_id)
    if row is None:
        abort(404)
    require_view(user, get_ticket(db(), row.ticket_id))
    path = _attachment_dir() / row.stored_name
    if not path.is_file():
        abort(404)
    ds.audit(
        db(),
        user,
        "attachment.download",
        now=now(),
        object_type="attachment",
        object_id=row.id,
        ip=request.remote_addr,
    )
    db().commit()
    # Always a download, never rendered inline: an uploaded HTML file must not run in our origin.
    return send_file(
        path, mimetype="application/octet-stream", as_attachment=True, download_name=row.filename
    )


# -- approvals ------------------------------------------------------------------------------------------------


@bp.route("/approvals/<int:approval_id>/decide", methods=["POST"])
@login_required
def decide(approval_id: int):
    user = _user()
    approval = ds.get_approval(db(), approval_id)
    approve = request.form.get("decision") == "approve"
    try:
        ds.decide_approval(
            db(), approval, user=user, approve=approve, now=now(), note=request.form.get("note", "")
        )
    except (PermissionDenied, NotFound):
        db().rollback()
        raise
    except TrackerError as exc:
        db().rollback()
        flash(f"审批未完成：{exc.message}", "error")
        return redirect(url_for("dashboard.ticket", ticket_id=approval.ticket_id))
    db().commit()
    flash("已同意" if approve else "已退回申请", "ok")
    return redirect(url_for("dashboard.ticket", ticket_id=approval.ticket_id))


@bp.route("/help/shortcuts")
@login_required
def shortcuts():
    return render_template("dashboard/shortcuts.html")


def open_statuses() -> frozenset[str]:
    return OPEN_STATUSES
