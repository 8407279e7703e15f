"""Seats: signing up, cancelling and moving up the waiting list, never overbooking.

Every change to an activity's seats is one transaction that first locks the activity row:
``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite (one writer at a time) the first statement writes
the row, which takes the database's write lock. While the lock is held, counting and moving
sign-ups is safe; the seat itself is taken with ``UPDATE … SET taken = taken + 1 WHERE taken <
capacity``, and the table's CHECK constraint refuses any overbooking that slipped past both.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from qunti import intake
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db, utcnow
from qunti.forms.models import FormVersion


class SignupError(Exception):
    """A sign-up, cancellation or check-in that cannot happen; ``message`` is for people (中文)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def phone_key(activity_id: int, phone: Any) -> str | None:
    digits = intake.normalize_phone(phone)
    return intake.keyed_hash(f"activity:{activity_id}:{digits}") if digits else None


def lock(activity_id: int) -> Activity | None:
    """The activity, locked for the rest of the transaction (see the module docstring)."""
    query = select(Activity).where(Activity.id == activity_id).execution_options(populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        db.session.execute(update(Activity).where(Activity.id == activity_id).values(taken=Activity.taken)
                           .execution_options(synchronize_session=False))
    return db.session.scalars(query).one_or_none()


def _take_seat(activity: Activity) -> bool:
    result = db.session.execute(
        update(Activity).where(Activity.id == activity.id, Activity.taken < Activity.capacity)
        .values(taken=Activity.taken + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.refresh(activity, ["taken"])
    return True


def _fill_seats(activity: Activity) -> list[ActivitySignup]:
    """Move the longest-waiting sign-ups up while seats are free (activity locked by the caller)."""
    promoted = []
    while activity.taken < activity.capacity:
        waiting = db.session.scalars(
            select(ActivitySignup).where(ActivitySignup.activity_id == activity.id, ActivitySignup.status == "waiting")
            .order_by(ActivitySignup.id).limit(1)).first()
        if waiting is None or not _take_seat(activity):
            break
        waiting.status, waiting.confirmed_at = "confirmed", utcnow()
        promoted.append(waiting)
    return promoted


def open_problem(activity: Activity, now: datetime | None = None) -> str | None:
    """Why ``activity`` takes no sign-ups now, or None."""
    now = now or utcnow()
    if activity.status != "published":
        return "该活动已取消。"
    if now >= aware(activity.signup_deadline):
        return "报名已截止。"
    if now >= aware(activity.starts_at):
        return "活动已开始，不能再报名。"
    return None


def sign_up(activity_id: int, version: FormVersion, answers: dict[str, Any], *, channel: str = "online",
            user_id: int | None = None) -> ActivitySignup:
    """Store the answers and give a seat, or a place on the waiting list when the activity is full.

    Raises SignupError (closed, already signed up with this phone). Commits.
    """
    try:
        activity = lock(activity_id)
        if activity is None:
            raise SignupError("没有这个活动。")
        problem = open_problem(activity)
        if problem:
            raise SignupError(problem)
        key = phone_key(activity.id, answers.get("phone"))
        if key is not None and db.session.scalar(select(ActivitySignup.id).where(
                ActivitySignup.activity_id == activity.id, ActivitySignup.phone_key == key)):
            raise SignupError("这个手机号已经报名了本活动，无需重复报名。")
        submission = intake.accept(version, answers, channel=channel, commit=False)
        confirmed = _take_seat(activity)
        signup = ActivitySignup(activity_id=activity.id, submission_id=submission.id,
                                status="confirmed" if confirmed else "waiting", phone_key=key,
                                nonce=secrets.token_hex(16), user_id=user_id,
                                confirmed_at=utcnow() if confirmed else None)
        db.session.add(signup)
        db.session.commit()
    except IntegrityError:
        # Two sign-ups with one phone at the same moment on a database without the row lock.
        db.session.rollback()
        raise SignupError("这个手机号已经报名了本活动，无需重复报名。") from None
    except BaseException:
        db.session.rollback()
        raise
    return signup


def cancel(signup_id: int) -> list[ActivitySignup]:
    """Cancel a sign-up; a freed seat goes to the longest-waiting person. Returns who moved up."""
    try:
        activity_id = db.session.scalar(select(ActivitySignup.activity_id).where(ActivitySignup.id == signup_id))
        if activity_id is None:
            raise SignupError("没有这个报名。")
        activity = lock(activity_id)
        signup = db.session.get(ActivitySignup, signup_id, populate_existing=True)
        if signup.status == "cancelled":
            db.session.rollback()
            return []
        if signup.checked_in_at is not None:
            raise SignupError("已经签到的报名不能取消。")
        if utcnow() >= aware(activity.starts_at):
            raise SignupError("活动已开始，不能取消报名。")
        held_seat = signup.status == "confirmed"
        signup.status, signup.cancelled_at, signup.phone_key = "cancelled", utcnow(), None
        if held_seat:
            db.session.execute(update(Activity).where(Activity.id == activity.id)
                               .values(taken=Activity.taken - 1).execution_options(synchronize_session=False))
            db.session.refresh(activity, ["taken"])
        promoted = _fill_seats(activity)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return promoted


def resize(activity_id: int, capacity: int) -> list[ActivitySignup]:
    """Change the capacity (never below the seats taken); extra seats go to the waiting list."""
    try:
        activity = lock(activity_id)
        if capacity < activity.taken:
            raise SignupError(f"已有 {activity.taken} 人报名成功，名额不能少于这个数。")
        activity.capacity = capacity
        db.session.flush()
        promoted = _fill_seats(activity)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return promoted


def waiting_position(signup: ActivitySignup) -> int | None:
    """1 for the next person to move up; None unless waiting."""
    if signup.status != "waiting":
        return None
    ahead = db.session.scalar(select(db.func.count()).select_from(ActivitySignup).where(
        ActivitySignup.activity_id == signup.activity_id, ActivitySignup.status == "waiting",
        ActivitySignup.id < signup.id))
    return (ahead or 0) + 1


CHECKIN_REFUSALS = {
    "cancelled": "该报名已取消，不能签到。",
    "waiting": "该报名仍在候补，没有名额，不能签到。",
}


def check_in(signup_id: int, nonce: str, staff_user_id: int | None) -> ActivitySignup:
    """Mark a confirmed sign-up as arrived, once. Raises SignupError saying why not."""
    now = utcnow()
    result = db.session.execute(
        update(ActivitySignup).where(ActivitySignup.id == signup_id, ActivitySignup.nonce == nonce,
                                     ActivitySignup.status == "confirmed", ActivitySignup.checked_in_at.is_(None))
        .values(checked_in_at=now, checked_in_by_user_id=staff_user_id).execution_options(synchronize_session=False))
    db.session.commit()
    signup = db.session.get(ActivitySignup, signup_id, populate_existing=True)
    if result.rowcount == 1:
        return signup
    if signup is None or not hmac.compare_digest(signup.nonce, nonce):
        raise SignupError("二维码无效：找不到对应的报名，可能是伪造的。")
    if signup.status in CHECKIN_REFUSALS:
        raise SignupError(CHECKIN_REFUSALS[signup.status])
    from qunti.staff.present import local
    raise SignupError(f"该报名已于 {local(signup.checked_in_at):%m-%d %H:%M} 签到，不能重复签到。")
