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

SATISFACTION_LEVELS = ("满意", "基本满意", "不满意")


def channel(code: str) -> Channel:
    try:
        return CHANNELS[code]
    except KeyError:
        raise ValidationError(f"未知渠道 {code!r}", fields={"channel": "未知渠道"}) from None
