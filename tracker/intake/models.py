"""Intake bookkeeping: import batches, portal rate-limit counters, adapter health, callbacks to 12345,
and the scope of API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from tracker.orm import Base, int_pk


class ImportBatch(Base):
    """One file import (CLI or dashboard upload): its progress, its counts and its row errors."""

    __tablename__ = "import_batches"

    id: Mapped[int_pk]
    channel: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    stored_path: Mapped[str | None] = mapped_column(String(1000))  # uploads waiting for the worker
    department_code: Mapped[str | None] = mapped_column(String(64))
    is_skip_bad_rows: Mapped[bool] = mapped_column(default=False)
    # queued / validating / importing / done / failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"row", "column", "reason"}], capped
    message: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PortalCounter(Base):
    """Submissions per client (hashed IP) per window: the portal's 20/hour and 240/day limits."""

    __tablename__ = "portal_counters"

    client_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[str] = mapped_column(String(32), primary_key=True)  # "h:2026112510" / "d:20261125"
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AdapterState(Base):
    """Health and cursor of a polling adapter or a scan (weibo, hotline-callback …)."""

    __tablename__ = "intake_adapter_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_received_at: Mapped[datetime | None]  # when an item last arrived (silence detection)
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The service's own code of the last failure (Weibo 21327, HTTP 403 …); tracker.ops.channel_status explains it.
    last_error_code: Mapped[str | None] = mapped_column(String(32))
    token_expires_at: Mapped[datetime | None]  # the Weibo access token's end (oauth2/get_token_info)
    token_checked_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]  # the silence alert already raised for the current silence
    received_total: Mapped[int] = mapped_column(default=0)


def adapter_state(session: Session, name: str) -> AdapterState:
    """Return the state row of the adapter or scan `name`, created on first use (the Weibo poller, the
    duplicate scan, the 12345 callbacks each keep one)."""
    state = session.get(AdapterState, name)
    if state is None:
        state = AdapterState(name=name, cursor={}, consecutive_failures=0, received_total=0)
        session.add(state)
        session.flush()
    return state


class CallbackDelivery(Base):
    """A reply / extension request / 办结 to send back to the 12345 platform, retried with backoff."""

    __tablename__ = "hotline_callbacks"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index(
            "ix_hotline_callbacks_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("ticket_events.id"))
    kind: Mapped[str] = mapped_column(String(32))  # reply / extension / close
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/sent/failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ApiKeyScope(Base):
    """Restricts an API key to one department's tickets (the key's channel is on ApiKey itself)."""

    __tablename__ = "api_key_scopes"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class ApiNonce(Base):
    """A nonce a signed API request used, kept until its timestamp leaves the replay window: the primary
    key refuses the same (key, nonce) a second time in every process (tracker.intake.apikeys)."""

    __tablename__ = "api_nonces"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CaptchaChallenge(Base):
    """A portal CAPTCHA question waiting for its one answer (web.captcha): only an HMAC of the answer is
    kept; the row is deleted by the first answer, right or wrong, and is useless after expires_at."""

    __tablename__ = "captcha_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RecoveryCode(Base):
    """A code sent by SMS to recover lost 查询码 (web.views.portal). Only HMACs are kept: of the phone
    number (so a row does not say whose it is) and of the code. The first answer deletes the row, right
    or wrong — single use — and it is useless after expires_at. A row exists whether or not the number
    is known, so the flow looks the same for every number (no enumeration)."""

    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_digest: Mapped[str] = mapped_column(String(64))
    code_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)
