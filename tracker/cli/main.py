"""The `tracker` command: database, users, demo data, running the embedded stack."""

from __future__ import annotations

import sys

import click

from tracker.config import Settings
from tracker.errors import TrackerError


class TrackerGroup(click.Group):
    """Turn domain errors into a message on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(2)


@click.group(cls=TrackerGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Citizen-interaction tracker (政民互动工单系统)."""
    ctx.obj = Settings.from_env()
    ctx.obj.install_pii_keys()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Create or migrate the schema and load the bundled reference data."""
    from tracker.audit.chain import set_algorithm
    from tracker.bootstrap import load_reference_data
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.migrate import applied_revisions, upgrade, upgrade_summary

    before = applied_revisions(settings.database_url)
    upgrade(settings.database_url)
    done = upgrade_summary(before, applied_revisions(settings.database_url))
    with session_scope(settings.database_url) as session:
        summary = load_reference_data(session)
        # TRACKER_AUDIT_HASH takes effect here, for the entries written from now on (audited).
        if set_algorithm(session, settings.audit_hash, now=utcnow()):
            summary += f" 审计日志哈希算法改为 {settings.audit_hash}。"
    click.echo(f"{done}{summary}")
    if not before:
        click.echo(
            "下一步：tracker department create 创建部门，再 tracker user create 创建管理员（见 README）。"
        )


@main.group()
def department() -> None:
    """Departments (the bureau and its offices, a tree)."""


def _department(session, code: str):
    from sqlalchemy import select

    from tracker.errors import ValidationError
    from tracker.people.models import Department

    found = session.scalar(select(Department).where(Department.code == code))
    if found is None:
        raise ValidationError(f"部门 {code!r} 不存在", fields={"code": "不存在"})
    return found


@department.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", default=None, help="上级部门代码（不填：顶级部门，如局本级）")
@click.pass_obj
def department_create(settings: Settings, code: str, name: str, parent_code: str | None) -> None:
    """Create a department: CODE (letters, digits, . - _) and its NAME (audited)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.people.service import create_department

    with session_scope(settings.database_url) as session:
        created = create_department(
            session, code=code, name=name, parent_code=parent_code, now=utcnow(), via="命令行"
        )
        parent = f"，上级部门 {created.parent.name}" if created.parent else "（顶级部门）"
        click.echo(f"已创建部门 {created.code} {created.name}{parent}")


@department.command("list")
@click.pass_obj
def department_list(settings: Settings) -> None:
    """Every department: code, name, parent, whether it is active."""
    from sqlalchemy import select

    from tracker.db import session_scope
    from tracker.people.models import Department

    with session_scope(settings.database_url) as session:
        rows = session.scalars(select(Department).order_by(Department.id)).all()
        if not rows:
            click.echo("尚无部门：tracker department create CODE NAME")
        for row in rows:
            state = "" if row.is_active else "  [已停用]"
            parent = row.parent.code if row.parent else "—"
            click.echo(f"{row.code}\t{row.name}\t上级：{parent}{state}")


