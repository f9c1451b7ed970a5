"""Check digits of Chinese identity numbers: 居民身份证 (GB 11643) and 统一社会信用代码 (GB 32100)."""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id_error(number: str) -> str | None:
    """Return why an 18-digit 身份证号码 is invalid, or None when it is valid."""
    number = number.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return "应为18位，前17位为数字，末位为数字或X"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "出生日期无效"
    if born.year < 1900 or born > date.today():
        return "出生日期无效"
    expected = _ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11]
    if number[17] != expected:
        return "校验位不正确"
    return None


def uscc_error(code: str) -> str | None:
    """Return why an 18-character 统一社会信用代码 is invalid, or None when it is valid."""
    code = code.strip().upper()
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return "应为18位数字或大写字母（不含I、O、Z、S、V）"
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    expected = USCC_CHARS[(31 - total % 31) % 31]
    if code[17] != expected:
        return "校验码不正确"
    return None


def resident_id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def id_number_error(id_type: str | None, number: str) -> str | None:
    """Validate by document type; types without a check rule only need to be non-empty."""
    if id_type in (None, "", "身份证", "居民身份证"):
        return resident_id_error(number)
    if id_type == "统一社会信用代码":
        return uscc_error(number)
    return None if number.strip() else "不能为空"
