"""The staff dashboard through the Flask test client: queues, search, the ticket page and its actions,
approvals, bulk actions, attachments, admin pages, the calendar banner, sign-in limits and cookies."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tracker.calendar.models import CalendarYear
from tracker.clock import BUSINESS_TZ
from tracker.people.models import AuditEntry
from tracker.tickets.models import Deadline, Ticket, TicketEvent
from tracker.workflow.models import Approval, Attachment
from tracker.workorders import sendbacks

NOTICE_2027 = """国务院办公厅关于2027年部分节假日安排的通知
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月6日（周六）至13日（周六）放假调休，共8天。2月20日（周六）上班。
"""
DISCLOSURE = {"channel": "disclosure", "request_type": "政府信息公开申请"}


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture(autouse=True)
def _clock(app, now):
    """The dashboard reads the time from app.config["CLOCK"]: pin it to the tests' Wednesday."""
    app.config["CLOCK"] = lambda: now
    app.config["CHART_CACHE_SECONDS"] = 0  # every test sees its own data


@pytest.fixture
def office(session, now):
    """A department with one of each role, and a department next door."""
    dept = factories.department(session, "sme", "中小企业服务处")
    other = factories.department(session, "it", "信息化推进处")
    people = {
        role: factories.user(session, role=role, dept=dept, now=now) for role in ("staff", "supervisor")
    }
    people["admin"] = factories.user(
        session, role="admin", dept=factories.department(session, "office", "办公室"), now=now
    )
    people["auditor"] = factories.user(session, role="auditor", dept=dept, now=now)
    people["other_staff"] = factories.user(session, role="staff", dept=other, now=now)
    return {"dept": dept, "other": other, **people}


def test_home_shows_queue_counts_and_svg_charts(client, session, now, office):
    factories.ticket(session, now=now, dept=office["dept"], topics=["<b>集体企业改制</b>"])
    session.commit()
    sign_in(client, office["staff"])
    page = client.get("/").get_data(as_text=True)
    assert "我的待办" in page and "本部门" in page and "已超期" in page
    assert page.count("<svg") == 4
    assert (
        "&lt;b&gt;集体企业改制" in page and "<b>集体企业改制" not in page
    )  # topic text escaped inside the SVG


def test_queue_filters_sort_by_due_and_escape(client, session, now, office):
    factories.ticket(
        session,
        now=now,
        dept=office["dept"],
        subject="网站留言：补贴申请",
        channel="website",
        request_type="咨询",
    )
    factories.ticket(session, now=now, dept=office["dept"], subject="<img src=x onerror=alert(1)>")
    factories.ticket(session, now=now, dept=office["other"], subject="他处的热线工单")
    session.commit()
    sign_in(client, office["staff"])
    page = client.get("/queues/department").get_data(as_text=True)
    assert "网站留言：补贴申请" in page and "他处的热线工单" not in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    filtered = client.get("/queues/department?channel=website").get_data(as_text=True)
    assert "网站留言：补贴申请" in filtered and "onerror" not in filtered
    bad = client.get("/queues/department?received_from=2026-13-01").get_data(as_text=True)
    assert "收到日期起：日期格式应为 YYYY-MM-DD" in bad


