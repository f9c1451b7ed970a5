"""Server-side sign-in sessions: what a browser's cookie is worth is decided here, on every request.

The cookie carries only a random token (and nothing of the password hash); the `user_sessions` row holds
its SHA-256, when it was opened and when it was last used. A session ends when

* its user signs out (`end_session`) — a copy of the cookie taken before opens nothing afterwards;
* its user's password changes, an administrator resets it or deactivates the user, or an administrator
  chooses "sign out everywhere" (`end_user_sessions`, every row of the user);
* it has been idle longer than `SessionPolicy.idle` (default 30 minutes, 等保 2.0 level 3) or open longer
  than `SessionPolicy.lifetime` (`resume_session` deletes the row and answers None).

`resume_session` is the one check every page request goes through (web.security loads the user with it
before any view runs). A further condition on a session — a second factor still to give, a password that
must be changed first — belongs in it, or in a column of `UserSession` it reads, so no page can skip it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from tracker.people.models import User, UserSession

# last_seen_at is written at most this often per session: no write per page view, and the idle timeout
# is exact to within this step.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session may sit idle and live at most (from the settings, TRACKER_SESSION_*)."""

    idle: timedelta
    lifetime: timedelta


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, *, now: datetime, policy: SessionPolicy) -> str:
    """Record a new session of `user` and return the token for its cookie (shown nowhere else)."""
    _purge_expired(session, now=now, policy=policy)
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=_hash(token), user_id=user.id, created_at=now, last_seen_at=now))
    session.flush()
    return token


def resume_session(
    session: Session, token: str | None, *, now: datetime, policy: SessionPolicy
) -> User | None:
    """The active user of this token, or None: unknown, ended, idle too long, too old, or the user
    deactivated. An expired session is deleted here. Writes (a touch, a deletion) are left for the
    caller to commit."""
    if not token or len(token) > 128:
        return None
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None:
        return None
    if now - row.last_seen_at > policy.idle or now - row.created_at > policy.lifetime:
        session.execute(delete(UserSession).where(UserSession.id == row.id))
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        session.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
    return user


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UserSession).where(UserSession.token_hash == _hash(token)))


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every session of a user (password change or reset, deactivation, "sign out everywhere");
    return how many there were."""
    result = session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return result.rowcount or 0


def _purge_expired(session: Session, *, now: datetime, policy: SessionPolicy) -> None:
    """Forget sessions nobody came back to: done at each sign-in, so the table holds live sessions only."""
    session.execute(
        delete(UserSession).where(
            or_(UserSession.last_seen_at < now - policy.idle, UserSession.created_at < now - policy.lifetime)
        )
    )
