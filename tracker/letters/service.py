"""The doors of the letters: preview, issue (a 文号 and a stored file), replace the file before it is served,
serve (送达方式, 送达日期) — and the office's templates. Each checks, before anything else, that the user may
act on the ticket (`tracker.people.access.require_action`) and that the kind fits the ticket (`context.check_fit`).

Serving a 补正 notice or a reply changes the clocks through the ticket's own doors
(`tracker.workflow.doors.request_correction` / `reply`, docs/architecture.md "One door per action"),
with the notice, deadline and outcome the letter printed — never a second path with fewer rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tracker.clock import BUSINESS_TZ
from tracker.deadlines import engine as deadlines_engine
from tracker.deadlines import policies as dl
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.letters.context import (
    build_context,
    check_fit,
    clean_params,
    correction_last_day,
    sample_context,
)
from tracker.letters.kinds import KINDS, OUTCOME_PARAGRAPHS
from tracker.letters.models import Letter, LetterCounter, LetterTemplate
from tracker.letters.render import (
    LetterRenderError,
    check_template_file,
    default_template,
    docx_paragraphs,
    render_docx,
)
from tracker.people.access import require_action, require_role, require_view
from tracker.people.models import User
from tracker.tickets.models import Ticket
from tracker.workflow import doors, fees
from tracker.workflow.models import Attachment
from tracker.workflow.transitions import record_event

# 送达方式 (民事诉讼法 and the 条例 practice): how a letter reached its addressee.
SERVICE: dict[str, str] = {
    "in_person": "直接送达",
    "post": "邮寄送达",
    "email": "电子邮件送达",
    "online": "网上送达",
    "fax": "传真送达",
}
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DRAFT_NUMBER = "（出具时编号）"


def doc_number(kind: str, year: int, seq: int) -> str:
    """政信补〔2026〕3号: one series per year and kind (the office prefixes its own 机关代字 in the template)."""
    return f"政信{KINDS[kind].short}〔{year}〕{seq}号"


def allocate_number(session: Session, kind: str, year: int) -> int:
    """The next 文号 of (year, kind) in one statement: concurrent issuers each get their own."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(LetterCounter)
        .values(year=year, kind=kind, last=1)
        .on_conflict_do_update(index_elements=["year", "kind"], set_={"last": LetterCounter.last + 1})
        .returning(LetterCounter.last)
    )
    return int(session.execute(statement).scalar_one())


def active_template(session: Session, kind: str) -> LetterTemplate | None:
    return session.scalar(select(LetterTemplate).where(LetterTemplate.kind == kind, LetterTemplate.is_active))


@dataclass(frozen=True)
class Draft:
    kind: str
    params: dict[str, Any]
    docx: bytes
    template_id: int | None

    @property
    def paragraphs(self) -> list[str]:
        return docx_paragraphs(self.docx)


def _render(
    session: Session, ticket: Ticket, kind: str, raw: dict[str, Any], *, now: datetime, number: str
) -> Draft:
    params = clean_params(ticket, kind, raw, now=now)
    check_fit(ticket, kind, outcome=params.get("outcome"))
    template = active_template(session, kind)
    context = build_context(session, ticket, kind, params, now=now, doc_number=number)
    if kind == "correction":
        # The date printed is the date the door will hold the applicant to (see serve_letter).
        last = correction_last_day(session, ticket, params, now=now)
        params["printed_due_on"] = last.isoformat() if last else None
    data = render_docx(template.data if template else default_template(kind), context)
    return Draft(kind, params, data, template.id if template else None)


def preview_letter(
    session: Session, ticket: Ticket, kind: str, raw: dict[str, Any], *, user: User | None, now: datetime
) -> Draft:
    """The letter as it would be issued now, without a 文号 and without storing anything. `user` None is the
    server's operator (the CLI without --user), who may read every ticket."""
    if user is not None:
        require_action(user, "letter", ticket)
    return _render(session, ticket, kind, raw, now=now, number=DRAFT_NUMBER)


def issue_letter(
    session: Session,
    ticket: Ticket,
    kind: str,
    raw: dict[str, Any],
    *,
    user: User,
    now: datetime,
    directory: Path,
) -> Letter:
    """出具: a 文号 of the year, the rendered DOCX stored as the ticket's attachment, the event."""
    require_action(user, "letter", ticket)
    year = now.astimezone(BUSINESS_TZ).year
    check_fit(ticket, kind, outcome=clean_params(ticket, kind, raw, now=now).get("outcome"))
    seq = allocate_number(session, kind, year)
    number = doc_number(kind, year, seq)
    draft = _render(session, ticket, kind, raw, now=now, number=number)
    attachment = doors.save_attachment(
        session,
        ticket,
        filename=f"{KINDS[kind].title}-{number}.docx",
        data=draft.docx,
        content_type=DOCX_TYPE,
        user=user,
        now=now,
        directory=directory,
        purpose="letter",
    )
    letter = Letter(
        ticket_id=ticket.id,
        kind=kind,
        outcome=draft.params.get("outcome"),
        year=year,
        seq=seq,
        doc_number=number,
        params=draft.params,
        attachment_id=attachment.id,
        template_id=draft.template_id,
        issued_by_id=user.id,
        issued_at=now,
    )
    session.add(letter)
    session.flush()
    record_event(
        session,
        ticket,
        "letter.issued",
        actor=user,
        now=now,
        data={"letter_id": letter.id, "kind": kind, "doc_number": number, "attachment_id": attachment.id},
    )
    return letter


