"""The official tables, versioned by report year, with their labels character for character.

| report years | format  | rules                                  |
|--------------|---------|----------------------------------------|
| ≤ 2018       | "free"  | 2007 条例: free-form text, no tables    |
| 2019–2020    | "2019"  | 国办公开办函〔2019〕60号                 |
| ≥ 2021       | "2021"  | 国办公开办函〔2021〕30号                 |

A `Table` is a grid: header cells and body label cells with their merges (what the XLSX, DOCX and HTML
exporters draw) and data cells, each of which also knows its place in the JSON tree (`path` + `column`)
and the drill-down reference of the tickets behind it (`ref`). Every exporter reads the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tracker.reports.registers_spec import REVIEW_KINDS, REVIEW_RESULTS
from tracker.reports.rows import (
    GROUP_OTHER,
    OUTCOMES,
    ROW_CARRIED_IN,
    ROW_CARRIED_OUT,
    ROW_NEW,
    ROW_RESULTS,
    ROW_TOTAL,
)
from tracker.tickets.channels import APPLICANT_TYPES

FORMAT_FREE, FORMAT_2019, FORMAT_2021 = "free", "2019", "2021"

SECTION_1 = "一、总体情况"
SECTION_2 = "二、主动公开政府信息情况"
SECTION_3 = "三、收到和处理政府信息公开申请情况"
SECTION_4 = "四、政府信息公开行政复议、行政诉讼情况"
SECTION_5 = "五、存在的主要问题及改进情况"
SECTION_6 = "六、其他需要报告的事项"

NOTE_3 = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
APPLICANT_HEADER = "申请人情况"
ORG_HEADER = "法人或其他组织"
TOTAL = "总计"
COLUMNS_3 = (*APPLICANT_TYPES, TOTAL)  # 自然人 商业企业 科研机构 社会公益组织 法律服务机构 其他 总计
CONTENT = "信息内容"
REVIEW_HEADER = "行政复议"
SUIT_HEADER = "行政诉讼"
RESULT_COLUMNS = (*REVIEW_RESULTS.values(), TOTAL)  # 结果维持 结果纠正 其他结果 尚未审结 总计


def format_for_year(year: int) -> str:
    if year >= 2021:
        return FORMAT_2021
    if year >= 2019:
        return FORMAT_2019
    return FORMAT_FREE


@dataclass(frozen=True)
class Label:
    """A label cell of the grid at (row, col), 0-based, with its merge."""

    text: str
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1


@dataclass(frozen=True)
class Cell:
    """A data cell: its value, where it sits in the JSON tree, and the tickets behind it."""

    value: int | Decimal
    path: tuple[str, ...]
    column: str
    ref: str | None = None


@dataclass
class Table:
    section: str
    title: str | None
    width: int
    header_height: int
    label_cols: int
    header: list[Label] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.header_height + len(self.rows)

    def cell(self, *path: str, column: str) -> Cell:
        for row in self.rows:
            for cell in row:
                if cell.path == path and cell.column == column:
                    return cell
        raise KeyError((path, column))


# -- section 二 ------------------------------------------------------------------------------------

# (heading, [(column label, measure code)], [(row label, item code)]) per format.
SECTION_2_LAYOUT: dict[str, list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]]] = {
    FORMAT_2021: [
        (
            "第二十条第（一）项",
            [("本年制发件数", "issued"), ("本年废止件数", "repealed"), ("现行有效件数", "in_force")],
            [("规章", "regulation"), ("行政规范性文件", "normative")],
        ),
        ("第二十条第（五）项", [("本年处理决定数量", "decisions")], [("行政许可", "licensing")]),
        (
            "第二十条第（六）项",
            [("本年处理决定数量", "decisions")],
            [("行政处罚", "penalty"), ("行政强制", "enforcement")],
        ),
        ("第二十条第（八）项", [("本年收费金额（单位：万元）", "amount")], [("行政事业性收费", "fee")]),
    ],
    FORMAT_2019: [
        (
            "第二十条第（一）项",
            [
                ("本年新制作数量", "made"),
                ("本年新公开数量", "published"),
                ("对外公开总数量", "total_published"),
            ],
            [("规章", "regulation"), ("规范性文件", "normative")],
        ),
        (
            "第二十条第（五）项",
            [("上一年项目数量", "previous_items"), ("本年增/减", "change"), ("处理决定数量", "decisions")],
            [("行政许可", "licensing"), ("其他对外管理服务事项", "other_services")],
        ),
        (
            "第二十条第（六）项",
            [("上一年项目数量", "previous_items"), ("本年增/减", "change"), ("处理决定数量", "decisions")],
            [("行政处罚", "penalty"), ("行政强制", "enforcement")],
        ),
        (
            "第二十条第（八）项",
            [("上一年项目数量", "previous_items"), ("本年增/减", "change")],
            [("行政事业性收费", "fee")],
        ),
        (
            "第二十条第（九）项",
            [("采购项目数量", "procurement_count"), ("采购总金额", "procurement_amount")],
            [("政府集中采购", "procurement")],
        ),
    ],
}


def _number(value: Decimal | int | None) -> int | Decimal:
    if value is None:
        return 0
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else value.normalize()


def section_2_tables(fmt: str, registers: dict[tuple[str, str], Decimal]) -> list[Table]:
    tables = []
    for heading, columns, rows in SECTION_2_LAYOUT[fmt]:
        width = 1 + len(columns)
        table = Table(SECTION_2, heading, width, header_height=2, label_cols=1)
        table.header.append(Label(heading, 0, 0, 1, width))
        table.header.append(Label(CONTENT, 1, 0))
        table.header.extend(Label(label, 1, 1 + i) for i, (label, _m) in enumerate(columns))
        for r, (row_label, item) in enumerate(rows):
            table.labels.append(Label(row_label, 2 + r, 0))
            table.rows.append(
                [
                    Cell(
                        _number(registers.get((item, measure))),
                        (heading, row_label),
                        label,
                        f"g:{item}:{measure}",
                    )
                    for label, measure in columns
                ]
            )
        tables.append(table)
    return tables


# -- section 三 ------------------------------------------------------------------------------------


def _result_rows(fmt: str) -> list[tuple[str, str | None, str]]:
    """(group label, sub-row label or None, row key) in table order, （七）总计 last."""
    rows: list[tuple[str, str | None, str]] = []
    for outcome in OUTCOMES:
        if fmt == FORMAT_2019 and outcome.group == GROUP_OTHER:
            continue
        sub = None if outcome.label == outcome.group else outcome.label
        rows.append((outcome.group, sub, outcome.code))
    if fmt == FORMAT_2019:
        rows.append((GROUP_OTHER, None, GROUP_OTHER))  # one row: the three （六） outcomes together
    rows.append((ROW_TOTAL, None, "finished"))
    return rows


def _applicant_cells(counts, row_key: str, path: tuple[str, ...], fmt: str) -> list[Cell]:
    def value(applicant: str | None) -> int:
        if row_key == GROUP_OTHER:  # 2019: the three （六） outcomes on one row
            codes = [o.code for o in OUTCOMES if o.group == GROUP_OTHER]
            if applicant is None:
                return sum(counts.total(c) for c in codes)
            return sum(counts.get(c, applicant) for c in codes)
        return counts.total(row_key) if applicant is None else counts.get(row_key, applicant)

    cells = [Cell(value(a), path, a, f"d:{row_key}:{a}") for a in APPLICANT_TYPES]
    cells.append(Cell(value(None), path, TOTAL, f"d:{row_key}:all"))
    return cells


def section_3_table(fmt: str, counts) -> Table:
    table = Table(SECTION_3, None, width=10, header_height=3, label_cols=3)
    table.header = [
        Label(NOTE_3, 0, 0, 3, 3),
        Label(APPLICANT_HEADER, 0, 3, 1, 7),
        Label(APPLICANT_TYPES[0], 1, 3, 2, 1),
        Label(ORG_HEADER, 1, 4, 1, 5),
        Label(TOTAL, 1, 9, 2, 1),
        *(Label(a, 2, 4 + i) for i, a in enumerate(APPLICANT_TYPES[1:])),
    ]
    row = table.header_height
    for text, key in ((ROW_NEW, "new"), (ROW_CARRIED_IN, "carried_in")):
        table.labels.append(Label(text, row, 0, 1, 3))
        table.rows.append(_applicant_cells(counts, key, (text,), fmt))
        row += 1
    results = _result_rows(fmt)
    table.labels.append(Label(ROW_RESULTS, row, 0, len(results), 1))
    group_start: dict[str, int] = {}
    group_size: dict[str, int] = {}
    for group, sub, key in results:
        if sub is None:
            table.labels.append(Label(group, row, 1, 1, 2))
            path = (ROW_RESULTS, group)
        else:
            group_start.setdefault(group, row)
            group_size[group] = group_size.get(group, 0) + 1
            table.labels.append(Label(sub, row, 2))
            path = (ROW_RESULTS, group, sub)
        table.rows.append(_applicant_cells(counts, key, path, fmt))
        row += 1
    for group, start in group_start.items():
        table.labels.append(Label(group, start, 1, group_size[group], 1))
    table.labels.append(Label(ROW_CARRIED_OUT, row, 0, 1, 3))
    table.rows.append(_applicant_cells(counts, "carried_out", (ROW_CARRIED_OUT,), fmt))
    table.labels.sort(key=lambda label: (label.row, label.col))
    return table


# -- section 四 ------------------------------------------------------------------------------------


def section_4_table(reviews: dict[tuple[str, str], int]) -> Table:
    table = Table(SECTION_4, None, width=15, header_height=3, label_cols=0)
    table.header = [
        Label(REVIEW_HEADER, 0, 0, 1, 5),
        Label(SUIT_HEADER, 0, 5, 1, 10),
        *(Label(text, 1, i, 2, 1) for i, text in enumerate(RESULT_COLUMNS)),
        Label(REVIEW_KINDS["direct_suit"], 1, 5, 1, 5),
        Label(REVIEW_KINDS["suit_after_review"], 1, 10, 1, 5),
        *(Label(text, 2, 5 + i) for i, text in enumerate(RESULT_COLUMNS)),
        *(Label(text, 2, 10 + i) for i, text in enumerate(RESULT_COLUMNS)),
    ]
    cells: list[Cell] = []
    for kind, path in (
        ("review", (REVIEW_HEADER,)),
        ("direct_suit", (SUIT_HEADER, REVIEW_KINDS["direct_suit"])),
        ("suit_after_review", (SUIT_HEADER, REVIEW_KINDS["suit_after_review"])),
    ):
        for result, label in REVIEW_RESULTS.items():
            cells.append(Cell(reviews.get((kind, result), 0), path, label, f"r:{kind}:{result}"))
        total = sum(reviews.get((kind, r), 0) for r in REVIEW_RESULTS)
        cells.append(Cell(total, path, TOTAL, f"r:{kind}:all"))
    table.rows.append(cells)
    return table


# -- all tables of a format ------------------------------------------------------------------------


def official_tables(fmt: str, *, registers, counts, reviews) -> list[Table]:
    """Every official table of the format, in report order (none for a free-form year)."""
    if fmt == FORMAT_FREE:
        return []
    return [*section_2_tables(fmt, registers), section_3_table(fmt, counts), section_4_table(reviews)]


def tables_as_tree(tables: list[Table]) -> dict:
    """The JSON shape: section label → nested row labels → {column label: number}."""
    tree: dict = {}
    for table in tables:
        node_root = tree.setdefault(table.section, {})
        for row in table.rows:
            for cell in row:
                node = node_root
                for part in cell.path:
                    node = node.setdefault(part, {})
                value = cell.value
                node[cell.column] = int(value) if isinstance(value, int) else float(value)
    return tree
