"""Passwords, secrets and personal-data masking. Pure functions, no framework."""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet

_hasher = PasswordHasher()


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


def mask_phone(phone: str | None) -> str:
    """138****5678: keep the first three and last four digits of an 11-digit number."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


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
    if not number:
        return ""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_address(address: str | None) -> str:
    if not address:
        return ""
    keep = min(6, len(address) // 2)
    return address[:keep] + "****"
