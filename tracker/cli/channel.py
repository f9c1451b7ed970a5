"""`tracker channel …`: what an operator does with the outside channels — poll Weibo now, see every
channel's health."""

from __future__ import annotations

import json

import click

from tracker.config import Settings


@click.group("channel")
def channel_group() -> None:
    """Outside channels: the Weibo poller, the 12345 callback, e-mail, robots and webhooks."""


@channel_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@click.pass_obj
def channel_status(settings: Settings, as_json: bool) -> None:
    """Every channel: last success, last error code and what it means."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.ops.channel_status import channel_statuses, format_table

    with session_scope(settings.database_url) as session:
        rows = channel_statuses(session, settings, now=utcnow())
    if as_json:
        click.echo(json.dumps([{**row.public(), "detail": row.detail} for row in rows], ensure_ascii=False))
    else:
        click.echo(format_table(rows))


@channel_group.group("poll")
def poll_group() -> None:
    """Run a poll now."""


@poll_group.command("weibo")
@click.pass_obj
def poll_weibo_now(settings: Settings) -> None:
    """Poll Weibo once now (whatever the interval or a wait), and print what was fetched."""
    from tracker.clock import utcnow
    from tracker.intake.weibo import poll_once
    from tracker.ops.channel_errors import meaning

    if not settings.weibo_api_url or not settings.weibo_access_token:
        raise click.ClickException("未配置微博接口（TRACKER_WEIBO_API_URL、TRACKER_WEIBO_ACCESS_TOKEN）")
    result = poll_once(settings, now=utcnow(), force=True)
    for name, report in result.get("endpoints", {}).items():
        line = f"{name}: 取到 {report['fetched']} 条，新建工单 {report['created']} 个"
        if report.get("error"):
            line += f"；错误 {report['error']}：{meaning('weibo', report['error'])}"
        click.echo(line)
    click.echo(
        f"合计：新建 {result.get('created', 0)}，重复 {result.get('duplicate', 0)}，"
        f"更新 {result.get('updated', 0)}，无法识别 {result.get('rejected', 0)}；调用接口 {result.get('calls', 0)} 次"
    )
    if result.get("error"):
        code = result["error"]
        raise click.ClickException(f"拉取未全部成功：{code} {meaning('weibo', code)}")
