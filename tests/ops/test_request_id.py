"""The request id: taken from X-Request-ID when well-formed (else a new one), returned in the response, on
every log line of the request (JSON logs), written with the request's outbox rows and carried in the task
message's headers into the worker, whose log lines of that task name it."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from sqlalchemy import select

from tests import factories
from tests.workers.conftest import start_worker, stop_process, wait_for, worker_settings
from tracker.db import session_scope
from tracker.ops.logs import JsonFormatter, RequestIdFilter, reset_request_id, set_request_id
from tracker.tickets.outbox import OutboxMessage

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def logging_app(app):
    log = logging.getLogger("web.test_request_id")

    def noisy():
        log.warning("handled a request")
        return "ok"

    app.add_url_rule("/_test/log", view_func=noisy)
    return app


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_a_request_gets_an_id_and_returns_it(client):
    first, second = client.get("/livez"), client.get("/livez")
    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    given = "01HZX3J5K8Q2W7E9R4T6Y1U3I5"
    assert client.get("/livez", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    # Also on a 404 and a refused request, which never reach a view.
    assert GENERATED.fullmatch(client.get("/no-such-page").headers["X-Request-ID"])
    assert len(client.get("/livez").headers.getlist("X-Request-ID")) == 1


@pytest.mark.parametrize(
    "hostile",
    [
        'abc"}{"level":"CRITICAL',  # would forge a JSON field
        "short",  # too short to be an id
        "x" * 129,  # too long
        "id with spaces 1234",
        "<script>alert(1)</script>",
        "‮evil-id-12345",  # right-to-left override
    ],
)
def test_a_malformed_id_is_replaced(client, hostile):
    returned = client.get("/livez", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
    assert returned != hostile and GENERATED.fullmatch(returned)


def test_json_log_lines_carry_the_request_id(logging_app, json_log):
    client = logging_app.test_client()
    response = client.get("/_test/log", headers={"X-Request-ID": "req-json-0001"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [line for line in lines if line["message"] == "handled a request"]
    assert mine and mine[0]["request_id"] == "req-json-0001"
    assert mine[0]["level"] == "WARNING" and mine[0]["logger"] == "web.test_request_id"


def test_json_log_line_cannot_be_forged_by_a_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("tracker.test_forgery")
    log.addHandler(handler)
    try:
        log.warning('subject: 噪音"\n{"level": "CRITICAL", "message": "forged"}')
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # the newline is escaped inside the one JSON object
    assert json.loads(lines[0])["level"] == "WARNING" and json.loads(lines[0])["request_id"] is None


def test_outbox_rows_keep_the_request_that_wrote_them(session, now):
    from tracker.workflow.opening import open_if_new, open_new

    dept = factories.department(session, "sme", "中小企业服务处")
    token = set_request_id("req-outbox-0001")
    try:
        one = factories.ticket(session, now=now, dept=dept)  # the ORM path (pages, CLI)
        pushed = open_if_new(  # the 12345 push's path (one statement on PostgreSQL)
            session,
            factories.draft(arrived_at=now, department_code="sme"),
            actor="12345平台",
            now=now,
            index_search=False,
        )
        batch = open_new(  # the importer's path (COPY on PostgreSQL)
            session,
            [factories.draft(arrived_at=now, department_code="sme") for _ in range(3)],
            actor="文件导入",
            now=now,
        )
    finally:
        reset_request_id(token)
    outside = factories.ticket(session, now=now, dept=dept)  # no request: no id
    session.flush()
    ids = {o.ticket_id: o.request_id for o in session.scalars(select(OutboxMessage))}
    for ticket_id in [one.id, pushed.id, *(o.id for o in batch)]:
        assert ids[ticket_id] == "req-outbox-0001"
    assert ids[outside.id] is None


@pytest.mark.redis
@pytest.mark.pg
@pytest.mark.slow
def test_the_request_id_reaches_the_task_log_in_a_real_worker(pg_scratch_url, private_redis, tmp_path, now):
    from workers.outbox import publish_pending

    url = pg_scratch_url
    settings, env = worker_settings(tmp_path, url, private_redis.url, TRACKER_LOG_FORMAT="json")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        worker = start_worker(env, name="logs", loglevel="INFO", stderr=log_file)
    try:
        token = set_request_id("req-task-00042")
        try:
            with session_scope(url) as s:
                ticket_id = factories.ticket(
                    s, now=now, dept=factories.department(s, "sme", "中小企业服务处")
                ).id
        finally:
            reset_request_id(token)
        assert publish_pending(settings) >= 1

        def handled_lines():
            lines = []
            for raw in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("task_name") == "events.handle" and "succeeded" in line.get("message", ""):
                    lines.append(line)
            return lines

        lines = wait_for(handled_lines, message="the worker's log line of events.handle")
        assert lines[0]["request_id"] == "req-task-00042"
        assert lines[0]["task_id"]
        with session_scope(url) as s:
            assert s.scalar(select(OutboxMessage.request_id).where(OutboxMessage.ticket_id == ticket_id)) == (
                "req-task-00042"
            )
    finally:
        stop_process(worker)
