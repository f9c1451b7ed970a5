"""Audit entries reach a syslog receiver as RFC 5424 messages over TCP (and TLS), in order, after they
commit, and again after the receiver was away."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import ssl
import threading
from contextlib import contextmanager

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from tracker.audit.syslog import SyslogTarget, forward_pending
from tracker.db import session_factory, session_scope
from tracker.migrate import upgrade
from tracker.people.models import AuditEntry

AT = dt.datetime(2026, 3, 4, 2, 0, 0, 123456, tzinfo=dt.UTC)
# RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG]
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>(?P<version>1) (?P<timestamp>\S+) (?P<hostname>\S+) (?P<app>\S+) (?P<procid>\S+) "
    rb"(?P<msgid>\S+) (?P<sd>\[(?:[^\]\\]|\\.)*\]|-)(?: (?P<msg>.*))?$",
    re.DOTALL,
)
SD_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def read_frames(data: bytes) -> list[bytes]:
    """Split an octet-counted stream (RFC 6587 §3.4.1): LEN SP MSG …"""
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[: int(length)])
        data = rest[int(length) :]
    return frames


class Receiver:
    """A syslog receiver on a local port: accepts connections and keeps every byte they send."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls_context = tls_context
        self.received = b""
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                if self.tls_context:
                    conn = self.tls_context.wrap_socket(conn, server_side=True)
                with conn:
                    chunks = []
                    while chunk := conn.recv(65536):
                        chunks.append(chunk)
            except (ssl.SSLError, OSError):
                continue  # a client that refused our certificate: wait for the next
            self.received += b"".join(chunks)
            self.connections += 1

    def messages(self, count: int) -> list[bytes]:
        """The first `count` messages, once the sender has closed that many connections' worth."""
        while len(read_frames(self.received)) < count:
            assert self._thread.is_alive()
        return read_frames(self.received)

    def close(self):
        self.listener.close()


@contextmanager
def receiver(tls_context=None):
    r = Receiver(tls_context)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def database(blank_database_url):
    upgrade(blank_database_url)
    return blank_database_url


def write(url, *actions):
    with session_scope(url) as session:
        for action in actions:
            session.add(
                AuditEntry(
                    at=AT,
                    user_id=None,
                    action=action,
                    object_type="ticket",
                    object_id="7",
                    detail={"字段": "电话", "quote": 'a"b]c'},
                    ip="10.0.0.9",
                )
            )


def test_entries_arrive_as_rfc5424_frames_in_order(database):
    write(database, "contact.revealed", "login.failed")
    with receiver() as r:
        sent = forward_pending(
            database, SyslogTarget.parse(f"tcp://127.0.0.1:{r.port}"), hostname="tracker-web-1"
        )
        assert sent == 2
        first, second = r.messages(2)
    parsed = RFC5424.match(first)
    assert parsed, first
    assert parsed["version"] == b"1"
    assert int(parsed["pri"]) == 13 * 8 + 5  # log audit, notice
    assert int(RFC5424.match(second)["pri"]) == 13 * 8 + 4  # a failure: warning
    assert parsed["timestamp"] == b"2026-03-04T02:00:00.123456Z"
    assert (parsed["hostname"], parsed["app"], parsed["msgid"]) == (
        b"tracker-web-1",
        b"tracker",
        b"contact.revealed",
    )
    sd = parsed["sd"].decode()
    assert sd.startswith("[audit@32473 ")
    params = dict(SD_PARAM.findall(sd))
    with session_scope(database) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).first()
        assert params["seq"] == str(entry.seq) and params["hash"] == entry.entry_hash
        assert (
            params["prev"] == entry.prev_hash
            and params["object"] == "ticket:7"
            and params["ip"] == "10.0.0.9"
        )
    assert parsed["msg"].startswith(b"\xef\xbb\xbf")  # UTF-8, said with a BOM
    assert json.loads(parsed["msg"][3:].decode()) == {"字段": "电话", "quote": 'a"b]c'}
    assert int(dict(SD_PARAM.findall(RFC5424.match(second)["sd"].decode()))["seq"]) == int(params["seq"]) + 1


def test_only_committed_entries_are_sent_and_none_twice(database):
    write(database, "user.created")
    open_transaction = session_factory(database)()
    open_transaction.add(AuditEntry(at=AT, action="uncommitted", detail={}))
    open_transaction.flush()
    try:
        with receiver() as r:
            target = SyslogTarget.parse(f"tcp://127.0.0.1:{r.port}")
            # SQLite allows one writer: its open transaction would hold the forwarder's cursor update.
            if database.startswith("sqlite"):
                open_transaction.rollback()
            assert forward_pending(database, target) == 1
            assert forward_pending(database, target) == 0
            assert [RFC5424.match(m)["msgid"] for m in r.messages(1)] == [b"user.created"]
    finally:
        open_transaction.rollback()
        open_transaction.close()


def test_a_receiver_that_was_away_gets_everything_when_it_is_back(database):
    write(database, "login.completed")
    closed_port = socket.create_server(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    with pytest.raises(OSError):
        forward_pending(database, SyslogTarget.parse(f"tcp://127.0.0.1:{port}"))
    write(database, "password.changed")
    with receiver() as r:
        assert forward_pending(database, SyslogTarget.parse(f"tcp://127.0.0.1:{r.port}")) == 2
        assert [RFC5424.match(m)["msgid"] for m in r.messages(2)] == [b"login.completed", b"password.changed"]


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "syslog.crt", tmp_path / "syslog.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_with_the_receivers_certificate(database, tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    write(database, "totp.enrolled")
    with receiver(server_context) as r:
        # Without the receiver's CA the connection is refused: nothing goes out unauthenticated.
        with pytest.raises(ssl.SSLError):
            forward_pending(database, SyslogTarget.parse(f"tls://localhost:{r.port}"))
        target = SyslogTarget.parse(f"tls://localhost:{r.port}", ca_file=str(cert_path))
        assert forward_pending(database, target) == 1
        assert RFC5424.match(r.messages(1)[0])["msgid"] == b"totp.enrolled"


@pytest.mark.parametrize("url", ["udp://127.0.0.1:514", "http://x", "tcp://"])
def test_only_tcp_and_tls_targets(url):
    with pytest.raises(ValueError, match="TRACKER_AUDIT_SYSLOG_URL"):
        SyslogTarget.parse(url)
