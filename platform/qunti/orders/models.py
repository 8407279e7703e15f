"""Orders, their append-only events, ratings and reminders."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow
from qunti.forms.models import Submission


class Order(db.Model):
    """One resident request on its way through the cycle. ``state`` changes only through
    ``qunti.orders.transitions``; ``lock_version`` makes concurrent changes fail instead of clobber."""

    __tablename__ = "service_order"
    __table_args__ = (
        Index("ix_service_order_unit_state_deadline", "unit_code", "state", "deadline"),
        Index("ix_service_order_state_created", "state", "created_at"),
        Index("ix_service_order_item_community_state", "service_item_code", "community", "state"),
        # What changed since the statistics summary's watermark (qunti.stats.rollup).
        Index("ix_service_order_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # = the submission's tracking number
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), unique=True)
    service_item_code: Mapped[str] = mapped_column(ForeignKey("service_item.code"))
    state: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(default=1)

    channel: Mapped[str] = mapped_column(String(16), default="online")
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    community: Mapped[str] = mapped_column(String(60), default="")
    applicant_category: Mapped[str] = mapped_column(String(20), default="")
    # Keyed hash of the contact phone, equal across one applicant's orders (counts.openByApplicant).
    applicant_key: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # The route: what the rules suggested, and what was decided.
    suggestion: Mapped[dict[str, Any] | None]
    route_class: Mapped[str | None] = mapped_column(String(12))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"), index=True)
    ruleset_digest: Mapped[str | None] = mapped_column(String(64))
    rule_row_id: Mapped[str | None] = mapped_column(String(60))

    # Time limits in working days, turned into dates when dispatched.
    time_limit_days: Mapped[int] = mapped_column(default=10)
    accept_by: Mapped[date | None]
    deadline: Mapped[date | None]
    overdue: Mapped[bool] = mapped_column(default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)

    # 五定: goal, task, people, deadline, responsible unit and person.
    plan: Mapped[dict[str, Any] | None]
    result_note: Mapped[str | None] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_path: Mapped[str | None] = mapped_column(String(200))

    round: Mapped[int] = mapped_column(default=1)  # 2 after 重办
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(60), default="")

    __mapper_args__ = {"version_id_col": lock_version}

    submission: Mapped[Submission] = relationship()
    events: Mapped[list[OrderEvent]] = relationship(order_by="OrderEvent.id", back_populates="order",
                                                    viewonly=True)
    ratings: Mapped[list[Rating]] = relationship(order_by="Rating.round", viewonly=True)


class OrderEvent(db.Model):
    """One transition of an order. Append-only: never updated, never deleted."""

    __tablename__ = "order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_label: Mapped[str] = mapped_column(String(60))  # "系统", "张三（区人力社保局）", "居民"
    reason: Mapped[str | None] = mapped_column(Text)
    rule_id: Mapped[str | None] = mapped_column(String(60))
    ruleset_digest: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None]

    order: Mapped[Order] = relationship(back_populates="events")


class Rating(db.Model):
    """评单: one rating per order and round; after a redo the second round's rating counts."""

    __tablename__ = "rating"
    __table_args__ = (UniqueConstraint("order_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"))
    round: Mapped[int]
    level: Mapped[int]  # 5 非常满意 … 1 非常不满意
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(db.Model):
    """催办 recorded by ``qunti tick``; the unique key makes the tick idempotent across hosts."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("order_id", "kind", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # due_soon, overdue
    day: Mapped[date]
    unit_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderFollowup(db.Model):
    """Something an enabled plugin asked staff to do after an order transition (qunti_order_event),
    e.g. 四季帮扶回访 after a hardship order is closed; shown with the order."""

    __tablename__ = "order_followup"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("order_event.id"))
    plugin_id: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(OrderEvent, "before_update")
@event.listens_for(OrderEvent, "before_delete")
def _events_are_append_only(_mapper, _connection, target: OrderEvent) -> None:
    raise RuntimeError(f"order events are append-only (event {target.id})")
