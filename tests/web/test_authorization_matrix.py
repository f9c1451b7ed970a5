"""The authorization matrix: every route of app.url_map × every role × own/other department.

The expectation table below names a rule for every (endpoint, method) — and for every ticket action — so a
new route or action without an entry fails `test_every_route_has_an_expectation`. Each request runs inside
a savepoint that is rolled back, so an allowed POST does not change what the next request sees.

Denied means 403 or 404 for signed-in users (404 where even the existence of the object is private) and a
redirect to the sign-in page for anonymous visitors; allowed means anything else below 500 (a form posted
empty may well answer 400 or redirect with a message — what matters is that access was granted).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests import factories
from tracker.intake import apikeys
from tracker.letters import service as letter_service
from tracker.tickets.models import Deadline
from tracker.workflow import desk
from tracker.workflow import doors as ds
from tracker.workorders.models import SendBack, Supervision
from web.views.dashboard import TICKET_ACTIONS

ROLES = ("staff", "supervisor", "admin", "auditor", "anonymous")
WRITERS = ("staff", "supervisor", "admin")


def public(role, scope):
    return True


def signed_in(role, scope):
    return role != "anonymous"


def view(role, scope):
    return role in ("admin", "auditor") or (role in WRITERS and scope == "own")


def act(role, scope):
    return role == "admin" or (role in ("staff", "supervisor") and scope == "own")


def act_supervisor(role, scope):
    return role == "admin" or (role == "supervisor" and scope == "own")


def reveal(role, scope):
    return role == "admin" or (role in ("staff", "supervisor") and scope == "own")


def approve(role, scope):
    return role == "admin" or (role == "supervisor" and scope == "own")


def admin_only(role, scope):
    return role == "admin"


def audit_readers(role, scope):
    return role in ("admin", "auditor")


def own_filter(role, scope):
    return role != "anonymous" and scope == "own"


def writers(role, scope):
    return role in WRITERS


def report_readers(role, scope):
    return role in ("supervisor", "admin", "auditor")


def own_batch(role, scope):
    """An import batch: its uploader (staff, supervisor) or the office (admin)."""
    return role == "admin" or (role in ("staff", "supervisor") and scope == "own")


def api_key_only(role, scope):
    """Machine endpoints: a browser session grants nothing, whatever the role."""
    return False


def scraper_only(role, scope):
    """/metrics: a configured address or the bearer token (tests/ops/test_metrics.py); no role opens it."""
    return False


# (endpoint, method) → rule. Object-level rules (view/act/…) are checked for own and other department.
EXPECTATIONS = {
    ("static", "GET"): public,
    ("health.healthz", "GET"): public,
    ("health.livez", "GET"): public,
    ("metrics.metrics", "GET"): scraper_only,
    ("auth.login", "GET"): public,
    ("auth.login", "POST"): public,
    ("auth.logout", "POST"): public,
    ("auth.set_language", "POST"): public,
    ("auth.password", "GET"): signed_in,
    ("auth.password", "POST"): signed_in,
    # Steps of signing in (web/signin.py): reached before a user is signed in; each view checks the
    # session's pending state itself (tests/security/test_totp.py, test_oidc.py).
    ("mfa.verify", "GET"): public,
    ("mfa.verify", "POST"): public,
    ("mfa.enrol", "GET"): public,
    ("mfa.enrol", "POST"): public,
    ("oidc.start", "GET"): public,
    ("oidc.callback", "GET"): public,
    ("dashboard.home", "GET"): signed_in,
    ("dashboard.queue", "GET"): signed_in,
    ("dashboard.search", "GET"): signed_in,
    ("dashboard.shortcuts", "GET"): signed_in,
    ("dashboard.save_filter", "POST"): signed_in,
    ("dashboard.delete_filter", "POST"): own_filter,
    ("dashboard.bulk", "POST"): act,
    ("dashboard.ticket", "GET"): view,
    ("dashboard.reveal", "POST"): reveal,
    ("dashboard.upload", "POST"): act,
    ("dashboard.attachment", "GET"): view,
    ("dashboard.decide", "POST"): approve,
    ("dashboard.act", "POST"): None,  # per action, below
    ("admin.index", "GET"): admin_only,
    ("admin.users", "GET"): admin_only,
    ("admin.users", "POST"): admin_only,
    ("admin.update_user", "POST"): admin_only,
    ("admin.sign_out_everywhere", "POST"): admin_only,
    ("admin.departments", "GET"): admin_only,
    ("admin.departments", "POST"): admin_only,
    ("admin.update_department_view", "POST"): admin_only,
    ("admin.calendar", "GET"): admin_only,
    ("admin.calendar_preview", "POST"): admin_only,
    ("admin.calendar_save", "POST"): admin_only,
    ("admin.policies", "GET"): admin_only,
    ("admin.policies", "POST"): admin_only,
    ("admin.api_keys", "GET"): admin_only,
    ("admin.api_keys", "POST"): admin_only,
    ("admin.revoke_api_key", "POST"): admin_only,
    ("admin.rules", "GET"): admin_only,
    ("admin.save_rule", "POST"): admin_only,
    ("admin.channels", "GET"): admin_only,
    ("admin.channels", "POST"): admin_only,
    ("admin.canned_replies", "GET"): admin_only,
    ("admin.canned_replies", "POST"): admin_only,
    ("admin.message_templates", "GET"): admin_only,
    ("admin.message_templates", "POST"): admin_only,
    ("admin.audit_log", "GET"): audit_readers,
    ("admin.audit_export", "GET"): audit_readers,
    # The public portal (helper-2): open to everyone, signed in or not.
    ("portal.index", "GET"): public,
    ("portal.static", "GET"): public,
    ("portal.captcha_image", "GET"): public,
    ("portal.message", "GET"): public,
    ("portal.message", "POST"): public,
    ("portal.disclosure_form", "GET"): public,
    ("portal.disclosure_form", "POST"): public,
    ("portal.query", "GET"): public,
    ("portal.query", "POST"): public,
    # The citizen's side (issue 20): rating, 留言选登, 查询码 recovery, opt-out — public, rate-limited.
    ("portal.rate", "POST"): public,
    ("portal.published", "GET"): public,
    ("portal.recover", "GET"): public,
    ("portal.recover", "POST"): public,
    ("portal.recover_verify", "POST"): public,
    ("portal.optout", "GET"): public,
    ("portal.optout", "POST"): public,
    # The machine API (helper-2): signed API keys only; a staff session must not open it.
    ("api.openapi", "GET"): public,
    ("api.create_ticket", "POST"): api_key_only,
    ("api.list_tickets", "GET"): api_key_only,
    ("api.get_ticket", "GET"): api_key_only,
    ("api.ticket_deadlines", "GET"): api_key_only,
    ("api.ticket_events", "GET"): api_key_only,
    ("api.intake_hotline", "POST"): api_key_only,
    ("api.sms_reply", "POST"): api_key_only,
    ("api.decide_send_back", "POST"): api_key_only,
    # Imports (helper-2): staff, supervisors and the office; a batch only by whoever uploaded it (and admins).
    ("imports.upload", "GET"): writers,
    ("imports.upload", "POST"): writers,
    ("imports.batch_page", "GET"): own_batch,
    ("imports.progress", "GET"): own_batch,
    ("imports.disclosure_entry", "GET"): writers,
    ("imports.disclosure_entry", "POST"): writers,
    ("imports.hotline_export", "GET"): writers,
    ("imports.static", "GET"): public,
    ("imports.convert", "POST"): act,
    # In-app notifications (helper-3): each user their own; the delivery log and retries for admins.
    ("notifications.index", "GET"): signed_in,
    ("notifications.unread_json", "GET"): signed_in,
    ("notifications.mark_read", "POST"): signed_in,
    ("notifications.preferences", "GET"): signed_in,
    ("notifications.preferences", "POST"): signed_in,
    ("notifications.deliveries", "GET"): admin_only,
    ("notifications.retry", "POST"): admin_only,
    # Annual report and registers (helper-5): supervisors (own department), the office and auditors read;
    # only the office keeps the registers.
    ("reports.annual", "GET"): report_readers,
    ("reports.download", "GET"): report_readers,
    ("reports.drilldown", "GET"): report_readers,
    ("reports.stylesheet", "GET"): public,
    # The 12345 assessment: the office and auditors every unit, a 科室负责人 their own (docs/assessment.md).
    ("assessment.page", "GET"): report_readers,
    ("assessment.download", "GET"): report_readers,
    ("assessment.drill", "GET"): report_readers,
    ("reports.registers", "GET"): audit_readers,
    ("reports.registers", "POST"): admin_only,
    ("reports.import_register", "POST"): admin_only,
    ("reports.set_register_figure", "POST"): admin_only,
    ("reports.cases", "GET"): audit_readers,
    ("reports.save_case", "POST"): admin_only,
    ("reports.import_cases", "POST"): admin_only,
    ("reports.save_text", "POST"): admin_only,
    # Statutory letters (tracker/letters): whoever may act on the ticket; templates are the office's.
    ("letters.preview", "GET"): act,
    ("letters.issue", "POST"): act,
    ("letters.serve", "POST"): act,
    ("letters.replace_file", "POST"): act,
    ("letters.pdf", "GET"): view,
    ("letters.templates", "GET"): admin_only,
    ("letters.templates", "POST"): admin_only,
    ("letters.template_download", "GET"): admin_only,
    # The 12345 work-order panels (issue 19): each checks the ticket's reach first, then its door the role.
    ("workorders_check.check_draft", "POST"): act,
    ("workorders_check.link_repeat", "POST"): act,
    ("workorders_check.dismiss_repeat", "POST"): act,
    ("workorders_check.rules", "GET"): admin_only,
    ("workorders_check.rules", "POST"): admin_only,
    ("workorders_revisits.record", "POST"): act,
    ("workorders_revisits.order_redo", "POST"): act_supervisor,
    ("workorders_revisits.reveal", "POST"): reveal,
    ("workorders_cohandling.add", "POST"): act,
    ("workorders_supervision.issue", "POST"): admin_only,
    ("workorders_supervision.answer", "POST"): act,
    ("workorders_supervision.register", "GET"): signed_in,
    # The 12345 cycle panel (web/views/workorders_cycle.py): the internal record and a 退单 request are
    # the unit's; entering the platform's decision on a 退单 request is the office's.
    ("workorders_cycle.add_record", "POST"): act,
    ("workorders_cycle.withdraw", "POST"): act,
    ("workorders_cycle.decide", "POST"): admin_only,
}

# Every action of the ticket page: the rule for POST /tickets/<id>/actions/<action>.
ACTION_EXPECTATIONS = {
    "start": act,
    "assign": act,
    "transfer": act,
    "return": act,
    "request_correction": act,
    "receive_correction": act,
    "receive_fee": act,
    "start_consultation": act,
    "end_consultation": act,
    "extend": act,
    "reply": act,
    "close": act,
    "reopen": act_supervisor,
    "rate": act,
    "merge": act,
    "note": act,
}

OBJECT_ARGS = {
    "ticket_id",
    "approval_id",
    "attachment_id",
    "filter_id",
    "batch_id",
    "letter_id",
    "supervision_id",
    "send_back_id",
}
FIXED_ARGS = {
    ("dashboard.queue", "code"): "department",
    ("dashboard.bulk", "code"): "department",
    ("admin.save_rule", "kind"): "topic",
    ("auth.set_language", "code"): "en",
    ("static", "filename"): "app.css",
    ("portal.static", "filename"): "portal.css",
    ("imports.static", "filename"): "portal.css",
    ("portal.optout", "token"): "1.forged",
    ("letters.template_download", "kind"): "receipt",
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_an_expectation(app):
    missing = sorted(
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule, method in _routes(app)
        if (rule.endpoint, method) not in EXPECTATIONS
    )
    assert not missing, (
        "routes without an authorization expectation — add them to EXPECTATIONS:\n" + "\n".join(missing)
    )
    assert set(ACTION_EXPECTATIONS) == set(TICKET_ACTIONS), "every ticket action needs an expectation"


@pytest.fixture
def world(session, now, settings):
    own = factories.department(session, "matrix_own", "本处")
    other = factories.department(session, "matrix_other", "他处")
    users = {
        role: factories.user(session, role=role, dept=own, now=now) for role in ROLES if role != "anonymous"
    }
    stranger = factories.user(session, role="staff", dept=other, now=now)
    tickets = {
        "own": factories.ticket(
            session, now=now, dept=own, channel="disclosure", request_type="政府信息公开申请"
        ),
        "other": factories.ticket(
            session, now=now, dept=other, channel="disclosure", request_type="政府信息公开申请"
        ),
    }
    approvals, attachments, letters, supervisions = {}, {}, {}, {}
    for scope, requester in (("own", users["staff"]), ("other", stranger)):
        ticket = tickets[scope]
        assert session.scalar(
            select(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply")
        )
        approvals[scope] = ds.request_extension(
            session, ticket, user=requester, length=5, reason="需要调取档案", now=now
        ).id
        attachments[scope] = ds.save_attachment(
            session,
            ticket,
            filename="答复.pdf",
            data=b"%PDF-1.4 test",
            content_type="application/pdf",
            user=requester,
            now=now,
            directory=settings.instance_dir / "attachments",
        ).id
        supervision = Supervision(
            ticket_id=ticket.id,
            department_id=ticket.department_id,
            kind="supervise",
            text="请加快办理",
            issued_by_label="12345平台",
            issued_at=now,
            state="open",
        )
        session.add(supervision)
        session.flush()
        supervisions[scope] = supervision.id
        letters[scope] = letter_service.issue_letter(
            session,
            ticket,
            "receipt",
            {},
            user=requester,
            now=now,
            directory=settings.instance_dir / "attachments",
        ).id
    filters = {
        (role, "own"): desk.save_filter(session, user, "我的筛选", "mine", {}, now=now).id
        for role, user in users.items()
    }
    other_filter = desk.save_filter(session, stranger, "他人的筛选", "mine", {}, now=now).id
    batches = {}
    try:
        from tracker.intake.models import ImportBatch
    except ImportError:  # intake not installed: no batch routes either
        ImportBatch = None
    if ImportBatch is not None:
        for scope, owner in [*((("own", role), u) for role, u in users.items()), (("other", None), stranger)]:
            batch = ImportBatch(
                channel="hotline",
                filename="工单.csv",
                file_sha256="0" * 64,
                stored_path=None,
                status="done",
                errors=[],
                created_by_id=owner.id,
                created_at=now,
            )
            session.add(batch)
            session.flush()
            batches[scope] = batch.id
    delivery_id = None
    try:
        from tracker.notify.models import Delivery, Notification
    except ImportError:  # notifications not installed: no delivery routes either
        Notification = None
    if Notification is not None:
        note = Notification(user_id=stranger.id, kind="status", title="状态变更", body="", created_at=now)
        session.add(note)
        session.flush()
        delivery = Delivery(
            key=f"matrix:{note.id}",
            notification_id=note.id,
            medium="email",
            user_id=stranger.id,
            status="failed",
            attempts=5,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    send_backs = {}
    for scope, requester in (("own", users["staff"]), ("other", stranger)):
        row = SendBack(
            ticket_id=tickets[scope].id,
            department_id=tickets[scope].department_id,
            reason_code="not_our_duty",
            reason_text="非本处职责",
            requested_by_id=requester.id,
            requested_at=now,
            state="pending",
        )
        session.add(row)
        session.flush()
        send_backs[scope] = row.id
    key, _secret = apikeys.create_api_key(
        session, "test-secret-key", name="12345平台", channel="hotline", now=now
    )
    session.commit()
    return {
        "users": users,
        "tickets": {k: t.id for k, t in tickets.items()},
        "approvals": approvals,
        "attachments": attachments,
        "letters": letters,
        "supervisions": supervisions,
        "filters": filters,
        "other_filter": other_filter,
        "key_id": key.key_id,
        "stranger": stranger.id,
        "department_id": other.id,
        "batches": batches,
        "delivery_id": delivery_id,
        "send_backs": send_backs,
    }


def _url(rule, world, role, scope, action=None):
    values = {}
    for arg in rule.arguments:
        if arg == "ticket_id":
            values[arg] = world["tickets"][scope]
        elif arg == "approval_id":
            values[arg] = world["approvals"][scope]
        elif arg == "attachment_id":
            values[arg] = world["attachments"][scope]
        elif arg == "letter_id":
            values[arg] = world["letters"][scope]
        elif arg == "supervision_id":
            values[arg] = world["supervisions"][scope]
        elif arg == "filter_id":
            values[arg] = (
                world["filters"].get((role, "own"), world["other_filter"])
                if scope == "own"
                else world["other_filter"]
            )
        elif arg == "batch_id":
            values[arg] = (
                world["batches"][("own", role)]
                if scope == "own" and role in world["users"]
                else world["batches"][("other", None)]
            )
        elif arg == "send_back_id":
            values[arg] = world["send_backs"][scope]
        elif arg == "delivery_id":
            values[arg] = world["delivery_id"]
        elif arg == "user_id":
            values[arg] = world["stranger"]
        elif arg == "department_id":
            values[arg] = world["department_id"]
        elif arg == "key_id":
            values[arg] = world["key_id"]
        elif arg == "action":
            values[arg] = action
        elif (rule.endpoint, arg) in FIXED_ARGS:
            values[arg] = FIXED_ARGS[(rule.endpoint, arg)]
        else:
            raise AssertionError(f"no value for <{arg}> of {rule.rule}: add it to FIXED_ARGS")
    url = rule.rule
    for arg, value in values.items():
        url = url.replace(f"<{arg}>", str(value))
        for converter in ("int", "path", "string"):
            url = url.replace(f"<{converter}:{arg}>", str(value))
    return url


def _is_denied(role, response) -> bool:
    if role == "anonymous":
        return response.status_code in (401, 403, 404) or (
            response.status_code == 302 and "/login" in response.headers.get("Location", "")
        )
    return response.status_code in (401, 403, 404)


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(role, app, client, world, connection):
    with client.session_transaction() as web_session:
        # Anonymous visitors get a CSRF token too: the matrix tests sign-in and roles, not CSRF.
        web_session["csrf_token"] = "matrix-token"
    if role != "anonymous":
        factories.signed_in(client, world["users"][role], csrf_token="matrix-token")
    cases = []
    for rule, method in _routes(app):
        expectation = EXPECTATIONS[(rule.endpoint, method)]
        scopes = (
            ("own", "other")
            if OBJECT_ARGS & set(rule.arguments) or rule.endpoint == "dashboard.bulk"
            else ("own",)
        )
        for scope in scopes:
            if rule.endpoint == "dashboard.act":
                cases += [(rule, method, scope, a, ACTION_EXPECTATIONS[a]) for a in ACTION_EXPECTATIONS]
            else:
                cases.append((rule, method, scope, None, expectation))
    wrong = []
    for rule, method, scope, action, expectation in cases:
        url = _url(rule, world, role, scope, action)
        data = {}
        if rule.endpoint == "dashboard.bulk":
            data = {"ticket_ids": str(world["tickets"][scope]), "action": "assign"}
        savepoint = connection.begin_nested()
        try:
            body = {"json": {}} if rule.rule.startswith("/api/") and method == "POST" else {"data": data}
            response = client.open(url, method=method, headers={"X-CSRF-Token": "matrix-token"}, **body)
        finally:
            savepoint.rollback()
        response.close()  # file responses (static, attachments) hold an open file until closed
        # /healthz answers 503 here (no worker heartbeat in tests); everything else must not fail.
        assert response.status_code < 500 or rule.endpoint == "health.healthz", (
            f"{method} {url} as {role}: {response.status_code}"
        )
        expected = expectation(role, scope)
        # A public page may answer 404 for a record that does not exist (portal query): only 403 is a denial.
        denied = response.status_code == 403 if expectation is public else _is_denied(role, response)
        if expected == denied:
            wrong.append(
                f"{method} {url} [{rule.endpoint}{'/' + action if action else ''}] as {role} on {scope}: "
                f"expected {'allowed' if expected else 'denied'}, got {response.status_code}"
            )
        # Sign-in state must survive every request (signing out, here or everywhere, is the exception).
        if rule.endpoint in ("auth.logout", "admin.sign_out_everywhere"):
            with client.session_transaction() as web_session:
                web_session.clear()
                web_session["csrf_token"] = "matrix-token"
            if role != "anonymous":
                factories.signed_in(client, world["users"][role], csrf_token="matrix-token")
    assert not wrong, "authorization matrix mismatches:\n" + "\n".join(wrong)
