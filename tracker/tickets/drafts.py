"""What every intake adapter normalises its input into: a `TicketDraft` with its `ContactDraft`, and the
one set of rules a draft must meet before any writer opens a ticket from it (`validate_draft`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    received_at: datetime | None = None  # legal receipt time; defaults to arrival
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
