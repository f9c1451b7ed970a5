"""OpenID Connect sign-in (统一身份认证), when TRACKER_OIDC_ISSUER and TRACKER_OIDC_CLIENT_ID are set.

Authlib runs the protocol: the authorization code flow with PKCE (S256), a `state` bound to this browser's
session and a `nonce` bound to the ID token; the ID token's signature is checked against the keys the
provider publishes (its JWKS, found through its discovery document), and its issuer, audience, expiry
and nonce are checked too. tracker.people.sso then decides which local account it is. The second factor and
everything after it are the same as for a password (web/signin.py).
"""

from __future__ import annotations

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, render_template, request, url_for
from joserfc.errors import JoseError
from requests import RequestException

from tracker.errors import PermissionDenied
from tracker.people.models import AuditEntry
from tracker.people.sso import SsoMapping, resolve_sso_user
from web.database import db, settings
from web.signin import after_first_factor, now

bp = Blueprint("oidc", __name__)

PROVIDER = "sso"


def _client():
    config = settings()
    if not config.is_oidc_enabled:
        abort(404)
    registry = current_app.extensions.get("tracker_oidc")
    if registry is None:
        registry = OAuth(current_app)
        registry.register(
            name=PROVIDER,
            client_id=config.oidc_client_id,
            client_secret=config.oidc_client_secret,
            server_metadata_url=f"{config.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile", "code_challenge_method": "S256", "timeout": 10},
        )
        current_app.extensions["tracker_oidc"] = registry
    return registry.create_client(PROVIDER)


def _callback_url() -> str:
    # From the configured public address, not the request's Host header, which a client chooses.
    return settings().public_url.rstrip("/") + url_for("oidc.callback")


@bp.route("/login/oidc")
def start():
    return _client().authorize_redirect(_callback_url())


@bp.route("/login/oidc/callback")
def callback():
    client = _client()
    try:
        token = client.authorize_access_token()
        claims = token.get("userinfo")
        if not claims:
            raise OAuthError(description="no ID token in the token response")
    except (OAuthError, JoseError, RequestException, ValueError, KeyError) as exc:
        # A forged or replayed callback (state), a bad signature, nonce, audience or expiry, or the
        # provider unreachable. The reason is audited; the page says only that it failed.
        db().add(
            AuditEntry(
                at=now(),
                action="login.sso_rejected",
                ip=request.remote_addr,
                detail={"reason": type(exc).__name__, "description": str(exc)[:200]},
            )
        )
        db().commit()
        return render_template("auth/login.html", error="统一身份认证登录失败，请重试"), 401
    try:
        user = resolve_sso_user(
            db(), dict(claims), SsoMapping.from_settings(settings()), now=now(), ip=request.remote_addr
        )
    except PermissionDenied as exc:
        db().commit()
        return render_template("auth/login.html", error=exc.message), 403
    db().commit()
    return after_first_factor(user, method="oidc", next_url=url_for("dashboard.home"))
