"""Generate realistic tickets at scale into PostgreSQL with COPY, deterministically from a seed.

    python -m bench.generate --url postgresql+psycopg://postgres@127.0.0.1:5432/bench --tickets 2000000

What it writes is what the product itself would have written, table for table and column for column
(tracker/models): departments and users (reused when they exist), one contact per ticket, the ticket,
its topics, its deadlines (due times counted on the real working-day calendar, with state, version and
next_check_at as tracker.deadlines.engine sets them) and its append-only events (created, deadline opened,
assigned, started, replied, rated, closed …). Outbox rows are not written: generated history counts as
already relayed.

Shape of the data:

* the four channels in the demo's proportions (12345 hotline 45 %, website 30 %, Weibo 13 %,
  disclosure 12 %), request types, twelve offices of a city bureau, topics and Chinese text built from
  the demo's matters with districts, streets and varied phrasing, contacts with valid-looking phones and
  valid 身份证 numbers (check digit) for disclosure applicants;
* `year` = one calendar year of receipts (for the annual report); otherwise three years ending at `now`;
* exactly `round(n * open_fraction)` tickets still open, the newest ones; of those exactly
  `round(open * due_fraction)` have a running reply deadline whose `next_check_at` has passed (what the
  deadline sweep must pick up) — the others are due in the future. In a past year, open tickets are
  carry-overs whose deadlines are breached;
* closed tickets replied in 1–25 working days (some late), rated 满意/基本满意/不满意 on three channels,
  disclosure replies with an outcome (annual-report row).

The same seed on the same starting database gives the same rows. Ids continue after existing rows and
the sequences are moved past them, so the product can keep inserting afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The personal-data key of the scratch databases (tracker.pii; a production database needs one): fixed,
# public, never a real key. A key set in the environment wins.
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")

import psycopg  # noqa: E402

from tracker.clock import BUSINESS_TZ  # noqa: E402
from tracker.demo import DISCLOSURE_MATTERS, MATTERS  # noqa: E402
from tracker.errors import CalendarYearMissing  # noqa: E402
from tracker.pii.cipher import contact_indexes, seal_row  # noqa: E402
from tracker.reports.rows import OUTCOMES_BY_CODE  # noqa: E402
from tracker.tickets.channels import CHANNELS  # noqa: E402
from tracker.tickets.models import Contact, topic_facts  # noqa: E402

DAY = 86_400
HOUR = 3_600
TZ_OFFSET = 8 * HOUR  # Asia/Shanghai has no daylight saving time
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
BENCH_PASSWORD = "bench-pass-2026"

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("office", "办公室"),
    ("policy", "政策法规处"),
    ("sme", "中小企业服务处"),
    ("energy", "节能与综合利用处"),
    ("it", "信息化推进处"),
    ("equipment", "装备工业处"),
    ("materials", "原材料工业处"),
    ("consumer", "消费品工业处"),
    ("electronics", "电子信息产业处"),
    ("radio", "无线电管理处"),
    ("safety", "安全生产处"),
    ("investment", "投资与规划处"),
)
ROOT_DEPARTMENT = ("bureau", "市工业和信息化局")
# Matters of the demo are filed under the demo's five offices; the others get the same kinds of text.
MATTER_HOME = {"policy", "sme", "energy", "it"}

CHANNEL_WEIGHTS = (("hotline", 45), ("website", 30), ("weibo", 13), ("disclosure", 12))
TYPE_WEIGHTS = (("咨询", 40), ("求助", 15), ("投诉", 25), ("举报", 5), ("建议", 15))
SATISFACTION_WEIGHTS = (("满意", 80), ("基本满意", 14), ("不满意", 6))
OUTCOME_WEIGHTS = (
    ("public", 45),
    ("partial", 15),
    ("unable_not_held", 15),
    ("withheld_process", 5),
    ("np_repeat", 5),
    ("other_no_correction", 5),
    ("unable_new_processing", 10),
)
FINAL_WEIGHTS = (("closed", 95), ("merged", 2), ("withdrawn", 2), ("returned", 1))
OPEN_WEIGHTS = (("received", 25), ("assigned", 25), ("in_progress", 40), ("transferred", 5), ("waiting", 5))
APPLICANT_WEIGHTS = (("自然人", 70), ("商业企业", 20), ("法律服务机构", 6), ("科研机构", 2), ("其他", 2))

DISTRICTS = (
    ("长安区", "130102"),
    ("桥西区", "130104"),
    ("新华区", "130105"),
    ("裕华区", "130108"),
    ("藁城区", "130109"),
    ("鹿泉区", "130110"),
    ("栾城区", "130111"),
    ("正定县", "130123"),
    ("井陉县", "130121"),
    ("高新区", "130171"),
)
STREETS = ("中山路", "和平路", "建华大街", "槐安路", "裕华路", "胜利大街", "友谊大街", "体育大街", "红旗大街")
OPENINGS = ("", "您好，", "领导您好，", "尊敬的工信局：", "请问", "反映一个问题：")
CLOSINGS = (
    "",
    "望尽快答复。",
    "恳请有关部门核实处理。",
    "此事已持续一段时间，希望得到重视。",
    "谢谢！",
    "盼复。",
    "已向其他部门反映过，没有结果。",
)
FAMILY = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文辉鹏飞晓东海燕雪峰春林丹宇浩凯"
WEIBO_NICKS = (
    "石家庄小市民",
    "燕赵风",
    "滹沱河畔",
    "裕华路人甲",
    "长安区老王",
    "正定小吃货",
    "鹿泉山人",
    "藁城麦田",
)
REPLIES = (
    "您好，您反映的问题已收悉。经我局核实，已协调相关单位处理，具体政策可登录局门户网站查询。感谢您的监督。",
    "经核实，相关企业已整改到位，我局将持续跟踪。如有疑问请致电本处。",
    "您咨询的事项，请携带营业执照复印件到市民服务中心三楼工信窗口办理，办理时限为5个工作日。",
    "您反映的情况已转交属地主管部门调查处理，处理结果将另行告知。",
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
NULL = "\\N"

# Reply periods (tracker.deadlines.policies.DEFAULT_POLICIES): (policy_code, version, unit, length).
HOTLINE_REPLY = {"咨询": 2, "求助": 10, "建议": 10, "投诉": 15, "举报": 15}


def id_number(region: str, birth: date, sequence: int) -> str:
    """A 身份证 number with a valid check character (GB 11643)."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


