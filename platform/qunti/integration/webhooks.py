"""Outbound webhooks through an outbox.

:func:`enqueue` runs inside the transaction that appends an order event (called by
``qunti.orders.transitions``), so a delivery exists exactly when its event does. :func:`deliver_due`
(run by ``qunti tick``) claims due rows — ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
conditional UPDATE on SQLite — so several hosts never send one row twice; posts each body signed
with the subscription's secret; logs every attempt; and retries failures with exponential backoff.
A row waits while an earlier row of the same subscription and order is still pending, so each
receiver gets an order's events in order, and a receiver that is down loses nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from qunti import revision
from qunti.db import as_utc, db, utcnow
from qunti.integration.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

# Order actions (qunti.orders.transitions) as the event types receivers subscribe to.
EVENT_TYPES = {
    "submit": "order.created", "dispatch": "order.dispatched", "confirm": "order.dispatched",
    "override": "order.dispatched", "escalate": "order.escalated", "queue": "order.queued",
    "accept": "order.accepted", "plan": "order.planned", "complete": "order.completed",
    "return": "order.returned", "transfer": "order.transferred", "extend": "order.extended",
    "rate": "order.rated", "reopen": "order.reopened", "cancel": "order.cancelled",
}
ALL_EVENTS = "*"
EVENT_CHOICES = {ALL_EVENTS: "全部事件", **{t: t for t in dict.fromkeys(EVENT_TYPES.values())}}
SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER, EVENT_HEADER = (
    "X-Qunti-Signature", "X-Qunti-Timestamp", "X-Qunti-Delivery", "X-Qunti-Event")


class UrlRefused(ValueError):
    """A receiving URL that is not allowed; the message says why (Chinese)."""


def check_url(url: str, *, allow_private: bool | None = None) -> str:
    """``url`` if it is http(s) and every address its host resolves to is public (or private
    addresses are allowed by WEBHOOK_ALLOW_PRIVATE_URLS); UrlRefused otherwise."""
    if allow_private is None:
        allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"]
    url = (url or "").strip()
    if len(url) > 500:
        raise UrlRefused("地址太长（最多 500 个字符）。")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("地址格式不对。") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("只能推送到 http 或 https 地址。")
    if not parts.hostname:
        raise UrlRefused("地址缺少主机名。")
    if parts.username or parts.password:
        raise UrlRefused("地址里不能带用户名或密码；接收方请用签名校验来源。")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UrlRefused(f"无法解析主机名“{parts.hostname}”。") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not allow_private and not address.is_global:
            raise UrlRefused(f"不能推送到内网、本机或保留地址（{address}）。")
    return url


def subscribe(url: str, event_type: str, *, description: str = "", created_by: str = "") -> WebhookSubscription:
    if event_type not in EVENT_CHOICES:
        raise UrlRefused(f"不认识的事件类型：{event_type}")
    row = WebhookSubscription(url=check_url(url), event_type=event_type, secret=secrets.token_hex(32),
                              description=(description or "").strip()[:100], created_by=created_by[:60])
    db.session.add(row)
    db.session.commit()
    return row


def iso(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        value = as_utc(value)
    return value.isoformat() if value is not None else None


def _payload(order, event, event_type: str) -> dict[str, Any]:
    """What the receiver learns: the order's reference and state and the event; no personal data
    (a receiver with an API key reads the rest through the API)."""
    from qunti.orders.transitions import STATES, TRANSITIONS

    transition = TRANSITIONS.get(event.action)
    return {
        "order": {"number": order.number, "state": order.state, "stateName": STATES.get(order.state),
                  "serviceItem": order.service_item_code, "unit": order.unit_code, "station": order.station_code,
                  "deadline": iso(order.deadline), "round": order.round, "overdue": bool(order.overdue)},
        "event": {"action": event.action, "actionName": transition.label if transition else event.action,
                  "from": event.from_state, "to": event.to_state, "at": iso(event.at),
                  "by": (event.data or {}).get("by") or event.actor_label, "reason": event.reason},
    }


_SUBSCRIPTIONS = WebhookSubscription.__table__
_ACTIVE = select(_SUBSCRIPTIONS.c.event_type, _SUBSCRIPTIONS.c.id).where(_SUBSCRIPTIONS.c.active.is_(True)) \
    .order_by(_SUBSCRIPTIONS.c.id)


def _load_active() -> dict[str, tuple[int, ...]]:
    active: dict[str, tuple[int, ...]] = {}
    for event_type, subscription_id in db.session.execute(_ACTIVE):
        active[event_type] = (*active.get(event_type, ()), subscription_id)
    return active


def active_subscriptions() -> dict[str, tuple[int, ...]]:
    """Ids of the active subscriptions by event type. Cached per app under the definitions revision
    (``webhook_subscription`` is a watched table, so a new or switched-off subscription counts from
    the next transaction on; see qunti.revision): every order event asks, on the submission hot path
    too."""
    return revision.cached("webhooks", _load_active)


def _subscribers(action: str, active: dict[str, tuple[int, ...]] | None = None) -> tuple[str, list[int]]:
    """The event type of ``action`` and the active subscriptions that take it, by id (of
    ``active``, when the caller has :func:`active_subscriptions` at hand)."""
    event_type = EVENT_TYPES.get(action, f"order.{action}")
    active = active_subscriptions() if active is None else active
    return event_type, sorted({*active.get(event_type, ()), *active.get(ALL_EVENTS, ())})


def subscribed(actions: Iterable[str]) -> bool:
    """Whether an event of any of ``actions`` gets an outbox row (some active subscription takes it)."""
    active = active_subscriptions()
    return bool(active) and any(_subscribers(action, active)[1] for action in actions)


def enqueue(order, event) -> int:
    """Write one outbox row per active subscription to ``event``'s type, in the caller's transaction
    (nothing is flushed here). Returns how many."""
    event_type, subscriptions = _subscribers(event.action)
    if not subscriptions:
        return 0
    payload = _payload(order, event, event_type)
    for subscription_id in subscriptions:
        db.session.add(WebhookDelivery(uuid=str(uuid.uuid4()), subscription_id=subscription_id, order=order,
                                       event=event, event_type=event_type, payload=payload))
    return len(subscriptions)


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed); the same on every retry."""
    document = {"id": delivery.uuid, "type": delivery.event_type, "createdAt": iso(delivery.created_at),
                "eventId": delivery.event_id, **(delivery.payload or {})}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: base, 2×base, 4×base… up to the maximum."""
    base = current_app.config["WEBHOOK_BACKOFF_SECONDS"]
    ceiling = current_app.config["WEBHOOK_BACKOFF_MAX_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), ceiling))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead anywhere, inside the network included: it counts as a failure.
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    started = time.monotonic()
    status, error = None, None
    try:
        check_url(url)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
        exc.close()
    except UrlRefused as exc:
        error = str(exc)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))[:500] or type(exc).__name__
    return Outcome(status, error, int((time.monotonic() - started) * 1000))


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0

    def __str__(self) -> str:
        return f"Webhook 推送成功 {self.delivered} 条，失败待重试 {self.failed} 条，放弃 {self.given_up} 条。"


def _claim(token: str, now: datetime, batch: int) -> list[WebhookDelivery]:
    """Take up to ``batch`` due rows for this host until the lease ends; commits."""
    earlier = aliased(WebhookDelivery)
    due = and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
               or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
               ~exists().where(earlier.subscription_id == WebhookDelivery.subscription_id,
                               earlier.order_id == WebhookDelivery.order_id, earlier.status == "pending",
                               earlier.id < WebhookDelivery.id))
    lease = now + timedelta(seconds=batch * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 60)
    candidates = select(WebhookDelivery.id).where(due).order_by(WebhookDelivery.id).limit(batch)
    if db.session.get_bind().dialect.name == "postgresql":
        ids = db.session.scalars(candidates.with_for_update(skip_locked=True)).all()
        if ids:
            db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                               .values(claimed_by=token, claimed_until=lease)
                               .execution_options(synchronize_session=False))
    else:
        # SQLite runs one writer at a time: the UPDATE re-checks the lease as it takes the rows.
        db.session.execute(update(WebhookDelivery).where(
            WebhookDelivery.id.in_(candidates.scalar_subquery()),
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
            .values(claimed_by=token, claimed_until=lease).execution_options(synchronize_session=False))
    db.session.commit()
    return list(db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.claimed_by == token, WebhookDelivery.status == "pending").order_by(WebhookDelivery.id)))


def _attempt(delivery: WebhookDelivery, token: str, now_of) -> str:
    """Post one claimed delivery, log the attempt, settle the row; returns its new status."""
    subscription = delivery.subscription
    body = body_of(delivery)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Qunti-Webhook/1",
               EVENT_HEADER: delivery.event_type, DELIVERY_HEADER: delivery.uuid,
               TIMESTAMP_HEADER: str(int(now_of().timestamp())), SIGNATURE_HEADER: sign(subscription.secret, body)}
    if subscription.active:
        outcome = post(subscription.url, body, headers, current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    else:
        outcome = Outcome(None, "订阅已停用", 0)
    finished = now_of()
    db.session.add(WebhookAttempt(delivery_id=delivery.id, at=finished, status_code=outcome.status_code,
                                  error=None if outcome.ok else (outcome.error or f"HTTP {outcome.status_code}"),
                                  duration_ms=outcome.duration_ms, host=socket.gethostname()[:100]))
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": outcome.status_code,
                              "claimed_by": None, "claimed_until": None}
    if outcome.ok:
        values.update(status="delivered", delivered_at=finished, last_error=None)
    elif attempts >= current_app.config["WEBHOOK_MAX_ATTEMPTS"] or not subscription.active:
        values.update(status="failed", last_error=outcome.error)
    else:
        values.update(next_attempt_at=finished + backoff(attempts), last_error=outcome.error)
    # Only while this host still holds the lease: never settle a row another host took over.
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id,
                                                     WebhookDelivery.claimed_by == token)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.commit()
    return values.get("status", "pending")


def deliver_due(now: datetime | None = None, *, budget_seconds: float | None = None) -> DeliveryResult:
    """Deliver every due outbox row (``qunti tick``): claim a batch, post it, repeat until nothing is
    due or the time budget is spent. ``now`` pins the clock (tests)."""
    token = uuid.uuid4().hex
    started = time.monotonic()
    budget = current_app.config["WEBHOOK_TICK_BUDGET_SECONDS"] if budget_seconds is None else budget_seconds
    batch = max(int(current_app.config["WEBHOOK_BATCH_SIZE"]), 1)
    offset = (now - utcnow()) if now is not None else timedelta(0)

    def now_of() -> datetime:
        return utcnow() + offset

    result = DeliveryResult()
    while time.monotonic() - started < budget:
        claimed = _claim(token, now_of(), batch)
        if not claimed:
            break
        for delivery in claimed:
            status = _attempt(delivery, token, now_of)
            if status == "delivered":
                result.delivered += 1
            elif status == "failed":
                result.given_up += 1
            else:
                result.failed += 1
    return result


def retry(delivery: WebhookDelivery) -> None:
    """An admin sends a given-up delivery again from the start."""
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    delivery.claimed_by = delivery.claimed_until = None
    db.session.commit()
