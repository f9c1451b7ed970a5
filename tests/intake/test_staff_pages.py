"""Staff intake pages (upload → worker progress, art. 31 entry, reply export) and the end-to-end paths
that own their transactions (the upload task, the CLI) on a scratch database."""

import io
import os
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select, text

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, write_csv
from tracker.config import Settings
from tracker.db import session_scope
from tracker.intake import hotline
from tracker.intake.models import ImportBatch
from tracker.intake.records import apply_record
from tracker.migrate import upgrade
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Ticket
from tracker.workflow.transitions import reply_ticket


def login(client, username):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/login", data={"username": username, "password": factories.PASSWORD, "csrf_token": token}
        ).status_code
        == 302
    )


def csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def staff(session, now):
    factories.department(session, "bureau", "市工业和信息化局")
    dept = factories.department(session, "sme", "中小企业服务处")
    user = factories.user(session, dept=dept, now=now)
    session.commit()
    return user


def test_upload_queues_a_batch_and_progress_is_json(client, session, staff, monkeypatch, tmp_path):
    queued = []
    monkeypatch.setattr("web.views.imports.dispatch_import", queued.append)
    login(client, staff.username)
    token = csrf(client, "/imports/")
    data = write_csv(tmp_path / "o.csv", HOTLINE_HEADER, [hotline_row("UP-1")], "gbk").read_bytes()
    response = client.post(
        "/imports/",
        data={"csrf_token": token, "channel": "hotline", "file": (io.BytesIO(data), "工单.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    batch = session.get(ImportBatch, queued[0])
    assert batch.status == "queued" and batch.department_code == "sme" and batch.filename == "工单.csv"
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert "imports.js" in page and "nonce=" in page
    progress = client.get(f"/imports/{batch.id}/progress").get_json()
    assert progress["status"] == "queued" and progress["is_finished"] is False


def test_upload_refuses_other_file_types_and_auditors(client, session, staff, now):
    login(client, staff.username)
    token = csrf(client, "/imports/")
    response = client.post(
        "/imports/",
        data={"csrf_token": token, "channel": "hotline", "file": (io.BytesIO(b"MZ"), "virus.exe")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "只支持" in response.get_data(as_text=True)
    auditor = factories.user(session, role="auditor", now=now)
    session.commit()
    client.post("/logout", data={"csrf_token": token})
    login(client, auditor.username)
    assert client.get("/imports/").status_code == 403


def test_staff_enter_a_letter_with_arrival_and_legal_receipt_dates(client, session, staff):
    login(client, staff.username)
    token = csrf(client, "/imports/disclosure/new")
    form = {
        "csrf_token": token,
        "received_via": "平信",
        "arrived_on": "2026-03-02",
        "confirmed_on": "2026-03-03",  # 平信: the day the office confirmed with the applicant
        "applicant_kind": "公民",
        "name": "孙某",
        "id_type": "身份证",
        "id_number": "11010519491231002X",
        "address": "某市某路2号",
        "description": "2025年本局行政处罚决定书",
        "delivery_form": "纸质",
        "delivery_way": "邮寄",
    }
    response = client.post("/imports/disclosure/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    ticket_id = int(response.headers["Location"].rsplit("/", 1)[1])
    ticket = session.get(Ticket, ticket_id)
    assert ticket.received_via == "平信" and ticket.department.code == "sme"
    assert ticket.arrived_at.date().isoformat() == "2026-03-01"  # 2026-03-02 00:00 Beijing time, in UTC
    assert ticket.received_at - ticket.arrived_at == timedelta(days=1)
    assert ticket.extra["receipt"]["rule"] == "confirmed"
    bad = client.post("/imports/disclosure/new", data={**form, "confirmed_on": "2026-03-01"})
    assert bad.status_code == 400 and "不能早于到达日期" in bad.get_data(as_text=True)


def test_hotline_reply_export_in_platform_columns(client, session, staff, now):
    record = hotline.record_from_json(
        {
            "order_no": "EXP-1",
            "accepted_at": "2026-03-04 09:00",
            "request_type": "咨询",
            "content": "=1+2 咨询",
        },
        department_code="sme",
    )
    ticket = apply_record(session, record, actor="API:12345平台", reach=EVERYTHING, now=now).ticket
    reply_ticket(session, ticket, '=HYPERLINK("x") 已答复', actor="承办人", now=now + timedelta(hours=2))
    session.commit()
    login(client, staff.username)
    csv_text = client.get("/imports/hotline-export?from=2026-03-01&to=2026-03-31").data.decode("utf-8-sig")
    assert (
        csv_text.splitlines()[0]
        == "工单编号,派单时间,签收时间,办理过程,答复内容,办结时间,延期申请理由,延期新时限,退单申请,退单结果,办理状态,"
        "回访时间,回访结果,是否解决,是否联系,回访意见,回访编号,协办单位,督办次数"
    )
    assert "EXP-1" in csv_text and "已答复" in csv_text
    xlsx = client.get("/imports/hotline-export?from=2026-03-01&to=2026-03-31&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = [r for r in sheet.iter_rows(values_only=True) if r[0] == "EXP-1"]
    assert rows and rows[0][4].startswith("'=HYPERLINK")  # never a live formula
    assert client.get("/imports/hotline-export?from=bad").status_code == 400


# --- paths that own their transactions: a scratch database -------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    directory = tmp_path_factory.mktemp("intake-scratch")
    url = f"sqlite:///{directory / 'tracker.sqlite'}"
    upgrade(url)
    from tracker.people.service import create_department

    with session_scope(url) as session:
        create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
    return Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(directory),
            "TRACKER_DATABASE_URL": url,
            "TRACKER_SECRET_KEY": "scratch-secret",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )


def test_upload_task_imports_with_progress_and_resumes(scratch, tmp_path, now):
    from workers.tasks.intake import run_import_batch

    rows = [hotline_row(f"TASK-{i}") for i in range(30)] + [hotline_row("TASK-bad", accepted="2016/13/01")]
    path = write_csv(tmp_path / "up.csv", HOTLINE_HEADER, rows, "gb18030")
    with session_scope(scratch.database_url) as session:
        strict = ImportBatch(
            channel="hotline",
            filename="up.csv",
            file_sha256="x",
            stored_path=str(path),
            status="queued",
            errors=[],
            created_at=now,
        )
        lenient = ImportBatch(
            channel="hotline",
            filename="up.csv",
            file_sha256="x",
            stored_path=str(path),
            status="queued",
            errors=[],
            created_at=now,
            is_skip_bad_rows=True,
        )
        session.add_all([strict, lenient])
        session.flush()
        ids = strict.id, lenient.id
    assert run_import_batch(scratch, ids[0], now=now) == "failed"
    assert run_import_batch(scratch, ids[1], now=now) == "done"
    assert run_import_batch(scratch, ids[1], now=now) == "done"  # a redelivered task does nothing
    with session_scope(scratch.database_url) as session:
        strict, lenient = session.get(ImportBatch, ids[0]), session.get(ImportBatch, ids[1])
        assert strict.message.startswith("1 行有错误") and strict.errors[0]["row"] == 32
        assert (lenient.created_count, lenient.rejected_count, lenient.processed_rows) == (30, 1, 30)
        assert lenient.message == "导入 30 条，更新 0 条，拒绝 1 条"
        assert (
            session.scalar(select(func.count()).select_from(Ticket).where(Ticket.external_ref.like("TASK-%")))
            == 30
        )


def test_cli_import_all_or_nothing_and_summary(scratch, tmp_path, monkeypatch):
    from tracker.cli.main import main

    monkeypatch.setenv("TRACKER_DATABASE_URL", scratch.database_url)
    monkeypatch.setenv("TRACKER_INSTANCE_DIR", str(scratch.instance_dir))
    monkeypatch.setenv("TRACKER_SECRET_KEY", "scratch-secret")
    good = write_csv(
        tmp_path / "good.csv", HOTLINE_HEADER, [hotline_row(f"CLI-{i}") for i in range(5)], "gbk"
    )
    runner = CliRunner()
    first = runner.invoke(main, ["import", "hotline", str(good)])
    assert first.exit_code == 0, first.output
    assert "导入 5 条，更新 0 条，拒绝 0 条" in first.output
    with session_scope(scratch.database_url) as session:  # the search index is written after the commit
        indexed = session.execute(
            text(
                "SELECT count(*) FROM ticket_search JOIN tickets ON tickets.id = ticket_search.ticket_id "
                "WHERE tickets.external_ref LIKE 'CLI-%'"
            )
        ).scalar_one()
    assert indexed == 5
    second = runner.invoke(main, ["import", "hotline", str(good)])
    assert "导入 0 条，更新 0 条，拒绝 0 条" in second.output

    bad = write_csv(
        tmp_path / "bad.csv",
        HOTLINE_HEADER,
        [hotline_row("CLI-X1"), hotline_row("CLI-X2", accepted="2016/13/01")],
        "gbk",
    )
    refused = runner.invoke(main, ["import", "hotline", str(bad)])
    assert refused.exit_code == 1
    assert '第3行 受理时间 "2016/13/01" 无法识别' in refused.output
    skipped = runner.invoke(main, ["import", "hotline", str(bad), "--skip-bad-rows"])
    assert skipped.exit_code == 0 and "导入 1 条，更新 0 条，拒绝 1 条" in skipped.output
    assert (tmp_path / "bad.rejected.csv").exists()

    created = runner.invoke(main, ["apikey", "create", "--name", "12345平台", "--channel", "hotline"])
    assert created.exit_code == 0
    key_id = re.search(r"key id: (\S+)", created.output).group(1)
    assert re.search(r"secret: \S{40,}", created.output)
    listed = runner.invoke(main, ["apikey", "list"])
    assert key_id in listed.output and "secret" not in listed.output
    assert runner.invoke(main, ["apikey", "rotate", key_id]).exit_code == 0
    assert runner.invoke(main, ["apikey", "revoke", key_id]).exit_code == 0
    assert "已吊销" in runner.invoke(main, ["apikey", "list"]).output


def test_adapter_health_is_visible_on_the_import_page(client, session, staff, now):
    from tracker.intake.models import adapter_state
    from tracker.intake.weibo import ADAPTER

    state = adapter_state(session, ADAPTER)
    state.last_success_at = now
    state.last_error_at, state.last_error = now, "HTTP 500"
    state.consecutive_failures = 2
    session.commit()
    login(client, staff.username)
    page = client.get("/imports/").get_data(as_text=True)
    assert "政务微博接口" in page and "HTTP 500" in page
