"""The canonical form of an audit entry and its digest. Pure functions: the writer, `tracker audit verify`
and migration 0027 all hash through here, so they cannot disagree."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes

from tracker.config import AUDIT_HASH_ALGORITHMS

ALGORITHMS = AUDIT_HASH_ALGORITHMS
DEFAULT_ALGORITHM = "sha256"
# The predecessor of the first entry ever written.
GENESIS_HASH = "0" * 64


def digest(algorithm: str, data: bytes) -> str:
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algorithm == "sm3":
        # GB/T 32905-2016, from the cryptography package (OpenSSL); hashlib has no SM3 everywhere.
        hasher = hashes.Hash(hashes.SM3())
        hasher.update(data)
        return hasher.finalize().hex()
    raise ValueError(f"unknown audit hash algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")


def canonical_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times are aware datetimes")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(
    *,
    seq: int,
    at: datetime,
    user_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    detail: dict[str, Any] | None,
    ip: str | None,
    prev_hash: str,
    algorithm: str,
) -> bytes:
    """Every column an auditor reads, and the link to the predecessor, as sorted compact JSON."""
    record = {
        "seq": seq,
        "at": canonical_time(at),
        "user_id": user_id,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "detail": detail or {},
        "ip": ip,
        "prev": prev_hash,
        "alg": algorithm,
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(algorithm: str, **fields: Any) -> str:
    return digest(algorithm, canonical_bytes(algorithm=algorithm, **fields))


def hash_of_entry(entry: Any) -> str:
    """The hash an audit entry must carry, from its own fields and its recorded algorithm and predecessor:
    what the writer stores and what `tracker audit verify` recomputes."""
    return entry_hash(
        entry.hash_algorithm,
        seq=entry.seq,
        at=entry.at,
        user_id=entry.user_id,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        detail=entry.detail,
        ip=entry.ip,
        prev_hash=entry.prev_hash,
    )
