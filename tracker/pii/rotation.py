"""Key rotation and its state: `tracker keys rotate` re-encrypts every row of every encrypted column
(each `EncryptedText` column in the metadata: contacts, 回访 phones, 办理情况 numbers, and any added later —
`encrypted_columns` finds them, so a new one cannot be forgotten) not yet under the current key and cipher;
`tracker keys status` counts the values per key.

Rotation goes in batches, each its own transaction (rows locked while re-encrypted, so a concurrent edit
waits instead of being overwritten), table by table, oldest id first. A row counts as done when all its
ciphertexts carry the current header (algorithm and key id): a second run finds nothing to do
(idempotent), an interrupted run continues where it stopped (resumable). The contacts' blind indexes are
recomputed under the current key in the same write (the Contact flush hook), so look-ups keep working
throughout: they ask every configured key's index until the old key is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

import tracker.schema  # noqa: F401 — every model module: the registry `encrypted_columns` reads is complete
from tracker.orm import Base
from tracker.people.models import AuditEntry
from tracker.pii.cipher import TAGS, VERSION, EncryptedText, active

DEFAULT_BATCH = 500


@dataclass(frozen=True)
class EncryptedModel:
    """A mapped class with encrypted columns: (attribute, column) pairs, e.g. ("phone", revisits.phone_ct)."""

    entity: Any
    attributes: tuple[tuple[str, Column], ...]

    @property
    def table(self) -> str:
        return self.entity.__table__.name

    @property
    def primary_key(self) -> Any:
        return self.entity.__mapper__.primary_key[0]


def encrypted_columns() -> list[EncryptedModel]:
    """Every mapped class with an `EncryptedText` column, by table name (the rotation's order)."""
    found = []
    for mapper in Base.registry.mappers:
        attributes = tuple(
            (prop.key, prop.columns[0])
            for prop in mapper.column_attrs
            if isinstance(prop.columns[0].type, EncryptedText)
        )
        if attributes:
            found.append(EncryptedModel(mapper.class_, attributes))
    return sorted(found, key=lambda m: m.table)


def current_header() -> str:
    keyring = active()
    return f"{VERSION}:{TAGS[keyring.cipher]}:{keyring.current.kid}:"


def _stored(column: Column):
    # The column as stored text: the ciphertext's header is compared, not the decrypted value.
    return type_coerce(column, String)


def _stale_condition(model: EncryptedModel):
    header = current_header()
    return or_(
        *(
            (_stored(column).is_not(None)) & (func.substr(_stored(column), 1, len(header)) != header)
            for _, column in model.attributes
        )
    )


def rotate_batch(session: Session, *, batch_size: int = DEFAULT_BATCH) -> int:
    """Re-encrypt up to `batch_size` stale rows (of the first table that has any) under the current key;
    how many. The caller commits; 0 means every encrypted column is done."""
    for model in encrypted_columns():
        key = model.primary_key
        ids = list(
            session.scalars(select(key).where(_stale_condition(model)).order_by(key).limit(batch_size))
        )
        if not ids:
            continue
        rows = session.scalars(select(model.entity).where(key.in_(ids)).order_by(key).with_for_update()).all()
        for row in rows:
            # Read under whichever key sealed them; written back under the current one (EncryptedText),
            # a contact's blind indexes with them (Contact's flush hook).
            for name, _ in model.attributes:
                if getattr(row, name) is not None:
                    flag_modified(row, name)
        session.flush()
        return len(rows)
    return 0


@dataclass
class RotationResult:
    key_id: str
    cipher: str
    rows: int = 0
    batches: int = 0


def rotate(
    session_scope: Callable, url: str, *, now: datetime, batch_size: int = DEFAULT_BATCH, progress=None
) -> RotationResult:
    """Rotate every stale row, one committed transaction per batch; audited once at the end."""
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
                object_type="encrypted_columns",
                object_id="*",
                detail={
                    "key_id": result.key_id,
                    "cipher": result.cipher,
                    "rows": result.rows,
                    "tables": [m.table for m in encrypted_columns()],
                },
            )
        )
    return result


@dataclass
class KeyStatus:
    current_key: str
    cipher: str
    keys: list[str]
    source: str
    # Per encrypted column ("table.field"): {"algorithm:key id": rows}, "other" for tokens of no configured key.
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    stale_rows: int = 0


def key_status(session: Session) -> KeyStatus:
    keyring = active()
    status = KeyStatus(keyring.current.kid, keyring.cipher, [k.kid for k in keyring.keys], keyring.source)
    for model in encrypted_columns():
        for _, column in model.attributes:
            status.columns[column.type.column] = _column_counts(session, column, keyring)
        status.stale_rows += (
            session.scalar(select(func.count()).select_from(model.entity).where(_stale_condition(model))) or 0
        )
    return status


def _column_counts(session: Session, column: Column, keyring: Any) -> dict[str, int]:
    stored = _stored(column)
    total = session.scalar(select(func.count()).where(stored.is_not(None))) or 0
    counts: dict[str, int] = {}
    for cipher_name, tag in TAGS.items():
        for key in keyring.keys:
            header = f"{VERSION}:{tag}:{key.kid}:"
            n = session.scalar(select(func.count()).where(func.substr(stored, 1, len(header)) == header)) or 0
            if n:
                counts[f"{cipher_name}:{key.kid}"] = n
    if total - sum(counts.values()):
        counts["other"] = total - sum(counts.values())
    return counts