def get_letter(session: Session, letter_id: int, *, user: User) -> tuple[Letter, Ticket]:
    """A letter the user may see (404 otherwise, as for its ticket)."""
    letter = session.get(Letter, letter_id)
    if letter is None:
        raise NotFound("文书不存在或无权查看")
    ticket = session.get(Ticket, letter.ticket_id)
    require_view(user, ticket)
    return letter, ticket


def letter_docx(session: Session, letter: Letter, directory: Path) -> bytes:
    """The letter's current file (as issued, or as the office replaced it)."""
    attachment = session.get(Attachment, letter.attachment_id)
    return (directory / attachment.stored_name).read_bytes()


def ticket_letters(session: Session, ticket: Ticket) -> list[Letter]:
    return list(session.scalars(select(Letter).where(Letter.ticket_id == ticket.id).order_by(Letter.id)))


def replace_letter_file(
    session: Session,
    letter: Letter,
    ticket: Ticket,
    *,
    filename: str,
    data: bytes,
    user: User,
    now: datetime,
    directory: Path,
) -> Attachment:
    """The office edited the issued letter (in Word/WPS) before sending it: the edited DOCX (or its signed
    PDF scan) becomes the letter's file. The first file stays among the attachments."""
    require_action(user, "letter", ticket)
    if letter.served_at is not None:
        raise Conflict(f"文书{letter.doc_number}已送达，不能再修改")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ("docx", "pdf"):
        raise ValidationError("修改后的文书须为 DOCX 或 PDF 文件", fields={"file": "类型不允许"})
    if extension == "docx" and not data.startswith(b"PK\x03\x04"):
        raise ValidationError("文件不是 DOCX", fields={"file": "不是DOCX"})
    if extension == "pdf" and not data.startswith(b"%PDF-"):
        raise ValidationError("文件不是 PDF", fields={"file": "不是PDF"})
    attachment = doors.save_attachment(
        session,
        ticket,
        filename=filename,
        data=data,
        content_type=DOCX_TYPE if extension == "docx" else "application/pdf",
        user=user,
        now=now,
        directory=directory,
        purpose="letter",
    )
    letter.attachment_id = attachment.id
    record_event(
        session,
        ticket,
        "letter.replaced",
        actor=user,
        now=now,
        data={"letter_id": letter.id, "doc_number": letter.doc_number, "attachment_id": attachment.id},
    )
    return attachment


