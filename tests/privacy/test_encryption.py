"""Personal data encrypted at rest (issue 21 item 2): nothing plain in the raw table whichever writer wrote
it, look-ups by the blind index (an index scan on PostgreSQL), rotation, wrong and missing keys, tampered
ciphertext, and the migration that encrypts the rows written before it."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, text

from tests import factories
from tests.intake.helpers import post_signed
from tracker.config import Settings
from tracker.db import dispose_engines, session_scope
from tracker.intake import apikeys
from tracker.intake.duplicates import find_phone_duplicate
from tracker.migrate import alembic_config, upgrade
from tracker.pii import cipher, rotation
from tracker.pii.keys import KeyConfigError, Keyring, load_keyring, new_entry, parse_keys
from tracker.privacy.service import export_person, find_contacts
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Contact, Ticket
from tracker.workflow.batch_writer import COPY_THRESHOLD
from tracker.workflow.opening import open_if_new, open_new

PHONE, ID_NUMBER, EMAIL, ADDRESS = (
    "13812345678",
    "11010519491231002X",
    "li.jianguo@example.com",
    "北京市朝阳区建国路88号",
)


def _keyring(*entries: str, cipher_name: str = "sm4-gcm") -> Keyring:
    return Keyring(parse_keys(",".join(entries), what="test"), cipher_name)


OLD, NEW = new_entry("old"), new_entry("new")


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


@pytest.fixture
def key(session, now, dept):
    """A hotline API key (id, secret), committed: the API reads it in its own session."""
    api_key, secret = apikeys.create_api_key(
        session, "test-secret-key", name="12345平台", channel="hotline", now=now
    )
    session.commit()
    return api_key.key_id, secret


def _contact(**more) -> ContactDraft:
    values = dict(
        name="李建国", phone=PHONE, email=EMAIL, address=ADDRESS, id_type="身份证", id_number=ID_NUMBER
    )
    return ContactDraft(**(values | more))


def _raw_contacts(session) -> list[dict]:
    return [dict(row._mapping) for row in session.execute(text("SELECT * FROM contacts"))]


def _assert_nothing_plain(rows: list[dict]) -> None:
    cells = " ".join(str(v) for row in rows for v in row.values())
    for plain in (PHONE, PHONE[-8:], ID_NUMBER, ID_NUMBER[:10], EMAIL, "example.com", ADDRESS, "建国路"):
        assert plain not in cells, f"{plain!r} stored in plain text"


def test_every_writer_stores_only_ciphertext(session, now, dept):
    """The ORM (open_ticket), the bulk path (COPY on PostgreSQL from COPY_THRESHOLD rows, INSERT on
    SQLite) and the push's one-statement path on PostgreSQL: the raw table holds no plain value."""
    orm = factories.ticket(session, now=now, dept=dept, contact=_contact())
    drafts = [
        factories.draft(department_code=dept.code, arrived_at=now, contact=_contact())
        for _ in range(COPY_THRESHOLD + 1)
    ]
    opened = open_new(session, drafts, actor="测试", now=now)
    pushed = open_if_new(
        session,
        factories.draft(department_code=dept.code, arrived_at=now, contact=_contact()),
        actor="测试",
        now=now,
        index_search=False,
    )
    session.flush()
    rows = _raw_contacts(session)
    assert len(rows) == len(drafts) + 2
    _assert_nothing_plain(rows)
    for row in rows:
        assert row["phone_ct"].startswith("pii1:sm4:test2:")
        assert row["id_number_ct"].startswith("pii1:sm4:test2:")
        assert row["phone_bidx"] == cipher.blind("phone", PHONE)
    session.expire_all()
    # Read back through the model: the plain values.
    contacts = session.scalars(select(Contact)).all()
    assert {(c.phone, c.email, c.address, c.id_number) for c in contacts} == {
        (PHONE, EMAIL, ADDRESS, ID_NUMBER)
    }
    # The push and the bulk path flagged the later tickets as duplicates by the phone's blind index.
    assert opened[0].possible_duplicate_of == orm.number
    assert pushed.possible_duplicate_of == orm.number


def test_the_api_push_stores_ciphertext(client, session, key):
    order = {
        "order_no": f"HL{uuid.uuid4().hex[:12]}",
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "噪音扰民",
        "title": "噪音",
        "name": "李建国",
        "phone": PHONE,
    }
    response = post_signed(client, "/api/v1/intake/hotline", order, *key)
    assert response.status_code == 201, response.get_json()
    _assert_nothing_plain(_raw_contacts(session))


