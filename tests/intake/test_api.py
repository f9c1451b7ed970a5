"""The intake API: signed push, idempotency, scopes, error shapes (400/401/403/413/415, never 500)."""

import json
import re
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.intake.helpers import get_signed, post_signed, signed_headers
from tracker.intake.apikeys import create_api_key, revoke_api_key, rotate_api_key
from tracker.ops.models import ApiKey
from tracker.tickets.models import Ticket

SECRET_KEY = "test-secret-key"  # the settings fixture's TRACKER_SECRET_KEY

BASE_ORDER = {
    "order_no": "HL2026030400001",
    "accepted_at": "2026-03-04 09:30:00",
    "request_type": "投诉",
    "content": "小区旁工厂夜间噪音扰民，请处理。<script>alert(1)</script>",
    "title": "工厂夜间噪音",
    "name": "李建国",
    "phone": "13812345678",
    "reply_due_at": "2026-03-18 18:00:00",
}


@pytest.fixture
def order():
    # Unique per test: on SQLite the foundation's savepoint-per-test does not isolate committed requests.
    return {**BASE_ORDER, "order_no": f"HL{uuid.uuid4().hex[:12]}"}


def test_push_creates_then_updates_then_reports_duplicate(client, session, key, order):
    first = post_signed(client, "/api/v1/intake/hotline", order, *key)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["result"] == "created" and body["ticket"]["number"].startswith("RX2026")
    ticket = session.get(Ticket, body["ticket"]["id"])
    assert ticket.body == order["content"]  # stored exactly as given
    assert ticket.extra["reply_due_at"].startswith("2026-03-18T18:00:00")
    assert {d.kind for d in ticket.deadlines} >= {"reply"}

    same = post_signed(client, "/api/v1/intake/hotline", order, *key)
    assert same.status_code == 200 and same.get_json()["result"] == "duplicate"
    assert same.get_json()["ticket"]["number"] == body["ticket"]["number"]

    changed = post_signed(client, "/api/v1/intake/hotline", {**order, "urgency": "紧急"}, *key)
    assert changed.get_json()["result"] == "updated" and changed.get_json()["changes"] == ["urgency"]
    assert (
        session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.external_ref == order["order_no"])
        )
        == 1
    )


def test_chinese_field_names_are_accepted_too(client, key):
    order = {
        "工单编号": "HL-CN-1",
        "受理时间": "2026/3/4 9:00",
        "诉求类型": "咨询",
        "诉求内容": "咨询技改补贴",
    }
    assert post_signed(client, "/api/v1/intake/hotline", order, *key).status_code == 201


def test_bad_fields_get_400_with_every_field_named(client, key):
    response = post_signed(
        client,
        "/api/v1/intake/hotline",
        {"order_no": "X1", "accepted_at": "2026/13/01", "request_type": "吐槽"},
        *key,
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"accepted_at", "request_type", "content"}
    assert "无法识别" in error["fields"]["accepted_at"]


@pytest.mark.parametrize(
    "body", [b"not json", b"[1,2]", b'"text"', b"{", b"\xff\xfe", b'{"order_no": {"a": 1}}']
)
def test_garbage_bodies_get_400_never_500(client, key, body):
    response = post_signed(client, "/api/v1/intake/hotline", body, *key)
    assert response.status_code == 400
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}


