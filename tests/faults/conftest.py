"""The real-worker fixtures of tests/workers (a committed scratch PostgreSQL database, a private
redis-server), shared here rather than copied."""

import gc
import warnings

import pytest

from tests.workers.conftest import pg_scratch_url, private_redis  # noqa: F401


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """After a fault test has finished tearing down — later than its fixtures, once pytest's log capture
    has let go of the records it kept — collect the connections the fault cut.

    A crash of the private PostgreSQL leaves psycopg connections referenced only from cycles (the logged
    exceptions' tracebacks). Collected at some random later moment, they would warn "deleted while still
    open" against whichever test runs then; their server no longer exists, so there is nothing to close.
    """
    try:
        return (yield)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
