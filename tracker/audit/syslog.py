"""Forward the audit log to the department's log-audit platform: syslog, RFC 5424, over TCP or TLS.

Entries go out after they commit, read by a periodic job (workers: `audit.forward`), never from the request
that wrote them: a slow or absent receiver delays the copy, never a sign-in. They are sent in `seq` order,
which is commit order (the chain's lock, tracker.audit.models), from a cursor kept in the database; the
cursor moves only after a batch was written to the socket, so delivery is at least once, and the
receiver can drop a repeat by its `seq`.

Framing: octet counting (RFC 6587 §3.4.1, the one RFC 5425 requires over TLS): "LEN SP MESSAGE".
"""

from __future__ import annotations

import json
import socket
import ssl

from sqlalchemy import select, update

from tracker.audit.models import SyslogCursor
from tracker.config import SyslogTarget
from tracker.db import session_scope
from tracker.people.models import AuditEntry

FACILITY_LOG_AUDIT = 13  # RFC 5424 §6.2.1: "log audit"
SEVERITY_WARNING, SEVERITY_NOTICE = 4, 5
APP_NAME = "tracker"
# RFC 5612 reserves enterprise number 32473 for documentation and examples; an office with its own
# number can change it here — the receiver matches on the SD-ID.
SD_ID = "audit@32473"
BATCH = 500
TIMEOUT_SECONDS = 10


def _severity(action: str) -> int:
    failed = ("failed", "rejected", "locked", "broken", "replayed")
    return SEVERITY_WARNING if any(word in action for word in failed) else SEVERITY_NOTICE


def _sd_value(value: object) -> str:
    # RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' are escaped with a backslash.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(value: str, limit: int) -> str:
    """HOSTNAME, APP-NAME and MSGID are printable US-ASCII without spaces, or "-"."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def format_entry(entry: AuditEntry, hostname: str) -> bytes:
    """One audit entry as an RFC 5424 message (without the transport's length prefix)."""
    params = {
        "seq": entry.seq,
        "hash": entry.entry_hash,
        "prev": entry.prev_hash,
        "alg": entry.hash_algorithm,
    }
    if entry.user_id is not None:
        params["user"] = entry.user_id
    if entry.ip:
        params["ip"] = entry.ip
    if entry.object_type:
        params["object"] = f"{entry.object_type}:{entry.object_id}"
    structured = "[" + SD_ID + "".join(f' {key}="{_sd_value(value)}"' for key, value in params.items()) + "]"
    header = " ".join(
        [
            f"<{FACILITY_LOG_AUDIT * 8 + _severity(entry.action)}>1",
            entry.at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            _token(hostname, 255),
            APP_NAME,
            "-",
            _token(entry.action, 32),
            structured,
        ]
    )
    message = json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True)
    # The BOM says the MSG part is UTF-8 (RFC 5424 §6.4).
    return header.encode("ascii") + b" \xef\xbb\xbf" + message.encode("utf-8")


def frame(message: bytes) -> bytes:
    return str(len(message)).encode("ascii") + b" " + message


def _connect(target: SyslogTarget) -> socket.socket:
    sock = socket.create_connection((target.host, target.port), timeout=TIMEOUT_SECONDS)
    if not target.use_tls:
        return sock
    context = ssl.create_default_context(cafile=target.ca_file)
    return context.wrap_socket(sock, server_hostname=target.host)


def forward_pending(database_url: str, target: SyslogTarget, *, hostname: str | None = None) -> int:
    """Send every committed entry past the cursor, in order; return how many were sent."""
    hostname = hostname or socket.gethostname()
    sent = 0
    while True:
        with session_scope(database_url) as session:
            cursor = session.scalar(select(SyslogCursor.forwarded_seq).where(SyslogCursor.id == 1))
            entries = session.scalars(
                select(AuditEntry).where(AuditEntry.seq > cursor).order_by(AuditEntry.seq).limit(BATCH)
            ).all()
            frames = b"".join(frame(format_entry(entry, hostname)) for entry in entries)
            last_seq = entries[-1].seq if entries else cursor
        if not entries:
            return sent
        # Outside any transaction: a slow receiver holds no lock (on SQLite, a transaction is the
        # database's one write lock).
        with _connect(target) as sock:
            sock.sendall(frames)
        with session_scope(database_url) as session:
            session.execute(
                update(SyslogCursor)
                .where(SyslogCursor.id == 1, SyslogCursor.forwarded_seq < last_seq)
                .values(forwarded_seq=last_seq)
            )
        sent += len(entries)
        if len(entries) < BATCH:
            return sent


def forwarded_seq(session) -> int:
    return session.scalar(select(SyslogCursor.forwarded_seq).where(SyslogCursor.id == 1))