def test_bad_signature_wrong_key_and_missing_headers_get_401(client, key, order):
    key_id, secret = key
    body = json.dumps(order).encode()
    headers = signed_headers(key_id, secret, "POST", "/api/v1/intake/hotline", body)
    headers["X-Tracker-Signature"] = "0" * 64
    assert client.post("/api/v1/intake/hotline", data=body, headers=headers).status_code == 401
    assert post_signed(client, "/api/v1/intake/hotline", order, "tk_unknown", secret).status_code == 401
    response = client.post("/api/v1/intake/hotline", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    # A body changed after signing does not verify.
    headers = signed_headers(key_id, secret, "POST", "/api/v1/intake/hotline", body)
    assert client.post("/api/v1/intake/hotline", data=body + b" ", headers=headers).status_code == 401


def test_replayed_old_timestamp_gets_401(client, key, order):
    old = int(time.time()) - 301
    response = post_signed(client, "/api/v1/intake/hotline", order, *key, at=old)
    assert response.status_code == 401 and "5分钟" in response.get_json()["error"]["message"]
    future = int(time.time()) + 400
    assert post_signed(client, "/api/v1/intake/hotline", order, *key, at=future).status_code == 401


def test_a_signature_opens_only_its_own_method_path_and_query(client, session, now, key, order):
    """Issue 17 item 3: one signed GET used to open every read endpoint for 5 minutes."""
    created = post_signed(client, "/api/v1/intake/hotline", order, *key).get_json()
    ticket_id = created["ticket"]["id"]
    listing = signed_headers(*key, "GET", "/api/v1/tickets?limit=1", b"", content_type=None)
    for path in (
        f"/api/v1/tickets/{ticket_id}",
        f"/api/v1/tickets/{ticket_id}/events",
        "/api/v1/tickets?limit=200",
    ):
        response = client.get(path, headers=listing)
        assert response.status_code == 401, path
        assert response.get_json()["error"]["code"] == "unauthorized"
    # Another method on the same path: a signed read is no write.
    body = json.dumps(order).encode()
    as_post = {**listing, "Content-Type": "application/json"}
    assert client.post("/api/v1/tickets?limit=1", data=body, headers=as_post).status_code in (401, 405)
    assert client.get("/api/v1/tickets?limit=1", headers=listing).status_code == 200  # its own request


def test_query_order_and_percent_encoding_do_not_matter(client, key):
    """The query is signed sorted and decoded: a client need not reproduce the server's spelling."""
    headers = signed_headers(*key, "GET", "/api/v1/tickets?limit=5&channel=hotline", b"", content_type=None)
    assert client.get("/api/v1/tickets?channel=hotl%69ne&limit=5", headers=headers).status_code == 200


def test_any_replay_is_refused_and_an_older_version_cannot_roll_a_ticket_back(
    app, client, session, key, order
):
    """Issue 17 item 3: re-sending an older version's exact bytes inside the window rolled a ticket back."""
    first_body = json.dumps(order, ensure_ascii=False).encode()
    first_headers = signed_headers(*key, "POST", "/api/v1/intake/hotline", first_body)
    assert client.post("/api/v1/intake/hotline", data=first_body, headers=first_headers).status_code == 201
    newer = post_signed(client, "/api/v1/intake/hotline", {**order, "urgency": "紧急"}, *key)
    assert newer.status_code == 200 and newer.get_json()["result"] == "updated"
    ticket_id = newer.get_json()["ticket"]["id"]

    # The captured first request, byte for byte, to this process and to another app on the same database
    # (another gunicorn worker): both refuse it, and the ticket keeps its newer version.
    from web import create_app

    other_process = create_app(dict(app.config), settings=app.config["TRACKER_SETTINGS"]).test_client()
    for target in (client, other_process):
        replay = target.post("/api/v1/intake/hotline", data=first_body, headers=first_headers)
        assert replay.status_code == 401
        assert "重放" in replay.get_json()["error"]["message"]
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    assert ticket.urgency == "紧急"

    # A read is not replayable either.
    read = signed_headers(*key, "GET", f"/api/v1/tickets/{ticket_id}", b"", content_type=None)
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=read).status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=read).status_code == 401


