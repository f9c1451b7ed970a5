"""The caller's transaction spans every statement of a session, on SQLite as on PostgreSQL."""

import uuid

from sqlalchemy import select

from tracker.db import session_factory
from tracker.people.models import Department


def test_a_savepoint_released_after_only_reads_commits_nothing(database_url):
    # pysqlite used to open the transaction only at the first INSERT: a SAVEPOINT before it opened one
    # of its own, and its RELEASE committed the row for good although the caller rolled back.
    code = f"tx-{uuid.uuid4().hex[:8]}"
    session = session_factory(database_url)()
    try:
        session.scalars(select(Department).limit(1)).all()
        with session.begin_nested():
            session.add(Department(code=code, name="只应存在于本事务中的部门"))
        session.rollback()
    finally:
        session.close()

    check = session_factory(database_url)()
    try:
        assert check.scalar(select(Department).where(Department.code == code)) is None
    finally:
        check.close()
