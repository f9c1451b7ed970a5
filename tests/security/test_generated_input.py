"""Generated values for every query parameter and form field of every route in app.url_map: never a 500.

Which parameters a route reads is found, not listed by hand, so a new route or a new field is covered at
once: (1) every request runs with a MultiDict that records the keys a view reads (`args.get("before")`,
`TicketFilter.from_args`, `form.getlist("ticket_ids")`…), in a first pass with no values at all; (2) every
page is rendered and each `<form>`'s field names are added to the route its `action` points at (the portal
forms are read with `form.to_dict()`, which records nothing). Then, for each role and anonymous, every
route × method (and every ticket action) gets generated values for those names: hostile ones first (the
ones issue 17 reproduced: huge and Unicode digits, dates at the ends of the calendar, cursors, formulas,
long runs), then text, integers and dates drawn by hypothesis.

Every request runs inside a savepoint that is rolled back (as the authorization matrix does), so one
example does not change what the next one sees. The route table and the path arguments come from the
authorization matrix (tests/web/test_authorization_matrix.py): a route it covers is covered here.

Run time is bounded by the hostile list, EXAMPLES_PER_ROUTE and ROLES_ON: every role on SQLite, the
administrator and anonymous on PostgreSQL (which found its own 500s: integers beyond 32 bits, NUL in text).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from contextvars import ContextVar
from datetime import date
from urllib.parse import urlencode

import pytest
from flask import Request
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict

from tests import factories
from tests.intake.helpers import signed_headers
from tests.web import test_authorization_matrix as matrix
from tests.web.test_authorization_matrix import ACTION_EXPECTATIONS, ROLES, _routes, _url
from tracker.intake import apikeys

world = matrix.world  # the matrix's fixture: its departments, users, tickets, approvals, batches …

EXAMPLES_PER_ROUTE = {"sqlite": 4, "postgresql": 2}
# What the roles change is which views run, not how a value is parsed or stored: every role on SQLite,
# and on PostgreSQL (whose refusals differ: integer range, NUL in text) the widest one and anonymous.
ROLES_ON = {"sqlite": ROLES, "postgresql": ("admin", "anonymous")}
FIGURES: Counter[str] = Counter()

_READ_KEYS: ContextVar[set[str] | None] = ContextVar("read_keys", default=None)


@pytest.fixture
def settings(settings, database_url):  # database_url: so pytest sees the parametrization
    """The suite's settings, without a second factor for administrators: these tests sign in by password
    as every role, and what they test is input, not sign-in."""
    import dataclasses

    return dataclasses.replace(settings, totp_required_roles=frozenset())


def _note(key) -> None:
    keys = _READ_KEYS.get()
    if keys is not None and isinstance(key, str):
        keys.add(key)


class RecordingMultiDict(ImmutableMultiDict):
    """The request's args and form, noting every key a view asks for."""

    def get(self, key, default=None, type=None):
        _note(key)
        return super().get(key, default=default, type=type)

    def getlist(self, key, type=None):
        _note(key)
        return super().getlist(key, type=type)

    def __getitem__(self, key):
        _note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _note(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    parameter_storage_class = RecordingMultiDict


# The values issue 17 reproduced as 500s, and their neighbours.
HOSTILE = [
    "",
    "-1",
    "²",
    "99999999999999999999",
    "2147483648",
    "1" + "0" * 400,
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00",
    "n~99999999999999999999",
    "d~9999-12-31T23:59:59+00:00~1",
    "a@" + "." * 3000 + "@",
    '=HYPERLINK("http://evil.example/","点击")',
    "x" * 6000,
    "\x00",
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
)
SKIPPED = {("auth.logout", "POST")}  # signs out: the rest of the role's run would be anonymous


def _case_key(rule, method, action=None):
    return (rule.endpoint, method, action)


def _cases(app):
    for rule, method in _routes(app):
        if (rule.endpoint, method) in SKIPPED:
            continue
        if rule.endpoint == "dashboard.act":
            for action in ACTION_EXPECTATIONS:
                yield rule, method, action
        else:
            yield rule, method, None


def _sign_in(client, user) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, "could not sign in"
    assert client.get("/").status_code == 200, (
        "signed in, but sent elsewhere (a second factor? a password change?)"
    )


def _csrf(client) -> str:
    with client.session_transaction() as web_session:
        return web_session.get("csrf_token") or ""


def _send(client, rule, method, url, values, *, api_key, token):
    if rule.rule.startswith("/api/"):
        key_id, secret = api_key
        if method == "GET":
            # Signed over the very query sent (method, path, query, nonce and body are all signed).
            full = f"{url}?{urlencode(values)}" if values else url
            headers = signed_headers(key_id, secret, "GET", full, b"", content_type=None)
            return client.get(full, headers=headers)
        body = json.dumps(values, ensure_ascii=False).encode()
        headers = signed_headers(key_id, secret, method, url, body)
        return client.open(url, method=method, data=body, headers=headers)
    if method == "GET":
        return client.get(url, query_string=values)
    if rule.endpoint.startswith("portal."):
        client.get("/portal/captcha.svg")  # a question in the session, so the answer is read
    return client.open(url, method=method, data={**values, "csrf_token": token})


def _form_fields(app, client, world_ids) -> dict[tuple, set[str]]:
    """The field names of every form on every page an administrator can open, by the route it posts to."""
    adapter = app.url_map.bind("localhost")
    fields: dict[tuple, set[str]] = defaultdict(set)
    for rule, method in _routes(app):
        if method != "GET" or rule.endpoint.endswith("static") or rule.rule.startswith("/api/"):
            continue
        response = client.get(_url(rule, world_ids, "admin", "own"))
        if response.mimetype != "text/html":
            response.close()
            continue
        page = response.get_data(as_text=True)
        for attributes, inner in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S):
            action = re.search(r'action="([^"]*)"', attributes)
            form_method = re.search(r'method="([^"]*)"', attributes)
            path = html.unescape(action.group(1)) if action and action.group(1) else rule.rule
            path = path.split("?", 1)[0].split("#", 1)[0]
            verb = (form_method.group(1) if form_method else "get").upper()
            try:
                endpoint, arguments = adapter.match(path, method=verb)
            except Exception:  # a form pointing outside the app, or a URL with an id of another world
                continue
            names = set(re.findall(r'\bname="([^"]+)"', inner)) - {"csrf_token"}
            fields[(endpoint, verb, arguments.get("action"))] |= names
    return fields


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ROLES_ON["sqlite"])
def test_generated_values_never_answer_500_on_sqlite(role, database_url, request):
    _generated_values_never_answer_500(role, "sqlite", request)


