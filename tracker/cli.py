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


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Create or migrate the schema and load the bundled reference data."""
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope
    from tracker.migrate import upgrade

    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        summary = load_reference_data(session)
    click.echo(f"数据库已是最新结构。{summary}")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["staff", "supervisor", "admin", "auditor"]))
@click.option("--department", "department_code", required=True, help="部门代码")
@click.option("--display-name", default=None)
@click.option("--email", default=None)
@click.pass_obj
def user_create(settings: Settings, username, password, role, department_code, display_name, email) -> None:
    """Create a user (password hashed with argon2)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.services.people import create_user

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
        )
        click.echo(f"已创建用户 {created.username}（{created.role_label}，{created.department.name}）")


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
            from tracker.reminders import catch_up

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
    from tracker.runner import run_all

    sys.exit(run_all(settings, host=host, port=port))


def _register_command_groups() -> None:
    """Command groups that live beside their domain modules."""
    from tracker.cli_admin import admin_group
    from tracker.cli_calendar import calendar
    from tracker.cli_channel import channel_group
    from tracker.intake.cli import apikey, import_group
    from tracker.reports.cli import report

    for group in (calendar, import_group, apikey, report, admin_group, channel_group):
        main.add_command(group)


_register_command_groups()

if __name__ == "__main__":
    main()
