"""Factory functions that flush: each returns a persisted object with sensible Chinese defaults."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.people.models import Department, User
from tracker.people.passwords import PasswordPolicy
from tracker.people.service import create_department, create_user
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.models import Ticket
from tracker.workflow.opening import open_ticket

_seq = itertools.count(1)
# Meets the default policy (tracker.people.passwords): 12+ characters, three classes.
PASSWORD = "Correct-horse-battery"


def department(session: Session, code: str | None = None, name: str | None = None, parent: str | None = None):
    code = code or f"dept{next(_seq)}"
    existing = session.scalar(select(Department).where(Department.code == code))
    if existing is not None:
        return existing
    if parent is None and code != "bureau":
        parent = department(session, "bureau", "市工业和信息化局").code
    return create_department(session, code=code, name=name or f"第{code}处", parent_code=parent)


def user(
    session: Session,
    *,
    role: str = "staff",
    dept: Department | None = None,
    now: datetime,
    username: str | None = None,
) -> User:
    dept = dept or department(session)
    return create_user(
        session,
        username=username or f"user{next(_seq)}",
        password=PASSWORD,
        role=role,
        department_code=dept.code,
        display_name=f"测试{role}",
        now=now,
        policy=PasswordPolicy(),
        email="u@example.com",
        must_change_password=False,  # as if the tester had chosen it
    )


def draft(**overrides) -> TicketDraft:
    values = dict(
        channel="hotline",
        request_type="投诉",
        subject="小区夜间施工噪音扰民",
        body="某工地每晚十点后仍在施工，噪音很大，请处理。",
        arrived_at=None,
        external_ref=f"12345-{next(_seq):06d}",
        contact=ContactDraft(name="李建国", phone="13812345678", email="li@example.com"),
    )
    values.update(overrides)
    return TicketDraft(**values)


def ticket(session: Session, *, now: datetime, dept: Department | None = None, **overrides) -> Ticket:
    dept = dept or department(session)
    overrides.setdefault("arrived_at", now)
    overrides.setdefault("department_code", dept.code)
    created, _ = open_ticket(session, draft(**overrides), actor="测试", now=now)
    return created


def signed_in(client, user: User, *, csrf_token: str) -> None:
    """Put `client` in a signed-in session of `user` as the sign-in page would — a server-side session
    row at the app's clock and its token in the cookie — without going through the page."""
    from tracker.people.sessions import open_session
    from web.database import db
    from web.security import CSRF_FIELD, SESSION_TOKEN, clock_now, session_policy

    with client.application.app_context():
        token = open_session(db(), user, now=clock_now(), policy=session_policy())
        db().commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_TOKEN] = token
        cookie[CSRF_FIELD] = csrf_token
