"""Serve a Flask app from a thread of the test process, the way the browser, XSS and outage tests need it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def served(app, port: int = 0) -> Iterator[int]:
    """Run `app` on 127.0.0.1 (`port`, or a free one) in a daemon thread; yield the port.

    On exit the server stops, then this process's outbox relay threads (each write response of a
    non-TESTING app wakes one, web/views/notifications.py), then the engines are disposed — in that order,
    so no thread is left holding a connection of a pool that is gone, whose database may be gone too.
    """
    from werkzeug.serving import make_server

    from tracker.db import dispose_engines
    from workers.outbox import stop_relays

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        stop_relays()
        dispose_engines()
