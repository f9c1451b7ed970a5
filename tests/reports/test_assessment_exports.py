"""`tracker report assessment` (JSON and XLSX) against a freshly migrated database holding the hand-built
November (tests/reports/assessment_month.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.reports.assessment_month import build_november
from tracker.cli.main import main
from tracker.db import session_scope
from tracker.migrate import upgrade
from tracker.reports.assessment import build_assessment
from tracker.reports.assessment_rules import DEFAULT_RULES, parse_period
from tracker.reports.assessment_xlsx import assessment_xlsx


@pytest.fixture
def world(blank_database_url, tmp_path):
    upgrade(blank_database_url)
    instance = tmp_path / "instance"
    instance.mkdir()
    # The city's rules file: a minimum sample of 3 so that units A and B of the fixture are ranked.
    (instance / "assessment.json").write_text(json.dumps({"minimum_sample": 3}), encoding="utf-8")
    with session_scope(blank_database_url) as session:
        month = build_november(session)
        codes = (month.a.code, month.b.code, month.c.code)
    env = {
        "TRACKER_DATABASE_URL": blank_database_url,
        "TRACKER_INSTANCE_DIR": str(instance),
        "TRACKER_SECRET_KEY": "assessment-test-key",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    return env, codes


def _invoke(env, *args):
    return CliRunner().invoke(main, ["report", "assessment", *args], env=env, catch_exceptions=False)


def test_cli_json(world, tmp_path):
    env, (a, b, c) = world
    result = _invoke(env, "--period", "2026-11", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period"] == "2026-11"
    ranks = {u["code"]: u["rank"] for u in data["units"]}
    assert (ranks[b], ranks[a], ranks[c]) == (1, 2, None)  # the rules file's minimum of 3 applies
    assert data["rules"]["minimum_sample"] == 3 and data["rules"]["source"].endswith("assessment.json")

    out = tmp_path / "a.json"
    result = _invoke(env, "--period", "2026-11", "--department", a, "--people", "--out", str(out))
    assert result.exit_code == 0, result.output
    one = json.loads(out.read_text(encoding="utf-8"))
    assert [u["code"] for u in one["units"]] == [a]
    assert one["units"][0]["rates"]["sign_on_time"] == {"num": 3, "den": 5, "rate": 0.6}
    assert [p["received"] for p in one["people"]] == [2]


def test_cli_quarter_and_year(world):
    env, (a, _b, _c) = world
    for period in ("2026-Q4", "2026"):
        data = json.loads(_invoke(env, "--period", period).output)
        unit = next(u for u in data["units"] if u["code"] == a)
        assert unit["received"] == 8  # a1–a4, a7, a8, and a5 (October) and a9 (December) in the same quarter


def test_cli_xlsx(world, tmp_path):
    env, (a, b, _c) = world
    out = tmp_path / "assessment.xlsx"
    result = _invoke(env, "--period", "2026-11", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book.sheetnames == ["考核排名", "考核口径"]
    sheet = book["考核排名"]
    assert "2026年11月" in sheet["A1"].value
    assert (sheet["E2"].value, sheet["E3"].value, sheet["F3"].value, sheet["G3"].value) == (
        "签收及时率",
        "分子",
        "分母",
        "比率",
    )
    rows = {row[1]: row for row in sheet.iter_rows(min_row=4, values_only=True) if row[1]}
    assert rows[b][0] == 1 and rows[a][0] == 2
    assert rows[a][3:7] == (6, 3, 5, 0.6)
    assert sheet["G4"].number_format == "0.00%"


def test_cli_refuses_bad_input(world, tmp_path):
    env, _codes = world
    result = CliRunner().invoke(main, ["report", "assessment", "--period", "2026-13"], env=env)
    assert result.exit_code != 0 and "2026-13" in result.output
    result = CliRunner().invoke(
        main, ["report", "assessment", "--period", "2026-11", "--department", "nope"], env=env
    )
    assert result.exit_code != 0 and "nope" in result.output
    result = CliRunner().invoke(
        main, ["report", "assessment", "--period", "2026-11", "--format", "xlsx"], env=env
    )
    assert result.exit_code != 0 and "--out" in result.output


def test_xlsx_keeps_a_formula_as_text(session):
    # A unit named like a formula (administrators' text) stays text in the sheet.
    build_november(session)
    data = build_assessment(session, parse_period("2026-11"), DEFAULT_RULES)
    data["units"].append(
        {**data["units"][0], "code": "evil", "name": '=HYPERLINK("http://x.example","点击")'}
    )
    sheet = load_workbook(io.BytesIO(assessment_xlsx(data)))["考核排名"]
    names = [row[2] for row in sheet.iter_rows(min_row=4, values_only=True)]
    assert '\'=HYPERLINK("http://x.example","点击")' in names
