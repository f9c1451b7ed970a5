"""Render every letter kind and the 答复书 of every outcome row from real tickets, to DOCX, PDF and PNG, to look
at (issue 20: "each letter rendered to an image and looked at"). Needs LibreOffice and poppler
(scripts/system-deps.sh). Usage: .venv/bin/python scripts/letters_gallery.py OUT_DIR

A scratch SQLite database; the tickets go through the same doors as on the ticket page.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import factories
from tracker.calendar.store import load_bundled_calendar
from tracker.db import session_scope
from tracker.deadlines import policies as dl
from tracker.letters import service as letters
from tracker.letters.render import to_pdf
from tracker.migrate import upgrade
from tracker.reports.rows import OUTCOMES
from tracker.tickets.drafts import ContactDraft
from tracker.workflow import doors


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/gallery.sqlite"
        upgrade(url)
        with session_scope(url) as session:
            load_bundled_calendar(session)
            dept = factories.department(session, "gkb", "政务公开科")
            boss = factories.user(session, role="supervisor", dept=dept, now=now)

            def application(**extra):
                return factories.ticket(
                    session,
                    now=now,
                    dept=dept,
                    channel="disclosure",
                    request_type="政府信息公开申请",
                    received_via="网络",
                    subject="2025年度中小企业发展专项资金分配结果",
                    body="请公开。",
                    contact=ContactDraft(name="王小明", phone="13900001111"),
                    **extra,
                )

            jobs = []
            t = application()
            jobs.append(("receipt", t, {}))
            jobs.append(("correction", t, {"notice": "请写明所需信息的文件名称或文号\n请提供身份证明复印件"}))
            jobs.append(("fee", t, {"fee_method": "page", "pages": "150"}))
            t = application()
            doors.extend(session, t, user=boss, length=20, reason="需要调取历年档案", now=now)
            jobs.append(("extension", t, {}))
            t = application()
            doors.start_consultation(session, t, dl.THIRD_PARTY, user=boss, now=now)
            jobs.append(
                (
                    "consultation",
                    t,
                    {"third_party": "某某科技有限公司", "matter": "拟公开的分配结果含贵公司申报金额"},
                )
            )
            jobs.append(("not_disclosure", application(), {}))
            for outcome in OUTCOMES:
                jobs.append(
                    (
                        "reply",
                        application(),
                        {"outcome": outcome.code, "reply_text": "附件：分配结果一览表（共3页）"},
                    )
                )
            for kind, ticket, raw in jobs:
                letter = letters.issue_letter(
                    session, ticket, kind, raw, user=boss, now=now, directory=Path(tmp)
                )
                name = kind if kind != "reply" else f"reply-{letter.outcome}"
                data = letters.letter_docx(session, letter, Path(tmp))
                (out / f"{name}.docx").write_bytes(data)
                (out / f"{name}.pdf").write_bytes(to_pdf(data) or b"")
                subprocess.run(
                    ["pdftoppm", "-png", "-r", "60", str(out / f"{name}.pdf"), str(out / name)], check=True
                )
                print(name, letter.doc_number)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
