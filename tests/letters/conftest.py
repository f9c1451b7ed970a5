"""Fixtures of the letters' tests: an office with one of each role, a department next door, disclosure
applications in the states each letter needs."""

from __future__ import annotations

import pytest

from tests import factories
from tracker.tickets.drafts import ContactDraft

DISCLOSURE = {"channel": "disclosure", "request_type": "政府信息公开申请", "received_via": "网络"}


@pytest.fixture
def office(session, now):
    dept = factories.department(session, "gkb", "政务公开科")
    other = factories.department(session, "kjc", "科技处")
    people = {
        role: factories.user(session, role=role, dept=dept, now=now) for role in ("staff", "supervisor")
    }
    people["admin"] = factories.user(session, role="admin", dept=dept, now=now)
    people["auditor"] = factories.user(session, role="auditor", dept=dept, now=now)
    people["other_staff"] = factories.user(session, role="staff", dept=other, now=now)
    return {"dept": dept, "other": other, **people}


@pytest.fixture
def application(session, now, office):
    """A fresh disclosure application of the office's department (已接收)."""

    def make(**overrides):
        values = {
            **DISCLOSURE,
            "subject": "2025年度中小企业发展专项资金分配结果",
            "body": "请公开2025年度中小企业发展专项资金的分配结果。",
            "contact": ContactDraft(name="王小明", phone="13900001111", id_number="110101199001011234"),
            **overrides,
        }
        return factories.ticket(session, now=now, dept=office["dept"], **values)

    return make
