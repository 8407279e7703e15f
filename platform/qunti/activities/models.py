"""Brand activities (published by a brand lead) and the residents' sign-ups for them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow
from qunti.forms.models import Submission

STATUSES = {"published": "报名中", "cancelled": "已取消"}
SIGNUP_STATUSES = {"confirmed": "报名成功", "waiting": "候补中", "cancelled": "已取消"}


class Activity(db.Model):
    """One activity of a brand plugin's activity type. ``taken`` counts confirmed seats; it only
    changes while the row is locked (see :mod:`qunti.activities.seats`), and the database itself
    refuses more than ``capacity``."""

    __tablename__ = "activity"
    __table_args__ = (
        CheckConstraint("taken >= 0 AND taken <= capacity", name="seats"),
        Index(None, "status", "starts_at"),
        Index(None, "organization", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(40), index=True)
    type_id: Mapped[str] = mapped_column(String(64))
    organization: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    signup_deadline: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(200), default="")
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    capacity: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default="published")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    signups: Mapped[list[ActivitySignup]] = relationship(back_populates="activity", viewonly=True,
                                                         order_by="ActivitySignup.id")

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.taken, 0)


class ActivitySignup(db.Model):
    """A resident's sign-up: the answers live in a :class:`Submission` bound to its form version."""

    __tablename__ = "activity_signup"
    # One live sign-up per phone and activity; a cancelled one clears its key so the person may
    # sign up again (NULLs never collide in a unique constraint).
    __table_args__ = (UniqueConstraint("activity_id", "phone_key"), Index(None, "activity_id", "status", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    # Keyed hash of the phone, for the one-sign-up-per-phone check without keeping the phone twice.
    phone_key: Mapped[str | None] = mapped_column(String(64))
    # Random and secret: part of the signed check-in and confirmation links; changing it revokes them.
    nonce: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    checked_in_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    activity: Mapped[Activity] = relationship(back_populates="signups")
    submission: Mapped[Submission] = relationship()

    @property
    def answers(self) -> dict:
        return self.submission.answers

    @property
    def status_name(self) -> str:
        return SIGNUP_STATUSES.get(self.status, self.status)
