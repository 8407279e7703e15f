"""A per-username lockout after repeated failed logins.

Kept in the database, not in process memory, so every gunicorn worker and host counts the same
failures. Any name typed into the login form is counted, existing or not: the lockout itself must not
tell a stranger which usernames exist.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import as_utc, db, utcnow

MAX_FAILURES = 5
LOCK_MINUTES = 15


class LoginThrottle(db.Model):
    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(60), primary_key=True)  # as normalized by key()
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def key(username: str) -> str:
    return username.strip().lower()[:60]




def locked_until(username: str, now: datetime | None = None) -> datetime | None:
    """When the lock on ``username`` ends, or None when it may try now."""
    row = db.session.get(LoginThrottle, key(username))
    until = as_utc(row.locked_until) if row is not None else None
    return until if until is not None and until > (now or utcnow()) else None


def record_failure(username: str, now: datetime | None = None) -> bool:
    """Count one failed attempt (commits); True when this attempt started a lock."""
    now = now or utcnow()
    name = key(username)
    if db.session.get(LoginThrottle, name) is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(username=name, failures=0))
        except IntegrityError:
            pass  # another worker counted the same name a moment ago
    # An atomic increment: concurrent failures from several workers all count.
    db.session.execute(update(LoginThrottle).where(LoginThrottle.username == name)
                       .values(failures=LoginThrottle.failures + 1, updated_at=now))
    row = db.session.get(LoginThrottle, name, populate_existing=True)
    locked = row.failures >= MAX_FAILURES
    if locked:
        row.failures, row.locked_until = 0, now + timedelta(minutes=LOCK_MINUTES)
    db.session.commit()
    return locked


def clear(username: str) -> None:
    """Forget the failures of ``username`` after a successful login (caller commits)."""
    row = db.session.get(LoginThrottle, key(username))
    if row is not None:
        row.failures, row.locked_until = 0, None
