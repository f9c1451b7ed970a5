"""Sealing personal data: SM4-GCM (or AES-256-GCM) ciphertext tagged with its algorithm and key id, and
an HMAC-SM3 blind index for the values looked up by equality (phone, ID number, e-mail).

The one place that encrypts: `EncryptedText`, the column type of the encrypted columns, so every ORM and
Core write is sealed by SQLAlchemy's bind processing; the writers that bypass SQLAlchemy's types (the
COPY and the one-statement push of tracker/workflow/opening.py, the benchmark generator) pass their rows through
`seal_row`, which runs the same type's processing. Blind indexes are computed by `contact_indexes` (the
Contact model's flush hook and tracker/workflow/opening.py's rows).

A token reads ``pii1:<alg>:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``. The header and the column's name
are the GCM associated data, so a token moved to another column, or its header edited to name another
key or algorithm, fails authentication like a flipped ciphertext bit (`PiiError`).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from tracker.pii.keys import Key, Keyring, load_keyring
from tracker.security import normalise_phone  # the one definition; re-exported for the writers

VERSION = "pii1"
# The algorithm tag in a token, per TRACKER_PII_CIPHER value.
TAGS = {"sm4-gcm": "sm4", "aes-gcm": "aes"}
_CIPHER_OF_TAG = {tag: name for name, tag in TAGS.items()}
NONCE_BYTES = 12
TAG_BYTES = 16
INDEX_BYTES = 16  # a blind index keeps 128 bits of the HMAC-SM3: 32 hex characters
INDEX_LENGTH = INDEX_BYTES * 2


class PiiError(Exception):
    """A stored value cannot be decrypted: unknown key id, or ciphertext that fails authentication."""


# -- the process's keyring ----------------------------------------------------------------------------

_lock = threading.Lock()
_active: Keyring | None = None


def install(keyring: Keyring) -> None:
    """Make `keyring` the process's keyring (the web app, the worker, the CLI do at start)."""
    global _active
    with _lock:
        _active = keyring


def active() -> Keyring:
    """The process's keyring; when no entry point installed one (a script, a migration run by alembic),
    the one the environment names, by the same rules as tracker.config.Settings (the embedded default's
    instance folder and database URL, read here without importing the settings module, which sits above
    the models)."""
    global _active
    with _lock:
        if _active is None:
            url = os.environ.get("TRACKER_DATABASE_URL") or ""
            instance = Path(os.environ.get("TRACKER_INSTANCE_DIR") or Path.cwd() / "instance").resolve()
            _active = load_keyring(
                dict(os.environ), instance_dir=instance, embedded=not url or url.startswith("sqlite")
            )
        return _active


@contextmanager
def using(keyring: Keyring) -> Iterator[Keyring]:
    """`keyring` for the duration (tests, `tracker keys` against another key list); the previous after."""
    global _active
    with _lock:
        before, _active = _active, keyring
    try:
        yield keyring
    finally:
        with _lock:
            _active = before


# -- sealing --------------------------------------------------------------------------------------------


def _aad(header: str, column: str) -> bytes:
    return f"{header}:{column}".encode()