def test_chinese_search_finds_words_inside_the_body(client, session, now, office):
    factories.ticket(
        session,
        now=now,
        dept=office["dept"],
        subject="咨询",
        body="我父亲原在市第三纺织厂工作，想查询养老保险补缴需要的改制批复文件。",
    )
    factories.ticket(
        session, now=now, dept=office["dept"], subject="路灯不亮", body="小区门口路灯坏了一个月。"
    )
    factories.ticket(session, now=now, dept=office["other"], subject="他处", body="养老保险补缴问题")
    session.commit()
    sign_in(client, office["staff"])
    response = client.get("/search?q=养老保险", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert page.count('name="ticket_ids"') == 1 and "咨询" in page and "路灯不亮" not in page
    assert "他处" not in page  # search never widens visibility


def test_saved_filter_round_trip(client, session, now, office):
    sign_in(client, office["staff"])
    response = post(client, "/filters", name="我的网站留言", queue="department", channel="website")
    assert response.status_code == 302 and "channel=website" in response.headers["Location"]
    page = client.get("/queues/department").get_data(as_text=True)
    assert "我的网站留言" in page


def test_ticket_page_shows_deadlines_with_explanation_and_workdays_left(client, session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["dept"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["staff"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    reply = session.scalar(select(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply"))
    assert reply.explanation and reply.explanation in page
    assert re.search(r"剩\d+个工作日", page)
    assert "138****5678" in page and "13812345678" not in page
    # Event kinds are shown in plain Chinese, not as codes.
    assert "收到并登记" in page and "ticket.created" not in page


def test_extension_requested_by_staff_and_approved_by_supervisor(client, session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["dept"], **DISCLOSURE)
    session.commit()
    due_before = session.scalar(
        select(Deadline.due_at).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply")
    )
    sign_in(client, office["staff"])
    response = post(
        client, f"/tickets/{ticket.id}/actions/extend", length="20", reason="需要调取档案室存档材料"
    )
    assert response.status_code == 302
    approval = session.scalar(select(Approval).where(Approval.ticket_id == ticket.id))
    assert approval.state == "pending"
    # Staff cannot approve their own request.
    assert post(client, f"/approvals/{approval.id}/decide", decision="approve").status_code == 403
    sign_in(client, office["supervisor"])
    assert "待我审批" in client.get("/queues/approvals").get_data(as_text=True)
    response = post(client, f"/approvals/{approval.id}/decide", decision="approve", note="已电话告知申请人")
    assert response.status_code == 302
    session.expire_all()
    reply = session.scalar(select(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply"))
    assert reply.due_at > due_before and reply.extensions[0]["approver"] == "测试supervisor"
    kinds = [
        e.kind
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    ]
    assert {"approval.requested", "approval.approved", "deadline.extended"} <= set(kinds)


def test_refusing_an_extension_needs_a_reason(client, session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["dept"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["staff"])
    post(client, f"/tickets/{ticket.id}/actions/extend", length="20", reason="材料多")
    approval = session.scalar(select(Approval).where(Approval.ticket_id == ticket.id))
    sign_in(client, office["supervisor"])
    post(client, f"/approvals/{approval.id}/decide", decision="refuse")
    session.expire_all()
    assert session.get(Approval, approval.id).state == "pending"
    post(client, f"/approvals/{approval.id}/decide", decision="refuse", note="材料可在期限内整理完毕")
    session.expire_all()
    assert session.get(Approval, approval.id).state == "refused"


def test_disclosure_reply_needs_an_outcome_and_staff_replies_need_sign_off(client, session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["dept"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["supervisor"])
    response = post(client, f"/tickets/{ticket.id}/actions/reply", reply_text="经查，予以公开。")
    # Refused: the page again (400) with the reason in the reply form and what was typed kept.
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "依申请公开答复须选择答复结果" in page and ">经查，予以公开。</textarea>" in page
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "received"  # nothing half-written
    # Staff: the reply goes to the supervisor for sign-off first.
    sign_in(client, office["staff"])
    response = client.post(
        f"/tickets/{ticket.id}/actions/reply",
        data={
            "csrf_token": "t0ken",
            "reply_text": "经查，您申请的信息予以公开，详见附件。",
            "outcome": "public",
            "files": (io.BytesIO(b"%PDF-1.4"), "../../etc/答复书.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "received"
    attachment = session.scalar(select(Attachment).where(Attachment.ticket_id == ticket.id))
    assert attachment.filename == "答复书.pdf" and "/" not in attachment.stored_name
    approval = session.scalar(
        select(Approval).where(Approval.ticket_id == ticket.id, Approval.kind == "reply")
    )
    sign_in(client, office["supervisor"])
    post(client, f"/approvals/{approval.id}/decide", decision="approve")
    session.expire_all()
    replied = session.get(Ticket, ticket.id)
    assert replied.status == "replied" and replied.outcome == "public"
    download = client.get(f"/attachments/{attachment.id}")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    download.close()


def test_bulk_assign_is_all_or_nothing(client, session, now, office):
    mine = [factories.ticket(session, now=now, dept=office["dept"]) for _ in range(2)]
    session.commit()
    sign_in(client, office["supervisor"])
    ids = [str(t.id) for t in mine]
    response = client.post(
        "/queues/department/bulk",
        data={
            "csrf_token": "t0ken",
            "ticket_ids": ids,
            "action": "assign",
            "assignee_id": str(office["staff"].id),
        },
    )
    assert response.status_code == 302
    session.expire_all()
    assert all(session.get(Ticket, t.id).assignee_id == office["staff"].id for t in mine)
    # Closing tickets that were never replied to, without a reply text: the whole batch is refused.
    post(client, "/queues/department/bulk", ticket_ids=ids[0], action="close")
    session.expire_all()
    assert session.get(Ticket, mine[0].id).status == "assigned"


def test_bulk_with_another_departments_ticket_is_refused(client, session, now, office):
    foreign = factories.ticket(session, now=now, dept=office["other"])
    session.commit()
    sign_in(client, office["supervisor"])
    response = post(
        client, "/queues/department/bulk", ticket_ids=str(foreign.id), action="assign", assignee_id="1"
    )
    assert response.status_code == 404


def test_admin_loads_next_year_from_the_notice_and_the_banner_goes_away(client, session, office, app):
    app.config["CLOCK"] = lambda: datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    sign_in(client, office["staff"])
    assert "节假日安排尚未导入" not in client.get("/").get_data(as_text=True)  # admins only
    sign_in(client, office["admin"])
    assert "2027年节假日安排尚未导入" in client.get("/").get_data(as_text=True)
    preview = post(client, "/admin/calendar/preview", notice=NOTICE_2027).get_data(as_text=True)
    assert "2027-02-20" in preview and "调休上班" in preview
    assert session.get(CalendarYear, 2027) is None  # a preview saves nothing
    response = post(client, "/admin/calendar/save", notice=NOTICE_2027)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(CalendarYear, 2027) is not None
    assert "2027年节假日安排尚未导入" not in client.get("/").get_data(as_text=True)
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "calendar.loaded"))


def test_admin_creates_a_user_and_it_is_audited(client, session, office):
    sign_in(client, office["admin"])
    post(
        client,
        "/admin/users",
        username="newstaff",
        display_name="新同事",
        password="Long-enough-pw",
        role="staff",
        department="sme",
    )
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.created"))
    assert entry.detail["username"] == "newstaff" and "Long-enough-pw" not in str(entry.detail)


def test_auditor_reads_everything_but_changes_nothing(client, session, now, office):
    foreign = factories.ticket(session, now=now, dept=office["other"])
    session.commit()
    sign_in(client, office["auditor"])
    page = client.get(f"/tickets/{foreign.id}").get_data(as_text=True)
    assert 'id="actions"' not in page and "data-reveal" not in page
    assert post(client, f"/tickets/{foreign.id}/actions/note", note="审计意见").status_code == 403
    assert client.get("/admin/audit").status_code == 200


def test_login_is_limited_per_address(client, session, now, office):
    with client.session_transaction() as web_session:
        web_session["csrf_token"] = "t0ken"
    for attempt in range(20):
        response = post(client, "/login", username=f"nobody{attempt}", password="wrong")
        assert response.status_code == 401
    response = post(client, "/login", username=office["staff"].username, password=factories.PASSWORD)
    assert response.status_code == 429


def test_session_cookie_flags(client, session, office, app):
    with client.session_transaction() as web_session:
        web_session["csrf_token"] = "t0ken"
    response = post(client, "/login", username=office["staff"].username, password=factories.PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    app.config["SESSION_COOKIE_SECURE"] = True
    sign_in(client, office["staff"])
    response = post(client, "/login", username=office["staff"].username, password=factories.PASSWORD)
    assert "Secure" in response.headers["Set-Cookie"]


def test_english_is_the_second_language(client, session, office):
    sign_in(client, office["staff"])
    post(client, "/lang/en", next="/")
    page = client.get("/").get_data(as_text=True)
    assert "My queue" in page and "Overdue" in page


def test_the_compiled_english_catalogue_holds_every_translation_of_the_po_file():
    # Templates read the .mo: a .po entry added without `pybabel compile` would silently show Chinese.
    import gettext
    from pathlib import Path

    from babel.messages.pofile import read_po

    folder = Path(__file__).resolve().parents[2] / "web" / "translations" / "en" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po:
        catalog = read_po(po)
    assert not catalog.fuzzy  # `pybabel compile` skips a catalogue whose header is fuzzy
    with open(folder / "messages.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    missing = [m.id for m in catalog if m.id and m.string and compiled.gettext(m.id) != m.string]
    assert not missing, f"run pybabel compile -d web/translations: {missing[:5]}"


def test_keyset_pages_do_not_repeat_or_skip(client, session, now, office):
    for n in range(55):
        factories.ticket(session, now=now + timedelta(minutes=n), dept=office["dept"], subject=f"第{n}件")
    session.commit()
    sign_in(client, office["staff"])
    first = client.get("/queues/department").get_data(as_text=True)
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)
    ids_first = set(re.findall(r'name="ticket_ids" value="(\d+)"', first))
    ids_second = set(re.findall(r'name="ticket_ids" value="(\d+)"', second))
    assert len(ids_first) == 50 and len(ids_second) == 5
    assert not ids_first & ids_second


def _flash(client, ticket_id):
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    return re.findall(r'class="flash (\w+)" role="status">([^<]*)<', page)


def test_disclosure_workflow_correction_consultation_and_close(client, session, now, office):
    ticket = factories.ticket(session, now=now, dept=office["dept"], **DISCLOSURE)
    session.commit()
    sign_in(client, office["supervisor"])
    url = f"/tickets/{ticket.id}/actions/"
    post(client, url + "request_correction", note="请补充所需信息的文号或名称")
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "waiting_applicant"
    corrected = (now + timedelta(days=2)).astimezone(BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M")
    app_clock_later = now + timedelta(days=3)
    client.application.config["CLOCK"] = lambda: app_clock_later
    sign_in(client, office["supervisor"])  # three days later: yesterday's session has timed out
    post(client, url + "receive_correction", corrected_received_at=corrected)
    session.expire_all()
    reply = session.scalar(select(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply"))
    assert session.get(Ticket, ticket.id).status == "in_progress" and "重新起算" in reply.explanation
    post(client, url + "start_consultation", kind="third_party")
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "consulting"
    post(client, url + "end_consultation")
    post(client, url + "reply", reply_text="经检索，本机关不掌握该信息。", outcome="unable_not_held")
    post(client, url + "close")
    session.expire_all()
    closed = session.get(Ticket, ticket.id)
    assert closed.status == "closed" and closed.outcome == "unable_not_held"
    kinds = {e.kind for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))}
    assert {"deadline.paused", "deadline.restarted", "deadline.met"} <= kinds


def test_hotline_return_merge_rate_and_note(client, session, now, office):
    first = factories.ticket(session, now=now, dept=office["dept"])
    second = factories.ticket(session, now=now, dept=office["dept"], subject="同一工地噪音")
    third = factories.ticket(session, now=now, dept=office["dept"], subject="重复投诉")
    session.commit()
    sign_in(client, office["staff"])
    refused = post(client, f"/tickets/{first.id}/actions/return", reason_code="not_our_duty", reason="")
    assert refused.status_code == 400 and "退单申请未完成：退单理由必填" in refused.get_data(as_text=True)
    # 退单 is a request to the 12345 platform (tracker.workorders.sendbacks): the order waits in its status.
    post(
        client,
        f"/tickets/{first.id}/actions/return",
        reason_code="not_our_duty",
        reason="不属于本局职责，应由生态环境局办理",
    )
    post(client, f"/tickets/{third.id}/actions/merge", into=second.number)
    post(client, f"/tickets/{second.id}/actions/note", note="已联系施工单位")
    post(
        client,
        f"/tickets/{second.id}/actions/reply",
        reply_text="已责令工地夜间停工。",
        confirm_warnings="on",
    )
    post(client, f"/tickets/{second.id}/actions/rate", satisfaction="满意", is_resolved="yes")
    session.expire_all()
    assert session.get(Ticket, first.id).status == "received"
    assert sendbacks.pending_send_back(session, session.get(Ticket, first.id)).reason_code == "not_our_duty"
    assert session.get(Ticket, third.id).merged_into_id == second.id
    rated = session.get(Ticket, second.id)
    assert rated.satisfaction == "满意" and rated.is_resolved is True
    page = client.get(f"/tickets/{second.id}").get_data(as_text=True)
    assert "已联系施工单位" in page and "合并了重复件" in page


# --- art. 39 conversion: POST /imports/tickets/<id>/convert -------------------------------------------------


def _written(session) -> dict[str, int]:
    """Row counts of everything a conversion writes: a refused request must leave them all unchanged."""
    from sqlalchemy import func

    from tracker.tickets.models import Contact
    from tracker.tickets.outbox import OutboxMessage

    return {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Ticket, Contact, TicketEvent, Deadline, OutboxMessage)
    }


@pytest.fixture
def order(session, now, office):
    """A 12345 order of the office's department that is really a disclosure application."""
    ticket = factories.ticket(
        session,
        now=now,
        dept=office["dept"],
        request_type="咨询",
        body="申请公开2025年专精特新补贴的发放名单。",
    )
    session.commit()
    return ticket


def test_convert_opens_a_linked_disclosure_ticket_with_both_histories(client, session, now, office, order):
    sign_in(client, office["staff"])
    response = post(
        client, f"/imports/tickets/{order.id}/convert", channel="disclosure", reason="实为信息公开申请"
    )
    assert response.status_code == 302
    session.expire_all()
    source = session.get(Ticket, order.id)
    created = session.get(Ticket, source.linked_ticket_id)
    assert response.headers["Location"].endswith(f"/tickets/{created.id}")
    assert created.channel == "disclosure" and created.linked_ticket_id == source.id
    assert created.body == order.body and created.department_id == office["dept"].id
    assert created.contact.name == "李建国" and created.contact.id != source.contact.id
    assert created.extra["converted_from"] == source.number and created.query_code
    assert created.received_at == now  # art. 31: counted from the conversion, not from the order
    kinds = {
        t.id: [
            e.kind
            for e in session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id)
            )
        ]
        for t in (source, created)
    }
    assert {"ticket.converted", "ticket.linked"} <= set(kinds[source.id])
    assert {"ticket.created", "ticket.linked"} <= set(kinds[created.id])
    converted = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == source.id, TicketEvent.kind == "ticket.converted")
    )
    assert converted.data["reason"] == "实为信息公开申请" and converted.actor_id == office["staff"].id
    assert session.scalars(select(Deadline).where(Deadline.ticket_id == created.id)).all()


def _convert_form(html: str) -> tuple[str, list[str]]:
    """The conversion form on a ticket page: its action and the channels it offers."""
    form = re.search(r'<details data-action="convert">.*?</details>', html, re.S)
    assert form, "the ticket page offers no conversion form"
    action = re.search(r'<form method="post" action="([^"]+)"', form.group(0)).group(1)
    assert 'name="csrf_token" value="t0ken"' in form.group(0)
    channels = re.findall(
        r'<option value="(\w+)">', re.search(r'name="channel".*?</select>', form.group(0), re.S).group(0)
    )
    return action, channels


def test_the_ticket_page_converts_through_its_own_form_and_then_shows_the_link(
    client, session, office, order
):
    sign_in(client, office["staff"])
    action, channels = _convert_form(client.get(f"/tickets/{order.id}").get_data(as_text=True))
    assert action == f"/imports/tickets/{order.id}/convert"
    assert sorted(channels) == ["disclosure", "website", "weibo"]  # never the ticket's own channel
    response = post(
        client, action, channel="disclosure", applicant_type="商业企业", reason="实为信息公开申请"
    )
    assert response.status_code == 302
    session.expire_all()
    created = session.get(Ticket, session.get(Ticket, order.id).linked_ticket_id)
    assert created.applicant_type == "商业企业"
    # Both pages point at each other by number, and a linked ticket offers no second conversion.
    for this, other in ((order.id, created), (created.id, session.get(Ticket, order.id))):
        html = client.get(f"/tickets/{this}").get_data(as_text=True)
        assert f'href="/tickets/{other.id}" data-linked>{other.number}</a>' in html
        assert 'data-action="convert"' not in html


def test_the_conversion_form_is_not_shown_to_who_may_only_read(client, session, office, order):
    sign_in(client, office["auditor"])
    html = client.get(f"/tickets/{order.id}").get_data(as_text=True)
    assert order.number in html and 'data-action="convert"' not in html


def test_convert_with_an_unknown_applicant_type_is_refused_and_writes_nothing(client, session, office, order):
    before = _written(session)
    sign_in(client, office["staff"])
    response = post(
        client,
        f"/imports/tickets/{order.id}/convert",
        channel="disclosure",
        applicant_type="个体户",
        reason="转换",
    )
    assert response.status_code == 400 and "申请人类型无效" in response.get_data(as_text=True)
    assert _written(session) == before


@pytest.mark.parametrize(
    ("who", "status", "message"),
    [("other_staff", 404, "工单不存在或无权查看"), ("auditor", 403, "无权办理该工单")],
    ids=["another-department", "read-only-auditor"],
)
def test_convert_is_refused_to_who_may_not_act_on_the_ticket(
    client, session, office, order, who, status, message
):
    # Staff of another department are told the same as for a missing ticket (the id reveals nothing).
    before = _written(session)
    sign_in(client, office[who])
    response = post(client, f"/imports/tickets/{order.id}/convert", channel="disclosure", reason="越权")
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert _written(session) == before


def test_convert_without_the_csrf_token_is_refused(client, session, office, order):
    before = _written(session)
    sign_in(client, office["staff"])
    for token in (None, "forged"):
        data = {"channel": "disclosure", "reason": "伪造请求"}
        if token:
            data["csrf_token"] = token
        response = client.post(f"/imports/tickets/{order.id}/convert", data=data)
        assert response.status_code == 400
        assert "CSRF" in response.get_data(as_text=True)
    assert _written(session) == before


@pytest.mark.parametrize(
    ("channel", "message"),
    [("", "目标渠道无效"), ("fax", "目标渠道无效"), ("hotline", "目标渠道无效")],
    ids=["missing", "unknown", "same-channel"],
)
def test_convert_with_a_bad_channel_says_why_and_writes_nothing(
    client, session, office, order, channel, message
):
    before = _written(session)
    sign_in(client, office["staff"])
    response = post(client, f"/imports/tickets/{order.id}/convert", channel=channel, reason="测试")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _written(session) == before


def test_convert_of_an_already_linked_ticket_is_refused(client, session, office, order):
    sign_in(client, office["staff"])
    assert post(client, f"/imports/tickets/{order.id}/convert", channel="disclosure").status_code == 302
    before = _written(session)
    response = post(client, f"/imports/tickets/{order.id}/convert", channel="website", reason="再转一次")
    assert response.status_code == 400 and "已关联其他工单" in response.get_data(as_text=True)
    assert _written(session) == before
    assert post(client, "/imports/tickets/999999/convert", channel="disclosure").status_code == 404


def test_convert_failing_after_the_new_ticket_was_written_leaves_nothing(
    client, session, office, order, monkeypatch
):
    # The new ticket, its event, deadlines and outbox row are flushed before the two are linked; a failure
    # there must take all of it back (the request, not the service, owns the transaction).
    from tracker.errors import ValidationError

    def broken_link(*args, **kwargs):
        raise ValidationError("关联失败（测试）")

    monkeypatch.setattr("tracker.intake.convert.link_tickets", broken_link)
    before = _written(session)
    sign_in(client, office["staff"])
    response = post(client, f"/imports/tickets/{order.id}/convert", channel="disclosure", reason="测试")
    assert response.status_code == 400 and "关联失败" in response.get_data(as_text=True)
    assert _written(session) == before
    session.expire_all()
    assert session.get(Ticket, order.id).linked_ticket_id is None
