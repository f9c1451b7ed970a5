"""Issue 18 items 5–9 through the Flask test client: a transferred ticket signed for and answered by its
new department, 签收 making the signer 承办人, the bureau-level 分派 list; the outcome list's full labels;
refused forms that keep what was typed and forms held back while a request waits; 待我审批 naming each
item's kind; the applicant's requested 提供形式 and 获取方式."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests import factories
from tracker.reports.rows import OUTCOMES
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.queries import queue_page
from tracker.workflow import doors as ds
from tracker.workflow.models import Approval

DISCLOSURE = {"channel": "disclosure", "request_type": "政府信息公开申请"}


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture(autouse=True)
def _clock(app, now):
    app.config["CLOCK"] = lambda: now
    app.config["CHART_CACHE_SECONDS"] = 0


@pytest.fixture
def bureau(session, now):
    """The bureau's office at the root of the tree (where unrouted items land), two departments under it."""
    root = factories.department(session, "bureau", "市工业和信息化局")
    sme = factories.department(session, "sme", "中小企业服务处")
    it = factories.department(session, "it", "信息化推进处")
    office = factories.department(session, "office", "办公室")
    people = {
        "admin": factories.user(session, role="admin", dept=office, now=now),
        "root_boss": factories.user(session, role="supervisor", dept=root, now=now),
        "sme_staff": factories.user(session, role="staff", dept=sme, now=now),
        "sme_boss": factories.user(session, role="supervisor", dept=sme, now=now),
        "it_staff": factories.user(session, role="staff", dept=it, now=now),
        "it_boss": factories.user(session, role="supervisor", dept=it, now=now),
    }
    return {"root": root, "sme": sme, "it": it, **people}


def _transferred(session, now, bureau, **overrides):
    ticket = factories.ticket(session, now=now, dept=bureau["sme"], **overrides)
    ds.transfer(session, ticket, bureau["it"], "属信息化职责", user=bureau["sme_boss"], now=now)
    session.commit()
    assert ticket.status == "transferred" and ticket.assignee_id is None
    return ticket


# -- item 5 ----------------------------------------------------------------------------------------------


def test_a_transferred_ticket_is_signed_for_by_its_new_department_and_reaches_my_queue(
    client, session, now, bureau
):
    ticket = _transferred(session, now, bureau)
    sign_in(client, bureau["it_staff"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="start"' in page and 'data-action="reply"' in page
    assert post(client, f"/tickets/{ticket.id}/actions/start").status_code == 302
    session.expire_all()
    signed = session.get(Ticket, ticket.id)
    assert signed.status == "in_progress" and signed.assignee_id == bureau["it_staff"].id
    mine = queue_page(session, bureau["it_staff"], "mine", now=now)
    assert [r.ticket.id for r in mine.rows] == [ticket.id]
    event = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "ticket.status_changed")
        .order_by(TicketEvent.id.desc())
    ).first()
    assert event.data["action"] == "start" and event.data["assignee"] == [
        None,
        bureau["it_staff"].display_name,
    ]


def test_a_transferred_ticket_is_answered_without_assigning_it_first(client, session, now, bureau):
    ticket = _transferred(session, now, bureau)
    sign_in(client, bureau["it_staff"])
    answer = post(
        client, f"/tickets/{ticket.id}/actions/reply", reply_text="已协调处理。", confirm_warnings="on"
    )
    assert answer.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "replied"


def test_signing_for_a_received_ticket_makes_the_signer_its_handler(client, session, now, bureau):
    ticket = factories.ticket(session, now=now, dept=bureau["sme"])
    session.commit()
    sign_in(client, bureau["sme_staff"])
    post(client, f"/tickets/{ticket.id}/actions/start")
    session.expire_all()
    assert session.get(Ticket, ticket.id).assignee_id == bureau["sme_staff"].id
    # Already someone's: signing for it does not take it from them.
    other = factories.ticket(session, now=now, dept=bureau["sme"])
    ds.assign(session, other, bureau["sme_staff"], user=bureau["sme_boss"], now=now)
    session.commit()
    sign_in(client, bureau["sme_boss"])
    post(client, f"/tickets/{other.id}/actions/start")
    session.expire_all()
    assert session.get(Ticket, other.id).assignee_id == bureau["sme_staff"].id


