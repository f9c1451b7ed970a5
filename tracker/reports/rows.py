"""The rows of the annual report's section 三, defined once: outcome code → row key → official label.

Each reply's outcome is one result row; the codes are stable identifiers stored on tickets, the labels the
official row labels (character for character, see annual-report-format.md). The 2019 format folds （六）
into one row. The rows around the results (一 new, 二 carried in, 三（七） total, 四 carried out) and the
finished application whose outcome names no row (`UNMAPPED`) have their keys and labels here too: the
figures (disclosure), the tables (formats), the checks and the drill-down all read `row_label`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    code: str
    group: str  # the official group label, e.g. "（三）不予公开"
    label: str  # the official row label; equal to `group` for rows without sub-rows
    short: str  # what staff pick in the reply form and what imports accept ("答复结果")


GROUP_PUBLIC = "（一）予以公开"
GROUP_PARTIAL = "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"
GROUP_WITHHELD = "（三）不予公开"
GROUP_UNABLE = "（四）无法提供"
GROUP_NOT_PROCESSED = "（五）不予处理"
GROUP_OTHER = "（六）其他处理"

OUTCOMES: tuple[Outcome, ...] = (
    Outcome("public", GROUP_PUBLIC, GROUP_PUBLIC, "予以公开"),
    Outcome("partial", GROUP_PARTIAL, GROUP_PARTIAL, "部分公开"),
    Outcome("withheld_state_secret", GROUP_WITHHELD, "1.属于国家秘密", "属于国家秘密"),
    Outcome("withheld_law", GROUP_WITHHELD, "2.其他法律行政法规禁止公开", "其他法律行政法规禁止公开"),
    Outcome("withheld_security", GROUP_WITHHELD, "3.危及“三安全一稳定”", "危及“三安全一稳定”"),
    Outcome("withheld_third_party", GROUP_WITHHELD, "4.保护第三方合法权益", "保护第三方合法权益"),
    Outcome("withheld_internal", GROUP_WITHHELD, "5.属于三类内部事务信息", "属于三类内部事务信息"),
    Outcome("withheld_process", GROUP_WITHHELD, "6.属于四类过程性信息", "属于四类过程性信息"),
    Outcome("withheld_enforcement", GROUP_WITHHELD, "7.属于行政执法案卷", "属于行政执法案卷"),
    Outcome("withheld_query", GROUP_WITHHELD, "8.属于行政查询事项", "属于行政查询事项"),
    Outcome("unable_not_held", GROUP_UNABLE, "1.本机关不掌握相关政府信息", "本机关不掌握相关政府信息"),
    Outcome("unable_new_processing", GROUP_UNABLE, "2.没有现成信息需要另行制作", "没有现成信息需要另行制作"),
    Outcome("unable_unclear", GROUP_UNABLE, "3.补正后申请内容仍不明确", "补正后申请内容仍不明确"),
    Outcome("np_petition", GROUP_NOT_PROCESSED, "1.信访举报投诉类申请", "信访举报投诉类申请"),
    Outcome("np_repeat", GROUP_NOT_PROCESSED, "2.重复申请", "重复申请"),
    Outcome("np_publication", GROUP_NOT_PROCESSED, "3.要求提供公开出版物", "要求提供公开出版物"),
    Outcome("np_excessive", GROUP_NOT_PROCESSED, "4.无正当理由大量反复申请", "无正当理由大量反复申请"),
    Outcome(
        "np_confirm",
        GROUP_NOT_PROCESSED,
        "5.要求行政机关确认或重新出具已获取信息",
        "要求行政机关确认或重新出具已获取信息",
    ),
    Outcome(
        "other_no_correction",
        GROUP_OTHER,
        "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        "申请人无正当理由逾期不补正",
    ),
    Outcome(
        "other_fee_unpaid",
        GROUP_OTHER,
        "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "申请人逾期未缴纳费用",
    ),
    Outcome("other", GROUP_OTHER, "3.其他", "其他"),
)

OUTCOMES_BY_CODE = {o.code: o for o in OUTCOMES}

# The outcomes under their official group labels, in the report's order (（一） to （六）): what the reply
# form lists as <optgroup>s, so the long labels are shown whole, never cut.
OUTCOME_GROUPS: tuple[tuple[str, tuple[Outcome, ...]], ...] = tuple(
    (group, tuple(o for o in OUTCOMES if o.group == group))
    for group in dict.fromkeys(o.group for o in OUTCOMES)
)


def outcome_from_label(text: str) -> Outcome | None:
    """Accept the short label, the official row label (with or without its number) or the code."""
    text = text.strip()
    for outcome in OUTCOMES:
        bare = outcome.label.split(".", 1)[-1]
        if text in (outcome.code, outcome.short, outcome.label, bare):
            return outcome
    return None


ROW_NEW = "一、本年新收政府信息公开申请数量"
ROW_CARRIED_IN = "二、上年结转政府信息公开申请数量"
ROW_RESULTS = "三、本年度办理结果"
ROW_TOTAL = "（七）总计"
ROW_CARRIED_OUT = "四、结转下年度继续办理"
UNMAPPED = "unmapped"  # a finished application whose outcome names no result row

# The row keys of section 三 that are not outcome codes, with their official labels.
SECTION_ROWS = {
    "new": ROW_NEW,
    "carried_in": ROW_CARRIED_IN,
    "finished": f"{ROW_RESULTS}{ROW_TOTAL}",
    "carried_out": ROW_CARRIED_OUT,
    UNMAPPED: "已办结但未选择答复结果",
}


def row_label(key: str) -> str:
    """The label of a section-三 row key: an outcome's official row label, or one of `SECTION_ROWS`."""
    if key in SECTION_ROWS:
        return SECTION_ROWS[key]
    outcome = OUTCOMES_BY_CODE.get(key)
    return outcome.label if outcome is not None else key
