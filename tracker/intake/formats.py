"""Reading the files platforms export: CSV in UTF-8 / UTF-8 with BOM / GBK / GB18030 (detected) or XLSX,
with Chinese headers; and the date forms people and Excel write."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tracker.cells import safe_row
from tracker.clock import BUSINESS_TZ

XLSX_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 256 * 1024
# The most one imported file may hold (docs/api.md, "Limits"), counted while it is read, blank rows
# included, so a file is refused after at most this much work: 200,000 rows in a 2.3 MB XLSX used to
# hold the worker 21 s at 312 MB, and the 20 MB upload cap allowed about 1.7 million.
MAX_ROWS = 100_000  # data rows, below the header
MAX_COLUMNS = 200
MAX_CELLS = 2_000_000  # rows × columns as read, empty cells included


class FileFormatError(Exception):
    """The file as a whole cannot be read (not a CSV/XLSX, undecodable, no header)."""


@dataclass(frozen=True)
class Table:
    """A readable table: its header, its encoding (for CSV) and a fresh row iterator per call."""

    path: Path
    kind: str  # "csv" / "xlsx"
    encoding: str | None
    header: list[str]

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield (row number as the spreadsheet shows it — the header is row 1, data from 2, row dict)."""
        if self.kind == "xlsx":
            yield from _xlsx_rows(self.path)
        else:
            yield from _csv_rows(self.path, self.encoding or "utf-8")