def query_code(ticket_id: int) -> str:
    """12 hex characters, unique per id (multiplication by an odd number is a bijection mod 2**48)."""
    return format((ticket_id * 0x9E3779B1 + 0x5DEECE66D) % (1 << 48), "012X")


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> list[str]:
    """A lookup table: rng.choice over it picks with the given weights, faster than rng.choices."""
    table: list[str] = []
    for item, weight in pairs:
        table.extend([item] * weight)
    return table


def _exact_spread(index: int, fraction: float) -> bool:
    """True for exactly round-down(n * fraction) of the first n indexes, spread evenly."""
    return int((index + 1) * fraction + 1e-9) > int(index * fraction + 1e-9)


def sqlalchemy_url(url: str) -> str:
    return url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://", 1)


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- text encoding for COPY (text format) ---------------------------------------------------------


class Stamp:
    """Format epoch seconds as PostgreSQL timestamptz text quickly (day strings are cached)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, t: int | None) -> str:
        if t is None:
            return "\\N"
        day, second = divmod(t, DAY)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = date.fromordinal(EPOCH_ORDINAL + day).isoformat()
        return f"{text} {second // HOUR:02d}:{second // 60 % 60:02d}:{second % 60:02d}+00"


def _esc(value: str | None) -> str:
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(value: object) -> str:
    return _esc(_ENCODER.encode(value))


# -- the calendar, cached per local day -----------------------------------------------------------


class DueDays:
    """Working-day arithmetic on local day numbers (days since 1970-01-01, Asia/Shanghai)."""

    def __init__(self, calendar) -> None:
        self.calendar = calendar
        self._add: dict[tuple[int, int], int | None] = {}
        self._work: dict[int, bool] = {}

    def is_workday(self, day: int) -> bool:
        known = self._work.get(day)
        if known is None:
            try:
                known = self.calendar.is_workday(date.fromordinal(EPOCH_ORDINAL + day))
            except CalendarYearMissing:
                known = date.fromordinal(EPOCH_ORDINAL + day).weekday() < 5
            self._work[day] = known
        return known

    def add(self, day: int, count: int) -> int | None:
        """The local day `count` working days after `day` (art. 201: the start day is not counted)."""
        key = (day, count)
        if key not in self._add:
            try:
                due = self.calendar.add_workdays(date.fromordinal(EPOCH_ORDINAL + day), count)
                self._add[key] = due.toordinal() - EPOCH_ORDINAL
            except CalendarYearMissing:
                self._add[key] = None  # the engine leaves due_at empty until the year is loaded
        return self._add[key]

    def workdays_to(self, received: int, replied: int) -> int | None:
        """Working days after the receipt day up to and including the reply day, counted from 1 January of
        the receipt's year like `tracker.reports.facts.WorkdayOrdinals` (None when a year is missing)."""
        year = date.fromordinal(EPOCH_ORDINAL + received).year
        if any(
            y not in self.calendar.loaded_years
            for y in range(year, date.fromordinal(EPOCH_ORDINAL + replied).year + 1)
        ):
            return None
        return sum(self.is_workday(day) for day in range(received + 1, replied + 1)) - sum(
            self.is_workday(day) for day in range(replied + 1, received + 1)
        )


def _history_outcome(changes: list[tuple[int, str, str, str, dict]]) -> str | None:
    """The section 三 row an application's status changes give (`history_outcome`): the rule of
    `tracker.reports.disclosure._history_outcome`, applied here to the rows as they are generated so a
    load needs no UPDATE of every ticket; tests/bench/test_generate.py checks it against `refresh_facts`."""
    if not changes:
        return None
    ordered = sorted(enumerate(changes), key=lambda ic: (ic[1][0], ic[0]))
    _at, _action, before_end, state_end, _data = ordered[-1][1]
    if any(c[3] == "replied" and c[4].get("outcome") == "partial" for _, c in ordered):
        return "partial"
    if before_end == "waiting_applicant":
        waiting = [c[1] for _, c in ordered if c[3] == "waiting_applicant"]
        return {"request_correction": "other_no_correction", "request_fee": "other_fee_unpaid"}.get(
            waiting[-1]
        )
    if state_end in ("withdrawn", "returned"):
        return "other"
    return "np_repeat" if state_end == "merged" else None


def local_day(t: int) -> int:
    return (t + TZ_OFFSET) // DAY


def end_of_local_day(day: int) -> int:
    """24:00 of a local day, as epoch seconds (the default end of the last day)."""
    return (day + 1) * DAY - TZ_OFFSET


def _day_text(day: int) -> str:
    d = date.fromordinal(EPOCH_ORDINAL + day)
    return f"{d.year}年{d.month}月{d.day}日"


def _local_text(t: int) -> str:
    moment = datetime.fromtimestamp(t, BUSINESS_TZ)
    return f"{moment.year}年{moment.month}月{moment.day}日{moment:%H:%M}"


