"""API keys of machine clients: create (secret shown once), verify signed requests, rotate, revoke.

A request is signed over everything that makes it what it is (docs/api.md, "Authentication"):

    TRACKER-HMAC-SHA256 \n METHOD \n path \n sorted query \n timestamp \n nonce \n hex SHA-256 of the body

as lowercase hex HMAC-SHA256 under the key's secret, sent as X-Tracker-Signature with X-Tracker-Key (key
id), X-Tracker-Timestamp (Unix seconds) and X-Tracker-Nonce. A signature opens only the one method, path,
query and body it was made for; a timestamp more than five minutes off is refused; and each nonce is
remembered in the database (api_nonces, primary key (key, nonce)) until its timestamp leaves that window,
so the same request is accepted once, in whichever process it arrives. `sign` and `signed_headers` are
the one implementation: the verifier below, the 12345 callback sender, the benchmark and the tests all
call them. Secrets are stored encrypted (Fernet under the instance secret key): verification needs them
back, so a one-way hash would not do.

Each process keeps the keys it verified for KEY_CACHE_TTL (the row, its scope and the decrypted secret), so
a push costs no look-up and no decryption. Revoking or rotating a key clears the entry of the process that
does it at once; every other process (each gunicorn worker) stops accepting a revoked key, or the old
secret of a rotated one, within KEY_CACHE_TTL (docs/operations.md §5).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tracker.errors import NotFound, TrackerError, ValidationError
from tracker.intake.models import ApiKeyScope, ApiNonce
from tracker.ops.models import ApiKey
from tracker.people.models import Department
from tracker.security import decrypt_secret, encrypt_secret
from tracker.tickets.channels import channel as channel_of

REPLAY_WINDOW = timedelta(minutes=5)
ALGORITHM = "TRACKER-HMAC-SHA256"
# The national alternative (GB/T 32905 SM3): a client declares it with X-Tracker-Algorithm; the body's
# digest in the string to sign is then SM3 too. The algorithm's name is the first line of the string to
# sign, so a signature made under one algorithm never verifies under the other.
ALGORITHM_SM3 = "TRACKER-HMAC-SM3"
ALGORITHMS = (ALGORITHM, ALGORITHM_SM3)
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # bounded before int(): 400 digits is no timestamp
SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}")
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


# RFC 3986 unreserved characters stay as they are; everything else is percent-encoded (UTF-8).
_UNRESERVED = "-_.~"


def canonical_path(path: str) -> str:
    """The path percent-decoded, then encoded again one way: a client may send `%7E` or `~`, `/票` or
    `/%E7%A5%A8` and still sign what the server sees."""
    return quote(unquote(path or "/"), safe="/" + _UNRESERVED)


def canonical_query(query: str | bytes) -> str:
    """Every key=value pair decoded, sorted (by key, then value) and encoded one way, joined with `&`."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}" for k, v in pairs)


def _sm3(data: bytes) -> bytes:
    digest = crypto_hashes.Hash(crypto_hashes.SM3())
    digest.update(data)
    return digest.finalize()


def string_to_sign(
    *,
    method: str,
    path: str,
    query: str | bytes,
    timestamp: str,
    nonce: str,
    body: bytes,
    algorithm: str = ALGORITHM,
) -> bytes:
    body_digest = _sm3(body).hex() if algorithm == ALGORITHM_SM3 else hashlib.sha256(body).hexdigest()
    return "\n".join(
        (
            algorithm,
            method.upper(),
            canonical_path(path),
            canonical_query(query),
            timestamp,
            nonce,
            body_digest,
        )
    ).encode()


def sign(
    secret: str,
    *,
    method: str,
    path: str,
    query: str | bytes,
    timestamp: str,
    nonce: str,
    body: bytes,
    algorithm: str = ALGORITHM,
) -> str:
    """Lowercase hex HMAC-SHA256 (or HMAC-SM3) of the request's string to sign: the one signing function
    of the repo."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown signature algorithm {algorithm!r}")
    message = string_to_sign(
        method=method,
        path=path,
        query=query,
        timestamp=timestamp,
        nonce=nonce,
        body=body,
        algorithm=algorithm,
    )
    if algorithm == ALGORITHM_SM3:
        mac = crypto_hmac.HMAC(secret.encode(), crypto_hashes.SM3())
        mac.update(message)
        return mac.finalize().hex()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    key_id: str,
    secret: str,
    *,
    method: str,
    url: str,
    body: bytes,
    timestamp: int | None = None,
    nonce: str | None = None,
    algorithm: str = ALGORITHM,
) -> dict[str, str]:
    """The four headers of a signed request to `url` (a path with its query, or a whole URL): what every
    client in this repository sends, and what docs/api.md shows a client in another language how to do."""
    parts = urlsplit(url)
    sent_at = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    headers = {} if algorithm == ALGORITHM else {"X-Tracker-Algorithm": algorithm}
    return headers | {
        "X-Tracker-Key": key_id,
        "X-Tracker-Timestamp": sent_at,
        "X-Tracker-Nonce": nonce,
        "X-Tracker-Signature": sign(
            secret,
            method=method,
            path=parts.path,
            query=parts.query,
            timestamp=sent_at,
            nonce=nonce,
            body=body,
            algorithm=algorithm,
        ),
    }


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
        # A key limited to a disabled department could open nothing (open_ticket refuses it): refused here,
        # where the administrator can still pick another department.
        if not department.is_active:
            raise ValidationError(f"部门 {department.name} 已停用", fields={"department": "已停用"})
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


def _signed_by(known: _KnownKey, request: SignedRequest) -> bool:
    expected = sign(
        known.secret,
        method=request.method,
        path=request.path,
        query=request.query,
        timestamp=request.timestamp,
        nonce=request.nonce,
        body=request.body,
        algorithm=request.algorithm or ALGORITHM,
    )
    return hmac.compare_digest(expected, request.signature.lower())


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of an HTTP request: its headers as sent and what they must cover."""

    key_id: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None
    method: str
    path: str
    query: str | bytes
    body: bytes
    algorithm: str | None = None  # X-Tracker-Algorithm; absent: TRACKER-HMAC-SHA256


