"""The channels a ticket can come from. Adding a channel is one entry here."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.errors import ValidationError


@dataclass(frozen=True)
class Channel:
    code: str
    label: str  # as the annual report and the dashboard name it
    number_prefix: str  # first letters of the human-readable ticket number
    request_types: tuple[str, ...]


HOTLINE_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬", "其他")
MESSAGE_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "其他")

CHANNELS: dict[str, Channel] = {
    c.code: c
    for c in (
        Channel("hotline", "12345热线", "RX", HOTLINE_TYPES),
        Channel("website", "网站留言", "LY", MESSAGE_TYPES),
        Channel("weibo", "政务微博", "WB", MESSAGE_TYPES),
        Channel("disclosure", "依申请公开", "GK", ("政府信息公开申请",)),
    )
}

APPLICANT_TYPES = ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")

# The five levels of 好差评 (国办发〔2019〕51号, as the portals offer them); the older three (满意, 基本满意,
# 不满意) that 12345 platforms and 回访 use are among them.
SATISFACTION_LEVELS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
# Where a rating came from, for the report: staff's 回访, the citizen's own 好差评 on the portal, or the
# platform's record brought in by an import. Ratings from before migration 0029 have none.
SATISFACTION_SOURCES = {"revisit": "回访", "portal": "网站好差评", "platform": "平台导入"}


def channel(code: str) -> Channel:
    try:
        return CHANNELS[code]
    except KeyError:
        raise ValidationError(f"未知渠道 {code!r}", fields={"channel": "未知渠道"}) from None
