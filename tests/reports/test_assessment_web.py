"""The page /reports/assessment: who sees which unit, drill-down to the counted orders, downloads, bad input —
over the hand-built November (tests/reports/assessment_month.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests import factories
from tests.reports.assessment_month import build_november
from tracker.people.models import AuditEntry


@pytest.fixture
def world(session, settings, now):
    # The city's rules: a minimum sample of 3 ranks units A and B of the fixture.
    (settings.instance_dir / "assessment.json").write_text(
        json.dumps({"minimum_sample": 3}), encoding="utf-8"
    )
    month = build_november(session)
    month.c.name = "<img src=x onerror=alert(1)>档案馆"
    users = {
        "admin": factories.user(session, role="admin", dept=month.a, now=now),
        "auditor": factories.user(session, role="auditor", dept=month.a, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=month.a, now=now),
        "staff": factories.user(session, role="staff", dept=month.a, now=now),
        "other_supervisor": factories.user(session, role="supervisor", dept=month.b, now=now),
    }
    session.commit()
    return month, users


def _as(client, user):
    factories.signed_in(client, user, csrf_token="t")
    return client


def _numbers(html: str) -> set[str]:
    return set(re.findall(r'<a href="/tickets/\d+">([^<]+)</a>', html))


def test_office_sees_every_unit_ranked_with_trend_and_charts(client, world):
    month, users = world
    html = _as(client, users["admin"]).get("/reports/assessment?period=2026-11").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-unit="([^"]+)">\s*<td>([^<]+)</td>', html))
    assert rows[month.b.code] == "1" and rows[month.a.code] == "2"
    assert rows[month.c.code] == "不排名"
    assert html.count("<svg") >= 2
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "74.33" in html and "81.67" in html
    assert 'data-drill="sign_on_time-num"' in html


def test_drill_down_lists_exactly_the_counted_orders(client, world):
    month, users = world
    _as(client, users["admin"])
    html = client.get(
        f"/reports/assessment/drill?period=2026-11&department={month.a.code}&figure=sign_on_time&part=num"
    ).get_data(as_text=True)
    assert _numbers(html) == {month.orders[n].number for n in ("a1", "a3", "a7")}
    html = client.get(
        f"/reports/assessment/drill?period=2026-11&department={month.a.code}&figure=close_on_time&part=den"
    ).get_data(as_text=True)
    assert _numbers(html) == {month.orders[n].number for n in ("a1", "a2", "a5")}
    # The bureau's numbers (no unit) are the office's: every unit's orders.
    html = client.get("/reports/assessment/drill?period=2026-11&figure=supervised&part=den").get_data(
        as_text=True
    )
    assert _numbers(html) == {month.orders[n].number for n in ("a7", "b2")}


def test_supervisor_sees_own_unit_its_people_and_nothing_else(client, world):
    month, users = world
    _as(client, users["supervisor"])
    html = client.get("/reports/assessment?period=2026-11").get_data(as_text=True)
    assert set(re.findall(r'<tr data-unit="([^"]+)">', html)) == {month.a.code}
    assert 'id="people"' in html and month.u1.username in html
    assert client.get(f"/reports/assessment?period=2026-11&department={month.b.code}").status_code == 403
    drill_b = f"/reports/assessment/drill?period=2026-11&department={month.b.code}&figure=received&part=den"
    assert client.get(drill_b).status_code == 403
    # Without a unit the drill-down is the supervisor's own unit, never the bureau's orders.
    html = client.get("/reports/assessment/drill?period=2026-11&figure=supervised&part=den").get_data(
        as_text=True
    )
    assert _numbers(html) == {month.orders["a7"].number}
    person = client.get(
        f"/reports/assessment/drill?period=2026-11&figure=received&part=den&person={month.u1.id}"
    ).get_data(as_text=True)
    assert _numbers(person) == {month.orders["a1"].number, month.orders["a2"].number}
    # Someone of another unit is not drilled, even by id.
    outsider = users["other_supervisor"].id
    assert (
        client.get(
            f"/reports/assessment/drill?period=2026-11&figure=received&part=den&person={outsider}"
        ).status_code
        == 404
    )
    xlsx = client.get("/reports/assessment/download?period=2026-11&format=xlsx")
    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames == ["考核排名", "人员", "考核口径"]


def test_other_units_supervisor_does_not_see_unit_a(client, world):
    month, users = world
    _as(client, users["other_supervisor"])
    html = client.get("/reports/assessment?period=2026-11").get_data(as_text=True)
    assert set(re.findall(r'<tr data-unit="([^"]+)">', html)) == {month.b.code}
    assert month.orders["a1"].number not in html


@pytest.mark.parametrize(
    "path",
    [
        "/reports/assessment?period=2026-11",
        "/reports/assessment/download?period=2026-11&format=json",
        "/reports/assessment/drill?period=2026-11&figure=received&part=den",
    ],
)
def test_staff_and_anonymous_are_refused(client, world, path):
    _month, users = world
    assert client.get(path).status_code in (302, 401)  # to the sign-in page
    assert _as(client, users["staff"]).get(path).status_code == 403


def test_auditor_downloads_json_and_xlsx_and_each_is_audited(client, world, session):
    month, users = world
    _as(client, users["auditor"])
    response = client.get("/reports/assessment/download?period=2026-11&format=json")
    data = json.loads(response.data)
    assert response.mimetype == "application/json"
    assert data["period"] == "2026-11" and {u["code"] for u in data["units"]} >= {month.a.code, month.b.code}
    response = client.get("/reports/assessment/download?period=2026-Q4&format=xlsx")
    assert "attachment" in response.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(response.data))["考核排名"]["A1"].value.endswith("（2026年第4季度）")
    audited = session.scalars(
        select(AuditEntry.object_id).where(
            AuditEntry.object_type == "assessment", AuditEntry.user_id == users["auditor"].id
        )
    ).all()
    assert sorted(audited) == ["2026-11:*", "2026-Q4:*"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/reports/assessment?period=2026-13", "period"),
        ("/reports/assessment?period=<script>", "period"),
        ("/reports/assessment/download?period=2026-11&format=exe", "format"),
        ("/reports/assessment/drill?period=2026-11&figure=speed&part=num", "figure"),
        ("/reports/assessment/drill?period=2026-11&figure=response&part=all", "part"),
        ("/reports/assessment/drill?period=2026-11&figure=response&part=num&person=abc", "person"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, world, path, field):
    _month, users = world
    response = _as(client, users["admin"]).get(path)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)


def test_unknown_unit_is_a_404(client, world):
    _month, users = world
    assert (
        _as(client, users["admin"]).get("/reports/assessment?period=2026-11&department=nope").status_code
        == 404
    )
