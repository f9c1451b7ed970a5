"""Template filters and globals: business-time formatting, labels, masking."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Flask
from flask_babel import gettext

from tracker.audit.labels import action_label
from tracker.clock import local
from tracker.people.models import ROLES
from tracker.security import mask_address, mask_email, mask_id_number, mask_name, mask_phone
from tracker.tickets.channels import CHANNELS
from tracker.tickets.history import event_label
from tracker.tickets.status import STATUS_LABELS
from web.i18n import notification_text

WEEKDAYS = "一二三四五六日"


def format_local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local(moment).strftime(fmt) if moment else ""


def format_date_cn(moment: datetime | None) -> str:
    if not moment:
        return ""
    m = local(moment)
    return f"{m:%Y-%m-%d}（周{WEEKDAYS[m.weekday()]}）"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        localtime=format_local,
        date_cn=format_date_cn,
        mask_phone=mask_phone,
        mask_name=mask_name,
        mask_email=mask_email,
        mask_address=mask_address,
        mask_id=mask_id_number,
        # Labels from data, in the reader's language: the Chinese label is the msgid (the .po's "dynamic
        # label" entries), so a template needs no _() around them and English never shows Chinese.
        status_label=lambda s: gettext(STATUS_LABELS.get(s, s)),
        channel_label=lambda c: gettext(CHANNELS[c].label) if c in CHANNELS else c,
        role_label=lambda r: gettext(ROLES.get(r, r)),
        event_label=lambda k: gettext(event_label(k)),
        label=gettext,
        notification_text=notification_text,
        action_label=lambda code: gettext(action_label(code)),
        # JSON as a person reads it: Chinese as characters, not \u escapes (autoescaped by Jinja).
        readable_json=lambda value: json.dumps(value or {}, ensure_ascii=False, sort_keys=True),
    )
    app.jinja_env.globals.update(CHANNELS=CHANNELS, STATUS_LABELS=STATUS_LABELS)