def detect_encoding(head: bytes) -> str:
    """Return 'utf-8-sig', 'utf-8' or 'gb18030' (a superset of GBK) for the start of a CSV file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the sample is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise FileFormatError("无法识别文件编码（支持 UTF-8、UTF-8 BOM、GBK、GB18030）") from None


def open_table(path: str | Path) -> Table:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise FileFormatError(f"无法读取文件：{exc.strerror or exc}") from None
    if head.startswith(XLSX_MAGIC):
        header = _xlsx_header(path)
        return Table(path, "xlsx", None, header)
    if not head.strip():
        raise FileFormatError("文件为空")
    encoding = detect_encoding(head)
    with path.open(encoding=encoding, newline="") as fh:
        try:
            header = next(csv.reader(fh), None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FileFormatError(f"无法读取表头：{exc}") from None
    if not header:
        raise FileFormatError("文件缺少表头")
    return Table(path, "csv", encoding, [_clean_header(h) for h in header])


def bounded_rows(rows: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """The rows of a file as read (the header first), refused once the file passes the limits."""
    cells = 0
    try:
        for number, values in enumerate(rows, start=1):
            if number > MAX_ROWS + 1:
                raise FileFormatError(f"文件超过 {MAX_ROWS:,} 行数据的上限，请分成多个文件上传")
            if len(values) > MAX_COLUMNS:
                raise FileFormatError(f"第{number}行超过 {MAX_COLUMNS} 列的上限")
            cells += len(values)
            if cells > MAX_CELLS:
                raise FileFormatError(
                    f"文件超过 {MAX_CELLS:,} 个单元格的上限（至第{number}行），请分成多个文件上传"
                )
            yield values
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # a generator over an open file (openpyxl's sheet reader) ends here
            close()


def declared_rows(path: str | Path) -> int | None:
    """The number of data rows an XLSX file's sheet says it holds (cheap: read from its dimension tag),
    or None for a CSV or an XLSX without one. A file can lie; the limits hold while reading anyway."""
    path = Path(path)
    with path.open("rb") as fh:
        if not fh.read(4).startswith(XLSX_MAGIC):
            return None
    from openpyxl import load_workbook
    from openpyxl.utils import range_boundaries

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # a broken file is refused, with its reason, by the import itself
        return None
    try:
        _min_col, _min_row, _max_col, max_row = range_boundaries(book.active.calculate_dimension())
    except (ValueError, TypeError):  # unsized: no dimension tag
        return None
    finally:
        book.close()
    return None if max_row is None else max(0, max_row - 1)


def _clean_header(text: Any) -> str:
    return re.sub(r"\s+", "", str(text or "")).replace("*", "")


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding=encoding, errors="strict", newline="") as fh:
        reader = bounded_rows(csv.reader(fh))
        header = [_clean_header(h) for h in next(reader)]
        number = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise FileFormatError(f"第{number + 1}行附近含有无法按 {encoding} 解码的字节") from None
            number += 1
            if not any(v.strip() for v in values):
                continue
            yield number, _row(header, values)


def _row(header: list[str], values: list[Any]) -> dict[str, Any]:
    row = {name: values[i] if i < len(values) else None for i, name in enumerate(header) if name}
    if len(values) > len(header):
        row["__extra__"] = values[len(header) :]
    return row


def _xlsx_header(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise FileFormatError(f"无法读取 XLSX 文件：{type(exc).__name__}") from None
    try:
        first = next(book.active.iter_rows(max_row=1, values_only=True), None)
    finally:
        book.close()
    if not first:
        raise FileFormatError("文件缺少表头")
    return [_clean_header(h) for h in first]


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = bounded_rows(book.active.iter_rows(values_only=True))
        header = [_clean_header(h) for h in next(rows)]
        for number, values in enumerate(rows, start=2):
            if not any(v not in (None, "") and str(v).strip() for v in values):
                continue
            yield number, _row(header, list(values))
    finally:
        book.close()


# --- values ------------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:\s*[T\s]\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})\s*(?:[:：分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?\s*分?)?$"
)
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2}):?(\d{2})?)?$")
EXCEL_EPOCH = datetime(1899, 12, 30)
_SERIAL_RE = re.compile(r"^\d{4,6}(?:\.\d+)?$")


def text_value(value: Any) -> str:
    """A cell as text, exactly as given except surrounding whitespace; None and '' become ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_datetime(value: Any) -> datetime:
    """Understand 2016-03-05 09:12:00, 2016/3/5 9:12, 2016年3月5日, 20160305 and Excel serials.

    Times without a zone are Asia/Shanghai (as the platforms write them). Returns an aware datetime;
    raises ValueError when the value is not a date.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=BUSINESS_TZ)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BUSINESS_TZ)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_serial(float(value))
    text = text_value(value)
    if not text:
        raise ValueError("empty")
    if "+" in text[10:] or text.endswith("Z"):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=BUSINESS_TZ)
        except ValueError:
            pass
    if len(text) in (16, 19) and text[10] == " " and text[4] == text[7] and text[4] in "-/":
        # The form platform exports write (2016-03-05 09:12[:00], 2016/03/05 09:12): the C parser
        # reads it far faster than the pattern below. Anything else it refuses (a full-width
        # digit, 24:00 …) still goes through the pattern, which decides.
        try:
            moment = datetime.fromisoformat(text.replace("/", "-") if text[4] == "/" else text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None and 1990 <= moment.year <= 2100:
                return moment.replace(tzinfo=BUSINESS_TZ)
    match = _DATE_RE.match(text) or _COMPACT_RE.match(text)
    if match:
        parts = [int(p) if p else 0 for p in match.groups()]
        year, month, day, hour, minute, second = parts + [0] * (6 - len(parts))
        moment = datetime(year, month, day, hour, minute, second, tzinfo=BUSINESS_TZ)
        if not 1990 <= year <= 2100:
            raise ValueError("year out of range")
        return moment
    if _SERIAL_RE.match(text):
        return _from_serial(float(text))
    raise ValueError("unrecognised")


def _from_serial(serial: float) -> datetime:
    # Excel's day 1 is 1900-01-01 and it believes 1900 was a leap year; counting from 1899-12-30
    # is right for every date after February 1900, which is all a work order can carry.
    if not 32874 <= serial <= 73051:  # 1990-01-01 .. 2099-12-31
        raise ValueError("serial out of range")
    moment = EXCEL_EPOCH + timedelta(days=serial)
    moment = moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))
    return moment.replace(tzinfo=BUSINESS_TZ)


def parse_bool(value: Any) -> bool | None:
    text = text_value(value)
    if not text:
        return None
    if text in ("是", "Y", "y", "yes", "Yes", "true", "True", "1", "保密", "已解决", "解决"):
        return True
    if text in ("否", "N", "n", "no", "No", "false", "False", "0", "不保密", "未解决"):
        return False
    raise ValueError("not a yes/no")


def write_csv(rows: list[list[Any]], header: list[str]) -> bytes:
    """CSV in UTF-8 with BOM: the form Excel on a Chinese Windows opens without garbling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(row) for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def write_xlsx(rows: list[list[Any]], header: list[str], title: str = "Sheet1") -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append(safe_row(header))
    for row in rows:
        sheet.append(safe_row(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
