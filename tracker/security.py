"""Passwords, secrets and personal-data masking. Pure functions, no framework."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet

_hasher = PasswordHasher()

# Personal numbers in free text: anonymisation redacts them (tracker.privacy.service.redact_text), the check
# before a public reply warns of them (tracker.workorders.reply_check). Order kept: ID 18, ID 15, mobile,
# landline, e-mail.
PERSONAL_NUMBER_PATTERNS = (
    re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),  # 身份证 (18)
    re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])"),  # 身份证 (15, old)
    re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"),  # mobile
    re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)"),  # landline with area code
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_NOBODY_HASH: str | None = None


def verify_password_of_nobody(password: str) -> None:
    """Spend what verifying a real account costs, for a username that does not exist: argon2 against a
    hash made with the same parameters (once per process), so timing does not reveal unknown users."""
    global _NOBODY_HASH
    if _NOBODY_HASH is None:
        _NOBODY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_NOBODY_HASH, password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(("tracker-secrets:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt_secret(secret_key: str, token: str) -> str:
    return _fernet(secret_key).decrypt(token.encode()).decode()


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


# However short a number, at least this many of its characters are hidden: a 7-digit landline used to
# show in full (3 leading + 4 trailing characters), to auditors and to API clients.
MIN_HIDDEN = 4


def _mask_middle(text: str, head: int, tail: int) -> str:
    """Keep at most `head` leading and `tail` trailing characters, hiding at least MIN_HIDDEN.

    Short values lose their visible part first (a value of MIN_HIDDEN characters or fewer is all stars),
    so no length of number is ever shown whole.
    """
    hidden = min(len(text), max(MIN_HIDDEN, len(text) - head - tail))
    visible = len(text) - hidden
    shown_head = min(head, visible // 2)
    shown_tail = visible - shown_head
    return text[:shown_head] + "*" * hidden + (text[len(text) - shown_tail :] if shown_tail else "")


def normalise_phone(phone: str) -> str:
    """Digits only, without the +86 / 0086 country prefix of a mobile number."""
    digits = re.sub(r"\D", "", phone or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix) :]
    return digits


def mask_phone(phone: str | None) -> str:
    """138****5678: the first three and last four characters of an 11-digit number; fewer when shorter."""
    if not phone:
        return ""
    return _mask_middle(phone, 3, 4)


def mask_name(name: str | None) -> str:
    """张** — the family name stays, the rest is hidden."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return mask_phone(email)
    local_part, domain = email.split("@", 1)
    return (local_part[:1] + "***@" + domain) if local_part else "***@" + domain


def mask_id_number(number: str | None) -> str:
    """1101**********002X: the first and last four characters of an 18-character number."""
    if not number:
        return ""
    return _mask_middle(number, 4, 4)


def mask_address(address: str | None) -> str:
    if not address:
        return ""
    keep = min(6, len(address) // 2)
    return address[:keep] + "****"