@department.command("update")
@click.argument("code")
@click.option("--name", default=None, help="新名称")
@click.option("--parent", "parent_code", default=None, help="新的上级部门代码")
@click.option("--top-level", is_flag=True, help="改为顶级部门（无上级）")
@click.option("--disable", "state", flag_value="disable", default=None, help="停用：不再接收新工单")
@click.option("--enable", "state", flag_value="enable", help="重新启用")
@click.pass_obj
def department_update(settings: Settings, code, name, parent_code, top_level, state) -> None:
    """Rename, move or disable/enable a department (audited; a parent chain may not loop)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.people.service import update_department

    if parent_code and top_level:
        raise click.UsageError("--parent 与 --top-level 只能选一个")
    kwargs = {}
    if parent_code or top_level:
        kwargs["parent_code"] = None if top_level else parent_code
    with session_scope(settings.database_url) as session:
        changes = update_department(
            session,
            _department(session, code),
            now=utcnow(),
            actor=None,
            name=name,
            is_active=None if state is None else state == "enable",
            via="命令行",
            **kwargs,
        )
    click.echo(f"已更新部门 {code}：{', '.join(changes)}" if changes else f"部门 {code} 没有变化")


@main.group()
def user() -> None:
    """User accounts."""


def _read_password(password_stdin: bool, password_file: str | None) -> str:
    """The new account's password, never from the command line (it would sit in the shell history and
    in every `ps` listing): a prompt, typed twice, or for scripts the first line of stdin or of a file."""
    if password_stdin and password_file:
        raise click.UsageError("--password-stdin 与 --password-file 只能选一个")
    if password_file:
        with open(password_file, encoding="utf-8") as fh:
            return fh.readline().rstrip("\r\n")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")


@user.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["staff", "supervisor", "admin", "auditor"]))
@click.option("--department", "department_code", required=True, help="部门代码")
@click.option("--display-name", default=None)
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="从标准输入的第一行读取密码（供脚本使用）")
@click.option(
    "--password-file", type=click.Path(exists=True, dir_okay=False), default=None, help="从文件第一行读取密码"
)
@click.pass_obj
def user_create(
    settings: Settings, username, role, department_code, display_name, email, password_stdin, password_file
) -> None:
    """Create a user. The password is prompted for (or read from stdin or a file), checked by the password
    policy, hashed with argon2, and must be changed at the first sign-in."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.people.models import AuditEntry
    from tracker.people.passwords import PasswordPolicy
    from tracker.people.service import create_user

    password = _read_password(password_stdin, password_file)
    with session_scope(settings.database_url) as session:
        created = create_user(
            session,
            username=username,
            password=password,
            role=role,
            department_code=department_code,
            display_name=display_name or username,
            email=email,
            now=utcnow(),
            policy=PasswordPolicy.from_settings(settings),
        )
        session.add(
            AuditEntry(
                at=utcnow(),
                action="user.created",
                object_type="user",
                object_id=str(created.id),
                detail={"username": created.username, "role": created.role, "via": "命令行"},
            )
        )
        click.echo(
            f"已创建用户 {created.username}（{created.role_label}，{created.department.name}），首次登录须修改密码"
        )


@main.command("demo-data")
@click.option("--tickets", default=320, show_default=True, help="how many tickets to create")
@click.option("--seed", default=2026, show_default=True)
@click.option("--if-empty", is_flag=True, help="do nothing (and succeed) when the database has data already")
@click.pass_obj
def demo_data(settings: Settings, tickets: int, seed: int, if_empty: bool) -> None:
    """Load a realistic demo bureau: departments, users and a year of tickets on all four channels."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.demo import DEMO_PASSWORD, has_data, load_demo

    with session_scope(settings.database_url) as session:
        if if_empty and has_data(session):
            click.echo("数据库中已有数据，跳过演示数据。")
        else:
            click.echo(load_demo(session, tickets=tickets, seed=seed, now=utcnow()))
            from tracker.reminders.sweep import catch_up

            swept = catch_up(session, now=utcnow())
            click.echo(f"期限提醒：{swept.reminders} 条站内提醒，{swept.breached} 个期限已超期")
    click.echo(
        f"演示账号（密码均为 {DEMO_PASSWORD}）：admin 管理员 / zhangwei 承办人 / liuyang 科室负责人 / auditor 审计"
    )


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_obj
def run(settings: Settings, host: str, port: int) -> None:
    """Run the web server, one Celery worker and beat together (the embedded default)."""
    from tracker.ops.runner import run_all

    sys.exit(run_all(settings, host=host, port=port))


@main.command("health")
@click.option(
    "--process",
    "processes",
    multiple=True,
    required=True,
    type=click.Choice(["worker", "beat", "queue"]),
    help="whose heartbeat must be fresh (repeatable)",
)
@click.pass_obj
def health(settings: Settings, processes: tuple[str, ...]) -> None:
    """Exit 0 when the named processes recorded a heartbeat lately (a container healthcheck)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.ops.health import heartbeat_state

    with session_scope(settings.database_url) as session:
        states = {name: heartbeat_state(session, name, now=utcnow()) for name in processes}
    for name, state in states.items():
        click.echo(f"{name}: {state}")
    sys.exit(0 if all(state == "ok" for state in states.values()) else 1)


def _register_command_groups() -> None:
    """Command groups that live beside their domain modules."""
    from tracker.cli.admin import admin_group
    from tracker.cli.audit import audit
    from tracker.cli.calendar import calendar
    from tracker.cli.channel import channel_group
    from tracker.cli.intake import apikey, import_group
    from tracker.cli.keys import keys
    from tracker.cli.letter import letter
    from tracker.cli.reports import report

    for group in (calendar, import_group, apikey, report, admin_group, channel_group, audit, letter, keys):
        main.add_command(group)


_register_command_groups()

if __name__ == "__main__":
    main()
