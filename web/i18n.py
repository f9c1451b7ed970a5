"""Chinese first, English second (Flask-Babel). The chosen language is kept in the session."""

from __future__ import annotations

import re

from flask import Flask, session
from flask_babel import Babel

LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    # Chinese unless the user picked English: browsers in offices often send en-US by default.
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else "zh_CN"


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)


# -- notifications in the reader's language ---------------------------------------------------------------
# A notification's title and body are written once, in Chinese, when it is created (by a worker, for a
# reader whose language it does not know; e-mail and webhooks send that text). The bell page shows them in
# the reader's language: each message the tracker writes (tracker/reminders/sweep.py::reminder_text,
# workers/tasks/events.py, workers/tasks/reminders.py, tracker/reports/yearend.py, tracker/intake/weibo.py)
# has its pattern here, and its parts that are labels (a deadline's, a status) are translated too. A text
# no pattern knows (a newer message) is shown as written.
_LABEL = "label"
_NOTIFICATION_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), english)
    for pattern, english in (
        (
            r"^【期限提醒】(?P<n>\S+)「(?P<label>[^」]+)」还有(?P<d>\d+)个工作日到期$",
            "[Reminder] {n} “{label}” is due in {d} working day(s)",
        ),
        (r"^【今日到期】(?P<n>\S+)「(?P<label>[^」]+)」今天到期$", "[Due today] {n} “{label}” is due today"),
        (
            r"^【已超期】(?P<n>\S+)「(?P<label>[^」]+)」已超过期限$",
            "[Overdue] {n} “{label}” has passed its deadline",
        ),
        (
            r"^【超期督办】(?P<n>\S+)「(?P<label>[^」]+)」已超期(?P<d>\d+)个工作日$",
            "[Escalation] {n} “{label}” is {d} working day(s) overdue",
        ),
        (r"^【超期督办】(?P<n>\S+)「(?P<label>[^」]+)」已超期$", "[Escalation] {n} “{label}” is overdue"),
        (r"^新工单分办到本部门：(?P<n>.+)$", "New ticket routed to your department: {n}"),
        (r"^您有新分派的工单：(?P<n>.+)$", "A ticket was assigned to you: {n}"),
        (r"^工单转办到本部门：(?P<n>.+)$", "A ticket was transferred to your department: {n}"),
        (r"^工单(?P<n>\S+)状态变为「(?P<label>[^」]+)」$", "Ticket {n} is now “{label}”"),
        (
            r"^【每日汇总】(?P<m>\d+)月(?P<d>\d+)日：已超期(?P<a>\d+)件，本周到期(?P<b>\d+)件$",
            "[Daily summary] {m}/{d}: {a} overdue, {b} due this week",
        ),
        (r"^尚未导入(?P<y>\d+)年节假日安排$", "The {y} holiday calendar is not loaded yet"),
        (r"^(?P<y>\d+)年度报告数据已生成$", "The {y} annual report figures are ready"),
        (r"^政务微博授权将于 (?P<x>.+) 到期$", "The Weibo authorisation expires on {x}"),
        (r"^政务微博接口：(?P<x>.+)$", "Weibo API: {x}"),
    )
)
_CHINESE_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_BODY_PHRASES = (
    ("截止时间：", "Due: "),
    ("，请科室负责人和办公室督办。", " — for the supervisor and the office to follow up."),
    ("，请科室负责人督办。", " — for the supervisor to follow up."),
)


def notification_text(text: str | None) -> str:
    """A notification's title or body in the reader's language (see above)."""
    if not text or select_locale() != "en":
        return text or ""
    from flask_babel import gettext

    lines = []
    for line in text.split("\n"):
        for pattern, english in _NOTIFICATION_PATTERNS:
            match = pattern.match(line)
            if match:
                parts = match.groupdict()
                if _LABEL in parts:
                    parts[_LABEL] = gettext(parts[_LABEL])
                line = english.format(**parts)
                break
        else:
            for chinese, english_phrase in _BODY_PHRASES:
                line = line.replace(chinese, english_phrase)
        lines.append(_CHINESE_DATE.sub(r"\1-\2-\3", line))
    return "\n".join(lines)
