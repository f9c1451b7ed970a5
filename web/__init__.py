"""The Flask adapter: dashboard, public portal, API. Business rules live in `tracker/`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from tracker.config import Settings
from tracker.ops.logs import configure_logging


def create_app(config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    settings.install_pii_keys()
    app.config.update(
        TRACKER_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="tracker_session",
        # The signed cookie is not honoured longer than a session may live (tracker.people.sessions decides the
        # rest on the server); Flask's default would be 31 days.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        JSON_AS_ASCII=False,
    )
    if config:
        app.config.update(config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    from web import proxies

    proxies.init_app(app, settings.trusted_proxies, settings.proxy_hops)
    return app


def register_extensions(app: Flask) -> None:
    from web import database, i18n, inputs, observability, security, signin, templating

    observability.init_app(app)
    database.init_app(app)
    inputs.init_app(app)
    security.init_app(app)
    signin.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)


def register_blueprints(app: Flask) -> None:
    from werkzeug.routing import IntegerConverter

    from web.blueprints import registered_blueprints

    class DatabaseId(IntegerConverter):
        """`<int:…>` in a URL is a row id: beyond a 32-bit integer it is no row (404), not a crash (500)."""

        def __init__(self, map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(map, *args, **kwargs)

    app.url_map.converters["int"] = DatabaseId
    for blueprint in registered_blueprints():
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from web.errors import init_app

    init_app(app)