# -- the generator --------------------------------------------------------------------------------


@dataclass
class Summary:
    tickets: int = 0
    contacts: int = 0
    events: int = 0
    deadlines: int = 0
    topics: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    open: int = 0
    due: int = 0
    seconds: float = 0.0
    first_ticket_id: int = 0
    last_ticket_id: int = 0

    def line(self) -> str:
        rate = self.tickets / self.seconds if self.seconds else 0.0
        return (
            f"{self.tickets:,} tickets ({', '.join(f'{k} {v:,}' for k, v in sorted(self.by_channel.items()))}), "
            f"{self.events:,} events, {self.deadlines:,} deadlines, {self.open:,} open of which {self.due:,} due, "
            f"in {self.seconds:.1f} s ({rate:,.0f} tickets/s)"
        )


TABLE_COLUMNS = {
    "contacts": (
        "id",
        "name",
        # Encrypted as every writer encrypts (tracker.pii.cipher): ciphertext and blind indexes.
        "phone_ct",
        "email_ct",
        "address_ct",
        "id_type",
        "id_number_ct",
        "is_confidential",
        "anonymised_at",
        "phone_bidx",
        "id_number_bidx",
        "email_bidx",
    ),
    "tickets": (
        "id",
        "number",
        "channel",
        "external_ref",
        "request_type",
        "subject",
        "body",
        "category",
        "urgency",
        "incident_address",
        "contact_id",
        "applicant_type",
        "received_via",
        "arrived_at",
        "received_at",
        "department_id",
        "assignee_id",
        "status",
        "outcome",
        "reply_text",
        "replied_at",
        "first_replied_at",  # one reply per generated ticket: the first is the last
        "closed_at",
        "satisfaction",
        "is_resolved",
        "is_publishable",
        "query_code",
        "extra",
        "created_at",
        "updated_at",
        "reply_due_at",
        "reply_workdays",
        "status_changed_at",
        "history_outcome",
        "topic_label_id",
        "has_several_topics",
    ),
    "ticket_topics": ("ticket_id", "topic"),
    "deadlines": (
        "id",
        "ticket_id",
        "kind",
        "label",
        "policy_code",
        "policy_version",
        "starts_on",
        "due_at",
        "state",
        "pauses",
        "extensions",
        "version",
        "explanation",
        "next_check_at",
        "met_at",
        "breached_at",
    ),
    "ticket_events": (
        "id",
        "ticket_id",
        "kind",
        "actor_id",
        "actor_label",
        "occurred_at",
        "status_before",
        "status_after",
        "data",
    ),
}
SEQUENCED = ("contacts", "tickets", "deadlines", "ticket_events", "ticket_number_allocations")
BATCH = 20_000  # tickets per COPY round: bounded memory at any scale


class _Writers:
    """One StringIO buffer per table, flushed into an open COPY per table at the end of each batch."""

    def __init__(self) -> None:
        self.buffers = {name: io.StringIO() for name in TABLE_COLUMNS}

    def take(self, name: str) -> str:
        buffer = self.buffers[name]
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text


def _check_schema(conn: psycopg.Connection) -> None:
    """Refuse clearly when a table gained a NOT NULL column without a default that we do not fill."""
    for table, columns in TABLE_COLUMNS.items():
        rows = conn.execute(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        present = {r[0] for r in rows}
        missing = [c for c in columns if c not in present]
        if missing:
            raise RuntimeError(f"table {table} lacks columns {missing}: is the schema migrated?")
        unfilled = [r[0] for r in rows if r[0] not in columns and r[1] == "NO" and r[2] is None]
        if unfilled:
            raise RuntimeError(f"table {table} has NOT NULL columns the generator does not fill: {unfilled}")


def _ensure_people(conn: psycopg.Connection, departments: Sequence[tuple[str, str]], now: datetime):
    """Departments under the bureau, and per department one supervisor and three staff (reused if present)."""
    from tracker.security import hash_password

    def department_id(code: str, name: str, parent: int | None) -> int:
        row = conn.execute("SELECT id FROM departments WHERE code = %s", (code,)).fetchone()
        if row:
            return row[0]
        return conn.execute(
            "INSERT INTO departments (code, name, parent_id) VALUES (%s, %s, %s) RETURNING id",
            (code, name, parent),
        ).fetchone()[0]

    root = department_id(*ROOT_DEPARTMENT, None)
    password_hash = None
    staff: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    for code, name in departments:
        dept = department_id(code, name, root)
        people: list[tuple[int, str]] = []
        for k, role in enumerate(("supervisor", "staff", "staff", "staff")):
            username = f"bench_{code}_{k}"
            row = conn.execute(
                "SELECT id, display_name FROM users WHERE username = %s", (username,)
            ).fetchone()
            if row is None:
                password_hash = password_hash or hash_password(BENCH_PASSWORD)
                display = (
                    FAMILY[(len(staff) * 4 + k) % len(FAMILY)] + GIVEN[(len(staff) * 7 + k * 3) % len(GIVEN)]
                )
                row = conn.execute(
                    "INSERT INTO users (username, display_name, department_id, role, password_hash, email,"
                    " is_active, failed_logins, preferences, created_at, password_changed_at,"
                    " password_history, totp_recovery_hashes)"
                    " VALUES (%s, %s, %s, %s, %s, %s, true, 0, '{}', %s, %s, '[]', '[]')"
                    " RETURNING id, display_name",
                    (
                        username,
                        display,
                        dept,
                        role,
                        password_hash,
                        f"{username}@gxj.example.gov.cn",
                        now,
                        now,
                    ),
                ).fetchone()
            people.append((row[0], row[1]))
        staff[code] = (dept, people)
    return staff


def _bulk_mode(conn: psycopg.Connection) -> None:
    """Skip per-row foreign-key triggers during the load (rows are consistent by construction).

    `session_replication_role = replica` needs superuser rights; without them the load still works,
    only slower.
    """
    conn.execute("SET synchronous_commit = off")
    try:
        with conn.transaction():  # a savepoint: a refusal must not undo the departments written before
            conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        pass


def _pipeline(conn: psycopg.Connection, plan: _Plan, writers: _Writers, n_tickets: int, *, progress: bool):
    """Generate batch k+1 in this thread while a second thread COPYs batch k into PostgreSQL."""
    batches: queue.Queue[dict[str, str] | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def copier() -> None:
        try:
            with conn.cursor() as cursor:
                while (batch := batches.get()) is not None:
                    for table, payload in batch.items():
                        columns = ", ".join(TABLE_COLUMNS[table])
                        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            copy.write(payload)
        except BaseException as exc:
            failure.append(exc)
            while batches.get() is not None:  # drain so the producer never blocks
                pass

    thread = threading.Thread(target=copier, name="copy", daemon=True)
    thread.start()
    done = 0
    try:
        while done < n_tickets and not failure:
            count = min(BATCH, n_tickets - done)
            plan.rows(done, count, writers)
            batches.put({t: p for t in TABLE_COLUMNS if (p := writers.take(t))})
            done += count
            if progress:
                print(f"  {done:,}/{n_tickets:,} tickets", file=sys.stderr, flush=True)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]


def _next_ids(conn: psycopg.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
        for table in SEQUENCED
    }


def _fix_sequences(conn: psycopg.Connection) -> None:
    for table in SEQUENCED:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" greatest((SELECT max(id) FROM {table}), 1))"
        )


