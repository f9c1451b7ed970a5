from __future__ import annotations

import itertools

import pytest

from tracker.people.service import create_department

_seq = itertools.count(1)


@pytest.fixture
def bureau(session):
    """A department tree of our own: a root with two offices (reports scope on its code)."""
    n = next(_seq)
    root = create_department(session, code=f"r5b{n}", name="市工业和信息化局")
    office = create_department(session, code=f"r5o{n}", name="中小企业服务处", parent_code=root.code)
    other = create_department(session, code=f"r5x{n}", name="运行监测协调处", parent_code=root.code)
    return root, office, other