def serve_letter(
    session: Session,
    letter: Letter,
    ticket: Ticket,
    *,
    method: str,
    served_on: date,
    user: User,
    now: datetime,
) -> None:
    """送达: how and when. A 补正 notice asks for the correction (the applicant's deadline opens at the date the
    letter printed, the reply clock stops); a 收费通知 opens the applicant's 20 working days to pay and stops
    the reply clock until the fee is received (`doors.receive_fee`); a reply not yet sent is sent with the letter's outcome and text
    (the reply clock stops) — both through the ticket's doors, which check reach, role, state and sign-off."""
    require_action(user, "letter", ticket)
    if method not in SERVICE:
        raise ValidationError(
            f"送达方式应为：{'、'.join(SERVICE.values())}", fields={"served_via": "取值无效"}
        )
    today = now.astimezone(BUSINESS_TZ).date()
    if served_on > today:
        raise ValidationError("送达日期不能晚于今天", fields={"served_on": "晚于今天"})
    if served_on < letter.issued_at.astimezone(BUSINESS_TZ).date():
        raise ValidationError("送达日期不能早于出具日期", fields={"served_on": "早于出具日期"})
    if letter.served_at is not None:
        raise Conflict(f"文书{letter.doc_number}已于{letter.served_on}送达，不能重复送达")
    params = letter.params or {}
    # Every refusal before anything is written: the letter stays unserved and the ticket unchanged.
    opens_correction = letter.kind == "correction" and not any(
        d.kind == dl.CORRECTION for d in ticket.deadlines
    )
    sends_reply = letter.kind in ("reply", "not_disclosure") and ticket.status not in ("replied", "closed")
    opens_fee = letter.kind == "fee"
    if opens_correction:
        check_fit(ticket, "correction")
    elif opens_fee:
        check_fit(ticket, "fee")  # still being handled, no fee notice served before
    elif letter.kind in ("reply", "not_disclosure") and not sends_reply:
        if ticket.outcome != letter.outcome:
            raise Conflict(f"文书{letter.doc_number}的答复结果与工单的答复结果不一致，请重新出具")
    elif sends_reply:
        check_fit(ticket, letter.kind, outcome=letter.outcome)
        if doors.reply_needs_signoff(user, ticket):
            raise PermissionDenied(
                "依申请公开答复须经科室负责人签发：请由科室负责人送达答复书，或先在工单页提交答复送签"
            )
    # Claim the letter in one statement: of two serves at once (a double click, a replay) one finds it
    # served; its transaction, the door's changes included, is rolled back by its caller.
    claimed = session.execute(
        update(Letter)
        .where(Letter.id == letter.id, Letter.served_at.is_(None))
        .values(served_via=method, served_on=served_on, served_by_id=user.id, served_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise Conflict(f"文书{letter.doc_number}已送达，不能重复送达")
    session.refresh(letter)
    if opens_correction:
        printed = params.get("printed_due_on")
        due_at = (
            deadlines_engine.default_end_of_day().moment(date.fromisoformat(printed)) if printed else None
        )
        doors.request_correction(
            session, ticket, params.get("notice", ""), user=user, now=now, correction_due_at=due_at
        )
    elif opens_fee:
        fees.request_fee(session, ticket, user=user, now=now, note=f"收费通知{letter.doc_number}")
    elif sends_reply:
        text = params.get("reply_text") or _outcome_text(letter.outcome)
        doors.reply(
            session,
            ticket,
            text,
            user=user,
            now=now,
            outcome=letter.outcome,
            attachment_ids=[letter.attachment_id],
        )
    record_event(
        session,
        ticket,
        "letter.served",
        actor=user,
        now=now,
        data={
            "letter_id": letter.id,
            "kind": letter.kind,
            "doc_number": letter.doc_number,
            "served_via": method,
            "served_on": served_on.isoformat(),
        },
    )


def _outcome_text(outcome: str | None) -> str:
    return OUTCOME_PARAGRAPHS[outcome or "other"][0]


# -- the office's templates -----------------------------------------------------------------------------------


def upload_template(
    session: Session, kind: str, *, filename: str, data: bytes, user: User, now: datetime
) -> LetterTemplate:
    """An administrator's template for a kind: a bounded, plain DOCX that renders with a sample ticket in
    the sandbox; it replaces the active one (kept, inactive)."""
    require_role(user, "admin")
    if kind not in KINDS:
        raise ValidationError(f"未知的文书类型 {kind!r}", fields={"kind": "取值无效"})
    check_template_file(data, filename=filename)
    try:
        render_docx(data, sample_context(kind))
    except LetterRenderError as exc:
        raise ValidationError(f"模板用示例工单生成失败：{exc.message}", fields={"file": "无法生成"}) from None
    session.execute(
        update(LetterTemplate)
        .where(LetterTemplate.kind == kind, LetterTemplate.is_active)
        .values(is_active=False)
    )
    template = LetterTemplate(
        kind=kind,
        filename=filename[:255],
        data=data,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        is_active=True,
        uploaded_by_id=user.id,
        uploaded_at=now,
    )
    session.add(template)
    session.flush()
    doors.audit(
        session,
        user,
        "letter_template.uploaded",
        now=now,
        object_type="letter_template",
        object_id=template.id,
        detail={"kind": kind, "filename": filename[:255], "sha256": template.sha256},
    )
    return template


def restore_default_template(session: Session, kind: str, *, user: User, now: datetime) -> None:
    """Back to the built-in template of a kind (the uploads are kept)."""
    require_role(user, "admin")
    if kind not in KINDS:
        raise ValidationError(f"未知的文书类型 {kind!r}", fields={"kind": "取值无效"})
    session.execute(
        update(LetterTemplate)
        .where(LetterTemplate.kind == kind, LetterTemplate.is_active)
        .values(is_active=False)
    )
    doors.audit(
        session,
        user,
        "letter_template.restored",
        now=now,
        object_type="letter_template",
        object_id=kind,
        detail={"kind": kind},
    )


def template_file(session: Session, kind: str) -> tuple[str, bytes]:
    """The template the office would edit: its active upload, else the built-in one."""
    if kind not in KINDS:
        raise ValidationError(f"未知的文书类型 {kind!r}", fields={"kind": "取值无效"})
    template = active_template(session, kind)
    if template is not None:
        return template.filename, template.data
    return f"{kind}.docx", default_template(kind)