def generate(
    url: str,
    n_tickets: int,
    *,
    seed: int = 1,
    year: int | None = None,
    open_fraction: float = 0.2,
    due_fraction: float = 0.01,
    departments: Sequence[tuple[str, str]] = DEPARTMENTS,
    now: datetime | None = None,
    migrate: bool = True,
    analyze: bool = True,
    progress: bool = False,
) -> Summary:
    """Add `n_tickets` generated tickets (with contacts, topics, deadlines, events) to the database at `url`.

    The schema is migrated first (`tracker.migrate.upgrade`) and the bundled holiday calendar loaded.
    Returns what was written. Deterministic for a given seed and starting database.
    """
    if not 0 <= open_fraction <= 1 or not 0 <= due_fraction <= 1:
        raise ValueError("open_fraction and due_fraction are fractions between 0 and 1")
    started = time.perf_counter()
    now = now or datetime.now(UTC).replace(microsecond=0)
    if migrate:
        from tracker.bootstrap import load_reference_data
        from tracker.db import session_scope
        from tracker.migrate import upgrade

        upgrade(sqlalchemy_url(url))
        with session_scope(sqlalchemy_url(url)) as session:
            load_reference_data(session)
    from tracker.calendar.store import load_calendar
    from tracker.db import session_scope
    from tracker.tickets.topics import label_ids

    with session_scope(sqlalchemy_url(url)) as session:
        calendar = load_calendar(session)
        # The only labels the tickets below count under: their topics (their 诉求分类 is the topic).
        labels = label_ids(session, sorted({topic for _dept, topic, _subject, _body in MATTERS}))

    summary = Summary()
    with psycopg.connect(libpq_url(url)) as conn:
        _check_schema(conn)
        staff = _ensure_people(conn, departments, now)
        ids = _next_ids(conn)
        summary.first_ticket_id = ids["tickets"]
        plan = _Plan(
            rng=random.Random(seed),
            staff=staff,
            calendar=DueDays(calendar),
            now=int(now.timestamp()),
            year=year,
            n=n_tickets,
            open_fraction=open_fraction,
            due_fraction=due_fraction,
            ids=ids,
            summary=summary,
            labels=labels,
        )
        writers = _Writers()
        with conn.cursor() as cursor:
            _bulk_mode(conn)
            _pipeline(conn, plan, writers, n_tickets, progress=progress)
            first, last = summary.first_ticket_id, summary.first_ticket_id + n_tickets - 1
            if n_tickets:
                cursor.execute(
                    "INSERT INTO ticket_number_allocations (id) SELECT generate_series(%s::int, %s::int)",
                    (first, last),
                )
            _fix_sequences(conn)
        conn.commit()
        if analyze:
            conn.autocommit = True
            for table in (*TABLE_COLUMNS, "departments", "users"):
                conn.execute(f"ANALYZE {table}")
    summary.last_ticket_id = summary.first_ticket_id + n_tickets - 1
    summary.seconds = time.perf_counter() - started
    return summary