def test_lookups_by_phone_id_and_email_use_the_blind_index(session, now, dept):
    first = factories.ticket(session, now=now, dept=dept, contact=_contact(phone="+86 138-1234-5678"))
    factories.ticket(session, now=now, dept=dept, contact=_contact(phone="13900000000", id_number=None))
    second = factories.ticket(session, now=now, dept=dept, contact=_contact(phone="138 1234 5678"))
    # However the number was written, the same person.
    assert [c.id for c in find_contacts(session, phone="0086 13812345678")] == [
        first.contact_id,
        second.contact_id,
    ]
    assert len(find_contacts(session, id_number=ID_NUMBER.lower())) == 2
    assert len(find_contacts(session, email=EMAIL.upper())) == 3
    assert find_contacts(session, phone="13700000000") == []
    assert find_phone_duplicate(session, second).id == first.id
    export = export_person(session, now=now, actor_label="测试", phone=PHONE)
    assert {c["phone"] for c in export["contacts"]} == {"+86 138-1234-5678", "138 1234 5678"}


def test_an_encrypted_column_cannot_be_compared_by_mistake(session):
    with pytest.raises(TypeError, match="blind index"):
        select(Contact).where(Contact.phone == PHONE)
    with pytest.raises(TypeError, match="blind index"):
        select(Contact).where(Contact.email.like("%@example.com"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_lookups_by_phone_and_id_use_the_index_on_postgresql(session, now, dept):
    # A bureau's worth of other people and their tickets (copies of one, spread over years), their indexes
    # as distinct as HMACs are: the planner chooses by cost as it would in production, nothing forcing it.
    template = factories.ticket(session, now=now, dept=dept, contact=_contact(phone="13700000000"))
    session.flush()
    session.execute(
        text(
            "INSERT INTO contacts (id, name, is_confidential, phone_bidx, id_number_bidx) "
            "SELECT 1000000 + g, 'x', false, left(md5(g::text), 32), left(md5('i' || g), 32) "
            "FROM generate_series(1, 20000) g"
        )
    )
    copied = [
        c.name
        for c in Ticket.__table__.c
        if c.name not in ("id", "number", "external_ref", "contact_id", "query_code", "received_at")
    ]
    session.execute(
        text(
            f"INSERT INTO tickets (number, external_ref, contact_id, received_at, {', '.join(copied)}) "
            f"SELECT 'CP' || g, 'CP' || g, 1000000 + g, t.received_at - g * interval '1 hour', "
            f"{', '.join('t.' + name for name in copied)} "
            "FROM tickets t, generate_series(1, 20000) g WHERE t.id = :id"
        ),
        {"id": template.id},
    )
    session.execute(text("ANALYZE tickets"))
    session.execute(text("ANALYZE contacts"))
    statements: list[tuple[str, object]] = []
    connection = session.connection()

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "_bidx IN (" in statement:
            statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        find_contacts(session, phone=PHONE)
        find_contacts(session, id_number=ID_NUMBER)
        ticket = factories.ticket(session, now=now, dept=dept, contact=_contact())
        find_phone_duplicate(session, ticket)
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    assert len(statements) >= 3
    for statement, parameters in statements:
        cursor = connection.connection.driver_connection.cursor()
        plan = "\n".join(r[0] for r in cursor.execute(f"EXPLAIN {statement}", parameters).fetchall())
        assert "ix_contacts_phone_bidx" in plan or "ix_contacts_id_number_bidx" in plan, plan


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_lookups_by_phone_and_id_use_the_index_on_sqlite(session, now, dept):
    ticket = factories.ticket(session, now=now, dept=dept, contact=_contact())
    statements: list[tuple[str, object]] = []
    connection = session.connection()

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "_bidx IN (" in statement:
            statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        find_contacts(session, phone=PHONE)
        find_contacts(session, id_number=ID_NUMBER)
        find_phone_duplicate(session, ticket)
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    assert len(statements) == 3
    for statement, parameters in statements:
        plan = str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all())
        assert re.search(
            r"SEARCH contacts USING (COVERING )?INDEX ix_contacts_(phone|id_number)_bidx", plan
        ), plan


def test_rotation_reencrypts_in_batches_and_is_idempotent(session, now, dept):
    with cipher.using(_keyring(OLD)):
        for i in range(5):
            factories.ticket(session, now=now, dept=dept, contact=_contact(phone=f"1380000{i:04d}"))
        session.flush()
    session.expire_all()
    with cipher.using(_keyring(NEW, OLD, cipher_name="aes-gcm")):
        status = rotation.key_status(session)
        assert status.stale_rows == 5 and status.columns["contacts.phone"] == {"sm4-gcm:old": 5}
        # Mid-rotation, every row is found: the look-up asks each key's index.
        assert len(find_contacts(session, phone="13800000003")) == 1
        assert rotation.rotate_batch(session, batch_size=2) == 2
        assert len(find_contacts(session, phone="13800000000")) == 1  # rotated
        assert len(find_contacts(session, phone="13800000004")) == 1  # not yet
        while rotation.rotate_batch(session, batch_size=2):
            pass
        assert rotation.rotate_batch(session) == 0  # idempotent
        status = rotation.key_status(session)
        assert status.stale_rows == 0 and status.columns["contacts.phone"] == {"aes-gcm:new": 5}
        assert all(r["phone_ct"].startswith("pii1:aes:new:") for r in _raw_contacts(session))
    session.expire_all()
    with cipher.using(_keyring(NEW, cipher_name="aes-gcm")):  # the old key removed
        assert {c.phone for c in session.scalars(select(Contact))} == {f"1380000{i:04d}" for i in range(5)}
        assert len(find_contacts(session, phone="13800000002")) == 1


def test_a_row_under_a_key_not_configured_is_a_clear_error(session, now, dept):
    with cipher.using(_keyring(OLD)):
        factories.ticket(session, now=now, dept=dept, contact=_contact())
        session.flush()
    session.expire_all()
    with cipher.using(_keyring(NEW)), pytest.raises(cipher.PiiError, match="'old'") as error:
        session.scalars(select(Contact)).all()
    assert "TRACKER_PII_KEYS" in str(error.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:],  # a ciphertext bit
        lambda token: token.replace("pii1:sm4:", "pii1:aes:"),  # the algorithm tag
        lambda token: token.replace(":test2:", ":test1:"),  # the key id
    ],
    ids=["ciphertext", "algorithm", "key-id"],
)
def test_tampered_ciphertext_is_refused(session, now, dept, tamper):
    ticket = factories.ticket(session, now=now, dept=dept, contact=_contact())
    session.flush()
    token = session.execute(
        text("SELECT phone_ct FROM contacts WHERE id = :id"), {"id": ticket.contact_id}
    ).scalar()
    session.execute(
        text("UPDATE contacts SET phone_ct = :t WHERE id = :id"),
        {"t": tamper(token), "id": ticket.contact_id},
    )
    session.expire_all()
    with pytest.raises(cipher.PiiError, match=r"contacts\.phone"):
        _ = session.get(Contact, ticket.contact_id).phone