def seal(plain: str, column: str, keyring: Keyring | None = None) -> str:
    """`plain` encrypted under the current key with the configured cipher, bound to `column`."""
    keyring = keyring or active()
    key = keyring.current
    tag = TAGS[keyring.cipher]
    header = f"{VERSION}:{tag}:{key.kid}"
    nonce = os.urandom(NONCE_BYTES)
    data = plain.encode("utf-8")
    if tag == "aes":
        body = AESGCM(key.aes).encrypt(nonce, data, _aad(header, column))
    else:
        encryptor = Cipher(algorithms.SM4(key.sm4), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(_aad(header, column))
        body = encryptor.update(data) + encryptor.finalize() + encryptor.tag
    return f"{header}:{base64.b64encode(nonce + body).decode('ascii')}"


def header_of(token: str) -> tuple[str, str] | None:
    """(cipher name, key id) of a token, or None when it is not one."""
    parts = token.split(":", 3)
    if len(parts) != 4 or parts[0] != VERSION or parts[1] not in _CIPHER_OF_TAG:
        return None
    return _CIPHER_OF_TAG[parts[1]], parts[2]


def unseal(token: str, column: str, keyring: Keyring | None = None) -> str:
    """The plain value of `token`; PiiError naming the column (never the value) when it cannot be read."""
    keyring = keyring or active()
    parts = token.split(":", 3)
    if len(parts) != 4 or parts[0] != VERSION or parts[1] not in _CIPHER_OF_TAG:
        raise PiiError(f"{column}: 不是个人信息密文（stored value is not a {VERSION} token）")
    _version, tag, kid, encoded = parts
    key = keyring.get(kid)
    if key is None:
        raise PiiError(
            f"{column}: 密文的密钥 {kid!r} 未配置（key id {kid!r} is not in TRACKER_PII_KEYS; "
            "add the old key back after the current one until `tracker keys rotate` has run)"
        )
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PiiError(f"{column}: 密文已损坏（not base64）") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise PiiError(f"{column}: 密文已损坏（too short）")
    nonce, body = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    aad = _aad(f"{VERSION}:{tag}:{kid}", column)
    try:
        if tag == "aes":
            data = AESGCM(key.aes).decrypt(nonce, body, aad)
        else:
            decryptor = Cipher(algorithms.SM4(key.sm4), modes.GCM(nonce, body[-TAG_BYTES:])).decryptor()
            decryptor.authenticate_additional_data(aad)
            data = decryptor.update(body[:-TAG_BYTES]) + decryptor.finalize()
    except InvalidTag:
        raise PiiError(
            f"{column}: 密文校验失败，已拒绝（authentication failed: altered, or another key)"
        ) from None
    return data.decode("utf-8")


# -- blind indexes --------------------------------------------------------------------------------------


# What each indexed kind is compared by: the same number however it was written.
_NORMALISE = {
    "phone": normalise_phone,
    "id_number": lambda value: value.strip().upper(),
    "email": lambda value: value.strip().lower(),
}


def blind(kind: str, value: str | None, key: Key | None = None) -> str | None:
    """The blind index of `value` under `key` (the current key by default): HMAC-SM3 of the normalised
    value with the key's index key, 128 bits in hex. None for an empty value."""
    if value is None:
        return None
    normal = _NORMALISE[kind](value)
    if not normal:
        return None
    mac = hmac.HMAC((key or active().current).index, hashes.SM3())
    mac.update(f"{kind}\0{normal}".encode())
    return mac.finalize()[:INDEX_BYTES].hex()


def blinds(kind: str, value: str | None) -> list[str]:
    """The index values `value` may be stored under: one per configured key, so rows not yet rotated are
    found too. Compare with ``IN``: still one index look-up per key."""
    keyring = active()
    found = [blind(kind, value, key) for key in keyring.keys]
    return [b for b in dict.fromkeys(found) if b is not None]


# The contacts' indexed columns: blind index column -> (kind, the model attribute it indexes).
CONTACT_INDEXES = {"phone_bidx": "phone", "id_number_bidx": "id_number", "email_bidx": "email"}


def contact_indexes(phone: str | None, id_number: str | None, email: str | None) -> tuple[Any, Any, Any]:
    """(phone_bidx, id_number_bidx, email_bidx) of a contact's plain values."""
    return blind("phone", phone), blind("id_number", id_number), blind("email", email)


# -- the column type -----------------------------------------------------------------------------------


class EncryptedText(TypeDecorator):
    """Text sealed on the way in, unsealed on the way out; `column` (``table.field``) is bound into the
    ciphertext. Nothing compares it but IS [NOT] NULL: the ciphertext is randomised, so an equality or
    LIKE would silently match nothing — look up by the blind index instead (`blinds`)."""

    impl = Text
    cache_ok = True

    class comparator_factory(Text.Comparator):
        def operate(self, op, *other, **kwargs):
            if op in (operators.is_, operators.is_not, operators.isnot):
                return super().operate(op, *other, **kwargs)
            raise TypeError("an encrypted column is compared by its blind index (tracker.pii.cipher.blinds)")

    def __init__(self, column: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.column = column

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return seal(str(value), self.column)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return unseal(value, self.column)


def seal_row(table: Any, columns: Sequence[str], row: Sequence[Any]) -> tuple[Any, ...]:
    """`row` (values in `columns` order, for `table`) with its encrypted columns sealed — for writers that
    bypass SQLAlchemy's bind processing (COPY, JSON records); the type's own processing, so one place."""
    at = _encrypted_at(table, tuple(columns))
    if not at:
        return tuple(row)
    values = list(row)
    for i, kind in at:
        values[i] = kind.process_bind_param(values[i], None)
    return tuple(values)


@lru_cache(maxsize=64)
def _encrypted_at(table: Any, columns: tuple[str, ...]) -> tuple[tuple[int, EncryptedText], ...]:
    # Once per table and column list, not for every row (about 7 µs a row of an import; docs/benchmarks.md).
    return tuple(
        (i, table.c[name].type)
        for i, name in enumerate(columns)
        if name in table.c and isinstance(table.c[name].type, EncryptedText)
    )


def has_encrypted(table: Any) -> bool:
    return any(isinstance(c.type, EncryptedText) for c in table.c)
