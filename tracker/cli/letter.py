"""`tracker letter`: statutory letters from the command line (docs/letters.md)."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.config import Settings
from tracker.letters.kinds import KINDS


@click.group("letter")
def letter() -> None:
    """Statutory letters of disclosure applications (文书)."""


@letter.command("render")
@click.option("--ticket", "number", required=True, help="工单编号")
@click.option("--kind", required=True, type=click.Choice(list(KINDS)), help="文书类型")
@click.option("--format", "fmt", default="docx", show_default=True, type=click.Choice(["docx", "pdf"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="输出文件")
@click.option(
    "--outcome", default=None, help="答复结果（答复书、非政府信息公开申请告知书；已答复的取工单的）"
)
@click.option("--reply-text", default=None, help="答复正文（答复书）")
@click.option("--notice", default=None, help="需要补正的内容，一行一项（补正告知书）")
@click.option("--correction-due", default=None, help="补正期限 YYYY-MM-DD（缺省按规则计算）")
@click.option("--third-party", default=None, help="第三方名称（征求意见书）")
@click.option("--matter", default=None, help="征求意见事项（征求意见书）")
@click.option("--fee-method", default=None, type=click.Choice(["item", "page"]), help="计费方式（收费通知）")
@click.option("--pages", default=None, help="页数（按量计收）")
@click.option(
    "--user",
    "username",
    default=None,
    help="以该用户出具：分配文号并存为工单附件（检查其权限）；缺省只生成不编号的草稿",
)
@click.pass_obj
def render(
    settings: Settings,
    number: str,
    kind: str,
    fmt: str,
    out: str,
    outcome: str | None,
    reply_text: str | None,
    notice: str | None,
    correction_due: str | None,
    third_party: str | None,
    matter: str | None,
    fee_method: str | None,
    pages: str | None,
    username: str | None,
) -> None:
    """Render a letter of a ticket to a DOCX or PDF file."""
    from sqlalchemy import select

    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.errors import NotFound, ValidationError
    from tracker.letters import service
    from tracker.letters.render import soffice_path, to_pdf
    from tracker.people.models import User
    from tracker.tickets.models import Ticket

    if fmt == "pdf" and soffice_path() is None:
        raise ValidationError(
            "未安装 LibreOffice（soffice），无法生成 PDF；DOCX 始终可用", fields={"format": "pdf"}
        )
    raw = {
        "outcome": outcome,
        "reply_text": reply_text,
        "notice": notice,
        "correction_due_on": correction_due,
        "third_party": third_party,
        "matter": matter,
        "fee_method": fee_method,
        "pages": pages,
    }
    now = utcnow()
    with session_scope(settings.database_url) as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number.strip()))
        if ticket is None:
            raise NotFound(f"工单 {number} 不存在")
        if username is None:
            data = service.preview_letter(session, ticket, kind, raw, user=None, now=now).docx
            what = "草稿（未编号、未存档）"
        else:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.is_active:
                raise NotFound(f"用户 {username} 不存在或已停用")
            issued = service.issue_letter(
                session,
                ticket,
                kind,
                raw,
                user=user,
                now=now,
                directory=Path(settings.instance_dir) / "attachments",
            )
            data = service.letter_docx(session, issued, Path(settings.instance_dir) / "attachments")
            what = f"{issued.doc_number}（已存为工单附件）"
    if fmt == "pdf":
        data = to_pdf(data) or b""
    Path(out).write_bytes(data)
    click.echo(f"{KINDS[kind].title} {what} → {out}")


@letter.command("template")
@click.option("--kind", required=True, type=click.Choice(list(KINDS)))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.pass_obj
def template(settings: Settings, kind: str, out: str) -> None:
    """Write the template in use for a kind (the office's upload, else the built-in one), to edit."""
    from tracker.db import session_scope
    from tracker.letters.service import template_file

    with session_scope(settings.database_url) as session:
        _name, data = template_file(session, kind)
    Path(out).write_bytes(data)
    click.echo(f"{KINDS[kind].title} 模板 → {out}")
