"""Departments are renamed, moved and disabled on the admin page and with `tracker department` (issue 18,
item 3): one door (tracker.people.service.update_department), audited, no cycles in the parent chain, and
a disabled department receives nothing new (intake, routing rules, 转办, accounts) but keeps its history."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests import factories
from tracker.errors import PermissionDenied, ValidationError
from tracker.intake.apikeys import create_api_key
from tracker.notify.service import save_channel
from tracker.people.models import AuditEntry, Department
from tracker.people.passwords import PasswordPolicy
from tracker.people.service import create_department, create_user, update_department
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow.routing import route_ticket, save_routing_rule
from tracker.workflow.transitions import transfer_ticket

SECRET = "department-test-secret-key-0123456789"


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


@pytest.fixture(autouse=True)
def _clock(app, now):
    app.config["CLOCK"] = lambda: now


@pytest.fixture
def office(session, now):
    dept = factories.department(session, "sme", "中小企业服务处")
    child = factories.department(session, "sme-a", "中小企业一科", parent="sme")
    other = factories.department(session, "it", "信息化推进处")
    admin_dept = factories.department(session, "office", "办公室")
    return {
        "dept": dept,
        "child": child,
        "other": other,
        "admin": factories.user(session, role="admin", dept=admin_dept, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=dept, now=now),
        "staff": factories.user(session, role="staff", dept=dept, now=now),
    }


def _audits(session, action):
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
    )


def test_admin_renames_moves_and_disables_on_the_page(client, session, office):
    sign_in(client, office["admin"])
    page = client.get("/admin/departments").get_data(as_text=True)
    assert f'action="/admin/departments/{office["dept"].id}"' in page
    response = post(
        client,
        f"/admin/departments/{office['other'].id}",
        name="数字经济处",
        parent="sme",
        is_active="on",
        is_active_shown="1",
    )
    assert response.status_code == 302
    session.expire_all()
    other = session.get(Department, office["other"].id)
    assert other.name == "数字经济处" and other.parent.code == "sme" and other.is_active
    (entry,) = _audits(session, "department.updated")
    assert entry.user_id == office["admin"].id
    assert entry.detail["changes"] == {"name": ["信息化推进处", "数字经济处"], "parent": ["bureau", "sme"]}

    # A form without the parent or the checkbox changes neither (a crafted or partial POST).
    post(client, f"/admin/departments/{office['other'].id}", name="数字经济处")
    session.expire_all()
    assert session.get(Department, office["other"].id).parent.code == "sme"
    assert session.get(Department, office["other"].id).is_active
    post(
        client,
        f"/admin/departments/{office['other'].id}",
        name="数字经济处",
        parent="sme",
        is_active_shown="1",
    )
    session.expire_all()
    assert session.get(Department, office["other"].id).is_active is False
    assert _audits(session, "department.updated")[-1].detail["changes"] == {"is_active": [True, False]}
    page = client.get("/admin/departments").get_data(as_text=True)
    assert "已停用" in page


def test_a_parent_chain_may_not_loop(client, session, office):
    sign_in(client, office["admin"])
    # sme-a is sme's child: sme under sme-a (or under itself) would be a cycle.
    for parent in ("sme-a", "sme"):
        post(
            client,
            f"/admin/departments/{office['dept'].id}",
            name="中小企业服务处",
            parent=parent,
            is_active="on",
            is_active_shown="1",
        )
        session.expire_all()
        assert session.get(Department, office["dept"].id).parent.code == "bureau"
    assert "成环" in client.get("/admin/departments").get_data(as_text=True)
    assert _audits(session, "department.updated") == []


@pytest.mark.parametrize("role", ["staff", "supervisor"])
def test_other_roles_cannot_change_a_department(client, session, office, role):
    sign_in(client, office[role])
    response = post(
        client, f"/admin/departments/{office['dept'].id}", name="改名", is_active="on", is_active_shown="1"
    )
    assert response.status_code == 403
    response = post(client, "/admin/departments", code="x1", name="新处")
    assert response.status_code == 403
    session.expire_all()
    assert session.get(Department, office["dept"].id).name == "中小企业服务处"
    with pytest.raises(PermissionDenied):
        update_department(session, office["dept"], now=None, actor=office[role], name="改名")


def test_unknown_department_is_404_and_bad_names_are_refused(client, session, office):
    sign_in(client, office["admin"])
    assert post(client, "/admin/departments/999999", name="x").status_code == 404
    post(client, f"/admin/departments/{office['dept'].id}", name="  ", is_active="on", is_active_shown="1")
    post(
        client,
        f"/admin/departments/{office['dept'].id}",
        name="长" * 201,
        is_active="on",
        is_active_shown="1",
    )
    post(
        client,
        f"/admin/departments/{office['dept'].id}",
        name="中小企业服务处",
        parent="nope",
        is_active="on",
        is_active_shown="1",
    )
    session.expire_all()
    assert session.get(Department, office["dept"].id).name == "中小企业服务处"
    assert _audits(session, "department.updated") == []


def test_a_disabled_department_receives_nothing_new_but_keeps_its_history(session, office, now):
    ticket = factories.ticket(session, now=now, dept=office["dept"])
    update_department(session, office["other"], now=now, actor=office["admin"], is_active=False)
    # 转办 to it
    with pytest.raises(ValidationError, match="已停用"):
        transfer_ticket(session, ticket, office["other"], "职责调整", actor=office["staff"], now=now)
    # intake naming it
    with pytest.raises(ValidationError, match="已停用"):
        factories.ticket(session, now=now, dept=office["other"])
    # a new account in it, a new routing rule to it
    with pytest.raises(ValidationError, match="已停用"):
        create_user(
            session,
            username="late",
            password=factories.PASSWORD,
            role="staff",
            department_code="it",
            display_name="新人",
            now=now,
            policy=PasswordPolicy(),
        )
    with pytest.raises(ValidationError, match="已停用"):
        save_routing_rule(session, department_code="it", now=now, keywords=["网络"])
    # A rule written before it was disabled routes nothing there.
    update_department(session, office["other"], now=now, actor=office["admin"], is_active=True)
    save_routing_rule(session, department_code="it", now=now, keywords=["网络"])
    update_department(session, office["other"], now=now, actor=office["admin"], is_active=False)
    root_ticket = factories.ticket(
        session,
        now=now,
        dept=session.scalar(select(Department).where(Department.code == "bureau")),
        subject="网络故障",
    )
    assert route_ticket(session, root_ticket, now=now) is None
    assert root_ticket.department.code == "bureau"
    # Its own tickets and their history stay.
    own = factories.ticket(session, now=now, dept=office["dept"])
    update_department(session, office["dept"], now=now, actor=office["admin"], is_active=False)
    session.flush()
    assert session.get(Ticket, own.id).department_id == office["dept"].id
    assert session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == own.id)) is not None


def test_no_api_key_or_notification_channel_for_a_disabled_department(session, office, now):
    update_department(session, office["other"], now=now, actor=office["admin"], is_active=False)
    with pytest.raises(ValidationError, match="已停用"):
        create_api_key(session, SECRET, name="平台", channel="hotline", now=now, department_code="it")
    robot = {"name": "群机器人", "kind": "wecom", "url": "https://robot.example/hook", "now": now}
    with pytest.raises(ValidationError, match="已停用"):
        save_channel(session, **robot, secret_key=SECRET, department_id=office["other"].id)
    with pytest.raises(ValidationError, match="未知部门"):
        save_channel(session, **robot, secret_key=SECRET, department_id=987654)
    # An active department's key and robot are made; a robot kept switched off for the disabled one too.
    key, _ = create_api_key(session, SECRET, name="平台", channel="hotline", now=now, department_code="sme")
    assert key.id
    assert save_channel(session, **robot, secret_key=SECRET, department_id=office["dept"].id).id
    kept = save_channel(
        session, **robot, secret_key=SECRET, department_id=office["other"].id, is_active=False
    )
    assert not kept.is_active


def test_the_last_active_top_level_department_cannot_be_disabled(session, office, now):
    root = session.scalar(select(Department).where(Department.code == "bureau"))
    with pytest.raises(ValidationError, match="唯一启用的顶级部门"):
        update_department(session, root, now=now, actor=office["admin"], is_active=False)
    # With a second top-level department the first may go; unrouted tickets land in the active one.
    create_department(session, code="bureau2", name="新局")
    update_department(session, root, now=now, actor=office["admin"], is_active=False)
    from tracker.workflow.opening import open_ticket

    created, _ = open_ticket(
        session, factories.draft(department_code=None, arrived_at=now), actor="测试", now=now
    )
    assert created.department.code == "bureau2"


def test_the_cli_creates_lists_updates_and_audits(blank_database_url, tmp_path):
    from tracker.cli.main import main
    from tracker.db import session_scope

    env = {"TRACKER_DATABASE_URL": blank_database_url, "TRACKER_INSTANCE_DIR": str(tmp_path)}
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, list(args), env=env)

    assert run("db", "upgrade").exit_code == 0
    assert "尚无部门" in run("department", "list").output
    assert run("department", "create", "bureau", "市工业和信息化局").exit_code == 0
    assert run("department", "create", "office", "办公室", "--parent", "bureau").exit_code == 0
    twice = run("department", "create", "office", "办公室")
    assert twice.exit_code == 2 and "已存在" in twice.output
    orphan = run("department", "create", "x", "某处", "--parent", "nope")
    assert orphan.exit_code == 2 and "不存在" in orphan.output
    assert run("department", "update", "office", "--name", "局办公室").exit_code == 0
    loop = run("department", "update", "bureau", "--parent", "office")
    assert loop.exit_code == 2 and "成环" in loop.output
    last = run("department", "update", "bureau", "--disable")
    assert last.exit_code == 2 and "唯一启用的顶级部门" in last.output
    assert run("department", "update", "office", "--disable").exit_code == 0
    listed = run("department", "list").output
    assert "局办公室" in listed and "[已停用]" in listed and "上级：bureau" in listed
    with session_scope(blank_database_url) as session:
        actions = [
            (e.action, e.detail.get("via"))
            for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "department"))
        ]
    assert actions == [("department.created", "命令行")] * 2 + [("department.updated", "命令行")] * 2
