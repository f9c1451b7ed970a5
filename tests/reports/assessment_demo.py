"""A plausible city month for the assessment page's browser test and screenshot: a dozen units, August and
September 2026, orders opened through the one door (`open_ticket`) and the work-order rows written directly
(their services are other modules'), seeded so the page looks the same on every run.

Each unit has its own quality (how often it signs and replies on time, how satisfied its citizens are), so
the ranking spreads out; one unit has too few orders to be ranked.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tracker.clock import BUSINESS_TZ
from tracker.people.models import Department, User
from tracker.people.passwords import PasswordPolicy
from tracker.people.service import create_department, create_user
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.models import Deadline
from tracker.workflow.opening import open_ticket
from tracker.workorders.models import Redo, Revisit, SendBack, Supervision

UNITS = [
    ("zj", "住房和城乡建设局", 0.97, 0.96, 0.97),
    ("cg", "城市管理综合执法局", 0.92, 0.90, 0.93),
    ("sc", "市场监督管理局", 0.99, 0.98, 0.98),
    ("rs", "人力资源和社会保障局", 0.95, 0.94, 0.96),
    ("jt", "交通运输局", 0.90, 0.86, 0.91),
    ("sw", "水务局", 0.98, 0.95, 0.95),
    ("hb", "生态环境局", 0.93, 0.97, 0.92),
    ("jy", "教育局", 0.96, 0.92, 0.97),
    ("wj", "卫生健康委员会", 0.94, 0.93, 0.90),
    ("gt", "自然资源和规划局", 0.88, 0.84, 0.88),
    ("gx", "工业和信息化局", 0.99, 0.99, 0.99),
]
SMALL_UNIT = ("da", "档案馆", 0.99, 0.99, 0.99)
MATTERS = [
    "小区夜间施工噪音扰民",
    "道路井盖破损",
    "拖欠工资投诉",
    "食品安全举报",
    "公交线路咨询",
    "供水水压不足",
    "学位咨询",
]


def _local(day: datetime, hour: int) -> datetime:
    return day.replace(hour=hour, tzinfo=BUSINESS_TZ)


def build_demo_months(
    session: Session, *, now: datetime, password: str, seed: int = 12345
) -> dict[str, User]:
    """August and September 2026; returns the users the test signs in as (admin, supervisor of 住建局)."""
    rng = random.Random(seed)
    root = create_department(session, code="city12345", name="市政府")
    departments: dict[str, Department] = {}
    staff: dict[str, list[User]] = {}
    policy = PasswordPolicy()

    def user(username: str, role: str, dept: Department, name: str) -> User:
        return create_user(
            session,
            username=username,
            password=password,
            role=role,
            department_code=dept.code,
            display_name=name,
            now=now,
            policy=policy,
            email=f"{username}@example.com",
            must_change_password=False,
        )

    for code, name, *_quality in [*UNITS, SMALL_UNIT]:
        departments[code] = create_department(session, code=code, name=name, parent_code=root.code)
        staff[code] = [
            user(f"{code}_staff{i}", "staff", departments[code], f"{name[:2]}承办人{i}") for i in (1, 2)
        ]
    users = {
        "admin": user("assess_admin", "admin", root, "考核办"),
        "supervisor": user("zj_head", "supervisor", departments["zj"], "住建科长"),
    }
    number = 0
    for month, drift in ((8, -0.02), (9, 0.0)):
        for code, _name, sign_ok, close_ok, satisfied in [*UNITS, SMALL_UNIT]:
            count = 5 if code == SMALL_UNIT[0] else rng.randint(35, 80)
            for _ in range(count):
                number += 1
                day = datetime(2026, month, rng.randint(1, 28 if month == 8 else 25))
                received = _local(day, rng.randint(8, 18))
                ticket, _ = open_ticket(
                    session,
                    TicketDraft(
                        channel="hotline",
                        request_type=rng.choice(["投诉", "咨询", "求助", "建议"]),
                        subject=rng.choice(MATTERS),
                        body="市民来电反映情况，请核实处理。",
                        arrived_at=received,
                        external_ref=f"DEMO-{number:05d}",
                        department_code=code,
                        contact=ContactDraft(name="市民", phone=f"138{number:08d}"),
                    ),
                    actor="12345平台",
                    now=received,
                )
                ticket.assignee_id = rng.choice(staff[code]).id
                deadlines = {
                    d.kind: d for d in session.query(Deadline).filter(Deadline.ticket_id == ticket.id)
                }
                sign = deadlines["sign"]
                sign.due_at = received + timedelta(hours=2)
                late = rng.random() > sign_ok + drift
                sign.met_at = received + timedelta(
                    minutes=rng.randint(150, 600) if late else rng.randint(5, 110)
                )
                sign.state = "met"
                reply = deadlines["reply"]
                reply.due_at = received + timedelta(days=7)
                closed = received + timedelta(
                    days=rng.randint(8, 12) if rng.random() > close_ok + drift else rng.randint(1, 6)
                )
                reply.met_at, reply.state = closed, "met"
                ticket.closed_at, ticket.status = closed, "closed"
                if rng.random() < 0.03:
                    session.add(
                        SendBack(
                            ticket_id=ticket.id,
                            department_id=departments[code].id,
                            reason_code="not_our_duty",
                            requested_at=received + timedelta(hours=1),
                            state=rng.choice(["accepted", "refused"]),
                            decided_at=received + timedelta(hours=4),
                            decided_by_label="12345平台",
                        )
                    )
                if rng.random() < 0.04:
                    session.add(
                        Supervision(
                            ticket_id=ticket.id,
                            department_id=departments[code].id,
                            kind="supervise",
                            text="请加快办理",
                            issued_by_label="12345平台",
                            issued_at=received + timedelta(days=3),
                            due_at=received + timedelta(days=5),
                            state="answered",
                            answered_at=received + timedelta(days=4),
                        )
                    )
                if rng.random() < 0.8:
                    roll = rng.random()
                    result = (
                        "satisfied"
                        if roll < satisfied + drift - 0.05
                        else "basically_satisfied"
                        if roll < satisfied + drift
                        else "unsatisfied"
                    )
                    visit = Revisit(
                        ticket_id=ticket.id,
                        visited_at=closed + timedelta(days=1),
                        result=result,
                        was_contacted=rng.random() < 0.99,
                        is_resolved=result != "unsatisfied" or rng.random() < 0.3,
                        citizen_words="",
                        source="platform",
                        external_ref=f"RV-{number}",
                        created_at=closed + timedelta(days=1),
                    )
                    session.add(visit)
                    session.flush()
                    if result == "unsatisfied":
                        session.add(
                            Redo(
                                ticket_id=ticket.id,
                                revisit_id=visit.id,
                                reason="市民不满意",
                                redone_at=closed + timedelta(days=2),
                                due_at=closed + timedelta(days=9),
                                ordered_by_label="12345平台",
                            )
                        )
    session.flush()
    return users
