"""`tracker letter render` on a scratch database (the command commits), and the PDF through LibreOffice: its
text read back with pdftotext, its page size with pdfinfo."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from tests import factories
from tracker.letters.render import docx_paragraphs
from tracker.tickets.drafts import ContactDraft


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    from tracker.calendar.store import load_bundled_calendar
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from tracker.pii.cipher import using
    from tracker.pii.keys import Keyring, parse_keys

    folder = tmp_path_factory.mktemp("letters-cli")
    url = f"sqlite:///{folder / 'cli.sqlite'}"
    upgrade(url)
    now = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    # A module fixture runs before the per-test keyring fixture (tests/conftest.py): write the contacts
    # under the suite's key, the one the CLI below loads from the environment.
    keyring = Keyring(parse_keys(os.environ["TRACKER_PII_KEYS"], what="TRACKER_PII_KEYS"))
    with using(keyring), session_scope(url) as session:
        load_bundled_calendar(session)
        dept = factories.department(session, "gkb", "政务公开科")
        other = factories.department(session, "kjc", "科技处")
        factories.user(session, role="staff", dept=dept, now=now, username="clerk")
        factories.user(session, role="staff", dept=other, now=now, username="stranger")
        numbers = {}
        for name, channel in (("disclosure", "disclosure"), ("hotline", "hotline")):
            ticket = factories.ticket(
                session,
                now=now,
                dept=dept,
                channel=channel,
                request_type="政府信息公开申请" if channel == "disclosure" else "投诉",
                received_via="网络" if channel == "disclosure" else None,
                subject="2025年度专项资金分配结果",
                contact=ContactDraft(name="王小明", phone="13900001111"),
            )
            numbers[name] = ticket.number
    env = {"TRACKER_DATABASE_URL": url, "TRACKER_INSTANCE_DIR": str(folder), "TRACKER_SECRET_KEY": "x"}
    return env, numbers


def run(env, *args):
    from tracker.cli.main import main

    return CliRunner().invoke(main, ["letter", *args], env=env, catch_exceptions=False)


def test_cli_renders_a_draft_docx_and_refuses_a_kind_that_does_not_fit(cli_env, tmp_path):
    env, numbers = cli_env
    out = tmp_path / "receipt.docx"
    result = run(env, "render", "--ticket", numbers["disclosure"], "--kind", "receipt", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "政府信息公开申请登记回执" in docx_paragraphs(out.read_bytes())
    refused = run(env, "render", "--ticket", numbers["disclosure"], "--kind", "extension", "--out", str(out))
    assert refused.exit_code == 2 and "答复期限未经批准延长" in refused.output
    hotline = run(env, "render", "--ticket", numbers["hotline"], "--kind", "receipt", "--out", str(out))
    assert hotline.exit_code == 2 and "不是依申请公开" in hotline.output
    missing = run(env, "render", "--ticket", "NOPE", "--kind", "receipt", "--out", str(out))
    assert missing.exit_code == 2 and "不存在" in missing.output


def test_cli_issues_as_a_user_who_may_act_and_refuses_another_department(cli_env, tmp_path):
    env, numbers = cli_env
    out = tmp_path / "fee.docx"
    args = ("render", "--ticket", numbers["disclosure"], "--kind", "fee", "--out", str(out))
    refused = run(env, *args, "--user", "stranger")
    assert refused.exit_code == 2 and "不存在或无权查看" in refused.output
    result = run(env, *args, "--user", "clerk", "--fee-method", "page", "--pages", "31")
    assert result.exit_code == 0 and "政信费〔2026〕1号" in result.output
    text = "\n".join(docx_paragraphs(out.read_bytes()))
    assert "人民币10元" in text and "政信费〔2026〕1号" in text


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (PDF is optional)")
def test_cli_pdf_is_a4_with_the_letter_text(cli_env, tmp_path):
    env, numbers = cli_env
    out = tmp_path / "receipt.pdf"
    result = run(
        env,
        "render",
        "--ticket",
        numbers["disclosure"],
        "--kind",
        "receipt",
        "--format",
        "pdf",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info and "Pages:           1" in info
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in ("政府信息公开申请登记回执", "王小明", "第三十一条", "二〇二六年四月一日", "（印章）"):
        assert expected in text.replace(" ", ""), expected
