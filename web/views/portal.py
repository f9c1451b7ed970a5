"""The public portal: website messages, disclosure applications (条例 art. 29), and the 查询码 page.

No sign-in. Abuse control without outside services: per-IP limits (20 an hour, 240 a day, counted in
the database so every web process sees them) and a locally drawn arithmetic CAPTCHA whose answer stays
on the server (web.captcha), with a text question as its accessible alternative (`?captcha=text`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from flask import Blueprint, Response, render_template, request, session
from sqlalchemy import select

from tracker.clock import local, utcnow
from tracker.errors import Conflict, NotFound, ValidationError
from tracker.intake import disclosure, website
from tracker.intake.models import PortalCounter
from tracker.intake.records import RecordError, apply_record
from tracker.notify.citizens import contact_of_token, opt_out
from tracker.people.access import NOTHING
from tracker.portal import uploads as uploads_
from tracker.portal.published import published_messages
from tracker.portal.recovery import finish_recovery, normalise_phone, phone_digest, start_recovery
from tracker.portal.uploads import save_uploads
from tracker.reports.rows import OUTCOMES_BY_CODE
from tracker.security import mask_phone
from tracker.tickets.channels import MESSAGE_TYPES, SATISFACTION_LEVELS
from tracker.tickets.models import Ticket
from tracker.workflow.transitions import rate_from_portal
from web import captcha
from web.database import db, settings

bp = Blueprint(
    "portal", __name__, url_prefix="/portal", static_folder="../portal_static", static_url_path="/static"
)

HOURLY_LIMIT = 20
DAILY_LIMIT = 240
QUERY_HOURLY_LIMIT = 60
RATE_HOURLY_LIMIT = 30
# Recovering a 查询码 sends an SMS (it costs, and could pester someone): few per address, fewer per phone.
RECOVER_HOURLY_LIMIT, RECOVER_DAILY_LIMIT = 5, 20
PHONE_HOURLY_LIMIT, PHONE_DAILY_LIMIT = 3, 5
VERIFY_HOURLY_LIMIT = 20
RECOVERY_SESSION_KEY = "portal_recovery"


def _client_hash() -> str:
    ip = request.remote_addr or "unknown"
    return hashlib.sha256(f"{settings().secret_key}:portal:{ip}".encode()).hexdigest()[:32]


def _bump(kind: str, now: datetime, client: str | None = None) -> dict[str, int]:
    """Count one request of this client (or of `client`: a hashed phone number) in its hour and day
    windows; return the new counts."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    session_ = db()
    insert = pg_insert if session_.get_bind().dialect.name == "postgresql" else sqlite_insert
    client = client or _client_hash()
    moment = local(now)
    counts = {}
    for span, key, ttl in (
        ("hour", f"{kind}h:{moment:%Y%m%d%H}", timedelta(hours=2)),
        ("day", f"{kind}d:{moment:%Y%m%d}", timedelta(days=2)),
    ):
        statement = insert(PortalCounter).values(
            client_hash=client, window=key, count=1, expires_at=now + ttl
        )
        statement = statement.on_conflict_do_update(
            index_elements=["client_hash", "window"], set_={"count": PortalCounter.count + 1}
        ).returning(PortalCounter.count)
        counts[span] = session_.execute(statement).scalar_one()
    return counts


def _over_limit(kind: str, hourly: int, daily: int, client: str | None = None) -> bool:
    counts = _bump(kind, utcnow(), client)
    db().commit()  # the count stands whatever happens to the submission
    return counts["hour"] > hourly or counts["day"] > daily


def _limited() -> tuple[str, int]:
    return render_template("portal/limited.html"), 429


@bp.get("/")
def index():
    return render_template("portal/index.html")


def _issue_challenge() -> str | None:
    """A new CAPTCHA question for this visitor, replacing its previous one; None when this address has
    fetched too many this hour (each is a row until it is answered or expires)."""
    if _over_limit("c", captcha.CHALLENGES_PER_HOUR, captcha.CHALLENGES_PER_HOUR * 8):
        return None
    challenge_id, question = captcha.issue(
        db(), settings().secret_key, now=utcnow(), replaces=session.get(captcha.SESSION_KEY)
    )
    db().commit()
    session[captcha.SESSION_KEY] = challenge_id
    return question