class _Plan:
    """Row production for one run; every random draw comes from one seeded generator, in ticket order."""

    def __init__(
        self, *, rng, staff, calendar, now, year, n, open_fraction, due_fraction, ids, summary, labels
    ):
        self.rng = rng
        self.labels: dict[str, int] = labels  # topic label → its id in topic_labels
        self.staff = staff
        self.codes = list(staff)
        self.calendar: DueDays = calendar
        self.now = now
        self.n = n
        self.open_fraction = open_fraction
        self.due_fraction = due_fraction
        self.ids = ids
        self.summary = summary
        self.stamp = Stamp()
        if year is None:
            self.window_end = now
            self.window_start = now - 3 * 365 * DAY
        else:
            self.window_start = int(datetime(year, 1, 1, tzinfo=BUSINESS_TZ).timestamp())
            self.window_end = min(int(datetime(year + 1, 1, 1, tzinfo=BUSINESS_TZ).timestamp()) - 1, now)
        # Due work exists only when the window reaches today; in a past year open tickets are carry-overs.
        self.window_is_current = self.window_end >= now - DAY
        self.channels = _weighted(rng, CHANNEL_WEIGHTS)
        self.types = _weighted(rng, TYPE_WEIGHTS)
        self.satisfaction = _weighted(rng, SATISFACTION_WEIGHTS)
        self.outcomes = _weighted(rng, OUTCOME_WEIGHTS)
        self.finals = _weighted(rng, FINAL_WEIGHTS)
        self.opens = _weighted(rng, OPEN_WEIGHTS)
        self.applicants = _weighted(rng, APPLICANT_WEIGHTS)
        self.matters_by_dept: dict[str, list[tuple[str, str, str]]] = {}
        for dept, topic, subject, body in MATTERS:
            self.matters_by_dept.setdefault(dept, []).append((topic, subject, body))
        self.all_matters = [(topic, subject, body) for _, topic, subject, body in MATTERS]
        self.open_index = 0

    # -- time -------------------------------------------------------------------------------------

    def _office_moment(self, lo: int, hi: int, *, any_day: bool) -> int:
        """A moment in [lo, hi]: during office hours on a working day unless `any_day` (12345, Weibo)."""
        rng = self.rng
        if hi <= lo:
            return lo
        for _ in range(8):
            t = rng.randint(lo, hi)
            day = local_day(t)
            if any_day:
                return t
            if self.calendar.is_workday(day):
                start = day * DAY - TZ_OFFSET + 8 * HOUR + 30 * 60  # 08:30 local
                t = start + rng.randint(0, 9 * HOUR)
                if lo <= t <= hi:
                    return t
        return rng.randint(lo, hi)

    def _working_days_later(self, t: int, days: int) -> int:
        """A moment during office hours `days` working days after the local day of `t`."""
        due_day = self.calendar.add(local_day(t), days)
        if due_day is None:
            return t + days * DAY
        return due_day * DAY - TZ_OFFSET + 9 * HOUR + self.rng.randint(0, 8 * HOUR)

    # -- rows -------------------------------------------------------------------------------------

    def rows(self, offset: int, count: int, writers: _Writers) -> None:
        for index in range(offset, offset + count):
            self._ticket(index, writers)

    def _reply_policy(self, channel: str, request_type: str, urgency: str | None, received_on_day: int):
        """(policy_code, version, unit, length, legal_basis) of the reply deadline, as DEFAULT_POLICIES."""
        if channel == "disclosure":
            if received_on_day >= date(2019, 5, 15).toordinal() - EPOCH_ORDINAL:
                return (
                    "disclosure.reply",
                    "2019",
                    "working_days",
                    20,
                    "《政府信息公开条例》（2019）第三十三条",
                )
            return "disclosure.reply", "2007", "working_days", 15, "《政府信息公开条例》（2007）第二十四条"
        if channel == "hotline":
            if urgency == "紧急":
                return "hotline.reply.urgent", "gd-2020", "clock_hours", 24, "12345热线紧急工单"
            slug = {
                "咨询": "consult",
                "求助": "help",
                "建议": "suggest",
                "投诉": "complaint",
                "举报": "report",
            }
            return (
                f"hotline.reply.{slug[request_type]}" if request_type in slug else "hotline.reply",
                "gd-2020",
                "working_days",
                HOTLINE_REPLY.get(request_type, 10),
                "12345热线办理时限",
            )
        if channel == "website":
            return "website.reply", "practice", "working_days", 5, "网站留言办理时限"
        return "weibo.reply", "practice", "clock_hours", 24, "政务新媒体回应时限"

    def _due(self, unit: str, length: int, received: int) -> tuple[int | None, str]:
        start = _day_text(local_day(received))
        if unit == "clock_hours":
            due = received + length * HOUR
            return due, f"自{start}收到时起算{length}小时"
        due_day = self.calendar.add(local_day(received), length)
        if due_day is None:
            return None, f"自{start}次日起算{length}个工作日；节假日安排尚未导入，暂无法计算截止时间"
        return end_of_local_day(due_day), f"自{start}次日起算{length}个工作日，截止{_day_text(due_day)}24:00"

    def _ticket(self, index: int, w: _Writers) -> None:
        rng = self.rng
        s = self.stamp
        summary = self.summary
        ids = self.ids
        ticket_id = ids["tickets"]
        ids["tickets"] += 1
        contact_id = ids["contacts"]
        ids["contacts"] += 1

        channel = rng.choice(self.channels)
        summary.by_channel[channel] = summary.by_channel.get(channel, 0) + 1
        is_open = _exact_spread(index, self.open_fraction)
        is_due = False
        if is_open:
            is_due = self.window_is_current and _exact_spread(self.open_index, self.due_fraction)
            self.open_index += 1
            summary.open += 1

        # Department, text.
        code = rng.choice(self.codes)
        dept_id, people = self.staff[code]
        district, region = rng.choice(DISTRICTS)
        street = rng.choice(STREETS)
        family = rng.choice(FAMILY)
        name = family + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        phone = f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"
        urgency = None
        request_type = "政府信息公开申请"
        topic = None
        if channel == "disclosure":
            _, info = rng.choice(DISCLOSURE_MATTERS)
            subject = f"申请公开{info}"
            body = f"申请人请求公开：{info}（{district}）。用途：{rng.choice(('自身生产经营', '学术研究', '维护合法权益'))}。获取方式：{rng.choice(('电子邮件', '邮寄', '自行领取'))}。"
            category = None
        else:
            matters = self.matters_by_dept.get(code) or self.all_matters
            topic, subject, body = rng.choice(matters)
            request_type = rng.choice(self.types)
            category = topic
            if rng.random() < 0.5:
                subject = f"{district}{subject}"
            body = f"{rng.choice(OPENINGS)}{body.replace('某', district + street, 1)}{rng.choice(CLOSINGS)}"
            if channel == "hotline" and rng.random() < 0.03:
                urgency = "紧急"

        # When: open tickets are the newest; due ones have a reply deadline already passed.
        any_day = channel in ("hotline", "weibo")
        unit = "clock_hours" if channel == "weibo" or urgency else "working_days"
        if is_open and self.window_is_current and not is_due:
            horizon = 20 * HOUR if unit == "clock_hours" else 10 * DAY
            lo = max(self.window_start, self.window_end - horizon)
            received = self._office_moment(lo, self.window_end, any_day=any_day)
        elif is_open and self.window_is_current:
            horizon = 3 * DAY if unit == "clock_hours" else 45 * DAY
            received = self._office_moment(
                max(self.window_start, self.now - horizon), self.now - 2 * DAY, any_day=any_day
            )
        elif is_open:
            lo = max(self.window_start, self.window_end - 20 * DAY)
            received = self._office_moment(lo, self.window_end, any_day=any_day)
        else:
            hi = max(self.window_start, self.window_end - 30 * DAY)
            received = self._office_moment(self.window_start, hi, any_day=any_day)
        code_, version, unit, length, _basis = self._reply_policy(
            channel, request_type, urgency, local_day(received)
        )
        due_at, explanation = self._due(unit, length, received)
        if is_open and self.window_is_current:
            if is_due and (due_at is None or due_at > self.now):
                # Long periods received recently: the work order carried its own, earlier 办结时限.
                due_at = self.now - rng.randint(60, 2 * DAY)
                explanation = f"工单办结时限{_local_text(due_at)}（平台下达）"
            elif not is_due and due_at is not None and due_at <= self.now:
                due_at = self.now + rng.randint(HOUR, 3 * DAY)
                explanation = f"工单办结时限{_local_text(due_at)}（平台下达）"
        arrived = received - (
            rng.randint(0, 3 * DAY) if channel == "disclosure" and rng.random() < 0.2 else 0
        )

        # Contact (one per ticket, as open_ticket writes it).
        email = address = id_type = id_no = None
        contact_name = name
        if channel == "weibo":
            contact_name, phone = rng.choice(WEIBO_NICKS) + str(rng.randrange(1000)), None
        if channel == "disclosure":
            email = f"applicant{ticket_id}@example.com"
            address = f"河北省石家庄市{district}{street}{rng.randint(1, 300)}号"
            id_type = "居民身份证"
            birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
            id_no = id_number(region, birth, rng.randrange(1000))
        elif channel == "website" and rng.random() < 0.4:
            email = f"user{ticket_id}@example.com"
        is_confidential = channel != "weibo" and rng.random() < 0.15
        sealed = seal_row(
            Contact.__table__,
            ("phone_ct", "email_ct", "address_ct", "id_number_ct"),
            (phone, email, address, id_no),
        )
        indexes = contact_indexes(phone, id_no, email)
        w.buffers["contacts"].write(
            f"{contact_id}\t{_esc(contact_name)}\t{_esc(sealed[0])}\t{_esc(sealed[1])}\t{_esc(sealed[2])}\t"
            f"{_esc(id_type)}\t{_esc(sealed[3])}\t{'t' if is_confidential else 'f'}\t\\N\t"
            f"{_esc(indexes[0])}\t{_esc(indexes[1])}\t{_esc(indexes[2])}\n"
        )
        summary.contacts += 1

        # Lifecycle.
        events: list[tuple[int, str, int | None, str | None, str | None, str | None, str]] = []
        # (at, kind, actor_id, actor_label, before, after, data-json)
        events.append(
            (
                received,
                "ticket.created",
                None,
                CHANNELS[channel].label if channel == "hotline" else "系统",
                None,
                "received",
                "",
            )
        )
        handler_id, handler_name = rng.choice(people[1:])
        status = "received"
        assignee_id = None
        replied_at = closed_at = None
        outcome = reply_text = satisfaction = None
        is_resolved = None
        final = None if is_open else rng.choice(self.finals)
        if final == "returned" and channel != "hotline":
            final = "closed"
        open_status = rng.choice(self.opens) if is_open else None
        if open_status == "waiting" and channel != "disclosure":
            open_status = "in_progress"
        elif open_status == "waiting":
            open_status = rng.choice(("waiting_applicant", "consulting"))
        t = received + rng.randint(10 * 60, 6 * HOUR)
        reply_due_state = "running"
        met_at = None

        changes: list[tuple[int, str, str, str, dict]] = []  # (at, action, before, after, data)

        def step(action: str, after: str, at: int, data: dict | None = None, actor=None) -> None:
            nonlocal status
            actor_id, label = actor or (handler_id, handler_name)
            at = min(at, self.now - 60)
            payload = {"action": action, **(data or {})}
            changes.append((at, action, status, after, payload))
            events.append((at, "ticket.status_changed", actor_id, label, status, after, _json(payload)))
            status = after

        if final in ("merged", "withdrawn"):
            step("merge" if final == "merged" else "withdraw", final, t, actor=(None, "系统"))
            closed_at = t
            reply_due_state = "cancelled"
        elif final == "returned":
            step("return_to_platform", "returned", t, {"reason": "非本部门职责"})
            closed_at = t
            reply_due_state = "cancelled"
        elif open_status != "received":
            assignee_id = handler_id
            step("assign", "assigned", t, {"assignee_id": handler_id}, actor=(people[0][0], people[0][1]))
            if final == "closed" or open_status not in ("assigned", None):
                t += rng.randint(HOUR, 20 * HOUR)
                step("start", "in_progress", t)
            if open_status in ("waiting_applicant", "consulting", "transferred"):
                action = {
                    "waiting_applicant": "request_correction",
                    "consulting": "start_consultation",
                    "transferred": "transfer",
                }[open_status]
                t += rng.randint(HOUR, 3 * DAY)
                step(action, open_status, min(t, self.now - 60))
                if open_status == "transferred":
                    assignee_id = None
            if final == "closed":
                # Most replies in time, about 6 % late (the on-time rate of a real bureau is in the 90s).
                is_late = rng.random() < 0.06
                if unit == "clock_hours":
                    hours = rng.randint(length + 1, 2 * length) if is_late else rng.randint(1, length - 1)
                    replied_at = received + hours * HOUR - rng.randint(0, HOUR - 1)
                else:
                    work_days = length + rng.randint(1, 5) if is_late else rng.randint(1, length)
                    replied_at = self._working_days_later(received, work_days)
                replied_at = min(max(replied_at, t + 60), self.now - 2 * HOUR)
                if channel == "disclosure":
                    outcome = rng.choice(self.outcomes)
                    reply_text = f"经审查，您申请的信息答复如下：{OUTCOMES_BY_CODE[outcome].short}。"
                else:
                    reply_text = rng.choice(REPLIES)
                step("reply", "replied", replied_at, {"outcome": outcome})
                reply_due_state = "met"
                met_at = replied_at
                if channel != "disclosure" and rng.random() < 0.85:
                    satisfaction = rng.choice(self.satisfaction)
                    is_resolved = satisfaction != "不满意" or rng.random() < 0.3
                    rated_at = min(replied_at + rng.randint(HOUR, 3 * DAY), self.now - 60)
                    events.append(
                        (
                            rated_at,
                            "ticket.rated",
                            None,
                            "回访",
                            None,
                            None,
                            _json({"satisfaction": [None, satisfaction], "is_resolved": is_resolved}),
                        )
                    )
                closed_at = min(replied_at + rng.randint(HOUR, 3 * DAY), self.now - 60)
                step("close", "closed", closed_at, {"outcome": outcome})
        if is_open and not self.window_is_current and due_at is not None:
            reply_due_state = "breached"

        # Deadlines: the reply deadline, plus 签收 (hotline) and 补正告知 (disclosure) as open_deadlines opens them.
        deadlines = [("reply", "答复", code_, version, due_at, explanation, reply_due_state, met_at)]
        if channel == "hotline":
            sign_due, sign_text = (
                (received + 2 * HOUR, f"自{_day_text(local_day(received))}派单时起算2小时")
                if urgency == "紧急"
                else self._due("working_days", 1, received)
            )
            signed = len(events) > 1 and events[1][5] == "assigned"
            sign_met = events[1][0] if signed else None
            sign_state = "met" if signed else ("cancelled" if final else "running")
            if sign_state == "running" and sign_due is not None and sign_due <= self.now:
                sign_state = "breached"
            deadlines.append(
                (
                    "sign",
                    "签收",
                    "hotline.sign.urgent" if urgency else "hotline.sign",
                    "gd-2020",
                    sign_due,
                    sign_text,
                    sign_state,
                    sign_met,
                )
            )
        elif channel == "disclosure" and version == "2019":
            notice_due, notice_text = self._due("working_days", 7, received)
            # Closed, or the 7 days lapsed without a correction being needed: the engine cancels it.
            notice_state = "cancelled"
            if is_open and self.window_is_current and notice_due is not None and notice_due > self.now:
                notice_state = "running"
            deadlines.append(
                (
                    "correction_notice",
                    "补正告知",
                    "disclosure.correction_notice",
                    "2019",
                    notice_due,
                    notice_text,
                    notice_state,
                    None,
                )
            )
        dl = w.buffers["deadlines"]
        for kind, label, pcode, pversion, due, text, state, met in deadlines:
            deadline_id = ids["deadlines"]
            ids["deadlines"] += 1
            check = due if state in ("running", "breached") else None
            breached = (
                due if (state == "breached" or (state == "met" and met and due and met > due)) else None
            )
            dl.write(
                f"{deadline_id}\t{ticket_id}\t{kind}\t{label}\t{pcode}\t{pversion}\t{s(received)}\t{s(due)}\t"
                f"{state}\t[]\t[]\t1\t{_esc(text)}\t{s(check)}\t{s(met)}\t{s(breached)}\n"
            )
            events.insert(
                1,
                (
                    received,
                    "deadline.opened",
                    None,
                    "系统",
                    None,
                    None,
                    _json(
                        {
                            "deadline": kind,
                            "label": label,
                            "due_at": datetime.fromtimestamp(due, UTC).isoformat() if due else None,
                            "state": "running",
                            "version": 1,
                            "policy": f"{pcode}@{pversion}",
                        }
                    ),
                ),
            )
            summary.deadlines += 1

        # The ticket row.
        number = f"{CHANNELS[channel].number_prefix}{datetime.fromtimestamp(received + TZ_OFFSET, UTC).year}{ticket_id:07d}"
        external = {
            "hotline": f"12345-{ticket_id:09d}",
            "website": f"LY{ticket_id:09d}",
            "weibo": f"49{ticket_id:014d}",
            "disclosure": f"YSQ{ticket_id:09d}",
        }[channel]
        qcode = query_code(ticket_id) if channel in ("website", "disclosure") else None
        updated = max(e[0] for e in events)
        # The report's facts (tracker.reports.facts), written with the row as the services write them.
        workdays = (
            self.calendar.workdays_to(local_day(received), local_day(replied_at)) if replied_at else None
        )
        topic_label, has_several_topics = topic_facts([topic] if topic else [], category)
        extra = "{}" if channel != "weibo" else _json({"weibo_post": f"https://weibo.com/detail/{external}"})
        w.buffers["tickets"].write(
            "\t".join(
                (
                    str(ticket_id),
                    number,
                    channel,
                    external,
                    request_type,
                    _esc(subject),
                    _esc(body),
                    _esc(category),
                    _esc(urgency),
                    _esc(f"{district}{street}" if channel == "hotline" else None),
                    str(contact_id),
                    _esc(rng.choice(self.applicants) if channel == "disclosure" else None),
                    _esc(
                        rng.choice(("网络", "当面", "邮寄", "挂号信"))
                        if channel == "disclosure"
                        else ("平台" if channel == "hotline" else "网络")
                    ),
                    s(arrived),
                    s(received),
                    str(dept_id),
                    str(assignee_id) if assignee_id else "\\N",
                    status,
                    _esc(outcome),
                    _esc(reply_text),
                    s(replied_at),
                    s(replied_at),
                    s(closed_at),
                    _esc(satisfaction),
                    "\\N" if is_resolved is None else ("t" if is_resolved else "f"),
                    "t" if channel == "website" and ticket_id % 2 == 0 else "f",
                    _esc(qcode),
                    extra,
                    s(received),
                    s(updated),
                    s(due_at),
                    "\\N" if workdays is None else str(workdays),
                    s(max(c[0] for c in changes) if channel == "disclosure" and changes else None),
                    _esc(_history_outcome(changes) if channel == "disclosure" else None),
                    NULL if topic_label is None else str(self.labels[topic_label]),
                    "t" if has_several_topics else "f",
                )
            )
            + "\n"
        )
        if topic:
            w.buffers["ticket_topics"].write(f"{ticket_id}\t{topic}\n")
            summary.topics += 1
        summary.tickets += 1

        ev = w.buffers["ticket_events"]
        created_data = _json({"channel": channel, "number": number, "external_ref": external})
        for at, kind, actor_id, label, before, after, data in events:
            event_id = ids["ticket_events"]
            ids["ticket_events"] += 1
            ev.write(
                f"{event_id}\t{ticket_id}\t{kind}\t{NULL if actor_id is None else actor_id}\t{_esc(label)}\t"
                f"{s(at)}\t{before or NULL}\t{after or NULL}\t{data or created_data}\n"
            )
        summary.events += len(events)
        summary.due += is_due