def test_a_ciphertext_moved_to_another_column_is_refused(session, now, dept):
    ticket = factories.ticket(session, now=now, dept=dept, contact=_contact())
    session.flush()
    session.execute(text("UPDATE contacts SET phone_ct = email_ct WHERE id = :id"), {"id": ticket.contact_id})
    session.expire_all()
    with pytest.raises(cipher.PiiError, match="校验失败"):
        _ = session.get(Contact, ticket.contact_id).phone


def test_keys_configuration(tmp_path):
    # Production without a key refuses to start; the message says what to set, never a key.
    with pytest.raises(KeyConfigError, match="TRACKER_PII_KEYS_FILE"):
        load_keyring({}, instance_dir=tmp_path, embedded=False)
    # The embedded default generates its key file once (0600) and reads the same key afterwards.
    first = load_keyring({}, instance_dir=tmp_path / "i", embedded=True)
    assert (tmp_path / "i" / "pii_keys").stat().st_mode & 0o777 == 0o600
    assert load_keyring({}, instance_dir=tmp_path / "i", embedded=True).current == first.current
    # Malformed entries name the entry, not the key material.
    secret = "c2hvcnQ="
    with pytest.raises(KeyConfigError, match="32 bytes") as error:
        parse_keys(f"k1:{secret}", what="TRACKER_PII_KEYS")
    assert secret not in str(error.value)
    with pytest.raises(KeyConfigError, match="not both"):
        load_keyring(
            {"TRACKER_PII_KEYS": NEW, "TRACKER_PII_KEYS_FILE": str(tmp_path / "x")},
            instance_dir=tmp_path,
            embedded=True,
        )
    with pytest.raises(KeyConfigError, match="TRACKER_PII_CIPHER"):
        load_keyring(
            {"TRACKER_PII_KEYS": NEW, "TRACKER_PII_CIPHER": "des"}, instance_dir=tmp_path, embedded=True
        )
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"# current first\n{NEW}\n{OLD}\n")
    keyring = load_keyring({"TRACKER_PII_KEYS_FILE": str(keyfile)}, instance_dir=tmp_path, embedded=False)
    assert [k.kid for k in keyring.keys] == ["new", "old"]
    # Neither the settings' repr nor the keyring's shows key material.
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path / "s"),
            "TRACKER_PII_KEYS_FILE": str(keyfile),
            "TRACKER_SECRET_KEY": "k",
        }
    )
    for entry in (NEW, OLD):
        material = entry.split(":", 1)[1]
        assert material not in repr(settings) and material not in repr(keyring)