def test_the_departments_left_behind_and_next_door_cannot_sign_for_it(client, session, now, bureau):
    ticket = _transferred(session, now, bureau)
    for who in ("sme_staff", "sme_boss"):  # the department it left
        sign_in(client, bureau[who])
        assert post(client, f"/tickets/{ticket.id}/actions/start").status_code == 404
        assert post(client, f"/tickets/{ticket.id}/actions/reply", reply_text="越权").status_code == 404
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "transferred"
    with pytest.raises(Exception) as refused:
        ds.start_work(session, ticket, user=bureau["sme_staff"], now=now)
    assert refused.value.http_status == 404
    session.rollback()


def test_the_admin_assigns_an_unrouted_ticket_at_the_bureau_level(client, session, now, bureau):
    ticket = factories.ticket(session, now=now, dept=bureau["root"])  # no routing rule placed it
    session.commit()
    sign_in(client, bureau["admin"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    form = page.split('data-action="assign"', 1)[1].split("</details>", 1)[0]
    names = re.findall(r'<option value="(\d+)"', form)
    assert str(bureau["sme_staff"].id) in names and str(bureau["it_boss"].id) in names
    assert "data-bureau-assign" in form
    assert (
        post(client, f"/tickets/{ticket.id}/actions/assign", assignee_id=bureau["sme_staff"].id).status_code
        == 302
    )
    session.expire_all()
    assigned = session.get(Ticket, ticket.id)
    assert (assigned.department_id, assigned.assignee_id, assigned.status) == (
        bureau["sme"].id,
        bureau["sme_staff"].id,
        "assigned",
    )
    kinds = [
        e.data.get("action")
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
        if e.kind == "ticket.status_changed"
    ]
    assert kinds == ["transfer", "assign"]  # 分办 then 分派, each in the history


def test_only_an_administrator_assigns_across_departments_and_only_unrouted_tickets(
    client, session, now, bureau
):
    unrouted = factories.ticket(session, now=now, dept=bureau["root"])
    routed = factories.ticket(session, now=now, dept=bureau["sme"])
    session.commit()
    # The office's own supervisor reaches the office's tickets only: no other department's people.
    sign_in(client, bureau["root_boss"])
    response = post(client, f"/tickets/{unrouted.id}/actions/assign", assignee_id=bureau["sme_staff"].id)
    assert response.status_code == 400 and "承办人不属于工单所在部门" in response.get_data(as_text=True)
    # A ticket already in a department is not moved by 分派 (that is 转办, with its reason).
    sign_in(client, bureau["admin"])
    response = post(client, f"/tickets/{routed.id}/actions/assign", assignee_id=bureau["it_staff"].id)
    assert response.status_code == 400
    session.expire_all()
    assert session.get(Ticket, unrouted.id).department_id == bureau["root"].id
    assert session.get(Ticket, routed.id).department_id == bureau["sme"].id
    # Staff of a department never see the bureau's unrouted tickets.
    sign_in(client, bureau["sme_staff"])
    assert post(client, f"/tickets/{unrouted.id}/actions/start").status_code == 404


# -- item 6 ----------------------------------------------------------------------------------------------


def test_the_outcome_list_shows_the_official_labels_whole(client, session, now, bureau):
    ticket = factories.ticket(session, now=now, dept=bureau["sme"], **DISCLOSURE)
    session.commit()
    sign_in(client, bureau["sme_boss"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    form = page.split('data-action="reply"', 1)[1].split("</details>", 1)[0]
    groups = re.findall(r'<optgroup label="([^"]+)"', form)
    assert groups == [
        "（一）予以公开",
        "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        "（三）不予公开",
        "（四）无法提供",
        "（五）不予处理",
        "（六）其他处理",
    ]
    for outcome in OUTCOMES:
        assert f">{outcome.label}</option>" in form.replace("&#34;", '"').replace("“", "“"), outcome.label
    assert "予以公 " not in form and "不予公 " not in form


# -- item 8 ----------------------------------------------------------------------------------------------


def test_a_refused_extension_keeps_what_was_typed(client, session, now, bureau):
    ticket = factories.ticket(session, now=now, dept=bureau["sme"])
    session.commit()
    sign_in(client, bureau["sme_staff"])
    response = post(client, f"/tickets/{ticket.id}/actions/extend", length="3", reason="   ")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    form = page.split('data-action="extend"', 1)[1].split("</details>", 1)[0]
    assert form.startswith(" open") and "延期未完成：申请延期须说明理由" in form and 'value="3"' in form
    # Hostile input comes back escaped, never as markup.
    response = post(client, f"/tickets/{ticket.id}/actions/merge", into="<script>alert(1)</script>")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_forms_held_back_while_a_request_waits_and_the_doors_refuse_too(client, session, now, bureau):
    ticket = factories.ticket(session, now=now, dept=bureau["sme"], **DISCLOSURE)
    session.commit()
    sign_in(client, bureau["sme_staff"])
    post(client, f"/tickets/{ticket.id}/actions/reply", reply_text="经查，予以公开。", outcome="public")
    post(client, f"/tickets/{ticket.id}/actions/extend", length="20", reason="需征求第三方意见")
    session.expire_all()
    assert {a.kind for a in session.scalars(select(Approval).where(Approval.state == "pending"))} == {
        "reply",
        "extension",
    }
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-action="reply"' not in page and 'data-action="extend"' not in page
    assert 'data-action="note"' in page  # what no request holds back stays
    again = post(client, f"/tickets/{ticket.id}/actions/reply", reply_text="第二份答复", outcome="public")
    assert again.status_code == 409 and ">第二份答复</textarea>" not in again.get_data(as_text=True)
    assert post(client, f"/tickets/{ticket.id}/actions/extend", length="5", reason="再延").status_code == 409


# -- item 7 (the queue) ---------------------------------------------------------------------------------------


def test_the_approvals_queue_names_each_items_kind(client, session, now, bureau):
    ext = factories.ticket(session, now=now, dept=bureau["sme"], subject="延期的那件")
    rep = factories.ticket(session, now=now, dept=bureau["sme"], subject="签发的那件", **DISCLOSURE)
    ds.request_extension(session, ext, user=bureau["sme_staff"], length=3, reason="核查", now=now)
    ds.reply(session, rep, "予以公开", user=bureau["sme_staff"], now=now, outcome="public")
    session.commit()
    sign_in(client, bureau["sme_boss"])
    page = client.get("/queues/approvals").get_data(as_text=True)
    rows = {m[1]: m[0] for m in re.findall(r'data-approval-kind="(\w+)">[^<]*</span> ([^<]+)</td>', page)}
    assert rows == {"延期的那件": "extension", "签发的那件": "reply"}
    assert ">延期申请</span>" in page and ">答复签发</span>" in page


# -- item 9 ----------------------------------------------------------------------------------------------


def test_the_disclosure_page_shows_the_requested_form_and_manner(client, session, now, bureau):
    ticket = factories.ticket(
        session,
        now=now,
        dept=bureau["sme"],
        extra={"delivery_form": "纸质", "delivery_way": "邮寄", "info_title": "2025年专项资金分配表"},
        **DISCLOSURE,
    )
    bare = factories.ticket(session, now=now, dept=bureau["sme"], **DISCLOSURE)  # imported without them
    session.commit()
    sign_in(client, bureau["sme_staff"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert (
        '<dd data-field="delivery_form">纸质</dd>' in page
        and '<dd data-field="delivery_way">邮寄</dd>' in page
    )
    assert "2025年专项资金分配表" in page
    page = client.get(f"/tickets/{bare.id}").get_data(as_text=True)
    assert '<dd data-field="delivery_form">未说明</dd>' in page