# -- scratch databases for benchmarks and tests ---------------------------------------------------


def _admin(url: str) -> str:
    return libpq_url(url).rsplit("/", 1)[0] + "/postgres"


def create_database(url: str, *, replace: bool = False) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin(url), autocommit=True) as admin:
        if replace:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reuse_or_generate(url: str, n_tickets: int, **options) -> float | None:
    """Keep the database at `url` when it was loaded by this same generator, schema and options with exactly
    `n_tickets` (a benchmark re-run with --keep); otherwise load it afresh with `generate`. Returns the load
    time in seconds, or None when reused.

    The fingerprint (migration heads, the generator's source, the options) is stored in the database
    itself, so a kept database made before a migration or a generator change is never measured by mistake.
    """
    fingerprint = _dataset_fingerprint(url, n_tickets, options)
    create_database(url)
    try:
        with psycopg.connect(libpq_url(url)) as conn:
            kept = conn.execute("SELECT fingerprint FROM bench_dataset").fetchone()[0]
    except (psycopg.Error, TypeError):
        kept = None  # a database without the schema, or not loaded by this function
    if kept == fingerprint:
        return None
    create_database(url, replace=True)
    started = time.perf_counter()
    generate(url, n_tickets, progress=True, **options)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("CREATE TABLE bench_dataset (fingerprint text NOT NULL)")
        conn.execute("INSERT INTO bench_dataset VALUES (%s)", (fingerprint,))
    return time.perf_counter() - started


