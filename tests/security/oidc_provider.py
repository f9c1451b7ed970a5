"""A stand-in OpenID Connect provider on a local port, speaking the real protocol: discovery, JWKS,
authorize (the code flow, PKCE S256 required) and token (client_secret_basic; the code verifier checked;
a code good once), with ID tokens signed RS256 by a real RSA key.

Who "signs in" at the provider is set by the test (`identity`); `tamper` makes it misbehave the ways an
attacker or a broken provider would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "tracker-client"
CLIENT_SECRET = "tracker-client-secret"


class StandInProvider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "signing-1"})
        # Same kid, different key: what a forger who cannot get the provider's key would sign with.
        self.forger_key = RSAKey.generate_key(2048, parameters={"kid": "signing-1"})
        self.identity: dict = {}
        self.tamper: str | None = None
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def id_token(self, grant: dict) -> str:
        issued = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant["identity"]["sub"],
            "aud": CLIENT_ID,
            "iat": issued,
            "exp": issued + 300,
            "nonce": grant["nonce"],
            **{k: v for k, v in grant["identity"].items() if k != "sub"},
        }
        key = self.key
        if self.tamper == "forged_signature":
            key = self.forger_key
        elif self.tamper == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.tamper == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.tamper == "expired":
            claims["iat"], claims["exp"] = issued - 3600, issued - 1800
        elif self.tamper == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1/evil"
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/jwks":
                    return self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    provider.authorize_requests.append(query)
                    if (
                        query.get("response_type") != "code"
                        or query.get("client_id") != CLIENT_ID
                        or query.get("code_challenge_method") != "S256"
                        or not query.get("code_challenge")
                        or "openid" not in query.get("scope", "").split()
                    ):
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {
                        "identity": dict(provider.identity),
                        "nonce": query.get("nonce"),
                        "challenge": query["code_challenge"],
                        "redirect_uri": query["redirect_uri"],
                    }
                    target = (
                        query["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": query.get("state", "")})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                if urlsplit(self.path).path != "/token":
                    return self._json(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                provider.token_requests.append(form)
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._json(401, {"error": "invalid_client"})
                grant = provider.codes.pop(form.get("code", ""), None)  # a code is good once
                if grant is None or form.get("grant_type") != "authorization_code":
                    return self._json(400, {"error": "invalid_grant"})
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                )
                if challenge != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(grant),
                    },
                )

        return Handler
