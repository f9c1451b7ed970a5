"""Recovering a lost 查询码 by phone: an SMS code, then the codes of that number's tickets.

* **No enumeration.** `start_recovery` answers the same for every number: a challenge row is made
  whether or not the number is known, and the SMS goes out only when it is; the page the citizen sees,
  its timing aside, does not depend on it. A wrong code and an unknown number fail alike.
* **Single use, expiring.** The code is 6 digits, kept as an HMAC with the challenge; the first answer
  deletes the row (DELETE … RETURNING, so two racing answers cannot both use it) — one guess per code,
  and TTL to answer.
* **Rate-limited** per phone and per address by the portal's counters (web.views.portal), before any
  row or SMS is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.intake.models import RecoveryCode
from tracker.notify.citizens import plan_message
from tracker.pii.cipher import blinds
from tracker.tickets.models import Contact, Ticket

TTL = timedelta(minutes=10)


def normalise_phone(phone: str | None) -> str | None:
    """A mainland mobile number as 11 digits, or None when it is not one."""
    digits = "".join(c for c in (phone or "") if c.isdigit())[:20]
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if len(digits) == 11 and digits.startswith("1") else None


def _digest(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def phone_digest(secret_key: str, phone: str) -> str:
    return _digest(secret_key, "recovery-phone", phone)


def _tickets_of(session: Session, phone: str) -> list[Ticket]:
    return list(
        session.scalars(
            select(Ticket)
            .join(Contact, Contact.id == Ticket.contact_id)
            .where(
                Contact.phone_bidx.in_(blinds("phone", phone)),
                Ticket.query_code.is_not(None),
                Contact.anonymised_at.is_(None),
            )
            .order_by(Ticket.received_at.desc())
            .limit(50)
        )
    )


def start_recovery(session: Session, phone: str, *, secret_key: str, now: datetime) -> str:
    """Make a challenge for `phone` (normalised) and, when it has tickets, plan the SMS; return the
    challenge id for the visitor's session. The same for a known and an unknown number."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.expires_at < now))
    challenge_id = secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        RecoveryCode(
            id=challenge_id,
            phone_digest=phone_digest(secret_key, phone),
            code_digest=_digest(secret_key, f"recovery-code:{challenge_id}", code),
            expires_at=now + TTL,
        )
    )
    if _tickets_of(session, phone):
        plan_message(
            session,
            key=f"recovery:{challenge_id}",
            kind="recovery",
            recipients={"sms": phone},
            values={"code": code},
            now=now,
        )
    session.flush()
    return challenge_id


def finish_recovery(
    session: Session,
    challenge_id: str | None,
    phone: str,
    code: str | None,
    *,
    secret_key: str,
    now: datetime,
) -> list[Ticket] | None:
    """The tickets (with their 查询码) of the phone when the code is right; None otherwise. The
    challenge is used up either way."""
    if not challenge_id or not code or len(code) > 12:
        return None
    row = session.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.id == challenge_id)
        .returning(RecoveryCode.phone_digest, RecoveryCode.code_digest, RecoveryCode.expires_at)
    ).first()
    if row is None or row.expires_at < now:
        return None
    right_phone = hmac.compare_digest(row.phone_digest, phone_digest(secret_key, phone))
    right_code = hmac.compare_digest(
        row.code_digest, _digest(secret_key, f"recovery-code:{challenge_id}", code.strip())
    )
    if not (right_phone and right_code):
        return None
    return _tickets_of(session, phone)
