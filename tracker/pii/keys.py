"""The personal-data keys: read from TRACKER_PII_KEYS / TRACKER_PII_KEYS_FILE, or generated into the
instance folder for the embedded default; never logged, never in a repr.

A key list is ``id:base64,id:base64…`` (or one entry a line in the file, ``#`` comments allowed): the
FIRST entry is the current key, which encrypts; the others only decrypt rows not yet rotated
(`tracker keys rotate`). Each key is 32 random bytes (`tracker keys new`); the cipher key and the blind
index key are derived from it with HMAC-SM3 under distinct labels, so one secret per key id is kept.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

CIPHERS = ("sm4-gcm", "aes-gcm")
DEFAULT_CIPHER = "sm4-gcm"
KEY_BYTES = 32
KEY_FILE_NAME = "pii_keys"  # in the instance folder, for the embedded default only
_KID = re.compile(r"[A-Za-z0-9_-]{1,24}")


class KeyConfigError(ValueError):
    """The personal-data keys are missing or malformed (stops the process at start)."""


def _derive(master: bytes, label: bytes) -> bytes:
    mac = hmac.HMAC(master, hashes.SM3())
    mac.update(b"tracker-pii/" + label)
    return mac.finalize()


@dataclass(frozen=True)
class Key:
    kid: str
    # Derived once: the SM4 key (16 bytes), the AES-256 key, the blind-index key. Kept out of repr.
    sm4: bytes = field(repr=False)
    aes: bytes = field(repr=False)
    index: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, kid: str, master: bytes) -> Key:
        return cls(
            kid=kid,
            sm4=_derive(master, b"sm4-gcm")[:16],
            aes=_derive(master, b"aes-gcm"),
            index=_derive(master, b"blind-index"),
        )


@dataclass(frozen=True)
class Keyring:
    """The configured keys, current first, and the cipher new ciphertext is written with."""

    keys: tuple[Key, ...]
    cipher: str = DEFAULT_CIPHER
    source: str = "environment"  # where the keys came from, for `tracker keys status` (never the keys)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("no personal-data key")
        if self.cipher not in CIPHERS:
            raise KeyConfigError(
                f"TRACKER_PII_CIPHER must be one of {', '.join(CIPHERS)}, not {self.cipher!r}"
            )

    @property
    def current(self) -> Key:
        return self.keys[0]

    def get(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def parse_keys(text: str, *, what: str) -> tuple[Key, ...]:
    """``id:base64`` entries separated by commas or lines; the error names the entry, never its key."""
    keys: list[Key] = []
    entries = [part for line in (text or "").splitlines() for part in line.split("#", 1)[0].split(",")]
    for number, raw in enumerate((e for e in entries if e.strip()), start=1):
        entry = raw.strip()
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KID.fullmatch(kid):
            raise KeyConfigError(
                f"{what}: entry {number} should be id:base64 (id of letters, digits, _ or -)"
            )
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"{what}: key {kid!r} is not valid base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyConfigError(f"{what}: key {kid!r} must be {KEY_BYTES} bytes, not {len(secret)}")
        if any(k.kid == kid for k in keys):
            raise KeyConfigError(f"{what}: key id {kid!r} given twice")
        keys.append(Key.from_secret(kid, secret))
    return tuple(keys)


def new_entry(kid: str | None = None) -> str:
    """A fresh ``id:base64`` entry (`tracker keys new`)."""
    kid = kid or datetime.now(UTC).strftime("k%Y%m%d%H%M")
    if not _KID.fullmatch(kid):
        raise KeyConfigError(f"key id {kid!r}: letters, digits, _ or -, at most 24")
    return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def _generated_file(instance_dir: Path) -> str:
    """The embedded default's key file, created (mode 0600) on first use, like instance/secret_key."""
    path = instance_dir / KEY_FILE_NAME
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the same instance made it first
            return path.read_text(encoding="utf-8")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(
                "# Personal-data key of this embedded instance, generated on first run. Back it up with the\n"
                "# database: without it the encrypted phone numbers, ID numbers, e-mails and addresses\n"
                "# cannot be read. docs/security.md, docs/operations.md.\n"
                f"{new_entry()}\n"
            )
    return path.read_text(encoding="utf-8")


def load_keyring(env: dict[str, str], *, instance_dir: Path, embedded: bool) -> Keyring:
    """The keyring the settings name. Without TRACKER_PII_KEYS(_FILE): the embedded default (SQLite)
    generates a key file in its instance folder; a production database refuses to start — a generated
    key there would sit beside the data it protects and be lost with the container."""
    cipher = (env.get("TRACKER_PII_CIPHER") or DEFAULT_CIPHER).strip().lower()
    inline = env.get("TRACKER_PII_KEYS") or ""
    path = (env.get("TRACKER_PII_KEYS_FILE") or "").strip()
    if inline.strip() and path:
        raise KeyConfigError("set TRACKER_PII_KEYS or TRACKER_PII_KEYS_FILE, not both")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyConfigError(f"TRACKER_PII_KEYS_FILE: cannot read {path!r} ({exc.strerror})") from None
        return Keyring(parse_keys(text, what="TRACKER_PII_KEYS_FILE") or _none(), cipher, f"file {path}")
    if inline.strip():
        return Keyring(parse_keys(inline, what="TRACKER_PII_KEYS"), cipher, "TRACKER_PII_KEYS")
    if not embedded:
        raise KeyConfigError(
            "no personal-data key: set TRACKER_PII_KEYS_FILE (or TRACKER_PII_KEYS) — "
            "`tracker keys new` prints one; see docs/security.md"
        )
    generated = instance_dir / KEY_FILE_NAME
    return Keyring(
        parse_keys(_generated_file(instance_dir), what=str(generated)), cipher, f"file {generated}"
    )


def _none() -> tuple[Key, ...]:
    raise KeyConfigError("TRACKER_PII_KEYS_FILE holds no key")
