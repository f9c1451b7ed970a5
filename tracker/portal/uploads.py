"""Files a citizen attaches to an application (an ID copy, an authority letter).

Bounded before anything else: at most MAX_FILES files of MAX_BYTES each. The type is read from the
content (the file's first bytes), never taken from the name or the browser's Content-Type: a PDF starts
with "%PDF-", a JPEG with FF D8 FF, a PNG with its 8-byte signature. The name's extension must agree
with what the bytes are, so an .exe renamed .pdf (it starts "MZ") and a PNG named .pdf are refused with
the reason. Stored like every attachment (tracker.workflow.models.Attachment), under a random name.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from tracker.tickets.history import record_event
from tracker.tickets.models import Ticket
from tracker.workflow.doors import clean_filename
from tracker.workflow.models import Attachment

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 2
PURPOSES = {"id_copy": "身份证明复印件", "authority_letter": "授权委托书"}
SIGNATURES = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
)
EXTENSIONS = {"pdf": "pdf", "jpg": "jpg", "jpeg": "jpg", "png": "png"}


@dataclass(frozen=True)
class Upload:
    purpose: str
    filename: str
    data: bytes
    kind: str
    content_type: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(kind, content type) read from the bytes, or None when they are none of the accepted types."""
    for magic, kind, content_type in SIGNATURES:
        if data.startswith(magic):
            return kind, content_type
    return None


def check_upload(purpose: str, filename: str, data: bytes) -> Upload:
    """Return the checked upload, or raise ValueError with the reason the citizen reads."""
    label = PURPOSES.get(purpose)
    if label is None:
        raise ValueError("未知的附件类别")
    name = clean_filename(filename or "")
    if not data:
        raise ValueError(f"{label}“{name}”是空文件")
    if len(data) > MAX_BYTES:
        raise ValueError(f"{label}“{name}”超过{MAX_BYTES // 1024 // 1024}MB")
    found = sniff(data)
    if found is None:
        raise ValueError(f"{label}“{name}”不是PDF、JPG或PNG文件（按文件内容判断）")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if EXTENSIONS.get(extension) != found[0]:
        raise ValueError(f"{label}“{name}”的扩展名与文件内容（{found[0].upper()}）不符")
    return Upload(purpose, name, data, found[0], found[1])


def save_uploads(
    session: Session, ticket: Ticket, uploads: list[Upload], *, now: datetime, directory: Path
) -> list[Attachment]:
    """Store checked uploads as the ticket's attachments, in the caller's transaction."""
    saved = []
    for upload in uploads:
        stored = f"{secrets.token_hex(16)}.{upload.kind}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / stored).write_bytes(upload.data)
        attachment = Attachment(
            ticket_id=ticket.id,
            filename=upload.filename,
            stored_name=stored,
            content_type=upload.content_type,
            size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
            purpose=upload.purpose,
            uploaded_by_id=None,
            uploaded_at=now,
        )
        session.add(attachment)
        session.flush()
        record_event(
            session,
            ticket,
            "ticket.attachment_added",
            actor="申请人（门户网站）",
            now=now,
            data={"attachment_id": attachment.id, "filename": upload.filename, "purpose": upload.purpose},
        )
        saved.append(attachment)
    return saved
