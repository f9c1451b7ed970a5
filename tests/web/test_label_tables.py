"""Every code a person may meet has a label (issue 18, item 11): the history's event kinds (the ticket
timeline), the audit log's actions, and both in English too. The codes are found in the source, so a new
event or audit action without a label fails here rather than showing `ticket.possible_duplicate` on a page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.pofile import read_po

from tracker.audit.labels import ACTION_LABELS, action_label
from tracker.tickets.history import EVENT_LABELS, event_label

ROOT = Path(__file__).resolve().parents[2]
EVENT_CODE = re.compile(r"^(ticket|deadline|approval|reminder)\.[a-z_]+$")
ACTION_CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
AUDIT_CALLS = ("audit", "_audit", "_audit_department")


def _sources():
    for package in ("tracker", "web", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _strings(node) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def event_codes() -> set[str]:
    # Every string of the event families anywhere in the code: record_event is called through helpers.
    return {s for _, tree in _sources() for s in _strings(tree) if EVENT_CODE.match(s)}


def audit_codes() -> set[str]:
    found = set()
    for _, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            candidates = set()
            if name in AUDIT_CALLS:
                for arg in node.args[:3]:
                    candidates |= _strings(arg)
            for keyword in node.keywords:
                if keyword.arg == "action" and name in ("AuditEntry", *AUDIT_CALLS):
                    candidates |= _strings(keyword.value)  # also both arms of `a if … else b`
            found |= {c for c in candidates if ACTION_CODE.match(c)}
    return found


def test_the_scans_find_what_they_look_for():
    # Guards the test itself: if the scans found nothing they would prove nothing.
    assert {"ticket.possible_duplicate", "deadline.cancelled", "ticket.created"} <= event_codes()
    assert {"user.created", "password.reset", "password.changed", "department.updated"} <= audit_codes()


def test_every_event_kind_has_a_label():
    assert sorted(event_codes() - set(EVENT_LABELS)) == []
    assert event_label("ticket.possible_duplicate") == "疑似重复件"
    assert event_label("deadline.cancelled") == "期限取消"
    assert event_label("some.future_kind") == "其他记录"  # never the raw code


def test_every_audit_action_has_a_label():
    # rule.<kind>.saved is written with an f-string: its three kinds are listed in the table.
    assert sorted(audit_codes() - set(ACTION_LABELS)) == []
    assert {"rule.routing.saved", "rule.topic.saved", "rule.reminder.saved"} <= set(ACTION_LABELS)
    assert action_label("login.ok") != "login.ok"


def test_every_label_has_an_english_translation():
    with open(ROOT / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po)
    labels = set(EVENT_LABELS.values()) | set(ACTION_LABELS.values()) | {"其他记录"}
    missing = sorted(label for label in labels if label not in catalog or not catalog[label].string)
    assert missing == []
