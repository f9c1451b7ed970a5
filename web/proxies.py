"""The client's address and scheme behind a reverse proxy — believed only from a configured proxy.

Behind the documented TLS proxy every request arrives from the proxy's address, so without this the
per-address sign-in limit, the portal's hourly limits and the audit log all see one client (the whole
city), and the tracker never knows the request was HTTPS (no HSTS). Werkzeug's ProxyFix takes the client
from `X-Forwarded-For` (and the scheme from `X-Forwarded-Proto`, the host from `X-Forwarded-Host`), but it
believes whoever sends those headers; here it is applied only when the connecting peer is one of
TRACKER_TRUSTED_PROXIES, with TRACKER_PROXY_HOPS proxies in the chain. From any other peer the headers
are ignored: a client cannot choose its own address by writing `X-Forwarded-For`.

`request.remote_addr` is then the one address every per-address rule and the audit log read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for requests whose peer is a trusted proxy, nothing for the rest."""

    def __init__(self, app, trusted: Iterable[str], hops: int = 1) -> None:
        self.app = app
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    def _is_trusted(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self._is_trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def init_app(app, trusted: tuple[str, ...], hops: int) -> None:
    """Wrap the app only when proxies are configured: by default no forwarded header is believed."""
    if trusted:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, trusted, hops)
