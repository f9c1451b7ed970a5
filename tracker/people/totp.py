"""The second factor: time-based one-time passwords (RFC 6238, pyotp) and single-use recovery codes.

The secret is stored encrypted with the secret key (it must be read back to check a code); recovery codes
are stored as argon2 hashes and each is good once. A code is accepted once: the step it belongs to is
recorded with a conditional UPDATE, so a code replayed — even by a request racing the first — is refused.
Which roles must have a second factor is configured (TRACKER_TOTP_REQUIRED_ROLES, administrators by
default); an account of such a role without one enrols at its next sign-in.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import datetime

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from tracker.errors import PermissionDenied, ValidationError
from tracker.people.models import AuditEntry, User
from tracker.security import decrypt_secret, encrypt_secret, hash_password, verify_password

ISSUER = "政民互动工单系统"
STEP_SECONDS = 30
# One step either side: a phone's clock a little off still works; a code lives at most 90 seconds.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
MAX_CODE_LENGTH = 32


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (shown once, as a QR code and as text)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=username, issuer_name=ISSUER)


def is_required(user: User, required_roles: frozenset[str]) -> bool:
    return user.role in required_roles


def is_enrolled(user: User) -> bool:
    return user.totp_secret_encrypted is not None


def _normalise(code: str) -> str:
    """ASCII letters and digits only. NFKC first: a Chinese input method may type full-width digits."""
    folded = unicodedata.normalize("NFKC", (code or "")[:MAX_CODE_LENGTH])
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def enrol(
    session: Session, user: User, secret: str, code: str, *, secret_key: str, now: datetime, ip: str | None
) -> list[str]:
    """Confirm the authenticator holds `secret` (a current code), store it, and return new recovery codes
    — the only time they are shown."""
    step = _matching_step(secret, _normalise(code), now)
    if step is None:
        session.add(AuditEntry(at=now, user_id=user.id, action="totp.enrol_failed", ip=ip, detail={}))
        raise ValidationError("验证码不正确，请核对手机时间后重试", fields={"code": "不正确"})
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    user.totp_secret_encrypted = encrypt_secret(secret_key, secret)
    user.totp_enrolled_at = now
    user.totp_last_step = step
    user.totp_recovery_hashes = [hash_password(c.replace("-", "")) for c in codes]
    session.add(AuditEntry(at=now, user_id=user.id, action="totp.enrolled", ip=ip, detail={}))
    session.flush()
    return codes


def verify(session: Session, user: User, code: str, *, secret_key: str, now: datetime, ip: str | None) -> str:
    """Check a one-time code or a recovery code; return which ("totp" or "recovery"). A wrong or replayed
    code raises PermissionDenied; every outcome is audited."""
    if not is_enrolled(user):
        raise PermissionDenied("该账户未启用动态验证码")
    normalised = _normalise(code)
    step = _matching_step(decrypt_secret(secret_key, user.totp_secret_encrypted), normalised, now)
    if step is not None:
        accepted = session.execute(
            update(User)
            .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if accepted:
            user.totp_last_step = step
            return "totp"
        session.add(AuditEntry(at=now, user_id=user.id, action="totp.replayed", ip=ip, detail={}))
        raise PermissionDenied("该验证码已使用过，请等待下一个验证码")
    if len(normalised) == 10:
        remaining = list(user.totp_recovery_hashes or [])
        for index, hashed in enumerate(remaining):
            if verify_password(hashed, normalised):
                del remaining[index]
                user.totp_recovery_hashes = remaining
                session.add(
                    AuditEntry(
                        at=now,
                        user_id=user.id,
                        action="totp.recovery_used",
                        ip=ip,
                        detail={"left": len(remaining)},
                    )
                )
                session.flush()
                return "recovery"
    session.add(AuditEntry(at=now, user_id=user.id, action="totp.failed", ip=ip, detail={}))
    raise PermissionDenied("验证码不正确")


def remove(session: Session, user: User, *, admin: User, now: datetime, ip: str | None) -> None:
    """An administrator removes someone's second factor (a lost phone); if their role requires one,
    they enrol again at their next sign-in."""
    if admin.role != "admin":
        raise PermissionDenied("只有管理员可以重置动态验证码")
    user.totp_secret_encrypted = None
    user.totp_enrolled_at = None
    user.totp_recovery_hashes = []
    session.add(
        AuditEntry(
            at=now,
            user_id=admin.id,
            action="totp.removed",
            object_type="user",
            object_id=str(user.id),
            ip=ip,
            detail={"username": user.username},
        )
    )
    session.flush()