@bp.get("/captcha.svg")
def captcha_image():
    question = _issue_challenge()
    if question is None:
        return _limited()
    response = Response(captcha.render_svg(question), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _form(template: str, status: int = 200, **context):
    """A portal form. In text mode (the accessible alternative) its question is issued here, in words;
    otherwise the picture's request issues it."""
    text_mode = request.args.get("captcha") == "text" or request.form.get("captcha_mode") == "text"
    captcha_text = None
    if text_mode:
        question = _issue_challenge()
        if question is None:
            return _limited()
        captcha_text = captcha.in_words(question)
    return render_template(template, captcha_text=captcha_text, **context), status


def _captcha_ok() -> bool:
    solved = captcha.check(
        db(),
        settings().secret_key,
        session.pop(captcha.SESSION_KEY, None),
        request.form.get("captcha"),
        now=utcnow(),
    )
    db().commit()  # the challenge is used up whatever becomes of the submission
    return solved


@bp.route("/message", methods=["GET", "POST"])
def message():
    form = request.form
    if request.method == "GET":
        return _form("portal/message.html", form={}, errors={}, types=MESSAGE_TYPES)
    if _over_limit("m", HOURLY_LIMIT, DAILY_LIMIT):
        return _limited()
    errors: dict[str, str] = {}
    if not _captcha_ok():
        errors["验证码"] = "验证码错误或已过期，请重新计算"
    now = utcnow()
    try:
        record = website.record_from_portal(form.to_dict(), now=now)
    except RecordError as exc:
        errors.update({e.column: e.reason for e in exc.errors})
        record = None
    if errors or record is None:
        return _form("portal/message.html", 400, form=form, errors=errors, types=MESSAGE_TYPES)
    result = apply_record(db(), record, actor="门户网站", reach=NOTHING, now=now)
    db().commit()
    return render_template("portal/done.html", ticket=result.ticket, kind="留言")


@bp.route("/disclosure", methods=["GET", "POST"])
def disclosure_form():
    choices = _disclosure_choices()
    if request.method == "GET":
        return _form("portal/disclosure.html", form={}, errors={}, **choices)
    if _over_limit("m", HOURLY_LIMIT, DAILY_LIMIT):
        return _limited()
    errors: dict[str, str] = {}
    if not _captcha_ok():
        errors["验证码"] = "验证码错误或已过期，请重新计算"
    now = utcnow()
    try:
        record = disclosure.record_from_form(request.form.to_dict(), now=now)
    except RecordError as exc:
        errors.update({e.column: e.reason for e in exc.errors})
        record = None
    uploads = _checked_uploads(errors)
    if errors or record is None:
        return _form("portal/disclosure.html", 400, form=request.form, errors=errors, **choices)
    result = apply_record(db(), record, actor="门户网站", reach=NOTHING, now=now)
    save_uploads(
        db(), result.ticket, uploads, now=now, directory=Path(settings().instance_dir) / "attachments"
    )
    db().commit()
    return render_template("portal/done.html", ticket=result.ticket, kind="政府信息公开申请")


def _checked_uploads(errors: dict[str, str]) -> list[uploads_.Upload]:
    """The application's files, each checked by its content (tracker.portal.uploads); a refused one
    names itself in `errors` and nothing is stored."""
    found = []
    for purpose, label in uploads_.PURPOSES.items():
        upload = request.files.get(purpose)
        if upload is None or not upload.filename:
            continue
        data = upload.read(uploads_.MAX_BYTES + 1)  # never more than the bound into memory
        try:
            found.append(uploads_.check_upload(purpose, upload.filename, data))
        except ValueError as exc:
            errors[label] = str(exc)
    return found


def _disclosure_choices() -> dict:
    return {
        "org_types": disclosure.ORG_TYPES,
        "id_types": disclosure.ID_TYPES_PERSON,
        "delivery_forms": disclosure.DELIVERY_FORMS,
        "delivery_ways": disclosure.DELIVERY_WAYS,
        "upload_purposes": uploads_.PURPOSES,
        "upload_limit_mb": uploads_.MAX_BYTES // 1024 // 1024,
    }


@bp.route("/query", methods=["GET", "POST"])
def query():
    if request.method == "GET":
        return render_template("portal/query.html", ticket=None, error=None)
    if _over_limit("q", QUERY_HOURLY_LIMIT, DAILY_LIMIT):
        return _limited()
    code = (request.form.get("code") or "").strip().upper()
    ticket = None
    if code and len(code) <= 32:
        ticket = db().scalar(select(Ticket).where(Ticket.query_code == code))
    if ticket is None:
        return render_template("portal/query.html", ticket=None, error="查询码不正确，请核对后重试"), 404
    return _query_page(ticket, code)


def _query_page(
    ticket: Ticket, code: str, *, status: int = 200, rating_error: str | None = None, rated=False
):
    outcome = OUTCOMES_BY_CODE.get(ticket.outcome) if ticket.outcome else None
    return (
        render_template(
            "portal/query.html",
            ticket=ticket,
            error=None,
            code=code,
            outcome=outcome.short if outcome else None,
            has_reply=ticket.replied_at is not None and bool(ticket.reply_text),
            levels=SATISFACTION_LEVELS,
            can_rate=ticket.replied_at is not None and ticket.satisfaction_source != "portal",
            rating_error=rating_error,
            rated=rated,
        ),
        status,
    )


@bp.post("/rate")
def rate():
    """好差评: the citizen rates the reply with the 查询码 — once (tracker.workflow.transitions.rate_from_portal)."""
    if _over_limit("r", RATE_HOURLY_LIMIT, DAILY_LIMIT):
        return _limited()
    code = (request.form.get("code") or "").strip().upper()[:32]
    try:
        ticket = rate_from_portal(db(), code, request.form.get("satisfaction") or "", now=utcnow())
    except NotFound as exc:
        db().rollback()
        return render_template("portal/query.html", ticket=None, error=str(exc)), 404
    except (Conflict, ValidationError) as exc:
        db().rollback()
        ticket = db().scalar(select(Ticket).where(Ticket.query_code == code)) if code else None
        if ticket is None:
            return render_template("portal/query.html", ticket=None, error="查询码不正确，请核对后重试"), 404
        return _query_page(
            ticket, code, status=409 if isinstance(exc, Conflict) else 400, rating_error=str(exc)
        )
    db().commit()
    return _query_page(ticket, code, rated=True)


@bp.get("/published")
def published():
    """留言选登: messages whose authors agreed to publication, with the reply, personal data masked."""
    try:
        page = int(request.args.get("page") or 1)
    except ValueError:
        page = 1
    items, pages = published_messages(db(), page=page)
    return render_template("portal/published.html", items=items, page=min(max(page, 1), pages), pages=pages)


def _phone_client(phone: str) -> str:
    """The per-phone counter's key: a keyed hash, so the counters do not hold phone numbers."""
    return "p" + phone_digest(settings().secret_key, phone)[:31]


@bp.route("/recover", methods=["GET", "POST"])
def recover():
    """Recovering lost 查询码 by phone: a CAPTCHA, then an SMS code — the same answer for every number."""
    if request.method == "GET":
        return _form("portal/recover.html", form={}, errors={}, step="phone")
    if _over_limit("p", RECOVER_HOURLY_LIMIT, RECOVER_DAILY_LIMIT):
        return _limited()
    errors: dict[str, str] = {}
    if not _captcha_ok():
        errors["验证码"] = "验证码错误或已过期，请重新计算"
    phone = normalise_phone(request.form.get("phone"))
    if phone is None:
        errors["手机号码"] = "请填写11位手机号码"
    if errors:
        return _form("portal/recover.html", 400, form=request.form, errors=errors, step="phone")
    if _over_limit("n", PHONE_HOURLY_LIMIT, PHONE_DAILY_LIMIT, client=_phone_client(phone)):
        return _limited()
    challenge = start_recovery(db(), phone, secret_key=settings().secret_key, now=utcnow())
    db().commit()
    session[RECOVERY_SESSION_KEY] = {"id": challenge, "phone": phone}
    return render_template("portal/recover.html", form={}, errors={}, step="code", phone=mask_phone(phone))


@bp.post("/recover/verify")
def recover_verify():
    if _over_limit("v", VERIFY_HOURLY_LIMIT, DAILY_LIMIT):
        return _limited()
    pending = session.pop(RECOVERY_SESSION_KEY, None) or {}
    phone = str(pending.get("phone") or "")
    tickets = finish_recovery(
        db(),
        pending.get("id"),
        phone,
        (request.form.get("code") or "").strip(),
        secret_key=settings().secret_key,
        now=utcnow(),
    )
    db().commit()  # the challenge is used up whatever the answer
    if tickets is None:
        errors = {"短信验证码": "验证码错误或已过期，请重新获取"}
        return _form("portal/recover.html", 400, form={}, errors=errors, step="phone")
    return render_template("portal/recover.html", form={}, errors={}, step="done", tickets=tickets)


@bp.route("/optout/<token>", methods=["GET", "POST"])
def optout(token: str):
    """The link in every message to a citizen: no more SMS or e-mail about their tickets."""
    try:
        contact = contact_of_token(db(), settings().secret_key, token[:64])
    except NotFound:
        return render_template("portal/optout.html", state="invalid"), 404
    if request.method == "GET":
        return render_template(
            "portal/optout.html", state="ask" if contact.notify_opt_out_at is None else "done"
        )
    opt_out(db(), contact, now=utcnow())
    db().commit()
    return render_template("portal/optout.html", state="done")
