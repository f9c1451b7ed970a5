"""One SQLAlchemy session per request. The view that changes data commits; everything else rolls back."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.db import session_factory


def settings() -> Settings:
    return current_app.config["TRACKER_SETTINGS"]


def db() -> Session:
    if "db_session" not in g:
        # Tests inject a factory bound to their transaction; otherwise one pool per database URL.
        factory = current_app.config.get("SESSION_FACTORY") or session_factory(settings().database_url)
        g.db_session = factory()
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
