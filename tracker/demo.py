"""A realistic demo bureau: a city bureau of industry and IT with a year of citizen interactions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.errors import TrackerError
from tracker.people.models import Department, User
from tracker.people.passwords import PasswordPolicy
from tracker.people.service import create_department, create_user
from tracker.reports.rows import OUTCOMES_BY_CODE
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.models import Ticket
from tracker.workflow.opening import open_ticket
from tracker.workflow.transitions import assign_ticket, close_ticket, rate_ticket, reply_ticket, transition

DEMO_PASSWORD = "demo-pass-2026"

DEPARTMENTS = (
    ("bureau", "市工业和信息化局", None),
    ("office", "办公室", "bureau"),
    ("policy", "政策法规处", "bureau"),
    ("sme", "中小企业服务处", "bureau"),
    ("energy", "节能与综合利用处", "bureau"),
    ("it", "信息化推进处", "bureau"),
)

USERS = (
    ("admin", "王静", "admin", "office"),
    ("auditor", "赵敏", "auditor", "office"),
    ("liuyang", "刘洋", "supervisor", "sme"),
    ("zhangwei", "张伟", "staff", "sme"),
    ("chenli", "陈丽", "staff", "sme"),
    ("sunhao", "孙浩", "supervisor", "it"),
    ("zhoujie", "周杰", "staff", "it"),
    ("wufang", "吴芳", "supervisor", "policy"),
    ("zhengqiang", "郑强", "staff", "policy"),
    ("maxin", "马欣", "staff", "energy"),
)

# (department, topic, subject, body) — what citizens of an industry bureau actually write about.
MATTERS = (
    (
        "policy",
        "集体企业改制",
        "原集体企业改制后职工身份如何认定",
        "我父亲原在市第三纺织厂（集体企业）工作，2003年企业改制时办理了买断，现在申请养老保险补缴时社保部门要求出具改制批复文件，请问到哪里查询？",
    ),
    (
        "policy",
        "集体企业改制",
        "集体企业改制遗留的住房问题",
        "我们是原市机械配件厂的职工，企业改制时承诺的职工宿舍产权至今没有办理，多次找原厂领导无果，请贵局协调解决。",
    ),
    (
        "energy",
        "新能源汽车",
        "新能源汽车充电桩安装难",
        "小区物业以电力容量不足为由拒绝为业主安装私人充电桩，按照市里推广新能源汽车的政策，物业是否有权拒绝？",
    ),
    (
        "energy",
        "新能源汽车",
        "新能源汽车推广补贴何时发放",
        "我公司2025年采购的20辆新能源物流车已按要求上报，地方配套补贴至今未到账，请问审核进度。",
    ),
    (
        "it",
        "电信资费",
        "宽带资费不透明，套餐到期自动续费涨价",
        "某运营商宽带套餐到期后未经同意自动续约且月费由99元涨到129元，客服称是系统默认，请主管部门督促规范。",
    ),
    (
        "it",
        "电信资费",
        "手机流量被莫名扣费",
        "本人手机号码连续三个月被扣除增值业务费用共计87元，从未订购过相关业务，向运营商投诉未果。",
    ),
    (
        "it",
        "宽带网络",
        "城中村光纤宽带迟迟不能覆盖",
        "我们村（长安区西兆通村）至今只能使用铜缆宽带，网速很慢，孩子上网课经常卡顿，希望尽快实现光纤入户。",
    ),
    (
        "it",
        "宽带网络",
        "5G信号弱",
        "裕华区槐安路某小区地下车库及高层住户5G信号极弱，通话经常中断，请协调运营商加建基站。",
    ),
    (
        "sme",
        "中小企业扶持",
        "小微企业技术改造补助申报条件",
        "我公司为小型机械加工企业，计划购置数控机床进行技术改造，请问今年的技改补助申报条件和截止时间？",
    ),
    (
        "sme",
        "中小企业扶持",
        "专精特新企业认定咨询",
        "请问申报市级专精特新中小企业需要满足哪些研发投入和营收条件，材料报送到哪个窗口？",
    ),
    (
        "sme",
        "企业用工",
        "企业拖欠工资",
        "我在某电子厂工作，企业已连续两个月未发放工资，人数约六十人，请求有关部门介入。",
    ),
    (
        "energy",
        "节能环保",
        "工厂夜间噪声扰民",
        "高新区某铸造厂每天夜间十一点后仍在生产，噪声很大，严重影响附近居民休息。",
    ),
    (
        "energy",
        "节能环保",
        "企业节能诊断服务如何申请",
        "我单位是年耗能五千吨标煤的制造企业，想申请政府购买的免费节能诊断服务，请问流程。",
    ),
    (
        "policy",
        "政策咨询",
        "工业用地转型政策咨询",
        "我公司名下工业用地拟转型发展工业设计和研发，请问是否需要补缴土地出让金，相关政策文件是哪一个？",
    ),
    (
        "it",
        "无线电管理",
        "无人机飞行是否需要申请频率",
        "农业植保无人机作业使用的数传电台是否需要到无线电管理部门备案？",
    ),
)

DISCLOSURE_MATTERS = (
    ("policy", "2025年度本市工业转型升级专项资金分配结果及依据文件"),
    ("sme", "某区2024年中小企业发展专项资金拟支持项目名单"),
    ("energy", "本市重点用能单位名单及节能目标责任考核结果"),
    ("it", "市5G基站建设三年行动计划全文"),
    ("policy", "原市第二钢铁厂改制方案及市政府批复文件"),
)

NAMES = (
    "李建国",
    "王秀英",
    "张海涛",
    "刘芳",
    "陈志强",
    "杨丽娟",
    "赵国庆",
    "黄晓明",
    "周婷",
    "吴磊",
    "徐静",
    "孙红梅",
)
WEIBO_NAMES = ("石家庄小市民", "燕赵风", "滹沱河畔", "裕华路人甲", "长安区老王")
CHANNEL_WEIGHTS = (("hotline", 45), ("website", 30), ("weibo", 13), ("disclosure", 12))
TYPE_WEIGHTS = (("咨询", 40), ("求助", 15), ("投诉", 25), ("举报", 5), ("建议", 15))
OUTCOME_WEIGHTS = (
    ("public", 45),
    ("partial", 15),
    ("unable_not_held", 15),
    ("withheld_process", 5),
    ("np_repeat", 5),
    ("other_no_correction", 5),
    ("unable_new_processing", 10),
)


def _pick(rng: random.Random, weighted):
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights=weights)[0]


def _working_moment(rng: random.Random, calendar, day_offset: int, now: datetime) -> datetime:
    """A moment during office hours on a working day, about `day_offset` days before now."""
    day = (now.astimezone(BUSINESS_TZ) - timedelta(days=day_offset)).date()
    while not calendar.is_workday(day):
        day -= timedelta(days=1)
    hour, minute = rng.randint(8, 17), rng.randint(0, 59)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BUSINESS_TZ)


def has_data(session: Session) -> bool:
    return session.scalar(select(Department.id).limit(1)) is not None


def load_demo(session: Session, *, tickets: int, seed: int, now: datetime) -> str:
    if has_data(session):
        raise TrackerError("数据库中已有数据，演示数据只能载入空库")
    rng = random.Random(seed)
    calendar = load_calendar(session)
    for code, name, parent in DEPARTMENTS:
        create_department(session, code=code, name=name, parent_code=parent)
    users: dict[str, User] = {}
    for username, display, role, dept in USERS:
        users[username] = create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            department_code=dept,
            display_name=display,
            email=f"{username}@gxj.example.gov.cn",
            now=now,
            policy=PasswordPolicy(),
            # The README's demo signs in with the published password; a real account changes it.
            must_change_password=False,
        )
    staff_by_dept: dict[int, list[User]] = {}
    for u in users.values():
        if u.role in ("staff", "supervisor"):
            staff_by_dept.setdefault(u.department_id, []).append(u)

    created = 0
    for index in range(tickets):
        channel = _pick(rng, CHANNEL_WEIGHTS)
        age_days = int(rng.triangular(0, 365, 20))
        received = _working_moment(rng, calendar, age_days, now)
        name = rng.choice(NAMES)
        phone = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        if channel == "disclosure":
            dept, info = rng.choice(DISCLOSURE_MATTERS)
            draft = TicketDraft(
                channel="disclosure",
                request_type="政府信息公开申请",
                subject=f"申请公开{info}",
                body=f"申请人请求公开：{info}。获取方式：电子邮件。",
                arrived_at=received,
                received_at=received,
                external_ref=f"YSQ{received:%Y}{index:04d}",
                department_code=dept,
                applicant_type=_pick(rng, (("自然人", 70), ("商业企业", 20), ("法律服务机构", 10))),
                received_via=rng.choice(("网络", "当面", "邮寄")),
                contact=ContactDraft(
                    name=name, phone=phone, email=f"applicant{index}@example.com", id_type="居民身份证"
                ),
                with_query_code=True,
            )
        else:
            dept, topic, subject, body = rng.choice(MATTERS)
            request_type = _pick(rng, TYPE_WEIGHTS)
            external = {
                "hotline": f"12345-{received:%Y%m%d}-{index:05d}",
                "website": f"LY{received:%Y%m}{index:05d}",
                "weibo": f"49{rng.randint(10**14, 10**15 - 1)}",
            }[channel]
            who = rng.choice(WEIBO_NAMES) if channel == "weibo" else name
            draft = TicketDraft(
                channel=channel,
                request_type=request_type,
                subject=subject,
                body=body,
                arrived_at=received,
                external_ref=external,
                department_code=dept,
                topics=[topic],
                category=topic,
                contact=ContactDraft(
                    name=who, phone=None if channel == "weibo" else phone, is_confidential=rng.random() < 0.2
                ),
                with_query_code=channel == "website",
                is_publishable=channel == "website" and rng.random() < 0.5,
            )
        ticket, _ = open_ticket(session, draft, actor="演示数据", now=received)
        _play_lifecycle(session, rng, calendar, ticket, staff_by_dept, age_days, received)
        created += 1
    return f"已载入演示数据：{len(DEPARTMENTS)} 个部门，{len(USERS)} 个用户，{created} 件工单。"


def _play_lifecycle(session, rng, calendar, ticket: Ticket, staff_by_dept, age_days: int, received: datetime):
    """Move a ticket as far along as its age makes plausible, with events dated in the past."""
    people = staff_by_dept.get(ticket.department_id) or []
    if not people or (age_days < 3 and rng.random() < 0.6):
        return
    handler = rng.choice(people)
    at = received + timedelta(hours=rng.randint(1, 20))
    assign_ticket(session, ticket, handler, actor="系统分派", now=at)
    if age_days < 8 and rng.random() < 0.5:
        return
    transition(session, ticket, "start", actor=handler, now=at + timedelta(hours=2))
    if age_days < 25 and rng.random() < 0.6:
        return
    work_days = rng.randint(1, 12) if ticket.channel == "disclosure" else rng.randint(1, 6)
    replied_day = calendar.add_workdays(received.astimezone(BUSINESS_TZ).date(), work_days)
    replied = datetime(
        replied_day.year, replied_day.month, replied_day.day, rng.randint(9, 17), tzinfo=BUSINESS_TZ
    )
    if replied >= received + timedelta(days=age_days):
        return
    outcome = _pick(rng, OUTCOME_WEIGHTS) if ticket.channel == "disclosure" else None
    text = (
        f"经审查，您申请的信息答复如下：{OUTCOMES_BY_CODE[outcome].short}。"
        if outcome
        else "您好，您反映的问题已收悉。经我局核实，已协调相关单位处理，具体政策可登录局门户网站查询。感谢您的监督。"
    )
    reply_ticket(session, ticket, text, actor=handler, now=replied, outcome=outcome)
    if ticket.channel != "disclosure":
        rate_ticket(
            session,
            ticket,
            _pick(rng, (("满意", 85), ("基本满意", 12), ("不满意", 3))),
            actor="回访",
            now=replied + timedelta(days=2),
            is_resolved=True,
        )
    close_ticket(session, ticket, actor=handler, now=replied + timedelta(days=3))
