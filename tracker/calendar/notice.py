"""Parse the State Council's yearly notice (国务院办公厅关于XXXX年部分节假日安排的通知) into calendar rows.

The notice has one numbered line per holiday. The shapes seen in the published notices:

* a range, possibly across months, with bracketed lunar-date and weekday notes:
  ``二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。``
  ``五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。``
* a single day: ``一、元旦：1月1日（周三）放假1天，不调休。``
* two festivals on one line: ``六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。``
* make-up working days: ``2月14日（周六）、2月28日（周六）上班。`` — also the older shorthand
  ``4月29日、30日上班`` and ``17日、25日上班`` (month taken from the holiday), explicit years
  (``2018年12月29日（星期六）上班``), and ``—`` instead of ``至`` (2004–2010 notices).

Everything that does not parse cleanly is refused with the offending line quoted: a wrong schedule would
silently move statutory deadlines, so a person must fix the text rather than have us guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from tracker.calendar.days import HOLIDAY, WORKDAY, DayOverride
from tracker.errors import ValidationError

TITLE_YEAR = re.compile(r"关于\s*(\d{4})\s*年[^\n]*?节假日安排的通知")
HOLIDAY_LINE = re.compile(
    r"^\s*[一二三四五六七八九十]+\s*[、.．]\s*(?P<names>[^：:]{1,40}?)\s*[：:](?P<body>.+)$"
)
BRACKETED_NOTE = re.compile(r"[（(][^（）()]*[）)]")
DATE_REF = re.compile(r"(?:(?P<year>\d{4})年)?(?:(?P<month>\d{1,2})月)?(?P<day>\d{1,2})日")
RANGE_SEPARATOR = re.compile(r"\s*(?:至|—|－|–|-|~|～)+\s*")
DAY_COUNT = re.compile(r"(?:共|放假)(\d+)天")
CLAUSE_SEPARATOR = re.compile(r"[。；;，,]")
FESTIVAL_QUOTES = str.maketrans("", "", "“”\"'‘’「」")


@dataclass(frozen=True)
class ParsedNotice:
    year: int
    rows: list[DayOverride]

    def as_csv_lines(self) -> list[str]:
        """Return ``date,kind,name`` lines, the format ``tracker calendar load`` reads."""
        return [f"{row.day.isoformat()},{row.kind},{row.name}" for row in self.rows]


def notice_source(year: int) -> str:
    return f"国务院办公厅关于{year}年部分节假日安排的通知"


def parse_notice(text: str, year: int | None = None) -> ParsedNotice:
    """Parse a notice's text into its days off and make-up working days, sorted by date.

    The year comes from the title (``关于2026年部分节假日安排的通知``) or from ``year``; if both are
    given they must agree.
    """
    title_match = TITLE_YEAR.search(text)
    title_year = int(title_match.group(1)) if title_match else None
    if year is not None and title_year is not None and year != title_year:
        raise ValidationError(
            f"通知标题中的年份为{title_year}年，与指定的{year}年不一致", fields={"year": str(year)}
        )
    notice_year = year if year is not None else title_year
    if notice_year is None:
        raise ValidationError("无法从通知标题中识别年份，请指定年份", fields={"year": "必填"})

    rows: dict[date, DayOverride] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip().replace("\u3000", "")
        match = HOLIDAY_LINE.match(line)
        if not match or "放假" not in match.group("body"):
            continue
        for row in _parse_holiday_line(match.group("names"), match.group("body"), notice_year, line):
            if row.day in rows:
                raise ValidationError(f"{row.day.isoformat()}在通知中出现了两次：{line}")
            rows[row.day] = row
    if not rows:
        raise ValidationError("没有识别出任何放假安排（应为“一、元旦：1月1日……放假……”这样的行）")
    return ParsedNotice(notice_year, [rows[d] for d in sorted(rows)])


def _parse_holiday_line(names: str, body: str, notice_year: int, line: str) -> list[DayOverride]:
    name = "、".join(part.strip() for part in names.translate(FESTIVAL_QUOTES).split("、") if part.strip())
    body = BRACKETED_NOTE.sub("", body)
    clauses = [c.strip() for c in CLAUSE_SEPARATOR.split(body) if c.strip()]
    # A line that reaches into January while naming December belongs to a 元旦 spanning the year end.
    spans_year_end = bool(re.search(r"(?<!\d)1月", body)) and bool(re.search(r"12月", body))

    def resolve(ref: re.Match[str], default_month: int) -> date:
        month = int(ref.group("month")) if ref.group("month") else default_month
        if ref.group("year"):
            ref_year = int(ref.group("year"))
        else:
            ref_year = notice_year - 1 if spans_year_end and month == 12 else notice_year
        try:
            return date(ref_year, month, int(ref.group("day")))
        except ValueError:
            raise ValidationError(f"通知中的日期无效：{ref.group(0)}（{line}）") from None

    holiday_clause = next((c for c in clauses if "放假" in c and DATE_REF.search(c)), None)
    if holiday_clause is None:
        raise ValidationError(f"无法识别放假日期：{line}")
    dates_part = holiday_clause.split("放假", 1)[0]
    pieces = RANGE_SEPARATOR.split(dates_part)
    start_ref = DATE_REF.search(pieces[0])
    if start_ref is None or not start_ref.group("month"):
        raise ValidationError(f"无法识别放假起始日期：{line}")
    first = resolve(start_ref, 0)
    last = first
    if len(pieces) > 1:
        end_ref = DATE_REF.search(pieces[-1])
        if end_ref is None:
            raise ValidationError(f"无法识别放假结束日期：{line}")
        last = resolve(end_ref, first.month)
        if last < first and not end_ref.group("year"):
            last = date(last.year + 1, last.month, last.day)
    if last < first or (last - first).days > 31:
        raise ValidationError(f"放假日期范围不合理：{line}")
    count = DAY_COUNT.search(holiday_clause) or DAY_COUNT.search(body)
    day_total = (last - first).days + 1
    if count and int(count.group(1)) != day_total:
        raise ValidationError(
            f"放假天数不符：通知写“{count.group(0)}”，而{first}至{last}共{day_total}天（{line}）"
        )

    rows = [DayOverride(first + timedelta(days=i), HOLIDAY, name) for i in range(day_total)]
    for clause in clauses:
        if not clause.endswith("上班"):
            continue
        month = first.month
        for ref in DATE_REF.finditer(clause):
            day = resolve(ref, month)
            month = day.month
            if day.weekday() < 5:
                raise ValidationError(f"{day.isoformat()}不是周末，不能作为调休上班日：{line}")
            rows.append(DayOverride(day, WORKDAY, name))
    return rows
