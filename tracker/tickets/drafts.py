"""What every intake adapter normalises its input into: a `TicketDraft` with its `ContactDraft`, and the
one set of rules a draft must meet before any writer opens a ticket from it (`validate_draft`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.deadlines.engine import legal_receipt
from tracker.errors import ValidationError
from tracker.tickets.channels import APPLICANT_TYPES, channel

# Draft fields that a re-delivered work order may change; the rest identify the order.
UPDATABLE_FIELDS = (
    "request_type",
    "subject",
    "body",
    "category",
    "urgency",
    "incident_address",
    "applicant_type",
    "received_via",
)
CONTACT_FIELDS = ("name", "phone", "email", "address", "id_type", "id_number", "is_confidential")


@dataclass
class ContactDraft:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    is_confidential: bool = False


@dataclass
class TicketDraft:
    """What every intake adapter normalises its input into."""

    channel: str
    request_type: str
    subject: str
    body: str
    arrived_at: datetime
    # Legal receipt time; defaults to arrival. For an application it is derived, never given: from the
    # arrival, the signature or confirmation and the way it came (2019 条例 art. 31, `__post_init__`).
    received_at: datetime | None = None
    external_ref: str | None = None
    department_code: str | None = None
    category: str | None = None
    urgency: str | None = None
    incident_address: str | None = None
    applicant_type: str | None = None
    received_via: str | None = None
    is_publishable: bool = False
    contact: ContactDraft = field(default_factory=ContactDraft)
    topics: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    with_query_code: bool = False
    signed_at: datetime | None = None  # applications by post: the day the agency signed for it
    confirmed_at: datetime | None = None  # ordinary letters, online, e-mail, fax: the day both confirmed

    def __post_init__(self) -> None:
        """An application's legal receipt, in the one place every door (portal, staff entry, import, API,
        conversion, bulk import) passes through: the draft itself. The deadline starts from it, and the
        rule applied is kept on the ticket (`extra["receipt"]`) for the deadline's explanation."""
        if self.channel != "disclosure":
            return
        receipt = legal_receipt(
            self.received_via,
            arrived_at=self.arrived_at,
            signed_at=self.signed_at,
            confirmed_at=self.confirmed_at,
        )
        self.received_at = receipt.received_at
        self.extra = {**self.extra, "receipt": receipt.as_json()}


def validate_draft(draft: TicketDraft) -> None:
    chan = channel(draft.channel)
    errors: dict[str, str] = {}
    if draft.request_type not in chan.request_types:
        errors["request_type"] = f"应为 {'/'.join(chan.request_types)} 之一"
    if not draft.body or not draft.body.strip():
        errors["body"] = "内容不能为空"
    if draft.applicant_type is not None and draft.applicant_type not in APPLICANT_TYPES:
        errors["applicant_type"] = f"应为 {'/'.join(APPLICANT_TYPES)} 之一"
    if draft.arrived_at.tzinfo is None:
        errors["arrived_at"] = "时间缺少时区"
    if errors:
        raise ValidationError("；".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)


def draft_subject(draft: TicketDraft) -> str:
    """The subject a draft gives its ticket: its title, else the opening of its text."""
    return (draft.subject or draft.body[:40]).strip()
