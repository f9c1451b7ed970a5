"""Chinese first, English second (Flask-Babel). The chosen language is kept in the session."""

from __future__ import annotations

from flask import Flask, session
from flask_babel import Babel

LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    # Chinese unless the user picked English: browsers in offices often send en-US by default.
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else "zh_CN"


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
