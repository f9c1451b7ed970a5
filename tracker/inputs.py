"""Bounded parsing of values that come from outside: query arguments, form fields, headers, JSON bodies.

Every page and API call turns a request value into an int, a date or a JSON object through these
functions, so one set of rules holds at every door: the length is bounded before anything is parsed,
only ASCII digits make a number (`"²".isdigit()` is true, `int("²")` fails), numbers and dates stay in
the range the databases and `datetime` can hold, and a bad value raises ValidationError naming the field
and the reason (a 400, never a 500). Pure functions over strings and mappings: no Flask here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from tracker.errors import ValidationError

# Row ids are 32-bit on both databases (PostgreSQL `integer`); a larger id is no row.
MAX_ID = 2**31 - 1
# Dates a person can mean. Far enough from datetime's limits (years 1 and 9999) that converting a local
# day to UTC or adding a day never overflows.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
# More digits than any bounded number needs: refused before int() reads them.
MAX_NUMBER_CHARS = 20
MAX_DATE_CHARS = 32
# JSON bodies: nesting deeper than this is refused before the parser recurses into it.
MAX_JSON_DEPTH = 32
# A JSON string literal; the two alternatives begin differently, so matching is linear.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _refuse(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}：{reason}", fields={field: reason})


def parse_int(raw: Any, field: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """An integer written in ASCII digits (a leading minus only when `low` < 0), within [low, high].

    None or blank is None (absent); anything else that is not such a number raises ValidationError.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > MAX_NUMBER_CHARS:
        raise _refuse(field, "数字过长")
    digits = text[1:] if text.startswith("-") and low < 0 else text
    if not (digits.isascii() and digits.isdigit()):
        raise _refuse(field, "应为整数")
    value = int(text)
    if not low <= value <= high:
        raise _refuse(field, f"应在 {low}–{high} 之间")
    return value


def parse_id(raw: Any, field: str) -> int | None:
    """A row id: a positive 32-bit integer, or None when blank."""
    return parse_int(raw, field, low=1, high=MAX_ID)


def parse_date(raw: Any, field: str, *, low: date = EARLIEST_DATE, high: date = LATEST_DATE) -> date | None:
    """A calendar date written YYYY-MM-DD, within [low, high]; None when blank."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > MAX_DATE_CHARS or not text.isascii():
        raise _refuse(field, "日期格式应为 YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _refuse(field, "日期格式应为 YYYY-MM-DD") from None
    if not low <= day <= high:
        raise _refuse(field, f"日期应在 {low.isoformat()} 至 {high.isoformat()} 之间")
    return day


def int_arg(args: Mapping[str, Any], name: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """`parse_int` of one query argument or form field (a MultiDict or any mapping)."""
    return parse_int(args.get(name), name, low=low, high=high)


def id_arg(args: Mapping[str, Any], name: str) -> int | None:
    return parse_id(args.get(name), name)


def date_arg(args: Mapping[str, Any], name: str, **bounds: date) -> date | None:
    return parse_date(args.get(name), name, **bounds)


def ids_arg(values: list[Any], name: str) -> list[int]:
    """Several row ids (a form's repeated field); every one must be valid."""
    ids = [parse_id(value, name) for value in values]
    return [i for i in ids if i is not None]


def json_depth_exceeds(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays/objects nest deeper than `limit`; linear, before the parser recurses into them.

    Strings are removed first (a bracket inside one is text), then the brackets are counted.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def text_error(text: str) -> str | None:
    """Why a string cannot be stored as text, or None.

    NUL is refused by PostgreSQL in every text column (a 500 there, silently kept on SQLite), and a lone
    surrogate (JSON's "\ud800") cannot be encoded at all; neither is anything a person typed.
    """
    if "\x00" in text:
        return "含有不允许的控制字符（NUL）"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "含有无效的 Unicode 字符（单独的代理项）"
    return None


def _first_text_error(value: Any) -> str | None:
    if isinstance(value, str):
        return text_error(value)
    if isinstance(value, dict):
        items: Iterable[Any] = (x for pair in value.items() for x in pair)
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        reason = _first_text_error(item)
        if reason:
            return reason
    return None


def fields_text_error(fields: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The first (field, reason) among a request's query arguments or form fields that is no text."""
    for name, value in fields:
        name_reason = text_error(name)
        if name_reason:  # the name itself cannot be shown either
            return ("?", name_reason)
        reason = text_error(value)
        if reason:
            return (name, reason)
    return None


def parse_json_object(body: bytes, field: str = "body") -> dict[str, Any]:
    """A request body that must be one JSON object: bounded nesting, valid UTF-8, no lone surrogates.

    A `"\\ud800"` escape is valid JSON but no text: it could not be stored or sent on, so it is refused here.
    """
    if json_depth_exceeds(body):
        raise _refuse(field, f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise _refuse(field, "应为 JSON 对象") from None
    if not isinstance(payload, dict):
        raise _refuse(field, "应为 JSON 对象")
    reason = _first_text_error(payload)
    if reason:
        raise _refuse(field, reason)
    return payload
