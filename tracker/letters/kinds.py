"""The letter kinds, the articles each rests on, the reply paragraph of every outcome row, the 国办函〔2020〕109号
fee tiers and the date written in Chinese. Pure: no database, so each rule can be read and tested alone.

Articles are those of the 2019 条例 (国务院令第711号); `regulation_name` gives the 2007 edition's name for an
application received before 2019-05-15 (docs/letters.md says what an office must check for those).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.errors import ValidationError
from tracker.reports.rows import OUTCOMES_BY_CODE

REGULATION = "《中华人民共和国政府信息公开条例》"


@dataclass(frozen=True)
class LetterKind:
    code: str  # the CLI's KIND and the stored `letters.kind`
    title: str  # the letter's title as printed
    short: str  # the series letter of its 文号 (one numbering per year and kind)
    basis: str  # the articles it rests on, printed in the letter
    addressee: str  # "applicant" or "third_party"


KINDS: dict[str, LetterKind] = {
    k.code: k
    for k in (
        LetterKind(
            "receipt", "政府信息公开申请登记回执", "登", f"{REGULATION}第三十一条、第三十三条", "applicant"
        ),
        LetterKind("correction", "政府信息公开申请补正告知书", "补", f"{REGULATION}第三十条", "applicant"),
        LetterKind(
            "extension", "政府信息公开申请延期答复告知书", "延", f"{REGULATION}第三十三条第二款", "applicant"
        ),
        LetterKind(
            "consultation", "政府信息公开征求第三方意见书", "征", f"{REGULATION}第三十二条", "third_party"
        ),
        LetterKind("reply", "政府信息公开申请答复书", "答", "", "applicant"),  # basis: the outcome's
        LetterKind(
            "not_disclosure", "非政府信息公开申请告知书", "告", f"{REGULATION}第三十九条", "applicant"
        ),
        LetterKind(
            "fee",
            "政府信息公开信息处理费收费通知",
            "费",
            f"{REGULATION}第四十二条、国办函〔2020〕109号",
            "applicant",
        ),
    )
}

# The outcomes a 非政府信息公开申请告知书 answers: the application is not one for government information.
NOT_DISCLOSURE_OUTCOMES = ("np_petition", "np_publication", "np_confirm")

_A = "你（单位）"
# Each outcome row of the 2021 table: the paragraph the 答复书 states and the articles it rests on.
OUTCOME_PARAGRAPHS: dict[str, tuple[str, str]] = {
    "public": (
        f"经审查，{_A}申请获取的政府信息属于公开范围，本机关予以公开，现将该政府信息提供给{_A}（见附件）。",
        "第三十六条第二项",
    ),
    "partial": (
        f"经审查，{_A}申请获取的政府信息中含有不应当公开的内容，但能够作区分处理。本机关向{_A}提供可以公开的"
        "部分（见附件），对不应当公开的内容不予公开。",
        "第三十七条、第三十六条第二项",
    ),
    "withheld_state_secret": (
        f"经审查，{_A}申请获取的政府信息属于国家秘密，本机关决定不予公开。",
        "第十四条、第三十六条第三项",
    ),
    "withheld_law": (
        f"经审查，{_A}申请获取的政府信息属于法律、行政法规禁止公开的政府信息，本机关决定不予公开。",
        "第十四条、第三十六条第三项",
    ),
    "withheld_security": (
        f"经审查，{_A}申请获取的政府信息公开后可能危及国家安全、公共安全、经济安全、社会稳定，本机关决定不予公开。",
        "第十四条、第三十六条第三项",
    ),
    "withheld_third_party": (
        f"经审查，{_A}申请获取的政府信息涉及商业秘密、个人隐私等，公开会对第三方合法权益造成损害，"
        "且第三方不同意公开，本机关决定不予公开。",
        "第十五条、第三十二条、第三十六条第三项",
    ),
    "withheld_internal": (
        f"经审查，{_A}申请获取的政府信息属于人事管理、后勤管理、内部工作流程等内部事务信息，本机关决定不予公开。",
        "第十六条第一款、第三十六条第三项",
    ),
    "withheld_process": (
        f"经审查，{_A}申请获取的政府信息属于行政机关在履行行政管理职能过程中形成的讨论记录、过程稿、磋商信函、"
        "请示报告等过程性信息，本机关决定不予公开。",
        "第十六条第二款、第三十六条第三项",
    ),
    "withheld_enforcement": (
        f"经审查，{_A}申请获取的政府信息属于行政执法案卷信息，本机关决定不予公开。",
        "第十六条第二款、第三十六条第三项",
    ),
    "withheld_query": (
        f"经审查，{_A}申请获取的信息属于行政查询事项，请{_A}依照有关法律、行政法规的规定办理查询。",
        "第三十六条第七项",
    ),
    "unable_not_held": (
        f"经检索，本机关未制作、获取{_A}申请获取的政府信息，本机关不掌握该政府信息，无法提供。",
        "第三十六条第四项、第五项",
    ),
    "unable_new_processing": (
        f"经审查，本机关没有{_A}申请获取的现成信息，提供该信息需要本机关对现有政府信息进行加工、分析，"
        "本机关不予提供。",
        "第三十八条",
    ),
    "unable_unclear": (
        f"本机关已告知{_A}补正申请，补正后{_A}的申请内容仍不明确，本机关无法确定{_A}所需的政府信息，无法提供。",
        "第三十条、第二十九条",
    ),
    "np_petition": (
        f"经审查，{_A}是以政府信息公开申请的形式进行信访、投诉、举报等活动，本机关不作为政府信息公开申请处理，"
        f"请{_A}通过信访、投诉、举报等相应渠道提出。",
        "第三十九条第一款",
    ),
    "np_repeat": (
        f"经审查，{_A}的申请与此前已获本机关答复的申请相同，且未提出新的理由，本机关不予重复处理。",
        "第三十六条第六项",
    ),
    "np_publication": (
        f"经审查，{_A}要求提供的是政府公报、报刊、书籍等公开出版物，请{_A}通过相应的出版发行渠道获取。",
        "第三十九条第二款",
    ),
    "np_excessive": (
        f"经审查，{_A}申请公开政府信息的数量、频次明显超过合理范围，且说明的理由不合理，本机关不予处理。",
        "第三十五条",
    ),
    "np_confirm": (
        f"经审查，{_A}要求本机关确认或者重新出具{_A}已获取的信息，不属于政府信息公开申请，本机关不予处理。",
        "第二条、第三十九条",
    ),
    "other_no_correction": (
        f"本机关已告知{_A}补正申请，{_A}无正当理由逾期未补正，视为放弃申请，本机关不再处理该政府信息公开申请。",
        "第三十条",
    ),
    "other_fee_unpaid": (
        f"本机关已向{_A}发出收费通知，{_A}逾期未按通知要求缴纳信息处理费，视为放弃申请，本机关不再处理该政府"
        "信息公开申请。",
        "第四十二条、国办函〔2020〕109号",
    ),
    "other": (f"根据{_A}的申请，本机关答复如下。", "第三十六条"),
}

assert set(OUTCOME_PARAGRAPHS) == set(OUTCOMES_BY_CODE), "every outcome row has its reply paragraph"


def reply_basis(outcome: str) -> str:
    """The articles a 答复书 of this outcome rests on, as printed."""
    articles = OUTCOME_PARAGRAPHS[outcome][1]
    if articles.startswith("第"):
        return f"{REGULATION}{articles}"
    return articles


# -- the date in Chinese (GB/T 9704: 成文日期 in Arabic numerals since 2012 is allowed, but the office's
# letters traditionally spell it with 〇 — the issue asks for 二〇二六年十二月七日) ---------------------------

_DIGITS = "〇一二三四五六七八九"


def _small_number(n: int) -> str:
    """1..31 as written in a date: 七, 十, 十二, 二十, 三十一."""
    tens, ones = divmod(n, 10)
    text = ("" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")) + (
        _DIGITS[ones] if ones else ""
    )
    return text or "〇"


def chinese_date(day: date | None) -> str:
    """二〇二六年十二月七日; an unknown date is a blank to fill in by hand, never a guessed one."""
    if day is None:
        return "    年  月  日"
    year = "".join(_DIGITS[int(c)] for c in f"{day.year:04d}")
    return f"{year}年{_small_number(day.month)}月{_small_number(day.day)}日"


# -- 国办函〔2020〕109号: the information-processing fee -----------------------------------------------------------

FEE_BY_ITEM = "item"
FEE_BY_PAGE = "page"
FEE_METHODS = {FEE_BY_ITEM: "按件计收", FEE_BY_PAGE: "按量计收"}
MAX_FEE_PAGES = 100_000


def fee_for_item(nth_this_month: int) -> int:
    """按件计收: the fee (元) of the applicant's `nth_this_month` application in the same natural month.

    Up to 10 free; 11–30 at 100元 each; above 30, each further block of 10 costs 100元 more per item
    (31–40: 200元, 41–50: 300元, …)."""
    if nth_this_month < 1:
        raise ValidationError("本月申请件数须为正整数", fields={"items": "须为正整数"})
    if nth_this_month <= 10:
        return 0
    if nth_this_month <= 30:
        return 100
    return 100 * (2 + (nth_this_month - 31) // 10)


def fee_for_pages(pages: int) -> int:
    """按量计收: the fee (元) of one application of `pages` pages (or the equivalent volume), by marginal tiers:
    up to 30 free; pages 31–100 at 10元 each; 101–200 at 20元; above 200 at 40元."""
    if pages < 0 or pages > MAX_FEE_PAGES:
        raise ValidationError(f"页数须在0至{MAX_FEE_PAGES}之间", fields={"pages": "超出范围"})
    fee = 10 * max(0, min(pages, 100) - 30)
    fee += 20 * max(0, min(pages, 200) - 100)
    fee += 40 * max(0, pages - 200)
    return fee


def fee_detail(
    method: str, *, nth_this_month: int | None = None, pages: int | None = None
) -> tuple[int, str]:
    """(amount, how it was counted) — one method for one application, never both (109号 第六条)."""
    if method == FEE_BY_ITEM:
        if nth_this_month is None:
            raise ValidationError("按件计收须有本月累计申请件数", fields={"items": "必填"})
        amount = fee_for_item(nth_this_month)
        return amount, f"按件计收：本申请为申请人本自然月内第{nth_this_month}件申请"
    if method == FEE_BY_PAGE:
        if pages is None:
            raise ValidationError("按量计收须填写页数", fields={"pages": "必填"})
        amount = fee_for_pages(pages)
        return amount, f"按量计收：本申请所涉信息共{pages}页"
    raise ValidationError("计费方式应为按件计收或按量计收", fields={"fee_method": "取值无效"})
