"""Generate tracker/data/holidays.csv, the bundled 2004–2026 holiday history.

Run once by a developer (``.venv/bin/python scripts/gen_holidays.py``); the runtime reads the CSV and
never imports ``chinese_calendar`` or ``holidays`` (both are dev dependencies only).

What goes into the file — only the days that differ from "Monday to Friday work, weekends off", plus the
weekend days inside an official holiday span (they do not change ``is_workday`` but they let a deadline
explanation name the whole holiday, e.g. "春节假期2月15日至23日"):

* ``holiday``: every official day off of a notice, weekday or weekend;
* ``workday``: every weekend day the notice turns into a make-up working day (调休上班).

``year`` is the year of the notice that decided the row, which is not always the row's calendar year: the
2019 notice put 元旦 on 2018-12-30..2019-01-01 with 2018-12-29 as a working day. Loading or replacing a
year therefore replaces the rows of that notice, wherever they fall.

Sources are cross-checked: ``chinese_calendar`` is the primary source; ``holidays.China`` must agree on
whether every day 2004–2026 is a working day except where a notice says otherwise (``NOTICE_FIXES``).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import chinese_calendar
import holidays

FIRST_YEAR, LAST_YEAR = 2004, 2026
OUTPUT = Path(__file__).resolve().parent.parent / "tracker" / "data" / "holidays.csv"

CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

ANNIVERSARY_2015_SOURCE = "国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知"
SPRING_FESTIVAL_2020_EXTENSION_SOURCE = "国务院办公厅关于延长2020年春节假期的通知"

# Where the packages disagree with the notice, the notice wins. Each fix quotes the notice.
NOTICE_FIXES: dict[dt.date, tuple[str, str, str]] = {
    # 国办发明电〔2005〕35号 (关于2006年部分节假日安排的通知): "一、元旦：1月1日—3日放假，共3天。其中1月1日为
    # 法定假日，将12月31日（星期六）、1月1日（星期日）两个公休日调至1月2日（星期一）、3日（星期二），
    # 12月31日（星期六）上班。" chinese_calendar has 2005-12-31 as an ordinary Saturday off; holidays.China
    # follows the notice.
    dt.date(2005, 12, 31): ("workday", "元旦", "国务院办公厅关于2006年部分节假日安排的通知"),
    # 国发明电〔2015〕3号: "9月3日至5日调休放假，共3天" — chinese_calendar omits the Saturday inside the span.
    dt.date(2015, 9, 5): ("holiday", CHINESE_NAMES["Anti-Fascist 70th Day"], ANNIVERSARY_2015_SOURCE),
}


def notice_year(day: dt.date, english_name: str) -> int:
    """Return the year of the notice that scheduled ``day`` (元旦 days in December belong to next year's)."""
    if english_name == "New Year's Day" and day.month == 12:
        return day.year + 1
    return day.year


def notice_source(day: dt.date, english_name: str) -> str:
    if english_name == "Anti-Fascist 70th Day":
        return ANNIVERSARY_2015_SOURCE
    if dt.date(2020, 1, 31) <= day <= dt.date(2020, 2, 2):
        return SPRING_FESTIVAL_2020_EXTENSION_SOURCE
    return f"国务院办公厅关于{notice_year(day, english_name)}年部分节假日安排的通知"


def holiday_spans(days_off: dict[dt.date, str]) -> list[tuple[dt.date, dt.date, str]]:
    """Group consecutive days off into spans named like the notice line ("中秋节、国庆节")."""
    spans: list[tuple[dt.date, dt.date, list[str]]] = []
    for day in sorted(days_off):
        name = days_off[day]
        if spans and spans[-1][1] + dt.timedelta(days=1) == day:
            start, _, names = spans[-1]
            if name not in names:
                names.append(name)
            spans[-1] = (start, day, names)
        else:
            spans.append((day, day, [name]))
    return [(start, end, "、".join(CHINESE_NAMES[n] for n in names)) for start, end, names in spans]


def build_rows() -> list[dict[str, str]]:
    in_range = range(FIRST_YEAR, LAST_YEAR + 1)
    days_off = {d: str(n) for d, n in chinese_calendar.holidays.items() if d.year in in_range}
    # holidays.China knows a few weekend days inside spans that chinese_calendar misses (2012-06-23).
    china = holidays.China(years=in_range, language="en_US")
    for day in china:
        if day not in days_off and day.weekday() >= 5 and day not in chinese_calendar.workdays:
            days_off[day] = next(
                (
                    days_off[d]
                    for d in (day - dt.timedelta(days=1), day + dt.timedelta(days=1))
                    if d in days_off
                ),
                None,
            ) or _english_name(china.get(day))
    spans = holiday_spans(days_off)
    span_name = {
        start + dt.timedelta(days=i): name
        for start, end, name in spans
        for i in range((end - start).days + 1)
    }

    rows: dict[dt.date, dict[str, str]] = {}
    for day, english in days_off.items():
        rows[day] = _row(
            day, "holiday", span_name[day], notice_year(day, english), notice_source(day, english)
        )
    for day, english in chinese_calendar.workdays.items():
        if day.year not in in_range and notice_year(day, str(english)) not in in_range:
            continue
        name = _workday_span_name(day, str(english), spans)
        rows[day] = _row(
            day, "workday", name, notice_year(day, str(english)), notice_source(day, str(english))
        )
    for day, (kind, name, source) in NOTICE_FIXES.items():
        year = int(source.split("关于")[1][:4]) if "年部分节假日" in source else day.year
        rows[day] = _row(day, kind, name, year, source)
    return [rows[d] for d in sorted(rows)]


def _english_name(name: str | None) -> str:
    for english in CHINESE_NAMES:
        if name and english.split()[0].lower() in name.lower():
            return english
    raise ValueError(f"unknown holiday name from holidays.China: {name!r}")


def _workday_span_name(day: dt.date, english: str, spans: list[tuple[dt.date, dt.date, str]]) -> str:
    """Name a make-up working day after the nearest holiday span of the same festival."""
    chinese = CHINESE_NAMES[english]
    candidates = [s for s in spans if chinese in s[2].split("、")]
    nearest = min(candidates, key=lambda s: min(abs((s[0] - day).days), abs((s[1] - day).days)))
    return nearest[2]


def _row(day: dt.date, kind: str, name: str, year: int, source: str) -> dict[str, str]:
    return {"date": day.isoformat(), "kind": kind, "name": name, "year": str(year), "source": source}


def check_against_packages(rows: list[dict[str, str]]) -> list[str]:
    """Return every day 2004–2026 on which the file disagrees with a package, other than NOTICE_FIXES."""
    overrides = {dt.date.fromisoformat(r["date"]): r["kind"] for r in rows}
    china = holidays.China(years=range(FIRST_YEAR, LAST_YEAR + 1))
    problems = []
    day = dt.date(FIRST_YEAR, 1, 1)
    while day <= dt.date(LAST_YEAR, 12, 31):
        ours = overrides.get(day, "workday" if day.weekday() < 5 else "holiday") == "workday"
        theirs = {
            "chinese_calendar": chinese_calendar.is_workday(day),
            "holidays.China": china.is_working_day(day),
        }
        for package, verdict in theirs.items():
            if verdict != ours and day not in NOTICE_FIXES:
                problems.append(f"{day} {package}={verdict} ours={ours}")
        day += dt.timedelta(days=1)
    return problems


def main() -> int:
    rows = build_rows()
    problems = check_against_packages(rows)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    with OUTPUT.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(
            out, fieldnames=["date", "kind", "name", "year", "source"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
