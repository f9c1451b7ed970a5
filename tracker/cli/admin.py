"""`tracker privacy …`: personal data — retention periods, anonymisation, access-request exports.

tracker/cli/main.py registers `admin_group` (this module's click group, named "privacy").
"""

from __future__ import annotations

import json
import sys

import click

from tracker.config import Settings


@click.group("privacy")
def admin_group() -> None:
    """Personal data (个人信息保护法): retention, anonymisation, access requests."""


@admin_group.command("export")
@click.option("--phone", default=None, help="手机号或电话号码（任意写法）")
@click.option("--id-number", default=None, help="证件号码")
@click.option("--email", default=None, help="电子邮箱")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="写入文件（默认标准输出）",
)
@click.option("--by", "by", default=None, help="办理该查询申请的工作人员用户名（记入审计日志）")
@click.pass_obj
def export(settings: Settings, phone, id_number, email, out, by) -> None:
    """Export everything held about one person as JSON (an access request, art. 45)."""
    from sqlalchemy import select

    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.errors import ValidationError
    from tracker.people.models import User
    from tracker.privacy.service import export_person

    with session_scope(settings.database_url) as session:
        actor = None
        if by:
            actor = session.scalar(select(User).where(User.username == by))
            if actor is None:
                raise ValidationError(f"未知用户 {by!r}", fields={"by": "未知用户"})
        document = export_person(
            session,
            now=utcnow(),
            actor=actor,
            actor_label="命令行",
            phone=phone,
            id_number=id_number,
            email=email,
        )
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        click.echo(
            f"已导出 {len(document['contacts'])} 条联系人记录、{len(document['tickets'])} 件工单到 {out}",
            err=True,
        )
    else:
        sys.stdout.write(text + "\n")


@admin_group.command("anonymise-due")
@click.option("--dry-run", is_flag=True, help="只统计，不修改")
@click.option("--batch", default=500, show_default=True, help="每个事务处理的联系人数")
@click.pass_obj
def anonymise_due_command(settings: Settings, dry_run: bool, batch: int) -> None:
    """Anonymise contact details whose retention period has run out (the beat task does this nightly)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.privacy.service import count_due, run_anonymisation

    if dry_run:
        with session_scope(settings.database_url) as session:
            click.echo(f"到期待匿名化的联系人：{count_due(session, now=utcnow())} 位")
        return
    click.echo(run_anonymisation(settings.database_url, now=utcnow(), batch=batch).summary())


@admin_group.command("retention")
@click.pass_obj
def retention(settings: Settings) -> None:
    """Show the retention period of each channel."""
    from tracker.db import session_scope
    from tracker.privacy.service import retention_years
    from tracker.tickets.channels import CHANNELS

    with session_scope(settings.database_url) as session:
        years = retention_years(session)
    for code, chan in CHANNELS.items():
        value = years.get(code)
        click.echo(
            f"{chan.label}（{code}）：" + ("不自动匿名化" if value is None else f"办结后保存 {value} 年")
        )


@admin_group.command("set-retention")
@click.option("--channel", "channel_code", required=True, help="hotline / website / weibo / disclosure")
@click.option("--years", type=int, default=None, help="办结后保存年限")
@click.option("--off", is_flag=True, help="停止对该渠道自动匿名化")
@click.option("--note", default="", help="依据或说明")
@click.option("--by", "by", default=None, help="操作人用户名（记入审计日志）")
@click.pass_obj
def set_retention_command(settings: Settings, channel_code, years, off, note, by) -> None:
    """Change a channel's retention period (audited)."""
    from sqlalchemy import select

    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.errors import ValidationError
    from tracker.people.models import User
    from tracker.privacy.service import retention_years, set_retention

    with session_scope(settings.database_url) as session:
        if years is None:
            if not off:
                raise ValidationError("须指定 --years 或 --off", fields={"years": "必填"})
            years = retention_years(session).get(channel_code) or 0
        actor = session.scalar(select(User).where(User.username == by)) if by else None
        set_retention(session, channel_code, years, now=utcnow(), actor=actor, is_active=not off, note=note)
    click.echo(f"{channel_code}：" + ("已停止自动匿名化" if off else f"办结后保存 {years} 年"))
