"""A printable HTML page of the report; the web report page reuses `tables_html` with drill-down links.

Rendered with Jinja2's autoescaping: every label and every citizen-entered topic is escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from tracker.reports import annual
from tracker.reports.formats import Table


@dataclass(frozen=True)
class GridCell:
    text: str
    rowspan: int
    colspan: int
    is_header: bool
    ref: str | None = None
    is_number: bool = False


def grid(table: Table) -> list[list[GridCell]]:
    """The table as rows of cells in column order, each with its merge (covered cells omitted)."""
    rows: list[list[tuple[int, GridCell]]] = [[] for _ in range(table.height)]
    for label in table.header:
        rows[label.row].append((label.col, GridCell(label.text, label.rowspan, label.colspan, True)))
    for label in table.labels:
        rows[label.row].append((label.col, GridCell(label.text, label.rowspan, label.colspan, True)))
    for i, cells in enumerate(table.rows):
        for j, cell in enumerate(cells):
            rows[table.header_height + i].append(
                (table.label_cols + j, GridCell(_fmt(cell.value), 1, 1, False, cell.ref, True))
            )
    return [[cell for _col, cell in sorted(row, key=lambda pair: pair[0])] for row in rows]


def _fmt(value) -> str:
    return str(value)


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

TABLES_TEMPLATE = _ENV.from_string(
    """{% for table in tables %}
{% if table.title %}<h4 class="report-subtitle">{{ table.title }}</h4>{% endif %}
<table class="report-table">
{% for row in grid(table) %}<tr>
{% for cell in row %}{% if cell.is_header %}<th{% if cell.rowspan > 1 %} rowspan="{{ cell.rowspan }}"{% endif %}{% if cell.colspan > 1 %} colspan="{{ cell.colspan }}"{% endif %}>{{ cell.text }}</th>{% else %}<td class="num">{% if link and cell.ref %}<a href="{{ link(cell.ref) }}">{{ cell.text }}</a>{% else %}{{ cell.text }}{% endif %}</td>{% endif %}{% endfor %}
</tr>
{% endfor %}</table>
{% endfor %}"""
)

INTERACTION_TEMPLATE = _ENV.from_string(
    """<table class="report-table interaction">
<tr><th>渠道</th><th>收到</th><th>答复</th><th>答复率</th><th>按期答复</th><th>按期答复率</th><th>参与评价</th><th>评价来源</th><th>满意</th><th>满意率</th><th>答复用时中位数（工作日）</th><th>平均用时（工作日）</th></tr>
{% for code, f in figures.items() %}<tr>
<th>{{ f.label }}</th>
{% for measure, value in (("received", f.received), ("replied", f.replied)) %}<td class="num">{% if link %}<a href="{{ link('i:' ~ code ~ ':' ~ measure) }}">{{ value }}</a>{% else %}{{ value }}{% endif %}</td>{% endfor %}
<td class="num" title="{{ f.replied }}/{{ f.received }}">{{ f.reply_rate.percent() }}</td>
<td class="num">{% if link %}<a href="{{ link('i:' ~ code ~ ':on_time') }}">{{ f.on_time }}</a>{% else %}{{ f.on_time }}{% endif %}</td>
<td class="num" title="{{ f.on_time }}/{{ f.replied }}">{{ f.on_time_rate.percent() }}</td>
{% for measure, value in (("rated", f.rated), ("satisfied", f.satisfied)) %}<td class="num">{% if link %}<a href="{{ link('i:' ~ code ~ ':' ~ measure) }}">{{ value }}</a>{% else %}{{ value }}{% endif %}</td>{% if measure == "rated" %}<td class="sources" data-rating-sources>{{ f.rating_sources_text() }}</td>{% endif %}{% endfor %}
<td class="num" title="{{ f.satisfied }}/{{ f.rated }}">{{ f.satisfaction_rate.percent() }}</td>
<td class="num">{{ '—' if f.median_workdays is none else '%g' % f.median_workdays }}</td>
<td class="num">{{ '—' if f.mean_workdays is none else '%.1f' % f.mean_workdays }}</td>
</tr>
{% endfor %}</table>"""
)

REPORT_CSS = """
body { font-family: "Noto Serif CJK SC", "Source Han Serif SC", "SimSun", serif; margin: 2em auto; max-width: 60em;
       line-height: 1.7; color: #000; }
h1 { text-align: center; font-size: 1.5em; }
h2 { font-size: 1.15em; margin-top: 1.6em; }
h4.report-subtitle { margin: 1em 0 .3em; }
p { text-indent: 2em; margin: .4em 0; }
table.report-table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .9em; }
table.report-table th, table.report-table td { border: 1px solid #000; padding: .25em .4em; }
table.report-table th { font-weight: normal; text-align: center; }
table.report-table td.num { text-align: center; }
.check-failed { border: 2px solid #b00; padding: .5em 1em; color: #b00; }
@media print { body { margin: 0; max-width: none; } a { color: inherit; text-decoration: none; } }
"""

DOCUMENT_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css }}</style></head>
<body>
<h1>{{ title }}</h1>
{% if failures %}<div class="check-failed"><strong>勾稽关系校验未通过</strong><ul>{% for f in failures %}<li>{{ f.message }}{% if f.tickets %}：{% for id, number in f.tickets %}{{ number }}{% if not loop.last %}、{% endif %}{% endfor %}{% endif %}</li>{% endfor %}</ul></div>{% endif %}
{% for key, heading in titles.items() %}
<h2>{{ heading }}</h2>
{% for paragraph in paragraphs[key] %}<p>{{ paragraph }}</p>{% endfor %}
{% if key == 'overview' %}<h4 class="report-subtitle">政民互动情况</h4>{{ interaction }}{% endif %}
{{ tables_by_section.get(key, '') }}
{% endfor %}
<p class="generated">{{ scope_label }}{% if generated %} · 生成于 {{ generated }}{% endif %}</p>
</body></html>"""
)

SECTION_KEYS = {
    "二、主动公开政府信息情况": "proactive",
    "三、收到和处理政府信息公开申请情况": "disclosure",
    "四、政府信息公开行政复议、行政诉讼情况": "reviews",
}


def tables_html(tables: list[Table], link: Callable[[str], str] | None = None) -> Markup:
    return Markup(TABLES_TEMPLATE.render(tables=tables, grid=grid, link=link))


def interaction_html(report: annual.AnnualReport, link: Callable[[str], str] | None = None) -> Markup:
    return Markup(INTERACTION_TEMPLATE.render(figures=report.interaction, link=link))


def render_html(report: annual.AnnualReport) -> str:
    """The whole report as one self-contained printable page."""
    by_section: dict[str, list[Table]] = {}
    for table in report.tables:
        by_section.setdefault(SECTION_KEYS[table.section], []).append(table)
    from tracker.clock import local

    return DOCUMENT_TEMPLATE.render(
        title=annual.report_title(report),
        css=Markup(REPORT_CSS),
        failures=report.failures,
        titles=annual.section_titles(report.format),
        paragraphs=annual.narrative(report),
        interaction=interaction_html(report),
        tables_by_section={key: tables_html(tables) for key, tables in by_section.items()},
        scope_label=report.scope.label,
        generated=local(report.generated_at).strftime("%Y-%m-%d %H:%M") if report.generated_at else None,
    )
