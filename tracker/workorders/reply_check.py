"""The check before a public reply leaves (issue 19, item 6): what a reader of the 12345 platform's public
page, or the citizen, must not get — an empty or very short answer, one that does not speak of what was
asked, a phone or ID number, a phrase the office has banned.

`check_reply` is pure: it lists the findings for a draft. `enforce` is what the reply door
(tracker.workflow.doors._send_reply, and the sign-off request in `reply`) calls on every path — ticket
page, bulk 办结 with a reply, a supervisor's sign-off: with findings, it refuses (a ValidationError naming
each one) when the office made the check blocking, or when the sender has not confirmed them ("仍然发送");
a confirmed warning is recorded in the event `reply.check_overridden`.

Which replies are checked is the office's choice (`ReplyCheckRules.channels`): by default the public
replies — 12345 (hotline), the website and Weibo; a disclosure reply is a formal 告知书 with its own review
(the sign-off), so it is not checked unless the office adds it.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.intake.idnumbers import resident_id_error
from tracker.security import PERSONAL_NUMBER_PATTERNS
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Ticket
from tracker.workorders.models import ReplyCheckRules

DEFAULT_CHANNELS = ("hotline", "website", "weibo")
DEFAULT_MIN_LENGTH = 15
DEFAULT_REPEAT_WINDOW_DAYS = 30  # the window of tracker.intake.duplicates (WINDOW): one month of calls
MAX_BANNED_PHRASES = 200
MAX_PHRASE_CHARS = 50
MAX_KEY_WORDS = 8

FINDING_LABELS = {
    "empty": "答复内容为空",
    "too_short": "答复过短",
    "missing_key_words": "答复未提及诉求关键词",
    "phone": "答复含电话号码",
    "id_number": "答复含身份证号码",
    "banned": "答复含禁用语",
}

# Words that say nothing about the matter: a subject's greeting, request and complaint verbs.
_STOP_WORDS = frozenset(
    [
        "您好",
        "你好",
        "请问",
        "请求",
        "要求",
        "希望",
        "反映",
        "投诉",
        "举报",
        "咨询",
        "建议",
        "问题",
        "情况",
        "关于",
        "有关",
        "一下",
        "什么",
        "怎么",
        "如何",
        "为什么",
        "没有",
        "不是",
        "可以",
        "能否",
        "是否",
        "已经",
        "现在",
        "目前",
        "相关",
        "部门",
        "处理",
        "解决",
        "市民",
        "来电",
        "诉求",
        "我们",
        "你们",
        "他们",
        "这个",
        "那个",
    ]
)
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class Finding:
    code: str  # a key of FINDING_LABELS
    detail: str = ""  # what was found (a masked number, the phrase, the key words looked for)

    @property
    def message(self) -> str:
        label = FINDING_LABELS[self.code]
        return f"{label}（{self.detail}）" if self.detail else label

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ReplyCheckConfig:
    """The office's rules; `from_row` of the administrators' row, or these defaults without one."""

    is_blocking: bool = False
    min_length: int = DEFAULT_MIN_LENGTH
    banned_phrases: tuple[str, ...] = ()
    channels: frozenset[str] = frozenset(DEFAULT_CHANNELS)
    repeat_window_days: int = DEFAULT_REPEAT_WINDOW_DAYS

    @classmethod
    def from_row(cls, row: ReplyCheckRules | None) -> ReplyCheckConfig:
        if row is None:
            return cls()
        return cls(
            is_blocking=row.is_blocking,
            min_length=row.min_length,
            banned_phrases=tuple(row.banned_phrases or ()),
            channels=frozenset(row.channels or ()),
            repeat_window_days=row.repeat_window_days,
        )


def load_config(session: Session) -> ReplyCheckConfig:
    """The office's rules (one primary-key read)."""
    return ReplyCheckConfig.from_row(session.get(ReplyCheckRules, 1))


@functools.cache
def _jieba():
    import jieba  # on first use: loading its dictionary is slow, and most processes never segment text

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def key_words(ticket: Ticket | None = None, *, subject: str = "", category: str | None = None) -> list[str]:
    """The request's key words, in order: the words of 2–4 Chinese characters jieba finds in the subject
    (the opening of the text when there is no subject), then the last level of the 诉求分类
    ("城乡建设/市容环境/垃圾清运" → 垃圾清运), without greetings and request verbs (_STOP_WORDS).
    Simple on purpose, so that staff can see why a reply was found not to mention them."""
    if ticket is not None:
        subject, category = ticket.subject or (ticket.body or "")[:40], ticket.category
    words: list[str] = []
    for run in _HAN_RUN.findall(subject or ""):
        for word in _jieba().cut(run):
            if 2 <= len(word) <= 4 and word not in _STOP_WORDS and word not in words:
                words.append(word)
    if category:
        last = re.split(r"[/／>＞\\|-]", category)[-1].strip()
        if 2 <= len(last) <= 8 and last not in words:
            words.append(last)
    return words[:MAX_KEY_WORDS]