# On PostgreSQL the roles add no refusal of their own: administrator and anonymous only.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("role", ROLES_ON["postgresql"])
def test_generated_values_never_answer_500_on_postgresql(role, database_url, request):
    _generated_values_never_answer_500(role, "postgresql", request)


def _generated_values_never_answer_500(role, backend, request):
    app, client, world, session, connection, now = (
        request.getfixturevalue(name) for name in ("app", "client", "world", "session", "connection", "now")
    )
    app.request_class = RecordingRequest
    key, secret = apikeys.create_api_key(session, "test-secret-key", name="生成输入", channel=None, now=now)
    session.commit()
    api_key = (key.key_id, secret)
    users = world["users"]

    # Which names each route reads: the fields of the forms on every page (as an administrator) …
    _sign_in(client, users["admin"])
    names = _form_fields(app, client, world)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    if role != "anonymous":
        _sign_in(client, users[role])
    client.get("/login")  # anonymous visitors get a CSRF token too: this test is about values, not CSRF
    token = _csrf(client)
    cases = list(_cases(app))
    # … and the keys each view asks for, in a first pass without any value.
    for rule, method, action in cases:
        url = _url(rule, world, role, "own", action)
        keys: set[str] = set()
        marker = _READ_KEYS.set(keys)
        savepoint = connection.begin_nested()
        try:
            response = _send(client, rule, method, url, {}, api_key=api_key, token=token)
        finally:
            savepoint.rollback()
            _READ_KEYS.reset(marker)
        response.close()
        names[_case_key(rule, method, action)] |= keys - {"csrf_token"}
        assert response.status_code < 500 or rule.endpoint == "health.healthz", (method, url)

    failures: list[str] = []
    for rule, method, action in cases:
        case_names = sorted(names[_case_key(rule, method, action)])
        if not case_names:
            continue
        url = _url(rule, world, role, "own", action)
        if role == "admin":
            FIGURES["routes with parameters"] += 1
            FIGURES["parameters"] += len(case_names)

        def check(values, rule=rule, method=method, url=url):
            _checked(connection, client, rule, method, url, values, role=role, api_key=api_key, token=token)

        # Every hostile value in every field at once (a view collects its fields' errors, so one field's
        # refusal does not hide another's crash), then values drawn by hypothesis, field by field.
        attempts = [
            lambda value=value, names=case_names: check(dict.fromkeys(names, value)) for value in HOSTILE
        ]
        attempts.append(_generated_sender(EXAMPLES_PER_ROUTE[backend], case_names, check))
        for attempt in attempts:
            try:
                attempt()
            except Exception as exc:  # a 500, or the exception behind it (TESTING propagates it): go on
                failures.append(
                    f"{method} {url} as {role}: {type(exc).__name__}: {str(exc).splitlines()[0]:.300}"
                )
    assert not failures, "answers 500 to generated input:\n" + "\n".join(failures)


def _checked(connection, client, rule, method, url, values, *, role, api_key, token) -> None:
    savepoint = connection.begin_nested()
    try:
        response = _send(client, rule, method, url, values, api_key=api_key, token=token)
    finally:
        savepoint.rollback()
    response.close()
    FIGURES["requests"] += 1
    if response.status_code >= 500 and rule.endpoint != "health.healthz":
        raise AssertionError(f"{method} {url} {values!r:.300} as {role}: {response.status_code}")


def _generated_sender(examples: int, names: list[str], check):
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUES)))
    def send_generated(values):
        check(values)

    return send_generated
