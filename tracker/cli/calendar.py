"""`tracker calendar …`: load next year's schedule, and ask working-day questions from the shell.

Registered on the main `tracker` command by `tracker.cli.main`. Every answer comes from the database (what
`tracker db upgrade` and `calendar load` put there); an unloaded year is refused on stderr with exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import click
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from tracker.calendar.days import iter_days
from tracker.calendar.notice import notice_source, parse_notice
from tracker.calendar.service import load_year
from tracker.calendar.store import load_calendar, notice_rows, read_holiday_csv
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from tracker.errors import TrackerError, ValidationError

EXIT_REFUSED = 2


class CalendarGroup(click.Group):
    """Map domain errors to a message on stderr and a non-zero exit (also when run without `tracker`)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(EXIT_REFUSED)


@contextmanager
def _session(ctx: click.Context) -> Iterator[Session]:
    settings = ctx.find_object(Settings) or Settings.from_env()
    try:
        with session_scope(settings.database_url) as session:
            yield session
    except (OperationalError, ProgrammingError) as exc:
        raise TrackerError(f"数据库不可用或尚未初始化（请先运行 tracker db upgrade）：{exc.orig}") from None


def parse_day(text: str, *, line: int | None = None) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        where = f"第{line}行：" if line is not None else ""
        raise ValidationError(f"{where}日期格式错误：{text.strip()!r}（应为 YYYY-MM-DD）") from None


@click.group("calendar", cls=CalendarGroup)
def calendar() -> None:
    """Working-day calendar (节假日与调休安排)."""


@calendar.command("load")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--year", type=int, default=None, help="通知年份（默认取文件中最晚的年份）")
@click.pass_context
def load(ctx: click.Context, file, year: int | None) -> None:
    """Load a year from a CSV file with header date,kind,name (kind: holiday | workday)."""
    rows = read_holiday_csv(file.read(), year=year)
    notice_year = year or max(r.year for r in rows)
    with _session(ctx) as session:
        result = load_year(session, notice_year, rows, source=notice_source(notice_year), now=utcnow())
    click.echo(result.summary())


@calendar.command("load-notice")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--year", type=int, default=None, help="通知年份（默认从标题识别）")
@click.option("--dry-run", is_flag=True, help="只显示识别结果，不保存")
@click.pass_context
def load_notice(ctx: click.Context, file, year: int | None, dry_run: bool) -> None:
    """Parse the State Council notice text, print it as date,kind,name lines, and save it."""
    parsed = parse_notice(file.read(), year=year)
    click.echo("date,kind,name")
    click.echo("\n".join(parsed.as_csv_lines()))
    if dry_run:
        click.echo(f"（试运行：{parsed.year}年共{len(parsed.rows)}天，未保存）", err=True)
        return
    with _session(ctx) as session:
        result = load_year(
            session, parsed.year, notice_rows(parsed), source=notice_source(parsed.year), now=utcnow()
        )
    click.echo(result.summary(), err=True)


def _calendar_from_db(ctx: click.Context):
    with _session(ctx) as session:
        return load_calendar(session)


@calendar.command("add-workdays")
@click.argument("day", metavar="DATE")
@click.argument("count", metavar="N", required=False)
@click.pass_context
def add_workdays(ctx: click.Context, day: str, count: str | None) -> None:
    """Print the date N working days after DATE (DATE not counted). With '-', read 'DATE N' lines from stdin."""
    work_calendar = _calendar_from_db(ctx)
    if day == "-" and count is None:
        _add_workdays_batch(work_calendar)
        return
    if count is None:
        raise ValidationError("用法：tracker calendar add-workdays DATE N，或 add-workdays - 从标准输入读取")
    click.echo(work_calendar.add_workdays(parse_day(day), _parse_count(count)).isoformat())


def _parse_count(text: str, *, line: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        where = f"第{line}行：" if line is not None else ""
        raise ValidationError(f"{where}工作日数应为非负整数：{text!r}")
    return value


def _add_workdays_batch(work_calendar) -> None:
    """Answer one line per input line; output is written in one go, not a write per line."""
    add = work_calendar.add_workdays
    fromisoformat = date.fromisoformat
    answers: list[str] = []
    try:
        for number, line in enumerate(sys.stdin, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValidationError(f"第{number}行应为“DATE N”：{line.strip()!r}")
            try:
                start = fromisoformat(fields[0])
            except ValueError:
                start = parse_day(fields[0], line=number)
            count = int(fields[1]) if fields[1].isdigit() else _parse_count(fields[1], line=number)
            answers.append(add(start, count).isoformat())
    finally:
        if answers:
            sys.stdout.write("\n".join(answers) + "\n")
            sys.stdout.flush()


@calendar.command("is-workday")
@click.argument("day", metavar="DATE")
@click.pass_context
def is_workday(ctx: click.Context, day: str) -> None:
    """Print true or false. With '-', read one date per line from stdin."""
    work_calendar = _calendar_from_db(ctx)
    if day != "-":
        click.echo("true" if work_calendar.is_workday(parse_day(day)) else "false")
        return
    answers: list[str] = []
    try:
        for number, line in enumerate(sys.stdin, start=1):
            if line.strip():
                answers.append("true" if work_calendar.is_workday(parse_day(line, line=number)) else "false")
    finally:
        if answers:
            sys.stdout.write("\n".join(answers) + "\n")
            sys.stdout.flush()


@calendar.command("show")
@click.argument("year", type=int)
@click.pass_context
def show(ctx: click.Context, year: int) -> None:
    """Print a year's days off and make-up working days as date,kind,name CSV."""
    work_calendar = _calendar_from_db(ctx)
    rows = work_calendar.overrides_in_year(year)
    days = list(iter_days(date(year, 1, 1), date(year, 12, 31)))
    workdays = sum(work_calendar.is_workday(d) for d in days)
    click.echo("date,kind,name")
    for row in rows:
        click.echo(f"{row.day.isoformat()},{row.kind},{row.name}")
    click.echo(f"# {year}年：工作日{workdays}天，休息日{len(days) - workdays}天", err=True)
