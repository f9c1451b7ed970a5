"""`tracker import …` and `tracker apikey …`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker.config import Settings


@click.group("import")
def import_group() -> None:
    """Import past records from platform export files (CSV in UTF-8/GBK/GB18030, or XLSX; Weibo: JSON)."""


def _import_command(channel: str, help_text: str):
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--skip-bad-rows", is_flag=True, help="导入正确的行，错误行写入输入文件旁的 .rejected.csv")
    @click.option("--department", "department_code", default=None, help="部门代码（默认：局本级）")
    @click.pass_obj
    def command(settings: Settings, file: Path, skip_bad_rows: bool, department_code: str | None) -> None:
        from tracker.clock import utcnow
        from tracker.db import session_scope
        from tracker.intake.importer import ImportRejected, import_file
        from tracker.people.access import EVERYTHING

        lines = max(_count_lines(file) - 1, 1)
        try:
            # One transaction: a refused file (any bad row, without --skip-bad-rows) is rolled back whole.
            with (
                session_scope(settings.database_url) as session,
                click.progressbar(length=lines, label=f"导入 {file.name}", file=sys.stderr) as bar,
            ):
                report = import_file(
                    session,
                    channel,
                    file,
                    actor="文件导入",
                    # The server's operator: the file may update any ticket (a platform export re-sent
                    # after tickets were transferred); --department names where new tickets go.
                    reach=EVERYTHING,
                    now=utcnow(),
                    skip_bad_rows=skip_bad_rows,
                    department_code=department_code,
                    progress=bar.update,
                )
        except ImportRejected as exc:
            _print_errors(exc.report.errors)
            click.echo(
                f"导入 0 条，更新 0 条，拒绝 {exc.report.rejected} 条（有错误行，未导入任何数据；"
                "可修改后重试，或使用 --skip-bad-rows）",
                err=True,
            )
            sys.exit(1)
        if report.unindexed_ids:
            from tracker.intake.importer import index_imported

            with click.progressbar(
                length=len(report.unindexed_ids), label="建立检索索引", file=sys.stderr
            ) as bar:
                index_imported(settings.database_url, report.unindexed_ids, progress=bar.update)
        if report.rejected:
            _print_errors(report.errors)
        if report.rejected_path:
            click.echo(f"被拒绝的行已写入 {report.rejected_path}", err=True)
        click.echo(report.summary + (f"（{report.unchanged} 条无变化）" if report.unchanged else ""))

    command.__doc__ = help_text
    return import_group.command(channel)(command)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _print_errors(errors) -> None:
    for error in errors[:500]:
        click.echo(str(error), err=True)
    if len(errors) > 500:
        click.echo(f"……另有 {len(errors) - 500} 处错误", err=True)


_import_command("hotline", "Import 12345 work orders (工单编号, 受理时间, 诉求类型, 诉求内容 …).")
_import_command("website", "Import website messages (留言编号, 留言时间, 内容 …).")
_import_command("weibo", "Import Weibo API JSON (one response or an array).")
_import_command(
    "disclosure", "Import disclosure applications (申请编号, 收到日期, 申请人姓名或名称, 所需信息 …)."
)


@click.group()
def apikey() -> None:
    """API keys of machine clients (the 12345 platform, integrations)."""


@apikey.command("create")
@click.option("--name", required=True)
@click.option("--channel", default=None, help="限定渠道，例如 hotline")
@click.option("--department", "department_code", default=None, help="限定部门代码")
@click.pass_obj
def apikey_create(settings: Settings, name: str, channel: str | None, department_code: str | None) -> None:
    """Create a key; its secret is printed once and cannot be shown again."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.intake.apikeys import create_api_key

    with session_scope(settings.database_url) as session:
        key, secret = create_api_key(
            session,
            settings.secret_key,
            name=name,
            channel=channel,
            now=utcnow(),
            department_code=department_code,
        )
        key_id = key.key_id
    click.echo(f"key id: {key_id}")
    click.echo(f"secret: {secret}")
    click.echo("请立即妥善保存密钥，此后无法再次显示。", err=True)


@apikey.command("list")
@click.pass_obj
def apikey_list(settings: Settings) -> None:
    from tracker.db import session_scope
    from tracker.intake.apikeys import list_api_keys

    with session_scope(settings.database_url) as session:
        for key, department_id in list_api_keys(session):
            state = "已吊销" if key.revoked_at else "有效"
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "从未使用"
            click.echo(
                f"{key.key_id}\t{key.name}\t{key.channel or '全部渠道'}\t"
                f"{'部门#' + str(department_id) if department_id else '全部部门'}\t{state}\t{used}"
            )


@apikey.command("revoke")
@click.argument("key_id")
@click.pass_obj
def apikey_revoke(settings: Settings, key_id: str) -> None:
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.intake.apikeys import revoke_api_key

    with session_scope(settings.database_url) as session:
        revoke_api_key(session, key_id, now=utcnow())
    click.echo(f"已吊销 {key_id}")


@apikey.command("rotate")
@click.argument("key_id")
@click.pass_obj
def apikey_rotate(settings: Settings, key_id: str) -> None:
    """Replace the secret (the old one stops working at once); the new one is printed once."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.intake.apikeys import rotate_api_key

    with session_scope(settings.database_url) as session:
        secret = rotate_api_key(session, settings.secret_key, key_id, now=utcnow())
    click.echo(f"key id: {key_id}")
    click.echo(f"secret: {secret}")
