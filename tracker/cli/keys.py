"""`tracker keys …`: the personal-data keys — a new key entry, the rows per key, rotation.

tracker/cli/main.py registers `keys` (this module's click group). No command prints a configured key.
"""

from __future__ import annotations

import click

from tracker.config import Settings


@click.group("keys")
def keys() -> None:
    """个人信息加密密钥 (personal-data keys): status, rotation."""


@keys.command("new")
@click.option("--id", "kid", default=None, help="key id (default: k + the current UTC time)")
def new(kid: str | None) -> None:
    """Print a new random key entry (id:base64). Put it FIRST in the key file, keep the old keys after
    it, restart, then run `tracker keys rotate`."""
    from tracker.pii.keys import new_entry

    click.echo(new_entry(kid))


@keys.command("status")
@click.pass_obj
def status(settings: Settings) -> None:
    """The current key and cipher, and how many stored values each key sealed."""
    from tracker.db import session_scope
    from tracker.pii.rotation import key_status

    with session_scope(settings.database_url) as session:
        result = key_status(session)
    click.echo(
        f"当前密钥：{result.current_key}（{result.cipher}），已配置：{', '.join(result.keys)}；来源：{result.source}"
    )
    for column, counts in result.columns.items():
        parts = ", ".join(f"{k} {n}" for k, n in counts.items()) or "无数据"
        click.echo(f"  {column}: {parts}")
    click.echo(f"待轮换的记录：{result.stale_rows}")


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_obj
def rotate(settings: Settings, batch_size: int) -> None:
    """Re-encrypt every encrypted value (contacts, 回访, 办理情况 …) not yet under the current key, in committed batches (safe to interrupt
    and run again)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.pii import rotation

    result = rotation.rotate(
        session_scope,
        settings.database_url,
        now=utcnow(),
        batch_size=batch_size,
        progress=lambda n: click.echo(f"  已重新加密 {n} 条记录", err=True),
    )
    click.echo(
        f"轮换完成：{result.rows} 条记录改用密钥 {result.key_id}（{result.cipher}），共 {result.batches} 批。"
    )
