"""The embedded web server of `tracker run`: Werkzeug's, without what it would leak.

Werkzeug's handler logs every request line with its query string (a search for a citizen's name and
phone reached the log verbatim) and answers `Server: Werkzeug/x Python/y`. This handler logs the method,
the path and the status only, and names no software version.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

SERVER_NAME = "tracker"


class RequestHandler(WSGIRequestHandler):
    def version_string(self) -> str:
        return SERVER_NAME

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "") or "").path
        # Control characters of a hostile path must not forge log lines.
        path = "".join(c if c.isprintable() else "?" for c in path)
        method = getattr(self, "command", None) or "-"
        self.log("info", '"%s %s" %s %s', method, path, code, size)


def make_embedded_server(host: str, port: int, app: Flask) -> BaseWSGIServer:
    return make_server(host, port, app, threaded=True, request_handler=RequestHandler)