def _normal(text: str) -> str:
    # Full-width letters and digits as ASCII, case folded: a banned phrase or a number written in
    # full-width characters is still found.
    return unicodedata.normalize("NFKC", text or "").casefold()


def _masked(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return digits[:3] + "****" + digits[-4:] if len(digits) > 7 else "****"


def _personal_numbers(text: str) -> list[Finding]:
    """Phones and resident ID numbers, with the recognisers the anonymisation uses
    (tracker.security.PERSONAL_NUMBER_PATTERNS); an 18-character number counts as an ID number only when
    its check digit is right (tracker.intake.idnumbers), so an order number is not taken for one."""
    findings: list[Finding] = []
    id_long, id_old, mobile, landline = PERSONAL_NUMBER_PATTERNS[:4]
    for match in id_long.finditer(text):
        if resident_id_error(match.group()) is None:
            findings.append(Finding("id_number", _masked(match.group())))
    for pattern in (mobile, landline):
        for match in pattern.finditer(text):
            findings.append(Finding("phone", _masked(match.group())))
    del id_old  # a 15-digit old ID has no check digit: too easily a reference number; not flagged
    return findings


def check_reply(ticket: Ticket, text: str, config: ReplyCheckConfig) -> list[Finding]:
    """The findings for `text` as the public reply of `ticket` (empty when the channel is not checked)."""
    if ticket.channel not in config.channels:
        return []
    stripped = re.sub(r"\s+", "", text or "")
    if not stripped:
        return [Finding("empty")]
    findings: list[Finding] = []
    if len(stripped) < config.min_length:
        findings.append(Finding("too_short", f"{len(stripped)}字，至少{config.min_length}字"))
    words = key_words(ticket)
    if words and not any(word in stripped for word in words):
        findings.append(Finding("missing_key_words", "、".join(words)))
    normal = _normal(text)
    findings.extend(_personal_numbers(normal))
    for phrase in config.banned_phrases:
        if phrase and _normal(phrase) in normal:
            findings.append(Finding("banned", phrase))
    return findings


class ReplyCheckRefused(ValidationError):
    """The reply was not sent: its findings (`findings`), blocking or not yet confirmed."""

    def __init__(self, findings: list[Finding], *, blocking: bool):
        listed = "；".join(f.message for f in findings)
        if blocking:
            message = f"答复前检查未通过（本单位要求修改后再发送）：{listed}"
        else:
            message = f"答复前检查发现问题：{listed}。如确认无误，请勾选“仍然发送”后再提交"
        super().__init__(message, fields={"reply_text": listed})
        self.findings = findings
        self.blocking = blocking


def enforce(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    confirmed: bool,
    actor: Actor,
    now: datetime,
    record: bool = True,
) -> list[Finding]:
    """Refuse (ReplyCheckRefused) a reply with findings when the office's check is blocking or the sender
    has not confirmed them; otherwise return them — recorded as `reply.check_overridden` (with `record`),
    so the history shows who sent a reply past which warnings."""
    config = load_config(session)
    findings = check_reply(ticket, text, config)
    if not findings:
        return []
    if config.is_blocking or not confirmed:
        raise ReplyCheckRefused(findings, blocking=config.is_blocking)
    if record:
        record_event(
            session,
            ticket,
            "reply.check_overridden",
            actor=actor,
            now=now,
            data={"findings": [f.as_dict() for f in findings]},
        )
    return findings


def save_rules(
    session: Session,
    *,
    is_blocking: bool,
    min_length: int,
    banned_phrases: list[str],
    channels: list[str],
    repeat_window_days: int,
    user_id: int,
    now: datetime,
    known_channels: Any,
) -> ReplyCheckRules:
    """An administrator's edit of the rules (the page checks the role; the audit entry is the caller's)."""
    errors = {}
    if not 0 <= min_length <= 500:
        errors["min_length"] = "应为0至500"
    if not 1 <= repeat_window_days <= 365:
        errors["repeat_window_days"] = "应为1至365天"
    phrases = list(dict.fromkeys(p.strip() for p in banned_phrases if p.strip()))
    if len(phrases) > MAX_BANNED_PHRASES:
        errors["banned_phrases"] = f"最多{MAX_BANNED_PHRASES}条"
    elif any(len(p) > MAX_PHRASE_CHARS for p in phrases):
        errors["banned_phrases"] = f"每条最多{MAX_PHRASE_CHARS}字"
    unknown = [c for c in channels if c not in known_channels]
    if unknown:
        errors["channels"] = "渠道取值无效"
    if errors:
        raise ValidationError("；".join(f"{k}：{v}" for k, v in errors.items()), fields=errors)
    row = session.get(ReplyCheckRules, 1) or ReplyCheckRules(id=1)
    row.is_blocking = is_blocking
    row.min_length = min_length
    row.banned_phrases = phrases
    row.channels = list(dict.fromkeys(channels))
    row.repeat_window_days = repeat_window_days
    row.updated_at = now
    row.updated_by_id = user_id
    session.add(row)
    session.flush()
    return row
