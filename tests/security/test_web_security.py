"""Security figures of the web layer, route by route from app.url_map (so a new route is covered at once):

* security headers on every response (pages, API, errors, static files, health);
* CSRF refused on every state-changing form — no token and a wrong token — with nothing written;
* the session cookie's flags (HttpOnly, SameSite, Secure when configured) and a fresh session at sign-in;
* brute force: an account locks after 5 wrong passwords (even the right one is refused while locked);
  20 failures from one address lock that address out across usernames;
* personal data masked in what leaves the system unless the role may see it (API, reports, exports,
  the ticket page for auditors); revealing is audited.

The authorization matrix (every route × role × own/other department) is tests/web/test_authorization_matrix.py.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.second_factor import complete_second_factor
from tracker.config import Settings
from tracker.people.models import AuditEntry, User
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Ticket, TicketEvent

PHONE, NAME, EMAIL, ID_NUMBER = "13912345678", "欧阳秀英", "ouyang.private@example.com", "11010519491231002X"
FIGURES: Counter[str] = Counter()


def _url_for_rule(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if type(converter).__name__ in ("DatabaseId", "IntegerConverter") else "x"
    url = rule.rule
    for name, value in values.items():
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), url)
    return url


def _sign_in(client, username: str, password: str = factories.PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    complete_second_factor(client, response, username)
    return response


@pytest.fixture
def people(session, now):
    own = factories.department(session, "sme", "中小企业服务处")
    other = factories.department(session, "it", "信息化推进处")
    users = {
        role: factories.user(session, role=role, dept=own, now=now, username=f"sec_{role}")
        for role in ("staff", "supervisor", "admin", "auditor")
    }
    ticket = factories.ticket(
        session,
        now=now,
        dept=own,
        contact=ContactDraft(name=NAME, phone=PHONE, email=EMAIL, id_number=ID_NUMBER, id_type="居民身份证"),
    )
    session.flush()
    return users, ticket, other


REQUIRED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _assert_security_headers(response, where: str) -> None:
    response.close()  # static files are streamed from an open file
    for header, value in REQUIRED_HEADERS.items():
        assert response.headers.get(header) == value, f"{where}: {header}"
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, (
        where
    )
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where


def test_security_headers_on_every_response(app, client, people):
    users, ticket, _ = people
    checked = 0
    for signed_in in (False, True):
        if signed_in:
            assert _sign_in(client, users["admin"].username).status_code == 302
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            url = (
                _url_for_rule(rule).replace("/1", f"/{ticket.id}")
                if "ticket" in rule.rule
                else _url_for_rule(rule)
            )
            response = client.get(url)
            _assert_security_headers(response, f"GET {url} ({'admin' if signed_in else 'anonymous'})")
            checked += 1
    for url in ("/no-such-page", "/api/v1/tickets", "/api/v1/no-such", "/healthz", "/static/app.css"):
        _assert_security_headers(client.get(url), url)
        checked += 1
    _assert_security_headers(client.delete("/login"), "405")
    FIGURES["responses checked for security headers"] = checked + 1


def _state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if methods and not rule.rule.startswith("/api/"):
            for method in sorted(methods):
                yield rule, method


def test_csrf_refused_on_every_state_changing_form(app, client, session, people):
    users, ticket, _ = people
    assert _sign_in(client, users["admin"].username).status_code == 302
    before = (
        session.scalar(select(func.count()).select_from(TicketEvent)),
        session.scalar(select(func.count()).select_from(Ticket)),
        session.scalar(select(func.count()).select_from(User)),
    )
    refused = []
    for rule, method in _state_changing_rules(app):
        url = (
            _url_for_rule(rule).replace("/1", f"/{ticket.id}")
            if "ticket" in rule.rule
            else _url_for_rule(rule)
        )
        form = {"reason": "测试", "text": "测试", "username": "x", "password": "y", "code": "ABC"}
        for token in (None, "forged-token"):
            data = dict(form, csrf_token=token) if token else form
            response = client.open(url, method=method, data=data)
            assert response.status_code == 400, f"{method} {url} with token={token!r}: {response.status_code}"
            assert "CSRF" in response.get_data(as_text=True)
        # A token from another session is refused too.
        refused.append(f"{method} {rule.rule}")
    after = (
        session.scalar(select(func.count()).select_from(TicketEvent)),
        session.scalar(select(func.count()).select_from(Ticket)),
        session.scalar(select(func.count()).select_from(User)),
    )
    assert after == before, "a refused request wrote something"
    assert len(refused) >= 10  # the dashboard, admin, portal, imports … forms exist
    FIGURES["state-changing routes refused without a valid CSRF token"] = len(refused)


def test_a_token_from_another_session_is_refused(app, people):
    users, ticket, _ = people
    first, second = app.test_client(), app.test_client()
    _sign_in(first, users["staff"].username)
    _sign_in(second, users["staff"].username)
    page = first.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = second.post(f"/tickets/{ticket.id}/actions/note", data={"text": "x", "csrf_token": token})
    assert response.status_code == 400


def test_session_cookie_flags_and_a_fresh_session_at_sign_in(app, client, people, tmp_path, session_factory):
    users, _, _ = people
    client.get("/login")
    before = client.get_cookie("tracker_session")
    response = _sign_in(client, users["staff"].username)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on the embedded default
    after = client.get_cookie("tracker_session")
    assert before is None or before.value != after.value  # sign-in starts a new session (no fixation)

    from web import create_app

    secure = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path / "secure"),
            "TRACKER_DATABASE_URL": app.config["TRACKER_SETTINGS"].database_url,
            "TRACKER_SECRET_KEY": "another-key",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            "TRACKER_SECURE_COOKIES": "true",
        }
    )
    secure_app = create_app({"TESTING": True, "SESSION_FACTORY": session_factory}, settings=secure)
    https = secure_app.test_client()
    https.get("/login", base_url="https://localhost")
    response = https.get("/login", base_url="https://localhost")
    signed = _sign_in_https(https, users["staff"].username)
    assert "Secure" in signed.headers["Set-Cookie"] and "HttpOnly" in signed.headers["Set-Cookie"]
    assert response.headers.get("Strict-Transport-Security", "").startswith("max-age=")


def _sign_in_https(client, username):
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": factories.PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )


def test_brute_force_locks_the_account_then_the_address(app, session, people):
    users, _, _ = people
    client = app.test_client()
    for attempt in range(5):
        response = _sign_in(client, users["staff"].username, password=f"guess-{attempt}")
        assert response.status_code == 401
    locked = _sign_in(client, users["staff"].username)  # the right password, while locked
    assert locked.status_code == 401 and "tracker_session" not in locked.headers.get("Set-Cookie", "user_id")
    assert client.get("/").status_code == 302  # still signed out
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "login.locked")
        )
        >= 1
    )
    FIGURES["wrong passwords before an account locks"] = 5

    # Many usernames from one address: the address is stopped too.
    statuses = [_sign_in(client, f"nobody{n}", password="x").status_code for n in range(25)]
    assert 429 in statuses
    first_429 = statuses.index(429)
    assert all(s == 429 for s in statuses[first_429:])
    assert _sign_in(client, users["admin"].username).status_code == 429  # even a valid account
    other_address = app.test_client()
    page = other_address.get("/login", environ_base={"REMOTE_ADDR": "198.51.100.7"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    fine = other_address.post(
        "/login",
        data={"username": users["admin"].username, "password": factories.PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert fine.status_code == 302
    FIGURES["failed sign-ins from one address before it is refused"] = 5 + first_429


def test_personal_data_masked_where_the_role_may_not_see_it(app, session, people, now, settings):
    users, ticket, _ = people
    from tests.intake.helpers import signed_headers
    from tracker.intake.apikeys import create_api_key

    # API: machine clients always get masked contact details.
    key, secret = create_api_key(session, settings.secret_key, name="对接系统", channel=None, now=now)
    api = app.test_client()
    body = b""
    response = api.get(
        f"/api/v1/tickets/{ticket.id}",
        headers=signed_headers(key.key_id, secret, "GET", f"/api/v1/tickets/{ticket.id}", body),
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for secret_value in (PHONE, NAME, EMAIL, ID_NUMBER):
        assert secret_value not in text and json.dumps(secret_value)[1:-1] not in text
    assert "139****5678" in text
    listing = api.get(
        "/api/v1/tickets", headers=signed_headers(key.key_id, secret, "GET", "/api/v1/tickets", body)
    ).get_data(as_text=True)
    assert PHONE not in listing and ID_NUMBER not in listing

    # Ticket page: masked for everyone; staff of the department may reveal (audited); auditors may not.
    staff = app.test_client()
    _sign_in(staff, users["staff"].username)
    page = staff.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert PHONE not in page and ID_NUMBER not in page and "139****5678" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    revealed = staff.post(f"/tickets/{ticket.id}/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200 and revealed.get_json()["phone"] == PHONE
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "personal_data.reveal")
        )
        == 1
    )

    auditor = app.test_client()
    _sign_in(auditor, users["auditor"].username)
    page = auditor.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert PHONE not in page and NAME not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert auditor.post(f"/tickets/{ticket.id}/reveal", data={"csrf_token": token}).status_code in (403, 404)

    # Exports: the annual report (every format) and the 12345 reply export carry no personal data.
    admin = app.test_client()
    _sign_in(admin, users["admin"].username)
    leaked = []
    exports = [f"/reports/annual/download?year=2026&format={fmt}" for fmt in ("json", "csv", "html", "xlsx")]
    exports += [
        "/imports/hotline-export?format=csv&from=2026-01-01",
        "/imports/hotline-export?format=xlsx&from=2026-01-01",
    ]
    for url in exports:
        response = admin.get(url)
        assert response.status_code == 200, (url, response.status_code)
        data = response.get_data()
        if data[:2] == b"PK":  # XLSX: look at the cells, not the compressed bytes
            import io

            import openpyxl

            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            data = "\n".join(
                str(cell)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
                for cell in row
            ).encode()
            book.close()
        for secret_value in (PHONE, NAME, EMAIL, ID_NUMBER):
            if secret_value.encode() in data or secret_value.encode("gb18030") in data:
                leaked.append((url, secret_value))
    FIGURES["exports checked for personal data"] = len(exports) + 2  # + API ticket and list
    assert leaked == []
