"""`tracker audit …`: verify the audit log's hash chain, forward it to syslog, prune past retention.

tracker/cli/main.py registers `audit` (this module's click group).
"""

from __future__ import annotations

import sys

import click

from tracker.config import Settings


@click.group("audit")
def audit() -> None:
    """The audit log (审计日志): integrity, forwarding, retention."""


@audit.command("verify")
@click.pass_obj
def verify(settings: Settings) -> None:
    """Check every link of the hash chain; name the first broken one and exit 1 if there is one."""
    from tracker.audit.chain import verify_chain
    from tracker.db import session_scope

    with session_scope(settings.database_url) as session:
        result = verify_chain(session)
    click.echo(result.summary(), err=not result.is_intact)
    if not result.is_intact:
        sys.exit(1)


@audit.command("forward")
@click.pass_obj
def forward(settings: Settings) -> None:
    """Send the entries not yet forwarded to syslog (the worker does this every few seconds)."""
    from tracker.audit.syslog import SyslogTarget, forward_pending

    if not settings.audit_syslog_url:
        raise click.UsageError("未配置 TRACKER_AUDIT_SYSLOG_URL")
    target = SyslogTarget.parse(settings.audit_syslog_url, settings.audit_syslog_ca_file)
    click.echo(f"已发送 {forward_pending(settings.database_url, target)} 条审计记录到 syslog")


@audit.command("prune")
@click.pass_obj
def prune(settings: Settings) -> None:
    """Delete entries older than TRACKER_AUDIT_RETENTION_DAYS (at least six months), keeping the chain
    verifiable (the worker does this nightly)."""
    from tracker.audit.retention import prune_expired
    from tracker.clock import utcnow
    from tracker.db import session_scope

    if settings.audit_retention_days is None:
        click.echo("未配置 TRACKER_AUDIT_RETENTION_DAYS：审计日志永久保存。")
        return
    with session_scope(settings.database_url) as session:
        result = prune_expired(
            session,
            retention_days=settings.audit_retention_days,
            now=utcnow(),
            keep_unforwarded=bool(settings.audit_syslog_url),
        )
    click.echo(result.summary())
