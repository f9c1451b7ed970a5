"""Key rotation and its state: `tracker keys rotate` re-encrypts every contact not yet under the current
key and cipher, `tracker keys status` counts the rows per key.

Rotation goes in batches, each its own transaction (rows locked while re-encrypted, so a concurrent edit
waits instead of being overwritten), oldest id first. A row counts as done when all its ciphertexts carry
the current header (algorithm and key id): a second run finds nothing to do (idempotent), an interrupted
run continues where it stopped (resumable). The blind indexes are recomputed under the current key in the
same write (the Contact flush hook), so look-ups keep working throughout: they ask every configured key's
index until the old key is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from tracker.people.models import AuditEntry
from tracker.pii.cipher import TAGS, VERSION, active
from tracker.tickets.models import Contact

ENCRYPTED = ("phone", "email", "address", "id_number")
DEFAULT_BATCH = 500


def current_header() -> str:
    keyring = active()
    return f"{VERSION}:{TAGS[keyring.cipher]}:{keyring.current.kid}:"


def _stored(name: str):
    # The column as stored text: the ciphertext's header is compared, not the decrypted value.
    return type_coerce(Contact.__table__.c[f"{name}_ct"], String)


def _stale_condition():
    header = current_header()
    return or_(
        *(
            (_stored(name).is_not(None)) & (func.substr(_stored(name), 1, len(header)) != header)
            for name in ENCRYPTED
        )
    )


def rotate_batch(session: Session, *, batch_size: int = DEFAULT_BATCH) -> int:
    """Re-encrypt up to `batch_size` stale contacts under the current key; how many. The caller commits."""
    ids = list(
        session.scalars(select(Contact.id).where(_stale_condition()).order_by(Contact.id).limit(batch_size))
    )
    if not ids:
        return 0
    contacts = session.scalars(
        select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id).with_for_update()
    ).all()
    for contact in contacts:
        # Read under whichever key sealed them; written back under the current one (EncryptedText), the
        # blind indexes with them (Contact's flush hook).
        for name in ENCRYPTED:
            if getattr(contact, name) is not None:
                flag_modified(contact, name)
    session.flush()
    return len(contacts)


@dataclass
class RotationResult:
    key_id: str
    cipher: str
    rows: int = 0
    batches: int = 0


def rotate(
    session_scope: Callable, url: str, *, now: datetime, batch_size: int = DEFAULT_BATCH, progress=None
) -> RotationResult:
    """Rotate every stale contact, one committed transaction per batch; audited once at the end."""
    keyring = active()
    result = RotationResult(keyring.current.kid, keyring.cipher)
    while True:
        with session_scope(url) as session:
            done = rotate_batch(session, batch_size=batch_size)
        if not done:
            break
        result.rows += done
        result.batches += 1
        if progress:
            progress(result.rows)
    with session_scope(url) as session:
        session.add(
            AuditEntry(
                at=now,
                action="pii.keys_rotated",
                object_type="contacts",
                object_id="*",
                detail={"key_id": result.key_id, "cipher": result.cipher, "rows": result.rows},
            )
        )
    return result


@dataclass
class KeyStatus:
    current_key: str
    cipher: str
    keys: list[str]
    source: str
    # Per encrypted column: {"algorithm:key id": rows}, "other" for tokens of no configured key.
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    stale_rows: int = 0


def key_status(session: Session) -> KeyStatus:
    keyring = active()
    status = KeyStatus(keyring.current.kid, keyring.cipher, [k.kid for k in keyring.keys], keyring.source)
    for name in ENCRYPTED:
        stored = _stored(name)
        total = session.scalar(select(func.count()).where(stored.is_not(None))) or 0
        counts: dict[str, int] = {}
        for cipher_name, tag in TAGS.items():
            for key in keyring.keys:
                header = f"{VERSION}:{tag}:{key.kid}:"
                n = (
                    session.scalar(select(func.count()).where(func.substr(stored, 1, len(header)) == header))
                    or 0
                )
                if n:
                    counts[f"{cipher_name}:{key.kid}"] = n
        if total - sum(counts.values()):
            counts["other"] = total - sum(counts.values())
        status.columns[name] = counts
    status.stale_rows = (
        session.scalar(select(func.count()).select_from(Contact).where(_stale_condition())) or 0
    )
    return status
