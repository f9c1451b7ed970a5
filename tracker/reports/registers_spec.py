"""What the registers hold: item and measure codes with their official labels, review kinds and results.

Codes are stable (stored in `RegisterFigure` / `ReviewCase` and used in import files); labels are what
the official tables and the import files show. An import accepts either.
"""

from __future__ import annotations

# Items of the proactive-disclosure register. The label is the row label of the official table.
ITEMS: dict[str, str] = {
    "regulation": "规章",
    "normative": "行政规范性文件",
    "licensing": "行政许可",
    "other_services": "其他对外管理服务事项",
    "penalty": "行政处罚",
    "enforcement": "行政强制",
    "fee": "行政事业性收费",
    "procurement": "政府集中采购",
    # Proactively published items: the year's total and by outlet (the seed: 229条, 局网站105条 …). The
    # total is kept apart because it need not be the sum (the seed's 105 + 56 + 67 = 228 of 229 报送).
    "published_all": "全年发布（报送）各类信息",
    "outlet_portal": "门户网站",
    "outlet_public_point": "公开查阅点及政府信息公开平台",
    "outlet_media": "报刊、电视、专栏等传统媒体",
    # Section 六: information-processing fees collected under art. 42 (元).
    "processing_fee": "信息处理费",
    # Years under the 2007 条例: art. 32(三) asks for the fees charged and waived (检索、复制、邮寄等成本
    # 费用, art. 27; 减免, art. 28), a section of its own in the free-form report.
    "fees_2007": "依申请公开收费",
    "fee_waivers_2007": "依申请公开减免收费",
}
# 2019 format names the normative documents without 行政.
ITEM_LABELS_2019 = {**ITEMS, "normative": "规范性文件"}

MEASURES: dict[str, str] = {
    "issued": "本年制发件数",
    "repealed": "本年废止件数",
    "in_force": "现行有效件数",
    "decisions": "本年处理决定数量",
    "amount": "本年收费金额（单位：万元）",
    # 2019 format
    "made": "本年新制作数量",
    "published": "本年新公开数量",
    "total_published": "对外公开总数量",
    "previous_items": "上一年项目数量",
    "change": "本年增/减",
    "procurement_count": "采购项目数量",
    "procurement_amount": "采购总金额",
    # outlets and fees
    "items": "发布信息条数",
    "yuan": "收取金额（元）",
}

REVIEW_KINDS: dict[str, str] = {
    "review": "行政复议",
    "direct_suit": "未经复议直接起诉",
    "suit_after_review": "复议后起诉",
}
REVIEW_RESULTS: dict[str, str] = {
    "upheld": "结果维持",
    "corrected": "结果纠正",
    "other": "其他结果",
    "pending": "尚未审结",
}
# What import files and forms may write for a result.
RESULT_ALIASES = {
    "维持": "upheld",
    "结果维持": "upheld",
    "纠正": "corrected",
    "结果纠正": "corrected",
    "其他": "other",
    "其他结果": "other",
    "尚未审结": "pending",
    "未审结": "pending",
}
KIND_ALIASES = {
    "复议": "review",
    "行政复议": "review",
    "未经复议直接起诉": "direct_suit",
    "直接起诉": "direct_suit",
    "复议后起诉": "suit_after_review",
}

# Short settings the office keeps with its report texts (`ReportText`, one row per year; a year without one
# takes the latest earlier year's): how the office names its own website among the outlets — the bureau of
# the seed report says "局网站", others "门户网站" or "政府网站".
PORTAL_LABEL = "portal_label"
DEFAULT_PORTAL_LABEL = "门户网站"
MAX_PORTAL_LABEL = 20
REPORT_SETTINGS = {PORTAL_LABEL: "本机关网站在报告中的称谓"}

NARRATIVE_SECTIONS = {
    "overview": "一、总体情况",
    "problems": "五、存在的主要问题及改进情况",
    "other": "六、其他需要报告的事项",
}


def _lookup(text: str, table: dict[str, str], aliases: dict[str, str] | None = None) -> str | None:
    text = (text or "").strip()
    if text in table:
        return text
    for code, label in table.items():
        if text == label:
            return code
    if aliases and text in aliases:
        return aliases[text]
    return None


def item_code(text: str) -> str | None:
    return _lookup(text, ITEMS, {"规范性文件": "normative"})


def measure_code(text: str) -> str | None:
    return _lookup(text, MEASURES, {"本年收费金额": "amount", "收费金额": "amount"})


def kind_code(text: str) -> str | None:
    return _lookup(text, REVIEW_KINDS, KIND_ALIASES)


def result_code(text: str) -> str | None:
    return _lookup(text, REVIEW_RESULTS, RESULT_ALIASES)
