"""The report page: preview, checks with ticket links, drill-down (access-checked), downloads, registers."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests import factories
from tests.second_factor import complete_second_factor
from tracker.people.models import AuditEntry
from tracker.reports.models import RegisterFigure

from .builders import application, message, reply_and_close


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"username": username, "password": factories.PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    complete_second_factor(client, response, username)


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _setup(session, bureau, now):
    root, o, x = bureau
    a = application(session, o, "2021-03-01 10:00", "自然人")
    reply_and_close(session, a, "2021-03-10 10:00", "public")
    b = application(session, x, "2021-04-01 10:00", "商业企业")
    reply_and_close(session, b, "2021-04-10 10:00", "public")
    message(
        session,
        o,
        "2021-05-06 10:00",
        replied="2021-05-07 10:00",
        satisfaction="满意",
        topics=["<img src=x onerror=alert(1)>"],
    )
    users = {
        "admin": factories.user(session, role="admin", dept=root, now=now),
        "auditor": factories.user(session, role="auditor", dept=root, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=o, now=now),
        "staff": factories.user(session, role="staff", dept=o, now=now),
    }
    return root, o, x, a, b, users


def test_report_page_links_every_number_and_escapes_topics(client, session, bureau, now):
    root, _o, _x, a, b, users = _setup(session, bureau, now)
    _login(client, users["admin"].username)
    page = client.get(f"/reports/annual?year=2021&department={root.code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "三、收到和处理政府信息公开申请情况" in html and "全部通过" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "/reports/drill?" in html and "ref=d:public:%E8%87%AA%E7%84%B6%E4%BA%BA" in html  # d:public:自然人
    assert 'nonce="' in html and "style=" not in html  # CSP: no inline styles
    drill = client.get(f"/reports/drill?year=2021&department={root.code}&ref=d:public:all")
    text = drill.get_data(as_text=True)
    assert drill.status_code == 200 and a.number in text and b.number in text


def test_drill_down_is_access_checked(client, session, bureau, now):
    root, o, _x, a, b, users = _setup(session, bureau, now)
    _login(client, users["supervisor"].username)
    # A supervisor reports on their own office only.
    assert client.get(f"/reports/annual?year=2021&department={root.code}").status_code == 403
    page = client.get(f"/reports/drill?year=2021&department={o.code}&ref=d:public:all")
    text = page.get_data(as_text=True)
    assert a.number in text and b.number not in text


def test_staff_cannot_see_reports(client, session, bureau, now):
    *_rest, users = _setup(session, bureau, now)
    _login(client, users["staff"].username)
    assert client.get("/reports/annual?year=2021").status_code == 403


def test_download_xlsx_and_audit(client, session, bureau, now):
    root, *_rest, users = _setup(session, bureau, now)
    _login(client, users["auditor"].username)
    response = client.get(f"/reports/annual/download?year=2021&department={root.code}&format=xlsx")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.data))
    assert wb["三、依申请公开"]["J5"].value == 2
    assert session.query(AuditEntry).filter_by(action="report.export").count() == 1


def test_failing_checks_block_download_unless_admin_forces(client, session, bureau, now):
    root, o, *_rest, users = _setup(session, bureau, now)
    nobody = application(session, o, "2021-08-01 10:00", None)
    _login(client, users["auditor"].username)
    page = client.get(f"/reports/annual?year=2021&department={root.code}").get_data(as_text=True)
    assert "校验未通过" in page and nobody.number in page
    refused = client.get(f"/reports/annual/download?year=2021&department={root.code}&format=json&force=1")
    assert refused.status_code == 400  # auditors cannot force
    client.post("/logout", data={"csrf_token": _csrf(client, "/reports/annual?year=2021")})
    _login(client, users["admin"].username)
    forced = client.get(f"/reports/annual/download?year=2021&department={root.code}&format=json&force=1")
    assert forced.status_code == 200 and forced.get_json()["checks"]["passed"] is False


def test_register_import_all_or_nothing(client, session, bureau, now):
    _root, o, *_rest, users = _setup(session, bureau, now)
    _login(client, users["admin"].username)
    token = _csrf(client, "/reports/registers?year=2021")
    bad = f"年度,部门代码,项目,指标,数值\n2021,{o.code},规章,本年制发件数,2\n2021,{o.code},不存在的项目,本年制发件数,1\n"
    response = client.post(
        "/reports/registers/import",
        data={"csrf_token": token, "year": "2021", "file": (io.BytesIO(bad.encode()), "r.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "第3行「项目」：未知项目“不存在的项目”" in response.get_data(as_text=True)
    assert session.query(RegisterFigure).count() == 0
    good = f"年度,部门代码,项目,指标,数值\n2021,{o.code},规章,本年制发件数,2\n"
    response = client.post(
        "/reports/registers/import",
        data={"csrf_token": token, "year": "2021", "file": (io.BytesIO(good.encode("gb18030")), "r.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert session.query(RegisterFigure).one().value == 2
    # Auditors read the register but cannot change it.
    client.post("/logout", data={"csrf_token": token})
    _login(client, users["auditor"].username)
    assert client.get("/reports/registers?year=2021").status_code == 200
    token = _csrf(client, "/reports/registers?year=2021")
    assert client.post("/reports/registers", data={"csrf_token": token, "year": "2021"}).status_code == 403


def test_case_form_links_ticket_and_counts_in_section_4(client, session, bureau, now):
    root, o, _x, a, _b, users = _setup(session, bureau, now)
    _login(client, users["admin"].username)
    token = _csrf(client, "/reports/cases?year=2021")
    response = client.post(
        "/reports/cases",
        data={
            "csrf_token": token,
            "case_number": "（2021）复1号",
            "kind": "review",
            "result": "corrected",
            "filed_on": "2021-06-01",
            "decided_on": "2021-08-01",
            "department": o.code,
            "ticket": a.number,
        },
    )
    assert response.status_code == 302
    data = client.get(f"/reports/annual/download?year=2021&department={root.code}&format=json").get_json()
    assert data["official_tables"]["四、政府信息公开行政复议、行政诉讼情况"]["行政复议"]["结果纠正"] == 1
    drill = client.get(f"/reports/drill?year=2021&department={root.code}&ref=r:review:corrected").get_data(
        as_text=True
    )
    assert "（2021）复1号" in drill and a.number in drill


def test_page_renders_for_2019_format_and_free_form_years(client, session, bureau, now):
    root, o, _x, _a, _b, users = _setup(session, bureau, now)
    old = application(session, o, "2016-06-13 10:00", "自然人")
    reply_and_close(session, old, "2016-06-30 10:00", "public")
    _login(client, users["admin"].username)
    free = client.get(f"/reports/annual?year=2016&department={root.code}").get_data(as_text=True)
    assert "一、概述" in free and "自由格式" in free and "2016年度无政府信息公开复议、诉讼情况。" in free
    v2019 = client.get(f"/reports/annual?year=2020&department={root.code}").get_data(as_text=True)
    assert "第二十条第（九）项" in v2019 and "2019年版表格" in v2019
    assert client.get(f"/reports/annual?year=1800&department={root.code}").status_code == 400
