"""Cells of the files the tracker writes (CSV, XLSX, DOCX tables): citizen text must stay text.

Excel, WPS and LibreOffice read a cell that begins with = + - @ (or a tab or carriage return, which they
skip before such a character) as a formula: a 诉求分类 of `=HYPERLINK("http://…","点击")` would become a
live link in the annual report. `safe_cell` is the one place that decides (OWASP "CSV injection"); every
writer passes every value through it. Numbers are written as numbers and are never escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a cell must hold it: text a spreadsheet would run gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
