"""One entry point for every export format: `export(report, fmt) -> (bytes, mime type, file name)`."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tracker.cells import safe_row
from tracker.errors import ValidationError
from tracker.reports import annual, formats
from tracker.reports.scope import CHANNEL_REPORT_LABELS

EXPORT_FORMATS = ("xlsx", "docx", "json", "csv", "html")
MIME_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def report_json(report: annual.AnnualReport) -> dict[str, Any]:
    """The machine-readable report (schema in docs/annual-report.md)."""
    data: dict[str, Any] = {
        "year": report.year,
        "format": report.format,
        "department": report.scope.department_code,
        "interaction": annual.interaction_dict(report),
        "official_tables": formats.tables_as_tree(report.tables),
        "top_topics": [{"topic": topic, "count": n} for topic, n in report.topics],
        "checks": {
            "passed": report.is_valid,
            "failures": [
                {
                    "rule": f.rule,
                    "where": f.where,
                    "left": f.left,
                    "right": f.right,
                    "message": f.message,
                    "tickets": [number for _id, number in f.tickets],
                }
                for f in report.failures
            ],
        },
    }
    # Warnings do not block an export (the register's total against its outlets, tracker.reports.checks).
    data["checks"]["warnings"] = [{"rule": w.rule, "message": w.message} for w in report.warnings]
    if report.format == formats.FORMAT_FREE:
        data["free_form"] = {
            # The keys stay the stable register labels; the office's name for its website is given beside.
            "portal_label": report.portal_label,
            "published": {
                "全年发布（报送）各类信息": int(
                    report.register("published_all", "items")
                    or sum(
                        report.register(i, "items")
                        for i in ("outlet_portal", "outlet_public_point", "outlet_media")
                    )
                ),
                "门户网站": int(report.register("outlet_portal", "items")),
                "公开查阅点及政府信息公开平台": int(report.register("outlet_public_point", "items")),
                "报刊、电视、专栏等传统媒体": int(report.register("outlet_media", "items")),
            },
            "disclosure": {
                "received": report.disclosure.total("new"),
                "carried_in": report.disclosure.total("carried_in"),
                "finished": report.disclosure.total("finished"),
                "carried_out": report.disclosure.total("carried_out"),
            },
            # 2007 条例 art. 32(三): 收费及减免情况 (元).
            "fees": {
                "charged": float(report.register("fees_2007", "yuan")),
                "waived": float(report.register("fee_waivers_2007", "yuan")),
            },
            "reviews": report.review_total,
            "lawsuits": report.suit_total,
        }
    return data


def render_json(report: annual.AnnualReport) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2)


def render_csv(report: annual.AnnualReport) -> str:
    """Long format, one figure a line: 表格, 行, 列, 数值 (interaction figures first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["表格", "行", "列", "数值"])

    def writerow(values: list[Any]) -> None:
        # Labels can come from citizens' text (topics): every row goes through the one formula escape.
        writer.writerow(safe_row(values))

    for code, figures in annual.interaction_dict(report).items():
        for measure, value in figures.items():
            writerow(["政民互动", CHANNEL_REPORT_LABELS[code], measure, "" if value is None else value])
    for table in report.tables:
        for row in table.rows:
            for cell in row:
                path = list(cell.path)
                if table.title and path and path[0] == table.title:
                    section = f"{table.section}/{table.title}"
                    path = path[1:]
                else:
                    section = table.section
                writerow([section, "/".join(path), cell.column, cell.value])
    return out.getvalue()


def export(report: annual.AnnualReport, fmt: str, *, force: bool = False) -> tuple[bytes, str, str]:
    """Render the report; refuse a report whose cross-checks fail unless `force`."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"不支持的导出格式 {fmt!r}", fields={"format": "/".join(EXPORT_FORMATS)})
    report.require_valid(force=force)
    if fmt == "xlsx":
        from tracker.reports.xlsx import render_xlsx

        body = render_xlsx(report)
    elif fmt == "docx":
        from tracker.reports.docx import render_docx

        body = render_docx(report)
    elif fmt == "json":
        body = render_json(report).encode("utf-8")
    elif fmt == "csv":
        body = ("\ufeff" + render_csv(report)).encode("utf-8")  # BOM: Excel/WPS open UTF-8 CSV correctly
    else:
        from tracker.reports.html import render_html

        body = render_html(report).encode("utf-8")
    department = f"-{report.scope.department_code}" if report.scope.department_code else ""
    return body, MIME_TYPES[fmt], f"annual-report-{report.year}{department}.{fmt}"
