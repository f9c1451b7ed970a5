"""File formats, dates and identity numbers: pure functions, no database."""

from datetime import datetime

import pytest

from tests.intake.helpers import HOTLINE_HEADER, hotline_row, write_csv
from tracker.clock import BUSINESS_TZ
from tracker.intake.formats import FileFormatError, detect_encoding, open_table, parse_datetime
from tracker.intake.idnumbers import (
    resident_id_check_char,
    resident_id_error,
    uscc_check_char,
    uscc_error,
)


def at(*parts):
    return datetime(*parts, tzinfo=BUSINESS_TZ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-03-05 09:12:00", at(2016, 3, 5, 9, 12)),
        ("2016-03-05 09:12", at(2016, 3, 5, 9, 12)),
        ("2016/3/5 9:12", at(2016, 3, 5, 9, 12)),
        ("2016/3/5", at(2016, 3, 5)),
        ("2016年3月5日", at(2016, 3, 5)),
        ("2016年3月5日 9时12分", at(2016, 3, 5, 9, 12)),
        ("2016.03.05", at(2016, 3, 5)),
        ("20160305", at(2016, 3, 5)),
        ("42434", at(2016, 3, 5)),  # Excel serial as text
        (42434.5, at(2016, 3, 5, 12)),  # Excel serial as a number cell
        ("42434.385416667", at(2016, 3, 5, 9, 15)),
        (datetime(2016, 3, 5, 9, 12), at(2016, 3, 5, 9, 12)),
        ("2016-03-05T01:12:00+00:00", at(2016, 3, 5, 9, 12)),
    ],
)
def test_dates_in_common_forms(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["2016/13/01", "2016-02-30", "明天", "", "12", "3/5/2016", "99999999"])
def test_bad_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_encoding_is_detected_and_headers_read(tmp_path, encoding, detected):
    path = write_csv(tmp_path / "orders.csv", HOTLINE_HEADER, [hotline_row("GD1")], encoding)
    table = open_table(path)
    assert table.encoding == detected
    assert table.header[:4] == ["工单编号", "受理时间", "诉求类型", "诉求内容"]
    rows = list(table.rows())
    assert rows[0][0] == 2 and rows[0][1]["诉求内容"] == "咨询集体企业改制后职工身份置换政策"


def test_gb18030_only_characters_survive(tmp_path):
    path = write_csv(
        tmp_path / "rare.csv", HOTLINE_HEADER, [hotline_row("GD1", content="𠀀字与䶮")], "gb18030"
    )
    assert next(open_table(path).rows())[1]["诉求内容"] == "𠀀字与䶮"


def test_detect_encoding_tolerates_a_character_cut_at_the_sample_end():
    data = "工单".encode()[:-1]
    assert detect_encoding(b"abc," + data) == "utf-8"


def test_empty_and_binary_files_are_refused(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FileFormatError):
        open_table(tmp_path / "empty.csv")
    (tmp_path / "junk.csv").write_bytes(bytes(range(128, 256)) * 10)
    with pytest.raises(FileFormatError):
        open_table(tmp_path / "junk.csv")


def test_resident_id_check_digit():
    assert resident_id_error("11010519491231002X") is None
    assert resident_id_error("110105194912310021") == "校验位不正确"
    assert resident_id_error("11010519491331002X") == "出生日期无效"
    assert resident_id_error("1101051949") is not None
    assert resident_id_check_char("11010519491231002") == "X"


def test_uscc_check_character():
    assert uscc_error("91350100M000100Y43") is None
    assert uscc_error("91350100M000100Y44") == "校验码不正确"
    assert uscc_error("91350100M000100YI3") is not None  # I is not in the alphabet
    assert uscc_check_char("91350100M000100Y4") == "3"
