"""主办 / 协办 (issue 19, item 3): child orders, the one rule on the lead, the roll-up — on SQLite and
PostgreSQL, tried by the other department, an auditor, a replayed platform message and hostile text."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.intake.helpers import post_signed
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.intake import hotline
from tracker.intake.apikeys import create_api_key
from tracker.intake.records import apply_record
from tracker.people.access import EVERYTHING, Reach
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors as ds
from tracker.workorders import cohandling
from tracker.workorders.models import CoHandling

SECRET_KEY = "test-secret-key"


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture
def client(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


@pytest.fixture
def office(session, now):
    """The lead unit (承办人, 科室负责人, auditor), two co-handling units with their own 承办人, the office."""
    lead = factories.department(session, "co_lead", "城市管理处")
    water = factories.department(session, "co_water", "水务处")
    roads = factories.department(session, "co_roads", "道路处")
    return {
        "lead": lead,
        "water": water,
        "roads": roads,
        "staff": factories.user(session, role="staff", dept=lead, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=lead, now=now),
        "auditor": factories.user(session, role="auditor", dept=lead, now=now),
        "water_staff": factories.user(session, role="staff", dept=water, now=now),
        "roads_staff": factories.user(session, role="staff", dept=roads, now=now),
        "admin": factories.user(
            session, role="admin", dept=factories.department(session, "co_office", "办公室"), now=now
        ),
    }


def _ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _lead_order(session, now, office, **more) -> Ticket:
    ticket = factories.ticket(session, now=now, dept=office["lead"], external_ref=_ref("LEAD"), **more)
    ds.start_work(session, ticket, user=office["staff"], now=now)
    return ticket


def _events(session, ticket, kind):
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind)
        )
    )


def test_adding_a_co_unit_opens_a_child_order_of_that_department_with_its_own_deadline(session, now, office):
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    child = link.child
    assert child.channel == "hotline" and child.department_id == office["water"].id
    assert child.status == "received" and child.body == parent.body
    assert child.contact.phone == parent.contact.phone  # the co-unit may call the citizen (masked on pages)
    reply = next(d for d in child.deadlines if d.kind == "reply")
    # 5 working days from Wednesday 2026-03-04: Wednesday 2026-03-11, end of day.
    assert reply.due_at.date().isoformat() in ("2026-03-11", "2026-03-12")
    assert child.reply_due_at == reply.due_at
    assert {d.kind for d in child.deadlines} == {"sign", "reply"}
    [on_parent] = _events(session, parent, "cohandling.added")
    assert (
        on_parent.data["child_number"] == child.number
        and on_parent.data["policy"] == "hotline.cohandling@practice"
    )
    assert "5个工作日" in on_parent.data["explanation"]
    [on_child] = _events(session, child, "cohandling.added")
    assert on_child.data["parent_number"] == parent.number


def test_the_co_handling_period_is_configurable_by_a_policy_override(session, now, office):
    from datetime import date

    from tracker.deadlines.service import add_policy_override

    add_policy_override(
        session,
        code="hotline.cohandling",
        unit="clock_hours",
        length=48,
        effective_from=date(2026, 1, 1),
        reason="本市规定协办单位48小时内反馈",
        now=now,
    )
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["roads"]], user=office["staff"], now=now)
    assert link.child.reply_due_at == now + timedelta(hours=48)
    [added] = _events(session, parent, "cohandling.added")
    assert (
        added.data["policy"].startswith("hotline.cohandling@admin-")
        and "本市规定" in added.data["explanation"]
    )


def test_a_given_co_handling_due_time_wins(session, now, office):
    parent = _lead_order(session, now, office)
    due = now + timedelta(days=2)
    [link] = cohandling.add_co_units(
        session, parent, [office["roads"]], user=office["staff"], now=now, due_at=due
    )
    assert next(d for d in link.child.deadlines if d.kind == "reply").due_at == due


def test_the_lead_cannot_close_or_reply_while_a_child_is_open_unless_it_says_why(session, now, office):
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    with pytest.raises(Conflict) as refused:
        ds.reply(session, parent, "已处理完毕。", user=office["staff"], now=now, confirm_warnings=True)
    assert link.child.number in refused.value.message and "说明理由" in refused.value.message
    assert parent.status == "in_progress" and parent.reply_text is None
    with pytest.raises(Conflict):
        ds.reply(
            session,
            parent,
            "已处理完毕。",
            user=office["staff"],
            now=now,
            cohandling_reason="   ",
            confirm_warnings=True,
        )
    ds.reply(
        session,
        parent,
        "已处理完毕。",
        user=office["staff"],
        now=now,
        cohandling_reason="市民要求先行答复，水务处结果另行告知",
        confirm_warnings=True,  # a short test reply: the check before a reply leaves would stop it
    )
    assert parent.status == "replied"
    with pytest.raises(Conflict):
        ds.close(session, parent, user=office["staff"], now=now)
    ds.close(session, parent, user=office["staff"], now=now, cohandling_reason="水务处已电话确认无异议")
    assert parent.status == "closed"
    reasons = [e.data for e in _events(session, parent, "cohandling.overridden")]
    assert [r["action"] for r in reasons] == ["答复", "办结"]
    assert reasons[1]["reason"] == "水务处已电话确认无异议" and reasons[1]["open_children"] == [
        link.child.number
    ]


def test_bulk_close_does_not_bypass_the_rule(session, now, office):
    parent = _lead_order(session, now, office)
    plain = _lead_order(session, now, office)
    cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    session.commit()
    with pytest.raises(ValidationError) as refused:
        ds.bulk_action(
            session,
            office["supervisor"],
            [plain.id, parent.id],
            "close",
            now=now,
            reply_text="统一答复：已处理。",
        )
    assert parent.number in refused.value.message and "协办" in refused.value.message
    session.rollback()
    assert session.get(Ticket, parent.id).status == "in_progress"


def test_a_child_reply_rolls_up_and_then_the_lead_closes_without_a_reason(session, now, office):
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    child = link.child
    hostile = '=HYPERLINK("http://evil") <script>alert(1)</script> 已疏通管道'
    ds.start_work(session, child, user=office["water_staff"], now=now)
    ds.reply(
        session,
        child,
        hostile,
        user=office["water_staff"],
        now=now + timedelta(hours=1),
        confirm_warnings=True,
    )
    [rolled] = _events(session, parent, "cohandling.replied")
    assert rolled.data["reply_text"] == hostile and rolled.data["child_number"] == child.number
    [row] = cohandling.co_handling_panel(session, parent)
    assert row.reply_text == hostile and not row.is_open
    ds.reply(
        session,
        parent,
        "经协调已处理。",
        user=office["staff"],
        now=now + timedelta(hours=2),
        confirm_warnings=True,
    )
    ds.close(session, parent, user=office["staff"], now=now + timedelta(hours=2))
    assert parent.status == "closed" and not _events(session, parent, "cohandling.overridden")


def test_reach_the_co_unit_sees_only_its_child_and_the_lead_cannot_act_on_the_child(session, now, office):
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    with pytest.raises(NotFound):  # the co-unit's user cannot open the lead's order
        ds.reply(session, parent, "越权答复", user=office["water_staff"], now=now, confirm_warnings=True)
    with pytest.raises(NotFound):  # nor may the lead answer the co-unit's order
        ds.reply(session, link.child, "越权答复", user=office["staff"], now=now, confirm_warnings=True)
    with pytest.raises(NotFound):  # a third department cannot add units to the lead's order
        cohandling.add_co_units(session, parent, [office["roads"]], user=office["roads_staff"], now=now)
    with pytest.raises(PermissionDenied):  # an auditor reads, never adds
        cohandling.add_co_units(session, parent, [office["roads"]], user=office["auditor"], now=now)


def test_adding_is_refused_for_the_lead_itself_twice_a_child_or_a_closed_order(session, now, office):
    parent = _lead_order(session, now, office)
    with pytest.raises(ValidationError):
        cohandling.add_co_units(session, parent, [office["lead"]], user=office["staff"], now=now)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    with pytest.raises(Conflict):
        cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    with pytest.raises(Conflict):  # no co-handling of a co-handling order
        cohandling.add_co_units(session, link.child, [office["roads"]], user=office["water_staff"], now=now)
    other = _lead_order(session, now, office)
    ds.reply(session, other, "已答复。", user=office["staff"], now=now, confirm_warnings=True)
    ds.close(session, other, user=office["staff"], now=now)
    with pytest.raises(Conflict):
        cohandling.add_co_units(session, other, [office["roads"]], user=office["staff"], now=now)


def test_the_platform_import_adds_co_units_once_by_code_or_name(session, now, office):
    ref = _ref("IMP")
    row = {
        "工单编号": ref,
        "受理时间": "2026-03-04 09:00:00",
        "诉求类型": "投诉",
        "诉求内容": "路面积水严重。",
        "协办单位": "co_water、道路处",
    }
    record = hotline.record_from_row(row, department_code="co_lead")
    result = apply_record(session, record, actor="12345平台", reach=EVERYTHING, now=now)
    parent = result.ticket
    assert {c.department.code for c in cohandling.co_handlings(session, parent)} == {"co_water", "co_roads"}
    # The same row delivered again: no second child order.
    again = apply_record(
        session,
        hotline.record_from_row(row, department_code="co_lead"),
        actor="12345平台",
        reach=EVERYTHING,
        now=now,
    )
    assert again.status == "duplicate"
    assert len(session.scalars(select(CoHandling).where(CoHandling.parent_ticket_id == parent.id)).all()) == 2
    bad = hotline.record_from_row(
        {**row, "工单编号": _ref("IMP"), "协办单位": "不存在的单位"}, department_code="co_lead"
    )
    with pytest.raises(ValidationError) as refused:
        apply_record(session, bad, actor="12345平台", reach=EVERYTHING, now=now)
    assert "不存在的单位" in refused.value.message


def test_a_scoped_platform_key_cannot_add_co_units_to_another_departments_order(session, now, office):
    foreign = factories.ticket(session, now=now, dept=office["water"], external_ref=_ref("F"))
    record = hotline.record_from_json(
        {
            "order_no": foreign.external_ref,
            "accepted_at": "2026-03-04 09:00:00",
            "request_type": "投诉",
            "content": foreign.body,
            "co_units": ["co_roads"],
        },
        department_code="co_lead",
    )
    with pytest.raises(PermissionDenied):
        apply_record(session, record, actor="API:x", reach=Reach(department_id=office["lead"].id), now=now)
    assert not cohandling.co_handlings(session, foreign)


def test_the_push_carries_co_units_and_a_replay_adds_nothing(client, session, now, office):
    api_key, secret = create_api_key(
        session, SECRET_KEY, name="市平台", channel="hotline", now=now, department_code="co_lead"
    )
    session.commit()
    order = {
        "order_no": _ref("PUSH"),
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "井盖缺失。",
        "co_units": ["co_water", "co_roads"],
        "co_due_at": "2026-03-09 18:00:00",
    }
    first = post_signed(client, "/api/v1/intake/hotline", order, api_key.key_id, secret)
    assert first.status_code == 201, first.get_json()
    assert "cohandling.added" in first.get_json()["changes"]
    second = post_signed(client, "/api/v1/intake/hotline", order, api_key.key_id, secret)
    assert second.status_code == 200 and second.get_json()["result"] == "duplicate"
    parent = session.get(Ticket, first.get_json()["ticket"]["id"])
    links = cohandling.co_handlings(session, parent)
    assert len(links) == 2
    assert all(c.child.reply_due_at.isoformat().startswith("2026-03-09T10:00") for c in links)
    hostile = {**order, "order_no": _ref("PUSH"), "co_units": [{"$ne": 1}]}
    refused = post_signed(client, "/api/v1/intake/hotline", hostile, api_key.key_id, secret)
    assert refused.status_code == 400 and "co_units" in refused.get_data(as_text=True)


def test_the_page_adds_co_units_shows_children_and_refuses_closing(client, session, now, office):
    parent = _lead_order(session, now, office)
    session.commit()
    sign_in(client, office["staff"])
    page = client.get(f"/tickets/{parent.id}")
    assert page.status_code == 200 and 'data-action="cohandling"' in page.get_data(as_text=True)
    response = post(client, f"/tickets/{parent.id}/cohandling", department_ids=str(office["water"].id))
    assert response.status_code == 302
    [link] = cohandling.co_handlings(session, parent)
    page = client.get(f"/tickets/{parent.id}").get_data(as_text=True)
    assert link.child.number in page and "水务处" in page
    refused = post(client, f"/tickets/{parent.id}/actions/reply", reply_text="已处理。")
    assert refused.status_code == 409 and link.child.number in refused.get_data(as_text=True)
    done = post(
        client,
        f"/tickets/{parent.id}/actions/reply",
        reply_text="已处理。",
        cohandling_reason="先行答复",
        confirm_warnings="on",
    )
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Ticket, parent.id).status == "replied"
    # The co-unit's user cannot open the lead's page, nor add units to it.
    sign_in(client, office["water_staff"])
    assert client.get(f"/tickets/{parent.id}").status_code == 404
    assert (
        post(client, f"/tickets/{parent.id}/cohandling", department_ids=str(office["roads"].id)).status_code
        == 404
    )
    child_page = client.get(f"/tickets/{link.child.id}")
    assert child_page.status_code == 200 and parent.number in child_page.get_data(as_text=True)
    # The lead's user cannot open the child.
    sign_in(client, office["staff"])
    assert client.get(f"/tickets/{link.child.id}").status_code == 404
    # An auditor sees the panel but no form.
    sign_in(client, office["auditor"])
    audit_page = client.get(f"/tickets/{parent.id}").get_data(as_text=True)
    assert link.child.number in audit_page and 'data-action="cohandling"' not in audit_page
    assert (
        post(client, f"/tickets/{parent.id}/cohandling", department_ids=str(office["roads"].id)).status_code
        == 403
    )


def test_bulk_close_on_the_queue_page_is_refused_for_a_lead_with_an_open_child(client, session, now, office):
    parent = _lead_order(session, now, office)
    cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    session.commit()
    sign_in(client, office["supervisor"])
    response = post(
        client, "/queues/department/bulk", ticket_ids=str(parent.id), action="close", reply_text="统一答复"
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, parent.id).status == "in_progress"


def test_the_hotline_export_names_co_units(session, now, office):
    parent = _lead_order(session, now, office)
    cohandling.add_co_units(
        session, parent, [office["water"], office["roads"]], user=office["staff"], now=now
    )
    rows = hotline.reply_rows(session, since=now - timedelta(days=1), until=now + timedelta(days=1))
    row = next(r for r in rows if r[0] == parent.external_ref)
    header = hotline.EXPORT_HEADER
    assert row[header.index("协办单位")] == "水务处、道路处" and row[header.index("督办次数")] == 0


def test_only_the_lead_order_calls_the_platform_back(session, now, office):
    from tracker.intake.callbacks import plan_callbacks
    from tracker.intake.models import CallbackDelivery

    plan_callbacks(session, now=now)  # earlier tests' events are behind the cursor
    parent = _lead_order(session, now, office)
    [link] = cohandling.add_co_units(session, parent, [office["water"]], user=office["staff"], now=now)
    later = now + timedelta(hours=1)
    ds.start_work(session, link.child, user=office["water_staff"], now=later)
    ds.reply(
        session, link.child, "水务处已处理。", user=office["water_staff"], now=later, confirm_warnings=True
    )
    ds.reply(session, parent, "已处理。", user=office["staff"], now=later, confirm_warnings=True)
    # The lead's 签收 and reply (the 签收 callback: tests/workorders/test_cycle.py); nothing of the child's.
    assert plan_callbacks(session, now=later) == 2
    sent = session.scalars(
        select(CallbackDelivery.ticket_id).where(CallbackDelivery.ticket_id.in_((parent.id, link.child.id)))
    ).all()
    assert set(sent) == {parent.id}