def test_a_refused_request_cannot_be_sent_again_either(client, key, order):
    """The nonce is kept even when the request fails after authentication (400): no second try."""
    body = json.dumps({**order, "accepted_at": "2026/13/01"}).encode()
    headers = signed_headers(*key, "POST", "/api/v1/intake/hotline", body)
    assert client.post("/api/v1/intake/hotline", data=body, headers=headers).status_code == 400
    assert client.post("/api/v1/intake/hotline", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "header, value",
    [
        ("X-Tracker-Nonce", None),
        ("X-Tracker-Nonce", "short"),
        ("X-Tracker-Nonce", "x" * 65),
        ("X-Tracker-Nonce", "含有中文的随机数含有中文的随机数"),
        ("X-Tracker-Timestamp", "1" + "0" * 400),
        ("X-Tracker-Timestamp", "-5"),
        ("X-Tracker-Signature", "é" * 64),
        ("X-Tracker-Key", "k" * 5000),
    ],
)
def test_malformed_signing_headers_get_401_never_500(client, key, order, header, value):
    body = json.dumps(order).encode()
    headers = signed_headers(*key, "POST", "/api/v1/intake/hotline", body)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    response = client.post("/api/v1/intake/hotline", data=body, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_the_worked_example_of_the_docs_is_what_the_code_computes():
    """docs/api.md shows a string to sign and its signature: they are this code's, not hand-made."""
    from pathlib import Path

    from tracker.intake.apikeys import sign, string_to_sign

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    example = {
        "method": "POST",
        "path": "/api/v1/intake/hotline",
        "query": "",
        "timestamp": "1764061920",
        "nonce": "q7Jd2mXo9rTbW4sKpL1eVz",
        "body": WORKED_EXAMPLE_BODY.encode(),
    }
    assert string_to_sign(**example).decode() in docs
    assert sign("s3cr3t-example", **example) in docs
    listing = {
        **example,
        "method": "GET",
        "path": "/api/v1/tickets",
        "query": "status=open&limit=50",
        "body": b"",
    }
    assert sign("s3cr3t-example", **listing) in docs


WORKED_EXAMPLE_BODY = (
    '{"order_no":"2026112500001","accepted_at":"2026-11-25 09:12:00","request_type":"投诉",'
    '"content":"小区旁工厂夜间噪音扰民"}'
)


def test_oversized_body_gets_413(client, key, order):
    body = json.dumps({**order, "content": "长" * 400_000}).encode()
    response = client.post(
        "/api/v1/intake/hotline",
        data=body,
        headers=signed_headers(*key, "POST", "/api/v1/intake/hotline", body),
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_wrong_content_type_gets_415(client, key, order):
    body = json.dumps(order).encode()
    headers = signed_headers(*key, "POST", "/api/v1/intake/hotline", body, content_type="text/plain")
    response = client.post("/api/v1/intake/hotline", data=body, headers=headers)
    assert response.status_code == 415 and "application/json" in response.get_json()["error"]["message"]


def test_revoked_and_rotated_keys(client, session, now, key, order):
    key_id, secret = key
    new_secret = rotate_api_key(session, SECRET_KEY, key_id, now=now)
    session.commit()
    assert post_signed(client, "/api/v1/intake/hotline", order, key_id, secret).status_code == 401
    assert post_signed(client, "/api/v1/intake/hotline", order, key_id, new_secret).status_code == 201
    revoke_api_key(session, key_id, now=now)
    session.commit()
    assert post_signed(client, "/api/v1/intake/hotline", order, key_id, new_secret).status_code == 401


def test_secret_is_stored_encrypted(session, now, dept):
    api_key, secret = create_api_key(session, SECRET_KEY, name="x", channel=None, now=now)
    stored = session.scalar(select(ApiKey.secret_encrypted).where(ApiKey.id == api_key.id))
    assert secret not in stored


def test_channel_scope_gives_403(client, session, now, dept, order):
    weibo_key, secret = create_api_key(session, SECRET_KEY, name="微博", channel="weibo", now=now)
    session.commit()
    response = post_signed(client, "/api/v1/intake/hotline", order, weibo_key.key_id, secret)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_department_scope_hides_other_departments(client, session, now, dept):
    mine = factories.department(session, "sme", "中小企业服务处")
    other = factories.department(session, "radio", "无线电管理处")
    own = factories.ticket(session, now=now, dept=mine, subject="本处工单")
    foreign = factories.ticket(session, now=now, dept=other, subject="他处工单")
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="区平台", channel=None, now=now, department_code="sme"
    )
    session.commit()
    listing = get_signed(client, "/api/v1/tickets?limit=200", api_key.key_id, secret).get_json()
    ids = {t["id"] for t in listing["tickets"]}
    assert own.id in ids and foreign.id not in ids
    assert get_signed(client, f"/api/v1/tickets/{foreign.id}", api_key.key_id, secret).status_code == 404
    assert get_signed(client, f"/api/v1/tickets/{own.id}", api_key.key_id, secret).status_code == 200
    # A pushed order from a department-scoped key lands in that department.
    created = post_signed(
        client,
        "/api/v1/tickets",
        {"channel": "website", "message_no": "W1", "posted_at": "2026-03-04 08:00", "content": "留言"},
        api_key.key_id,
        secret,
    )
    assert created.status_code == 201
    assert session.get(Ticket, created.get_json()["ticket"]["id"]).department_id == mine.id


def test_list_get_events_and_deadlines(client, session, now, key, dept, order):
    created = post_signed(client, "/api/v1/intake/hotline", order, *key).get_json()
    ticket_id = created["ticket"]["id"]
    listing = get_signed(
        client, "/api/v1/tickets?status=received&received_from=2026-03-04&received_to=2026-03-04", *key
    )
    assert listing.status_code == 200
    assert ticket_id in [t["id"] for t in listing.get_json()["tickets"]]
    detail = get_signed(client, f"/api/v1/tickets/{ticket_id}", *key).get_json()
    assert detail["body"] == order["content"] and detail["contact"]["phone"] == "138****5678"
    events = get_signed(client, f"/api/v1/tickets/{ticket_id}/events", *key).get_json()["events"]
    assert events[0]["kind"] == "ticket.created"
    deadlines = get_signed(client, f"/api/v1/tickets/{ticket_id}/deadlines", *key).get_json()["deadlines"]
    assert any(d["kind"] == "reply" and d["due_at"] for d in deadlines)
    assert get_signed(client, "/api/v1/tickets?received_from=yesterday", *key).status_code == 400
    assert get_signed(client, "/api/v1/tickets?limit=100000", *key).status_code == 400
    assert get_signed(client, "/api/v1/tickets/999999999", *key).status_code == 404


def test_create_disclosure_and_weibo_tickets(client, session, now, dept):
    api_key, secret = create_api_key(session, SECRET_KEY, name="集成", channel=None, now=now)
    session.commit()
    application = {
        "channel": "disclosure",
        "application_no": "GK-API-1",
        "received_at": "2026-03-03",
        "name": "赵某",
        "id_number": "11010519491231002X",
        "information": "2025年技改资金分配结果",
    }
    response = post_signed(client, "/api/v1/tickets", application, api_key.key_id, secret)
    assert response.status_code == 201, response.get_json()
    bad = post_signed(
        client, "/api/v1/tickets", {**application, "id_number": "110105194912310021"}, api_key.key_id, secret
    )
    assert bad.status_code == 400 and "校验位" in bad.get_json()["error"]["fields"]["id_number"]
    item = {
        "idstr": "4999",
        "created_at": "Wed Mar 04 10:00:00 +0800 2026",
        "text": "咨询补贴",
        "user": {"id": 1, "screen_name": "网友"},
        "status": {"id": 77},
    }
    assert (
        post_signed(
            client, "/api/v1/tickets", {"channel": "weibo", "item": item}, api_key.key_id, secret
        ).status_code
        == 201
    )
    assert (
        post_signed(client, "/api/v1/tickets", {"channel": "hotline"}, api_key.key_id, secret).status_code
        == 400
    )
    assert (
        post_signed(client, "/api/v1/tickets", {"channel": "fax"}, api_key.key_id, secret).status_code == 400
    )


def test_openapi_document_names_the_503_a_database_outage_gives(client):
    """docs/api.md and web/errors.py answer 503 `database_unavailable` with Retry-After; the document must
    say so for every operation that touches the database (a generated client would not retry otherwise)."""
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/openapi.json":
                assert "503" not in operation["responses"]
                continue
            answer = operation["responses"].get("503")
            assert answer is not None, (method, path)
            assert "database_unavailable" in answer["description"]
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # schemathesis 3.x on jsonschema 4.26
def test_openapi_document_is_valid_and_covers_every_route(client, app):
    import schemathesis

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    schema = schemathesis.from_dict(
        document, validate_schema=True
    )  # checks against the OpenAPI 3.0 meta-schema
    assert len(list(schema.get_all_operations())) >= 6
    documented = {
        ("/api/v1" + path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<int:(\w+)>", r"{\1}", rule.rule)  # Flask's <int:x> is OpenAPI's {x}
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method) in documented, (path, method)
