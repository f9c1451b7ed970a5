"""THE SEED: the 2016 report's figures come out of imported records, through the `tracker` command.

"处理答复“市政府热线”56件、“网站留言”及咨询共26件，答复率和满意率均为100%", one disclosure application,
no reviews or lawsuits; 229 items published (局网站105条, 公开查阅点及信息公开平台56条, 传统媒体67条).
The records are imported with `tracker import hotline|website|disclosure` from tests/data/seed2016/
(the intake's seed files), into a scratch database of each backend.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document

from tracker.cli.main import main
from tracker.db import session_scope
from tracker.migrate import upgrade
from tracker.people.service import create_department

SEED = Path(__file__).parent.parent / "data" / "seed2016"


def seed_file(name: str) -> Path:
    return SEED / name


@pytest.fixture
def scratch_url(blank_database_url):
    return blank_database_url


@pytest.fixture
def run(scratch_url, tmp_path):
    env = {
        "TRACKER_DATABASE_URL": scratch_url,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_SECRET_KEY": "seed-test-key",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_seed_2016_figures_from_imported_records(run, scratch_url, tmp_path):
    run("db", "upgrade")
    with session_scope(scratch_url) as session:
        create_department(session, code="gxj", name="石家庄市工业和信息化局")
    for channel, name in (
        ("hotline", "hotline_2016.csv"),
        ("website", "website_2016.csv"),
        ("disclosure", "disclosure_2016.csv"),
    ):
        run("import", channel, str(seed_file(name)))
    register = tmp_path / "register_2016.csv"
    register.write_text(
        "年度,部门代码,项目,指标,数值\n2016,gxj,门户网站,发布信息条数,105\n"
        "2016,gxj,公开查阅点及政府信息公开平台,发布信息条数,56\n2016,gxj,报刊、电视、专栏等传统媒体,发布信息条数,67\n"
        "2016,gxj,全年发布（报送）各类信息,发布信息条数,229\n",
        encoding="utf-8",
    )
    assert "新增 4 条" in run("report", "register", "import", str(register))

    data = json.loads(run("report", "annual", "--year", "2016", "--format", "json"))
    assert data["format"] == "free" and data["official_tables"] == {}
    hotline, website = data["interaction"]["hotline"], data["interaction"]["website"]
    assert (hotline["received"], hotline["replied"], hotline["reply_rate"], hotline["satisfaction_rate"]) == (
        56,
        56,
        1.0,
        1.0,
    )
    assert (website["received"], website["replied"], website["reply_rate"], website["satisfaction_rate"]) == (
        26,
        26,
        1.0,
        1.0,
    )
    assert data["free_form"]["disclosure"] == {
        "received": 1,
        "carried_in": 0,
        "finished": 1,
        "carried_out": 0,
    }
    assert data["free_form"]["reviews"] == 0 and data["free_form"]["lawsuits"] == 0
    assert data["free_form"]["published"] == {
        "全年发布（报送）各类信息": 229,
        "门户网站": 105,
        "公开查阅点及政府信息公开平台": 56,
        "报刊、电视、专栏等传统媒体": 67,
    }
    assert data["checks"]["passed"] is True

    out = tmp_path / "2016.docx"
    run("report", "annual", "--year", "2016", "--format", "docx", "--out", str(out))
    text = "\n".join(p.text for p in Document(io.BytesIO(out.read_bytes())).paragraphs)
    assert "处理答复“市政府热线”56件、“网站留言”及咨询共26件，答复率和满意率均为100%。" in text
    # The seed names 集体企业改制、新能源汽车、电信资费; their order among equal counts is not a rule.
    topics = re.search(r"群众关心的内容主要集中在(.+?)等方面。", text).group(1).split("、")
    assert sorted(topics) == sorted(["集体企业改制", "新能源汽车", "电信资费"])
    assert "全年发布各类信息229条。其中，门户网站发布105条" in text
    assert "2016年度无政府信息公开复议、诉讼情况。" in text
    for fmt in ("csv", "html"):
        assert run("report", "annual", "--year", "2016", "--format", fmt)
    xlsx = tmp_path / "2016.xlsx"
    run("report", "annual", "--year", "2016", "--format", "xlsx", "--out", str(xlsx))
    assert xlsx.stat().st_size > 0


def test_cli_refuses_binary_format_on_stdout_and_failing_checks(run, scratch_url, tmp_path):
    run("db", "upgrade")
    runner = CliRunner()
    env = {
        "TRACKER_DATABASE_URL": scratch_url,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "i2"),
        "TRACKER_SECRET_KEY": "k",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }
    result = runner.invoke(main, ["report", "annual", "--year", "2021", "--format", "xlsx"], env=env)
    assert result.exit_code == 2 and "--out" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("年度,部门代码,项目,指标,数值\n2021,nowhere,规章,本年制发件数,x\n", encoding="utf-8")
    result = runner.invoke(main, ["report", "register", "import", str(bad)], env=env)
    assert result.exit_code == 2
    assert "第2行「部门代码」：部门“nowhere”不存在" in result.output
    assert "第2行「数值」：应为数字" in result.output
    upgrade(scratch_url)  # idempotent
