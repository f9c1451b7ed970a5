"""API keys of machine clients: create (secret shown once), verify signed requests, rotate, revoke.

Signature: hex HMAC-SHA256(secret, timestamp + "." + raw body), sent as X-Tracker-Signature with
X-Tracker-Key (key id) and X-Tracker-Timestamp (Unix seconds). A timestamp more than five minutes off
is refused, so a captured request cannot be replayed later. Secrets are stored encrypted (Fernet under
the instance secret key): verification needs them back, so a one-way hash would not do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.channels import channel as channel_of
from tracker.errors import NotFound, TrackerError, ValidationError
from tracker.models import ApiKey, Department
from tracker.models.intake import ApiKeyScope
from tracker.security import decrypt_secret, encrypt_secret

REPLAY_WINDOW = timedelta(minutes=5)


class AuthenticationFailed(TrackerError):
    code = "unauthorized"
    http_status = 401


@dataclass(frozen=True)
class Client:
    """A verified machine client and what it may touch."""

    key: ApiKey
    channel: str | None
    department_id: int | None


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def create_api_key(
    session: Session,
    secret_key: str,
    *,
    name: str,
    channel: str | None,
    now: datetime,
    department_code: str | None = None,
) -> tuple[ApiKey, str]:
    """Return the new key and its secret; the secret is never shown again."""
    if not name.strip():
        raise ValidationError("名称不能为空", fields={"name": "必填"})
    if channel:
        channel_of(channel)
    department_id = None
    if department_code:
        department = session.scalar(select(Department).where(Department.code == department_code))
        if department is None:
            raise ValidationError(f"未知部门 {department_code!r}", fields={"department": "未知部门"})
        department_id = department.id
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id="tk_" + secrets.token_hex(8),
        name=name.strip(),
        channel=channel or None,
        secret_encrypted=encrypt_secret(secret_key, secret),
        created_at=now,
    )
    session.add(key)
    session.flush()
    if department_id is not None:
        session.add(ApiKeyScope(api_key_id=key.id, department_id=department_id))
        session.flush()
    return key, secret


def get_api_key(session: Session, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise NotFound(f"API 密钥 {key_id} 不存在")
    return key


def rotate_api_key(session: Session, secret_key: str, key_id: str, *, now: datetime) -> str:
    key = get_api_key(session, key_id)
    if key.revoked_at is not None:
        raise ValidationError("该密钥已吊销", fields={"key": "已吊销"})
    secret = secrets.token_urlsafe(32)
    key.secret_encrypted = encrypt_secret(secret_key, secret)
    session.flush()
    return secret


def revoke_api_key(session: Session, key_id: str, *, now: datetime) -> ApiKey:
    key = get_api_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    return key


def list_api_keys(session: Session) -> list[tuple[ApiKey, int | None]]:
    rows = session.execute(
        select(ApiKey, ApiKeyScope.department_id)
        .outerjoin(ApiKeyScope, ApiKeyScope.api_key_id == ApiKey.id)
        .order_by(ApiKey.id)
    ).all()
    return [(key, dept) for key, dept in rows]


def verify_request(
    session: Session,
    secret_key: str,
    *,
    key_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    touch: bool = True,
) -> Client:
    """Check the three headers against the body; raise AuthenticationFailed (401) on any mismatch."""
    if not key_id or not timestamp or not signature:
        raise AuthenticationFailed("缺少 X-Tracker-Key / X-Tracker-Timestamp / X-Tracker-Signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise AuthenticationFailed("X-Tracker-Timestamp 应为 Unix 秒") from None
    if abs(now.timestamp() - sent_at) > REPLAY_WINDOW.total_seconds():
        raise AuthenticationFailed("时间戳与服务器时间相差超过5分钟（防重放）")
    row = session.execute(
        select(ApiKey, ApiKeyScope.department_id)
        .outerjoin(ApiKeyScope, ApiKeyScope.api_key_id == ApiKey.id)
        .where(ApiKey.key_id == key_id)
    ).first()
    # Unknown key, revoked key and wrong signature give one answer: nothing to probe.
    if row is None or row[0].revoked_at is not None:
        raise AuthenticationFailed("签名无效")
    key, department_id = row
    try:
        secret = decrypt_secret(secret_key, key.secret_encrypted)
    except Exception:  # the instance secret key changed since the key was made: the key is unusable
        raise AuthenticationFailed("签名无效") from None
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise AuthenticationFailed("签名无效")
    if touch and (key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1)):
        key.last_used_at = now  # at most once a minute: no write per request under load
    return Client(key, key.channel, department_id)
