"""Build the annual report of a year (or the figures of a quarter or month) for a department or the bureau."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.people.models import Department
from tracker.reports import formats
from tracker.reports.checks import (
    OUTLET_ITEMS,
    CheckFailure,
    CheckWarning,
    ReportCheckFailed,
    register_warnings,
    run_checks,
)
from tracker.reports.disclosure import DisclosureCounts, disclosure_counts
from tracker.reports.interactions import ChannelFigures, Rate, ticket_figures
from tracker.reports.models import ReportText
from tracker.reports.register_figures import register_totals, review_counts
from tracker.reports.registers_spec import DEFAULT_PORTAL_LABEL, ITEMS, NARRATIVE_SECTIONS, PORTAL_LABEL
from tracker.reports.scope import SATISFIED_DEFAULT, Scope, period_scope


@dataclass
class AnnualReport:
    scope: Scope
    format: str
    interaction: dict[str, ChannelFigures]
    topics: list[tuple[str, int]]
    disclosure: DisclosureCounts
    registers: dict[tuple[str, str], Decimal]
    reviews: dict[tuple[str, str], int]
    tables: list[formats.Table]
    failures: list[CheckFailure]
    texts: dict[str, str] = field(default_factory=dict)
    organisation: str = "本机关"
    generated_at: datetime | None = None
    satisfied_levels: tuple[str, ...] = SATISFIED_DEFAULT
    warnings: list[CheckWarning] = field(default_factory=list)  # shown, never blocking an export
    portal_label: str = DEFAULT_PORTAL_LABEL  # how the office names its website ("局网站" …)

    @property
    def outlet_labels(self) -> dict[str, str]:
        """The outlets' labels as every export prints them, the office's own name for its website first."""
        return {**{item: ITEMS[item] for item in OUTLET_ITEMS}, "outlet_portal": self.portal_label}

    @property
    def year(self) -> int:
        return self.scope.year

    @property
    def is_valid(self) -> bool:
        return not self.failures

    def require_valid(self, *, force: bool = False) -> None:
        if self.failures and not force:
            raise ReportCheckFailed(self.failures)

    def register(self, item: str, measure: str) -> int | Decimal:
        return formats._number(self.registers.get((item, measure)))

    @property
    def review_total(self) -> int:
        return sum(n for (kind, _r), n in self.reviews.items() if kind == "review")

    @property
    def suit_total(self) -> int:
        return sum(n for (kind, _r), n in self.reviews.items() if kind != "review")


def build_annual_report(
    session: Session,
    year: int,
    *,
    department_code: str | None = None,
    satisfied_levels: Iterable[str] = SATISFIED_DEFAULT,
    now: datetime | None = None,
    scope: Scope | None = None,
) -> AnnualReport:
    """Compute every figure of the year's report, the official tables of its format and the checks."""
    scope = scope or period_scope(session, year, department_code=department_code)
    fmt = formats.format_for_year(scope.year)
    levels = tuple(satisfied_levels)
    figures = ticket_figures(session, scope, satisfied_levels=levels)
    counts = disclosure_counts(session, scope)
    registers = register_totals(session, scope)
    reviews = review_counts(session, scope)
    report = AnnualReport(
        scope=scope,
        format=fmt,
        interaction=figures.interaction,
        topics=figures.topics,
        disclosure=counts,
        registers=registers,
        reviews=reviews,
        tables=formats.official_tables(fmt, registers=registers, counts=counts, reviews=reviews),
        failures=run_checks(session, scope, counts),
        organisation=_organisation(session, scope),
        generated_at=now,
        satisfied_levels=levels,
    )
    department_id = _text_department_id(session, scope)
    report.texts = _texts(session, scope.year, department_id)
    report.portal_label = portal_label(session, scope.year, department_id)
    report.warnings = register_warnings(session, scope, registers, report.outlet_labels)
    return report


def _organisation(session: Session, scope: Scope) -> str:
    if scope.department_name:
        return scope.department_name
    root = session.scalar(select(Department).where(Department.parent_id.is_(None)).order_by(Department.id))
    return root.name if root else "本机关"


def _text_department_id(session: Session, scope: Scope) -> int | None:
    """Whose texts a report shows: for a department, its own rows; for the bureau, the root's."""
    if scope.department_code is not None:
        return session.scalar(select(Department.id).where(Department.code == scope.department_code))
    return session.scalar(select(Department.id).where(Department.parent_id.is_(None)).order_by(Department.id))