def _dataset_fingerprint(url: str, n_tickets: int, options: dict) -> str:
    from tracker.migrate import current_heads

    heads = ",".join(sorted(current_heads(sqlalchemy_url(url))))
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return f"{n_tickets}|{heads}|{source}|{sorted(options.items())!r}"


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """Create a fresh database at `url` (dropping an old one of that name) and drop it afterwards."""
    from tracker.db import dispose_engines

    create_database(url, replace=True)
    try:
        yield url
    finally:
        dispose_engines()
        drop_database(url)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load generated tickets into PostgreSQL with COPY.")
    parser.add_argument("--url", required=True, help="postgresql+psycopg://user@host:port/database")
    parser.add_argument("--tickets", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--year", type=int, default=None, help="one calendar year of receipts")
    parser.add_argument("--open-fraction", type=float, default=0.2)
    parser.add_argument("--due-fraction", type=float, default=0.01)
    parser.add_argument("--create", action="store_true", help="create the database if it does not exist")
    parser.add_argument("--replace", action="store_true", help="drop and re-create the database first")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.create or args.replace:
        create_database(args.url, replace=args.replace)
    summary = generate(
        args.url,
        args.tickets,
        seed=args.seed,
        year=args.year,
        open_fraction=args.open_fraction,
        due_fraction=args.due_fraction,
        progress=True,
    )
    print(summary.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