def test_the_migration_encrypts_existing_rows_and_the_downgrade_decrypts(blank_database_url):
    from alembic import command

    upgrade(blank_database_url, "0025")
    with session_scope(blank_database_url) as session:
        session.execute(
            text(
                "INSERT INTO contacts (name, phone, email, address, id_type, id_number, is_confidential) "
                "VALUES ('李建国', :p, :e, :a, '身份证', :i, false), ('王芳', '021-5555 6666', NULL, NULL, NULL, NULL, false)"
            ),
            {"p": PHONE, "e": EMAIL, "a": ADDRESS, "i": ID_NUMBER},
        )
    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        rows = _raw_contacts(session)
        assert not {"phone", "email", "address", "id_number"} & set(rows[0])
        _assert_nothing_plain(rows)
        assert [c.phone for c in session.scalars(select(Contact).order_by(Contact.id))] == [
            PHONE,
            "021-5555 6666",
        ]
        assert [c.id for c in find_contacts(session, id_number=ID_NUMBER)] == [rows[0]["id"]]
        assert len(find_contacts(session, phone="02155556666")) == 1
    command.downgrade(alembic_config(blank_database_url), "0025")
    dispose_engines()
    with session_scope(blank_database_url) as session:
        plain = session.execute(
            text("SELECT phone, email, address, id_number FROM contacts ORDER BY id")
        ).all()
    assert [tuple(r) for r in plain] == [
        (PHONE, EMAIL, ADDRESS, ID_NUMBER),
        ("021-5555 6666", None, None, None),
    ]
    upgrade(blank_database_url)  # and up again


def test_keys_commands_status_and_rotate(tmp_path):
    from tracker.cli.main import main

    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    env = {
        "TRACKER_DATABASE_URL": url,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_SECRET_KEY": "k",
    }
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env | {"TRACKER_PII_KEYS": OLD}).exit_code == 0
    with cipher.using(_keyring(OLD)), session_scope(url) as session:
        for i in range(3):
            session.add(Contact(name="张", phone=f"1380000{i:04d}", id_number=ID_NUMBER))
    both = env | {"TRACKER_PII_KEYS": f"{NEW},{OLD}"}
    status = runner.invoke(main, ["keys", "status"], env=both)
    assert status.exit_code == 0, status.output
    assert (
        "当前密钥：new" in status.output
        and "sm4-gcm:old 3" in status.output
        and "待轮换的记录：3" in status.output
    )
    rotated = runner.invoke(main, ["keys", "rotate", "--batch-size", "2"], env=both)
    assert rotated.exit_code == 0, rotated.output
    assert "3 条记录" in rotated.output and "共 2 批" in rotated.output
    again = runner.invoke(main, ["keys", "rotate"], env=both)
    assert "0 条记录" in again.output
    status = runner.invoke(main, ["keys", "status"], env=env | {"TRACKER_PII_KEYS": NEW})
    assert "sm4-gcm:new 3" in status.output and "待轮换的记录：0" in status.output
    for entry in (NEW, OLD):  # no command prints a configured key
        assert entry.split(":", 1)[1] not in status.output + rotated.output
    dispose_engines()


def test_api_requests_may_be_signed_with_hmac_sm3(client, session, key):
    key_id, secret = key
    order = {
        "order_no": f"HL{uuid.uuid4().hex[:12]}",
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "噪音",
        "title": "噪音",
        "name": "李",
        "phone": PHONE,
    }
    body = json.dumps(order, ensure_ascii=False).encode()
    path = "/api/v1/intake/hotline"

    def headers(**kw):
        return apikeys.signed_headers(key_id, secret, method="POST", url=path, body=body, **kw) | {
            "Content-Type": "application/json"
        }

    sm3 = headers(algorithm=apikeys.ALGORITHM_SM3)
    assert sm3["X-Tracker-Algorithm"] == "TRACKER-HMAC-SM3"
    # An SM3 signature presented as SHA-256 (the header dropped) does not verify, nor the reverse.
    without = {k: v for k, v in sm3.items() if k != "X-Tracker-Algorithm"}
    assert client.post(path, data=body, headers=without).status_code == 401
    relabelled = headers() | {"X-Tracker-Algorithm": "TRACKER-HMAC-SM3"}
    assert client.post(path, data=body, headers=relabelled).status_code == 401
    unknown = headers() | {"X-Tracker-Algorithm": "TRACKER-HMAC-MD5"}
    assert client.post(path, data=body, headers=unknown).status_code == 401
    accepted = client.post(path, data=body, headers=sm3)
    assert accepted.status_code == 201, accepted.get_json()