def _texts(session: Session, year: int, department_id: int | None) -> dict[str, str]:
    """Edited narrative sections of the year."""
    if department_id is None:
        return {}
    rows = session.scalars(
        select(ReportText).where(ReportText.year == year, ReportText.department_id == department_id)
    )
    return {row.section: row.body for row in rows if row.section in NARRATIVE_SECTIONS}


def portal_label(session: Session, year: int, department_id: int | None) -> str:
    """The office's name for its own website in the year's report: the year's setting, else the latest
    earlier year's (set once, it carries on), else 门户网站."""
    if department_id is None:
        return DEFAULT_PORTAL_LABEL
    label = session.scalar(
        select(ReportText.body)
        .where(
            ReportText.department_id == department_id,
            ReportText.section == PORTAL_LABEL,
            ReportText.year <= year,
        )
        .order_by(ReportText.year.desc())
        .limit(1)
    )
    return label or DEFAULT_PORTAL_LABEL


# -- generated sentences, in the style of the seed report ------------------------------------------------


def _rate_phrase(figures: list[ChannelFigures]) -> str:
    reply = [f.reply_rate for f in figures if f.received]
    satisfaction = [f.satisfaction_rate for f in figures if f.rated]
    reply_all = sum(r.numerator for r in reply), sum(r.denominator for r in reply)
    sat_all = sum(r.numerator for r in satisfaction), sum(r.denominator for r in satisfaction)

    reply_rate, sat_rate = Rate(*reply_all), Rate(*sat_all)
    if (
        reply_rate.value is not None
        and sat_rate.value is not None
        and reply_rate.percent() == sat_rate.percent()
    ):
        return f"答复率和满意率均为{reply_rate.percent()}"
    parts = []
    if reply_rate.value is not None:
        parts.append(f"答复率为{reply_rate.percent()}")
    if sat_rate.value is not None:
        parts.append(f"满意率为{sat_rate.percent()}")
    return "，".join(parts)


def interaction_sentence(report: AnnualReport) -> str:
    """E.g. 处理答复“市政府热线”56件、“网站留言”及咨询共26件，答复率和满意率均为100%。"""
    f = report.interaction
    parts = []
    if f["hotline"].received:
        parts.append(f"“市政府热线”{f['hotline'].replied}件")
    if f["website"].received:
        parts.append(f"“网站留言”及咨询共{f['website'].replied}件")
    if f["weibo"].received:
        parts.append(f"政务微博留言{f['weibo'].replied}件")
    if not parts:
        return "本年度未收到12345热线工单、网站留言及政务微博留言。"
    used = [f[c] for c in ("hotline", "website", "weibo") if f[c].received]
    sentence = "处理答复" + "、".join(parts)
    rates = _rate_phrase(used)
    return f"{sentence}，{rates}。" if rates else f"{sentence}。"


def topics_sentence(report: AnnualReport) -> str:
    if not report.topics:
        return ""
    names = "、".join(topic for topic, _n in report.topics[:3])
    return f"群众关心的内容主要集中在{names}等方面。"


def outlets_sentence(report: AnnualReport) -> str:
    portal = report.register("outlet_portal", "items")
    point = report.register("outlet_public_point", "items")
    media = report.register("outlet_media", "items")
    total = report.register("published_all", "items") or portal + point + media
    if not total:
        return ""
    return (
        f"全年发布各类信息{total}条。其中，{report.portal_label}发布{portal}条；通过公开查阅点及政府信息公开平台等渠道"
        f"发布公开信息{point}条；通过报刊、电视、专栏等传统媒体公开信息{media}条。"
    )


def disclosure_sentence(report: AnnualReport) -> str:
    new = report.disclosure.total("new")
    carried_in = report.disclosure.total("carried_in")
    finished = report.disclosure.total("finished")
    carried_out = report.disclosure.total("carried_out")
    text = f"{report.year}年，{report.organisation}受理依申请公开政府信息申请{new}件"
    if carried_in:
        text += f"，上年结转{carried_in}件"
    text += f"，办结{finished}件"
    if carried_out:
        text += f"，结转下年度继续办理{carried_out}件"
    f = report.interaction["disclosure"]
    if f.replied:
        text += f"，按期答复率为{f.on_time_rate.percent()}"
    return text + "。"


