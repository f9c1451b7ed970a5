"""Fixtures of the intake tests: the bureau every ticket goes to and the 12345 platform's API key."""

import pytest

from tests import factories
from tracker.intake.apikeys import create_api_key

SECRET_KEY = "test-secret-key"  # the settings fixture's TRACKER_SECRET_KEY


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


@pytest.fixture
def key(session, now, dept):
    """The hotline API key (id, secret), committed: the API reads it in its own session."""
    api_key, secret = create_api_key(session, SECRET_KEY, name="12345平台", channel="hotline", now=now)
    session.commit()
    return api_key.key_id, secret
