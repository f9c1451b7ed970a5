"""OpenID Connect sign-in against a local stand-in provider (tests/security/oidc_provider.py): the code
flow with PKCE, state and nonce, the ID token's signature checked against the provider's JWKS, and the
identity mapped to a local account and role by the configured claims."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from tests import factories
from tests.security.oidc_provider import CLIENT_ID, CLIENT_SECRET, StandInProvider
from tracker.people.models import AuditEntry, User


@pytest.fixture
def provider():
    with StandInProvider() as running:
        yield running


@pytest.fixture
def sso_app(app, provider):
    app.config["TRACKER_SETTINGS"] = replace(
        app.config["TRACKER_SETTINGS"],
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_role_claim="groups",
        oidc_role_map={"tracker-staff": "staff", "tracker-office": "admin", "tracker-audit": "auditor"},
    )
    return app


def authorize(client):
    """The browser's trip: our /login/oidc → the provider's authorize → back with code and state."""
    start = client.get("/login/oidc")
    assert start.status_code == 302, start.get_data(as_text=True)
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    return f"{back.path}?{back.query}"


def sso_sign_in(client):
    return client.get(authorize(client))


def _actions(session):
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_sign_in_through_the_provider(sso_app, provider, session, now):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {"sub": "u-1001", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    client = sso_app.test_client()
    response = sso_sign_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    # The protocol as sent: PKCE S256, state and nonce; the verifier went to the token endpoint.
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and sent["state"] and sent["nonce"]
    assert provider.token_requests[-1]["code_verifier"]
    session.expire_all()
    assert session.get(User, staff.id).oidc_subject == f"{provider.issuer}#u-1001"
    actions = _actions(session)
    assert actions[-3:] == ["sso.linked", "login.sso_ok", "login.completed"]
    completed = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.completed")).all()[-1]
    assert completed.detail["method"] == "oidc"


def test_the_role_comes_from_the_claim_and_administrators_still_need_the_second_factor(
    sso_app, provider, session, now
):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {
        "sub": "u-2",
        "preferred_username": staff.username,
        "groups": ["tracker-staff", "tracker-office"],
    }
    client = sso_app.test_client()
    response = sso_sign_in(client)
    assert response.headers["Location"].endswith("/login/enrol")
    assert client.get("/").status_code == 302  # not signed in until the second factor
    session.expire_all()
    assert session.get(User, staff.id).role == "admin"
    change = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.role_from_sso")).one()
    assert change.detail == {"from": "staff", "to": "admin"}


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        ({"sub": "u-9", "preferred_username": "nobody-here", "groups": ["tracker-staff"]}, "没有对应的账户"),
        (
            {"sub": "u-9", "preferred_username": "{user}", "groups": ["somewhere-else"]},
            "不对应本系统的任何角色",
        ),
        ({"sub": "u-9", "groups": ["tracker-staff"]}, "preferred_username"),
    ],
)
def test_identities_without_an_account_or_a_role_are_refused(
    sso_app, provider, session, now, identity, reason
):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {
        k: (v.format(user=staff.username) if isinstance(v, str) else v) for k, v in identity.items()
    }
    client = sso_app.test_client()
    response = sso_sign_in(client)
    assert response.status_code == 403 and reason in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert _actions(session)[-1] == "login.sso_rejected"


def test_an_account_bound_to_one_identity_refuses_another(sso_app, provider, session, now):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {"sub": "u-1", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    assert sso_sign_in(sso_app.test_client()).status_code == 302
    # Another identity at the provider claims the same username.
    provider.identity = {"sub": "u-666", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    response = sso_sign_in(sso_app.test_client())
    assert response.status_code == 403 and "另一个统一身份" in response.get_data(as_text=True)


def test_a_deactivated_account_is_refused(sso_app, provider, session, now):
    staff = factories.user(session, role="staff", now=now)
    staff.is_active = False
    session.commit()
    provider.identity = {"sub": "u-1", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    assert sso_sign_in(sso_app.test_client()).status_code == 403


@pytest.mark.parametrize(
    "tamper", ["forged_signature", "wrong_nonce", "wrong_audience", "expired", "wrong_issuer"]
)
def test_an_id_token_that_does_not_hold_is_refused(sso_app, provider, session, now, tamper):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {"sub": "u-1", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    provider.tamper = tamper
    client = sso_app.test_client()
    response = sso_sign_in(client)
    assert response.status_code == 401
    assert client.get("/").status_code == 302
    assert _actions(session)[-1] == "login.sso_rejected"
    session.expire_all()
    assert session.get(User, staff.id).oidc_subject is None


def test_a_forged_or_replayed_callback_is_refused(sso_app, provider, session, now):
    staff = factories.user(session, role="staff", now=now)
    session.commit()
    provider.identity = {"sub": "u-1", "preferred_username": staff.username, "groups": ["tracker-staff"]}
    victim = sso_app.test_client()
    callback = authorize(victim)
    # Login CSRF: the attacker's code and state delivered into another browser's session.
    attacker = sso_app.test_client()
    assert attacker.get(callback).status_code == 401
    # A state the session never issued.
    query = parse_qs(urlsplit(callback).query)
    forged = f"/login/oidc/callback?code={query['code'][0]}&state=forged"
    assert victim.get(forged).status_code == 401
    # The real one works once, and not again.
    assert victim.get(callback).status_code == 302
    again = sso_app.test_client()
    assert again.get(callback).status_code == 401


def test_oidc_is_off_unless_configured(client):
    assert client.get("/login/oidc").status_code == 404
    assert "统一身份认证" not in client.get("/login").get_data(as_text=True)