def verify_request(
    session: Session, secret_key: str, request: SignedRequest, *, now: datetime, touch: bool = True
) -> Client:
    """Check the four headers against the request; raise AuthenticationFailed (401) on any mismatch and on
    any nonce this key used before. The nonce is written in the caller's transaction: commit it before
    the request's own work, so a request that fails afterwards cannot be sent again either."""
    if not request.key_id or not request.timestamp or not request.nonce or not request.signature:
        raise AuthenticationFailed(
            "缺少 X-Tracker-Key / X-Tracker-Timestamp / X-Tracker-Nonce / X-Tracker-Signature"
        )
    if request.algorithm is not None and request.algorithm not in ALGORITHMS:
        raise AuthenticationFailed(f"X-Tracker-Algorithm 应为 {' 或 '.join(ALGORITHMS)}")
    if not TIMESTAMP_RE.fullmatch(request.timestamp):
        raise AuthenticationFailed("X-Tracker-Timestamp 应为 Unix 秒")
    if not NONCE_RE.fullmatch(request.nonce):
        raise AuthenticationFailed("X-Tracker-Nonce 应为 16–64 个字母、数字、- 或 _")
    if not SIGNATURE_RE.fullmatch(request.signature) or len(request.key_id) > 32:
        raise AuthenticationFailed("签名无效")
    if not (request.key_id.isascii() and request.key_id.isprintable()):  # a NUL never reaches a query
        raise AuthenticationFailed("签名无效")
    sent_at = int(request.timestamp)
    if abs(now.timestamp() - sent_at) > REPLAY_WINDOW.total_seconds():
        raise AuthenticationFailed("时间戳与服务器时间相差超过5分钟（防重放）")
    cache_key = _cache_key(session, secret_key, request.key_id)
    known = _KEYS.get(cache_key)
    is_fresh = known is not None and time.monotonic() - known.read_at < KEY_CACHE_TTL
    if not is_fresh or not _signed_by(known, request):
        # Not cached, stale, or a mismatch that a key rotated in another process would explain: read it.
        known = _read_key(session, secret_key, request.key_id)
        with _KEYS_LOCK:
            if known is None:
                _KEYS.pop(cache_key, None)
            else:
                _KEYS[cache_key] = known
        # Unknown key, revoked key and wrong signature give one answer: nothing to probe.
        if known is None or not _signed_by(known, request):
            raise AuthenticationFailed("签名无效")
    # Only after the signature: an unsigned caller cannot fill the table.
    expires_at = datetime.fromtimestamp(sent_at, UTC) + REPLAY_WINDOW
    if not _remember_nonce(session, request.key_id, request.nonce, expires_at):
        raise AuthenticationFailed("该请求已被接受过一次（X-Tracker-Nonce 重复），重放被拒绝")
    if touch and _claim_touch(known, now):
        # At most once a minute per process: no write (and no wait on the key's row lock) per request.
        session.execute(update(ApiKey).where(ApiKey.id == known.row_id).values(last_used_at=now))
        # The same rhythm forgets the nonces whose requests the timestamp check refuses anyway.
        session.execute(delete(ApiNonce).where(ApiNonce.expires_at < now))
    return known.client


def _remember_nonce(session: Session, key_id: str, nonce: str, expires_at: datetime) -> bool:
    """Record (key, nonce); False when it was recorded before — by this process or any other."""
    statement = _REMEMBER_NONCE[session.get_bind().dialect.name == "postgresql"]
    row = session.execute(statement, {"key_id": key_id, "nonce": nonce, "expires_at": expires_at})
    return row.scalar_one_or_none() is not None


def _remember_nonce_statement(insert: Any) -> Any:
    # On the table, not the ORM class, and built once: an ORM bulk INSERT built per request cost every
    # signed call about a quarter of a millisecond of CPU (docs/benchmarks.md, bench:push).
    nonces = ApiNonce.__table__
    return (
        insert(nonces)
        .values(key_id=bindparam("key_id"), nonce=bindparam("nonce"), expires_at=bindparam("expires_at"))
        .on_conflict_do_nothing(index_elements=["key_id", "nonce"])
        .returning(nonces.c.nonce)
    )


# Keyed by "is PostgreSQL": the two dialects spell ON CONFLICT DO NOTHING alike but build it apart.
_REMEMBER_NONCE = {
    True: _remember_nonce_statement(postgresql.insert),
    False: _remember_nonce_statement(sqlite.insert),
}


def _claim_touch(known: _KnownKey, now: datetime) -> bool:
    """True for the one request of this process that records the key's use this minute."""
    with _KEYS_LOCK:
        if known.last_used_at is not None and now - known.last_used_at <= TOUCH_EVERY:
            return False
        known.last_used_at = now
        return True
