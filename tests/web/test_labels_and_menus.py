"""What a person reads (issue 18, items 10 and 11): the imports page is in the menu for the roles that may
use it and names its columns itself; import statuses, timeline events and audit actions are labelled; the
audit log reads as text (no \\u escapes), filters by date and exports CSV (formula-escaped); English
readers get their notifications, chart legends, channels and request types in English."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tracker.notify.service import notify
from tracker.people.models import AuditEntry
from tracker.workflow.doors import audit


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture(autouse=True)
def _clock(app, now):
    app.config["CLOCK"] = lambda: now
    app.config["CHART_CACHE_SECONDS"] = 0


@pytest.fixture
def people(session, now):
    dept = factories.department(session, "sme", "中小企业服务处")
    office = factories.department(session, "office", "办公室")
    return {
        "dept": dept,
        "staff": factories.user(session, role="staff", dept=dept, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=dept, now=now),
        "admin": factories.user(session, role="admin", dept=office, now=now),
        "auditor": factories.user(session, role="auditor", dept=office, now=now),
    }


def _nav(page: str) -> str:
    return re.search(r'<nav class="mainnav".*?</nav>', page, re.S).group(0)


@pytest.mark.parametrize(
    ("role", "shown"), [("staff", True), ("supervisor", True), ("admin", True), ("auditor", False)]
)
def test_the_imports_page_is_in_the_menu_of_the_roles_that_may_use_it(client, people, role, shown):
    sign_in(client, people[role])
    nav = _nav(client.get("/").get_data(as_text=True))
    assert ('href="/imports/"' in nav) is shown
    assert client.get("/imports/").status_code == (200 if shown else 403)


def test_the_imports_page_names_its_columns_and_shows_chinese_statuses(client, session, people, now):
    from tracker.intake.hotline import COLUMNS
    from tracker.intake.models import ImportBatch

    session.add(
        ImportBatch(
            channel="hotline",
            filename="orders.csv",
            file_sha256="0" * 64,
            status="failed",
            created_by_id=people["staff"].id,
            created_at=now,
            errors=[],
        )
    )
    session.commit()
    sign_in(client, people["staff"])
    page = client.get("/imports/").get_data(as_text=True)
    assert "docs/api.md" not in page
    for column in COLUMNS:
        assert f"<code>{column.header}</code>" in page
    assert "申请人姓名或名称" in page and "留言编号" in page  # the other formats too
    assert "<td>失败</td>" in page and ">failed<" not in page
    # The checkbox sits in its label's row (label.check is a flex row), not above it.
    assert re.search(r'<label class="check"><input type="checkbox" name="skip_bad_rows"', page)


def test_the_audit_log_reads_as_text_filters_by_date_and_exports(client, session, people, now):
    admin = people["admin"]
    audit(
        session,
        admin,
        "user.updated",
        now=now - timedelta(days=3),
        object_type="user",
        object_id=1,
        detail={"username": '=HYPERLINK("http://evil")', "changes": {"role": ["承办人", "科室负责人"]}},
    )
    audit(
        session,
        admin,
        "department.created",
        now=now,
        object_type="department",
        object_id=2,
        detail={"name": "信息化推进处"},
    )
    session.commit()
    sign_in(client, people["auditor"])
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "修改用户" in page and "创建部门" in page  # labels, not codes
    assert "信息化推进处" in page and "\\u" not in page
    day = (now - timedelta(days=3)).date().isoformat()
    only = client.get(f"/admin/audit?from={day}&to={day}").get_data(as_text=True)
    assert "修改用户" in only and "创建部门" not in only.split('id="audit-table"')[1]
    bad = client.get("/admin/audit?from=2026-13-01")
    assert bad.status_code == 302  # a clear message on the page, never a 500
    assert "日期格式" in client.get(bad.headers["Location"]).get_data(as_text=True)

    export = client.get(f"/admin/audit.csv?from={day}&to={day}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["序号", "时间", "用户", "操作代码", "操作"]
    (row,) = rows[1:]
    assert row[3:5] == ["user.updated", "修改用户"]
    assert '"username": "=HYPERLINK' in row[7] and "科室负责人" in row[7]  # readable JSON, inside one cell
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    exported = session.scalar(select(AuditEntry).where(AuditEntry.action == "audit.exported"))
    assert exported.user_id == people["auditor"].id and exported.detail["rows"] == 1


def test_a_formula_in_a_first_cell_is_escaped(client, session, people, now):
    audit(session, people["admin"], "user.updated", now=now, object_type="=cmd", object_id="+1")
    session.commit()
    sign_in(client, people["admin"])
    rows = list(
        csv.reader(io.StringIO(client.get("/admin/audit.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    row = next(r for r in rows[1:] if r[3] == "user.updated")
    assert row[5] == "'=cmd" and row[6] == "'+1"


@pytest.mark.parametrize("role", ["staff", "supervisor"])
def test_other_roles_neither_read_nor_export_the_audit_log(client, people, role):
    sign_in(client, people[role])
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


def test_english_readers_get_notifications_channels_and_types_in_english(client, session, people, now):

    staff = people["staff"]
    notify(
        session,
        [staff.id],
        kind="escalation",
        now=now,
        title="【超期督办】RX20260000078「答复」已超期14个工作日",
        body="新能源汽车推广补贴何时发放\n截止时间：2026年11月17日 24:00，请科室负责人和办公室督办。",
    )
    notify(session, [staff.id], kind="status", now=now, title="工单LY20260000001状态变为「办理中」")
    ticket = factories.ticket(session, now=now, dept=people["dept"], request_type="投诉")
    session.commit()
    sign_in(client, staff)
    post(client, "/lang/en", next="/")
    page = client.get("/notifications/").get_data(as_text=True)
    assert "[Escalation] RX20260000078 “Reply” is 14 working day(s) overdue" in page
    assert "Due: 2026-11-17 24:00 — for the supervisor and the office to follow up." in page
    assert "新能源汽车推广补贴何时发放" in page  # the citizen's subject stays as written
    assert "Escalation" in page and "超期督办" not in page
    assert "Ticket LY20260000001 is now “In progress”" in page or "Ticket LY20260000001 is now" in page
    ticket_page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "12345 hotline" in ticket_page and "Complaint" in ticket_page
    home = client.get("/").get_data(as_text=True)
    legend = re.search(r"<svg[^>]*>.*?</svg>", home, re.S).group(0)
    assert "12345热线" not in legend and "Website messages" in legend
    # Chinese readers still read Chinese.
    post(client, "/lang/zh_CN", next="/")
    assert "【超期督办】RX20260000078" in client.get("/notifications/").get_data(as_text=True)
