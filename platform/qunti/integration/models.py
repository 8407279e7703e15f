"""Rows of the interconnection layer: API keys and their rate windows, webhook subscriptions, the
outbox of deliveries (written in the same transaction as the order event) and every attempt."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.accounts.models import User
from qunti.db import db, utcnow
from qunti.orders.models import Order, OrderEvent

SCOPES = {"orders:read": "读取订单与统计", "orders:create": "提交订单", "orders:update": "办理订单（状态变更）"}


class ApiKey(db.Model):
    """A key another system uses as ``Authorization: Bearer <key>``. Only a SHA-256 of the key is
    kept (the key is shown once, when issued); the key acts as ``user`` (its role and scope)."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in lists, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiRateWindow(db.Model):
    """Requests of one key in one fixed window (``window`` = start, in seconds since the epoch)."""

    __tablename__ = "api_rate_window"

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)


class WebhookSubscription(db.Model):
    """A receiving URL for one event type (or ``*``); the secret signs every body sent to it."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    secret: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(db.Model):
    """The outbox: one message for one subscription, written with the order event it reports.

    ``qunti tick`` claims due rows (``claimed_until`` is the lease), posts them and records each
    attempt; a row waits while an earlier pending row of the same subscription and order exists,
    so a receiver sees each order's events in order."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at", "id"),
                      Index("ix_webhook_delivery_sequence", "subscription_id", "order_id", "status", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)  # X-Qunti-Delivery: the receiver's dedup key
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("order_event.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscription: Mapped[WebhookSubscription] = relationship()
    # Set by object, so a new order and its first events go out with their deliveries in one flush.
    order: Mapped[Order] = relationship()
    event: Mapped[OrderEvent | None] = relationship()


class WebhookAttempt(db.Model):
    """One try of one delivery: what came back (status code or error) and how long it took."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(default=0)
    host: Mapped[str] = mapped_column(String(100), default="")