def reviews_sentence(report: AnnualReport) -> str:
    if not (report.review_total or report.suit_total):
        if report.format == formats.FORMAT_FREE:
            return f"{report.year}年度无政府信息公开复议、诉讼情况。"
        return f"{report.year}年度无政府信息公开行政复议、行政诉讼情况。"
    return (
        f"{report.year}年度发生政府信息公开行政复议{report.review_total}件、"
        f"行政诉讼{report.suit_total}件，具体情况见下表。"
    )


def fee_sentence(report: AnnualReport) -> str:
    yuan = report.register("processing_fee", "yuan")
    if report.format == formats.FORMAT_FREE:
        return ""
    if not yuan:
        return f"{report.year}年度未收取信息处理费。"
    return f"{report.year}年度依据《政府信息公开信息处理费管理办法》收取信息处理费{yuan}元。"


def fees_2007_sentence(report: AnnualReport) -> str:
    """2007 条例 art. 32(三): the fees charged (检索、复制、邮寄等, art. 27) and waived (art. 28)."""
    charged = report.register("fees_2007", "yuan")
    waived = report.register("fee_waivers_2007", "yuan")
    if not charged and not waived:
        return f"{report.year}年度，{report.organisation}依申请提供政府信息未收取检索、复制、邮寄等费用，无减免收费情况。"
    text = f"{report.year}年度，{report.organisation}依申请提供政府信息收取检索、复制、邮寄等费用{charged}元"
    return text + (f"，减免收费{waived}元。" if waived else "，无减免收费情况。")


def narrative(report: AnnualReport) -> dict[str, list[str]]:
    """The generated paragraphs of each section (edited texts replace the generated ones)."""
    overview = [
        f"本报告根据《中华人民共和国政府信息公开条例》编制。本报告中所列数据的统计期限自{report.year}年1月1日起"
        f"至{report.year}年12月31日止。",
        " ".join(s for s in (topics_sentence(report), interaction_sentence(report)) if s),
    ]
    sections: dict[str, list[str]] = {
        "overview": [report.texts["overview"]] if "overview" in report.texts else overview,
        "proactive": [s for s in (outlets_sentence(report),) if s],
        "disclosure": [disclosure_sentence(report)],
        "fees": [fees_2007_sentence(report)],
        "reviews": [reviews_sentence(report)],
        "problems": [
            report.texts.get("problems") or "（请填写本年度政府信息公开工作存在的主要问题及改进情况。）"
        ],
        "other": [report.texts.get("other") or fee_sentence(report) or "无。"],
    }
    return sections


def section_titles(fmt: str) -> dict[str, str]:
    """The sections of the format, in order. Under the 2007 条例 (free form) they follow its art. 32, which
    includes （三）政府信息公开的收费及减免情况 — a section the 2019 条例 dropped (the tables' years report
    the 信息处理费 in 六): seven sections, not the six of the tables' years."""
    if fmt == formats.FORMAT_FREE:
        return {
            "overview": "一、概述",
            "proactive": "二、政府信息主动公开情况",
            "disclosure": "三、政府信息依申请公开情况",
            "fees": "四、政府信息公开的收费及减免情况",
            "reviews": "五、政府信息公开复议诉讼情况",
            "problems": "六、主要问题和改进措施",
            "other": "七、其他需要报告的事项",
        }
    return {
        "overview": formats.SECTION_1,
        "proactive": formats.SECTION_2,
        "disclosure": formats.SECTION_3,
        "reviews": formats.SECTION_4,
        "problems": formats.SECTION_5,
        "other": formats.SECTION_6,
    }


def report_title(report: AnnualReport) -> str:
    return f"{report.organisation}{report.year}年政府信息公开工作年度报告"


def interaction_dict(report: AnnualReport) -> dict[str, dict[str, Any]]:
    out = {}
    for code, f in report.interaction.items():
        out[code] = {
            "received": f.received,
            "replied": f.replied,
            "reply_rate": f.reply_rate.value,
            "on_time": f.on_time,
            "on_time_rate": f.on_time_rate.value,
            "rated": f.rated,
            "rated_by_source": f.rating_sources,
            "satisfied": f.satisfied,
            "satisfaction_rate": f.satisfaction_rate.value,
            "without_deadline": f.without_deadline,
            "median_workdays_to_reply": f.median_workdays,
            "mean_workdays_to_reply": None if f.mean_workdays is None else round(f.mean_workdays, 2),
        }
    return out
