"""API keys of machine clients: create (secret shown once), verify signed requests, rotate, revoke.

Signature: hex HMAC-SHA256(secret, timestamp + "." + raw body), sent as X-Tracker-Signature with
X-Tracker-Key (key id) and X-Tracker-Timestamp (Unix seconds). A timestamp more than five minutes off
is refused, so a captured request cannot be replayed later. Secrets are stored encrypted (Fernet under
the instance secret key): verification needs them back, so a one-way hash would not do.

Each process keeps the keys it verified for KEY_CACHE_TTL (the row, its scope and the decrypted secret), so
a push costs no look-up and no decryption. Revoking or rotating a key clears the entry of the process that
does it at once; every other process (each gunicorn worker) stops accepting a revoked key, or the old
secret of a rotated one, within KEY_CACHE_TTL (docs/operations.md §5).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.channels import channel as channel_of
from tracker.errors import NotFound, TrackerError, ValidationError
from tracker.models import ApiKey, Department
from tracker.models.intake import ApiKeyScope
from tracker.security import decrypt_secret, encrypt_secret

REPLAY_WINDOW = timedelta(minutes=5)
KEY_CACHE_TTL = 30.0  # seconds: how long another process may still accept a revoked key
TOUCH_EVERY = timedelta(minutes=1)


class AuthenticationFailed(TrackerError):
    code = "unauthorized"
    http_status = 401


@dataclass(frozen=True)
class Client:
    """A verified machine client and what it may touch."""

    key_id: str
    name: str
    channel: str | None
    department_id: int | None


@dataclass
class _KnownKey:
    """What verification needs of a key, as this process last read it."""

    client: Client
    row_id: int
    secret: str
    last_used_at: datetime | None
    read_at: float  # time.monotonic()


_KEYS: dict[tuple[str, str, str], _KnownKey] = {}
_KEYS_LOCK = threading.Lock()


def _cache_key(session: Session, secret_key: str, key_id: str) -> tuple[str, str, str]:
    # One process may serve several databases (tests, the benchmark): the database is part of the key.
    return (str(session.get_bind().engine.url), secret_key, key_id)


def forget_api_key(key_id: str) -> None:
    """Drop this process's cached copy of a key (after it was rotated or revoked)."""
    with _KEYS_LOCK:
        for cached in [k for k in _KEYS if k[2] == key_id]:
            del _KEYS[cached]


def _read_key(session: Session, secret_key: str, key_id: str) -> _KnownKey | None:
    """Read a usable key (not revoked, secret decryptable) from the database; None when there is none."""
    row = session.execute(
        select(ApiKey, ApiKeyScope.department_id)
        .outerjoin(ApiKeyScope, ApiKeyScope.api_key_id == ApiKey.id)
        .where(ApiKey.key_id == key_id)
    ).first()
    if row is None or row[0].revoked_at is not None:
        return None
    key, department_id = row
    try:
        secret = decrypt_secret(secret_key, key.secret_encrypted)
    except Exception:  # the instance secret key changed since the key was made: the key is unusable
        return None
    return _KnownKey(
        Client(key.key_id, key.name, key.channel, department_id),
        key.id,
        secret,
        key.last_used_at,
        time.monotonic(),
    )


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
    forget_api_key(key_id)
    return secret


def revoke_api_key(session: Session, key_id: str, *, now: datetime) -> ApiKey:
    key = get_api_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    forget_api_key(key_id)
    return key


def list_api_keys(session: Session) -> list[tuple[ApiKey, int | None]]:
    rows = session.execute(
        select(ApiKey, ApiKeyScope.department_id)
        .outerjoin(ApiKeyScope, ApiKeyScope.api_key_id == ApiKey.id)
        .order_by(ApiKey.id)
    ).all()
    return [(key, dept) for key, dept in rows]


def _signed_by(known: _KnownKey, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(known.secret, timestamp, body), signature.strip().lower())


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
    cache_key = _cache_key(session, secret_key, key_id)
    known = _KEYS.get(cache_key)
    is_fresh = known is not None and time.monotonic() - known.read_at < KEY_CACHE_TTL
    if not is_fresh or not _signed_by(known, timestamp, body, signature):
        # Not cached, stale, or a mismatch that a key rotated in another process would explain: read it.
        known = _read_key(session, secret_key, key_id)
        with _KEYS_LOCK:
            if known is None:
                _KEYS.pop(cache_key, None)
            else:
                _KEYS[cache_key] = known
        # Unknown key, revoked key and wrong signature give one answer: nothing to probe.
        if known is None or not _signed_by(known, timestamp, body, signature):
            raise AuthenticationFailed("签名无效")
    if touch and _claim_touch(known, now):
        # At most once a minute per process: no write (and no wait on the key's row lock) per request.
        session.execute(update(ApiKey).where(ApiKey.id == known.row_id).values(last_used_at=now))
    return known.client


def _claim_touch(known: _KnownKey, now: datetime) -> bool:
    """True for the one request of this process that records the key's use this minute."""
    with _KEYS_LOCK:
        if known.last_used_at is not None and now - known.last_used_at <= TOUCH_EVERY:
            return False
        known.last_used_at = now
        return True
