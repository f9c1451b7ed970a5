"""Settings of this issue: secrets from files (docker secrets), passwords put into URLs, the metrics
allow-list and the log format — bad values stop the process at start with the variable's name."""

from __future__ import annotations

import ipaddress
import os

import pytest

from tracker.config import SECRET_VARS, Settings


def _settings(tmp_path, **env):
    # A production database needs the personal-data keys (tracker.pii.keys): the test run's.
    keys = {"TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"]}
    return Settings.from_env({"TRACKER_INSTANCE_DIR": str(tmp_path / "instance"), **keys, **env})


def test_each_secret_can_come_from_a_file(tmp_path):
    for name in SECRET_VARS:
        (tmp_path / name).write_text(f"value-of-{name}\n")
    settings = _settings(
        tmp_path,
        **{f"{name}_FILE": str(tmp_path / name) for name in SECRET_VARS},
        TRACKER_DATABASE_URL="postgresql+psycopg://tracker@db:5432/tracker",
        TRACKER_BROKER_URL="redis://redis:6379/0",
    )
    assert settings.secret_key == "value-of-TRACKER_SECRET_KEY"  # the trailing newline dropped
    assert settings.smtp_password == "value-of-TRACKER_SMTP_PASSWORD"
    assert settings.weibo_access_token == "value-of-TRACKER_WEIBO_ACCESS_TOKEN"
    assert settings.metrics_token == "value-of-TRACKER_METRICS_TOKEN"
    assert settings.sentry_dsn == "value-of-TRACKER_SENTRY_DSN"
    assert (
        settings.database_url
        == "postgresql+psycopg://tracker:value-of-TRACKER_DATABASE_PASSWORD@db:5432/tracker"
    )
    assert settings.broker_url == "redis://:value-of-TRACKER_BROKER_PASSWORD@redis:6379/0"
    # Secrets never appear in the settings' repr (a log line, a traceback), the URLs with passwords neither.
    assert "value-of" not in repr(settings)


def test_a_password_with_url_characters_is_quoted(tmp_path):
    (tmp_path / "pw").write_text("p@ss:w/rd?#%")
    settings = _settings(
        tmp_path,
        TRACKER_DATABASE_URL="postgresql+psycopg://tracker@db/tracker",
        TRACKER_DATABASE_PASSWORD_FILE=str(tmp_path / "pw"),
    )
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    assert url.password == "p@ss:w/rd?#%" and url.host == "db" and url.database == "tracker"


def test_both_a_secret_and_its_file_is_refused(tmp_path):
    (tmp_path / "key").write_text("from-file")
    with pytest.raises(ValueError, match="TRACKER_SECRET_KEY or TRACKER_SECRET_KEY_FILE"):
        _settings(tmp_path, TRACKER_SECRET_KEY="from-env", TRACKER_SECRET_KEY_FILE=str(tmp_path / "key"))


def test_an_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="TRACKER_SMTP_PASSWORD_FILE: cannot read"):
        _settings(tmp_path, TRACKER_SMTP_PASSWORD_FILE=str(tmp_path / "missing"))


def test_an_empty_secret_file_leaves_the_feature_off(tmp_path):
    (tmp_path / "dsn").write_text("")
    assert _settings(tmp_path, TRACKER_SENTRY_DSN_FILE=str(tmp_path / "dsn")).sentry_dsn is None


def test_a_password_needs_a_url_with_a_host(tmp_path):
    (tmp_path / "pw").write_text("secret")
    with pytest.raises(ValueError, match="TRACKER_DATABASE_PASSWORD"):
        _settings(tmp_path, TRACKER_DATABASE_PASSWORD_FILE=str(tmp_path / "pw"))  # the SQLite default


def test_metrics_allow_list_and_log_format(tmp_path):
    settings = _settings(
        tmp_path, TRACKER_METRICS_ALLOW="127.0.0.1, 10.8.0.0/16,::1", TRACKER_LOG_FORMAT="JSON"
    )
    assert settings.metrics_allow == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.8.0.0/16"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.log_format == "json"
    assert _settings(tmp_path).metrics_allow == () and _settings(tmp_path).log_format == "text"
    with pytest.raises(ValueError, match="TRACKER_METRICS_ALLOW: 'everyone'"):
        _settings(tmp_path, TRACKER_METRICS_ALLOW="everyone")
    with pytest.raises(ValueError, match="TRACKER_LOG_FORMAT must be one of text, json"):
        _settings(tmp_path, TRACKER_LOG_FORMAT="xml")
