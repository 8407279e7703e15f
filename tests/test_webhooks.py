"""Outbound webhooks: the outbox row is written in the order event's own transaction; deliveries are
signed, logged attempt by attempt, retried with backoff while the receiver is down, and delivered
exactly once and in order per order when it comes back — also with two hosts ticking at once."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from qunti import intake
from qunti.cli import main
from qunti.db import db, utcnow
from qunti.forms.registry import current_version
from qunti.integration import webhooks
from qunti.integration.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from qunti.orders.models import OrderEvent
from qunti.orders.transitions import Conflict, perform, staff_actor

from order_helpers import answers_for, make_user, order, submit
from users import login


class Receiver:
    """A local HTTP receiver: answers 503 while down, records what it gets while up."""

    def __init__(self, delay: float = 0.0) -> None:
        self.up, self.delay, self.received, self.refused = False, delay, [], 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                if not receiver.up:
                    receiver.refused += 1
                    self.send_response(503)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hook_app(make_app):
    return make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_BACKOFF_SECONDS=30, WEBHOOK_BACKOFF_MAX_SECONDS=600,
                    WEBHOOK_MAX_ATTEMPTS=25, WEBHOOK_TIMEOUT_SECONDS=5)


def work(number: str, handler) -> None:
    """签收, 五定, 销号 as the unit's handler."""
    actor = staff_actor(handler)
    perform(order(number), "accept", actor)
    deadline = order(number).deadline.isoformat()
    perform(order(number), "plan", actor, plan={"goal": "目标", "task": "任务", "people": "王强", "deadline": deadline,
                                                "unit": "union", "person": "王强"})
    perform(order(number), "complete", actor, result_note="已办结")


def deliveries(status: str | None = None) -> int:
    query = select(func.count()).select_from(WebhookDelivery)
    return db.session.scalar(query.where(WebhookDelivery.status == status) if status else query)


def test_each_event_writes_its_delivery_in_the_same_transaction(hook_app, receiver):
    with hook_app.app_context():
        everything = webhooks.subscribe(receiver.url, "*")
        completed_only = webhooks.subscribe(receiver.url, "order.completed")
        number = submit(hook_app, "S06")  # filed and routed: two events, one transaction
        assert deliveries() == db.session.scalar(select(func.count()).select_from(OrderEvent)) == 2
        work(number, make_user("handler", unit_code="union"))
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        assert [(r.subscription_id, r.event_type) for r in rows] == [
            (everything.id, "order.created"), (everything.id, "order.dispatched"), (everything.id, "order.accepted"),
            (everything.id, "order.planned"), (everything.id, "order.completed"), (completed_only.id, "order.completed")]
        assert all(r.event_id is not None and r.status == "pending" for r in rows)
        assert "answers" not in json.dumps(rows[0].payload) and rows[0].payload["order"]["number"] == number

        # A transition that fails writes nothing; a submission rolled back takes its deliveries along.
        with pytest.raises(Conflict):
            perform(order(number), "accept", staff_actor(make_user("handler", unit_code="union")))
        intake.accept(current_version("skills-training"), answers_for(hook_app, "S06"), service_item_code="S06",
                      commit=False)
        db.session.rollback()
        assert deliveries() == 6


def test_a_receiver_down_for_an_hour_loses_nothing_and_gets_each_event_once_in_order(hook_app, receiver):
    with hook_app.app_context():
        subscription = webhooks.subscribe(receiver.url, "*")
        handler = make_user("handler", unit_code="union")
        first, second = submit(hook_app, "S06"), submit(hook_app, "S06")
        work(first, handler)
        total = deliveries()
        assert total == 7  # 2 + 3 for the first order, 2 for the second

        t0 = utcnow()
        result = webhooks.deliver_due(now=t0)
        # Only the head of each order's queue is tried: a later event never overtakes an earlier one.
        assert (result.delivered, result.failed, receiver.refused) == (0, 2, 2)
        attempt = db.session.scalars(select(WebhookAttempt)).first()
        assert attempt.status_code == 503 and attempt.error == "HTTP 503" and attempt.duration_ms >= 0
        head = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.attempts == 1))
        due = head.next_attempt_at.replace(tzinfo=None)  # SQLite reads UTC back naive
        assert abs(due - (t0 + timedelta(seconds=30)).replace(tzinfo=None)) < timedelta(seconds=2)
        assert webhooks.deliver_due(now=t0 + timedelta(seconds=10)).failed == 0  # backing off

        # Down for an hour: the waits grow 30 s, 60 s, 120 s… (capped at 10 minutes here).
        moment, tries = t0, 1
        while moment < t0 + timedelta(hours=1):
            moment += timedelta(minutes=11)
            tries += webhooks.deliver_due(now=moment).failed // 2
        db.session.expire_all()
        attempts = sorted({d.attempts for d in db.session.scalars(select(WebhookDelivery))})
        assert attempts == [0, tries] and tries >= 6
        assert deliveries("pending") == total and receiver.received == []

        receiver.up = True
        result = webhooks.deliver_due(now=moment + timedelta(minutes=11))
        assert (result.delivered, result.failed) == (total, 0)
        assert webhooks.deliver_due(now=moment + timedelta(hours=2)).delivered == 0  # nothing twice
        bodies = receiver.bodies()
        assert len(bodies) == total and len({b["id"] for b in bodies}) == total
        for number in (first, second):
            sent = [b["event"]["action"] for b in bodies if b["order"]["number"] == number]
            stored = [e.action for e in db.session.scalars(select(OrderEvent).where(
                OrderEvent.order_id == order(number).id).order_by(OrderEvent.id))]
            assert sent == stored
        assert deliveries("delivered") == total
        assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 2 * tries + total

        # Every body is signed with the subscription's secret; the headers name it and its time.
        for headers, body in receiver.received:
            expected = "sha256=" + hmac.new(subscription.secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Qunti-Signature"], expected)
            assert headers["X-Qunti-Delivery"] == json.loads(body)["id"]
            assert headers["X-Qunti-Timestamp"].isdigit() and headers["X-Qunti-Event"] == json.loads(body)["type"]
            assert headers["Content-Type"].startswith("application/json")


def test_two_hosts_ticking_at_once_never_send_one_delivery_twice(hook_app, make_app, tmp_path):
    slow = Receiver(delay=0.02)
    slow.up = True
    try:
        with hook_app.app_context():
            webhooks.subscribe(slow.url, "*")
            for _ in range(6):
                submit(hook_app, "S06")
            total = deliveries()
        other = make_app(fresh=False, INSTANCE_PATH=str(tmp_path / "other"), WEBHOOK_ALLOW_PRIVATE_URLS=True,
                         WEBHOOK_BATCH_SIZE=2)
        hook_app.config["WEBHOOK_BATCH_SIZE"] = 2
        results, errors = [], []

        def host(app):
            try:
                with app.app_context():
                    results.append(webhooks.deliver_due())
                    db.session.remove()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=host, args=(a,)) for a in (hook_app, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        ids = [b["id"] for b in slow.bodies()]
        assert len(ids) == len(set(ids)) == total == sum(r.delivered for r in results)
        with other.app_context():
            db.engine.dispose()
    finally:
        slow.close()


def test_private_and_odd_urls_are_refused_unless_allowed(make_app, receiver):
    app = make_app()
    with app.app_context():
        for url, reason in ((receiver.url, "内网、本机"), ("http://10.1.2.3/x", "内网"), ("http://169.254.169.254/", "内网"),
                            ("http://[::1]:8080/", "内网"), ("ftp://example.com/x", "http 或 https"),
                            ("http://user:pw@example.com/", "用户名或密码"), ("https:///nohost", "主机名"),
                            ("http://no-such-host.invalid/", "无法解析")):
            with pytest.raises(webhooks.UrlRefused, match=reason):
                webhooks.subscribe(url, "*")
        assert db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0
        with pytest.raises(webhooks.UrlRefused, match="事件类型"):
            webhooks.subscribe("https://example.com/", "order.exploded")
        # Registered while allowed, delivered after the setting went back: refused at delivery too.
        app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = True
        webhooks.subscribe(receiver.url, "*")
        app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = False
        receiver.up = True
        submit(app, "S06")
        assert webhooks.deliver_due().failed == 1 and receiver.received == []
        assert "内网" in db.session.scalar(select(WebhookAttempt.error))


def test_a_delivery_given_up_stops_blocking_and_an_admin_can_send_it_again(make_app, receiver):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_MAX_ATTEMPTS=2, WEBHOOK_BACKOFF_SECONDS=1)
    with app.app_context():
        webhooks.subscribe(receiver.url, "*")
        number = submit(app, "S06")
        t0 = utcnow()
        webhooks.deliver_due(now=t0)
        result = webhooks.deliver_due(now=t0 + timedelta(seconds=5))
        assert result.given_up == 1 and result.failed == 1  # the next event is tried at once
        receiver.up = True
        assert webhooks.deliver_due(now=t0 + timedelta(seconds=10)).delivered == 1
        failed = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.status == "failed"))
        client = app.test_client()
        login(client, make_user("sys_admin"))
        page = client.get(f"/integration/deliveries/{failed.id}").get_data(as_text=True)
        assert "HTTP 503" in page and number in page
        client.post(f"/integration/deliveries/{failed.id}/retry")
        assert webhooks.deliver_due(now=t0 + timedelta(seconds=20)).delivered == 1


def test_admins_register_webhooks_and_qunti_tick_delivers(make_app, receiver):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True)
    client = app.test_client()
    with app.app_context():
        login(client, make_user("dispatcher"))
        assert client.post("/integration/webhooks", data={"url": receiver.url, "event_type": "*"}).status_code == 403
        login(client, make_user("sys_admin"))
        response = client.post("/integration/webhooks", data={"url": receiver.url, "event_type": "order.created",
                                                               "description": "市级平台"})
        subscription = db.session.scalar(select(WebhookSubscription))
        assert response.status_code == 201 and subscription.secret in response.get_data(as_text=True)
        assert subscription.secret not in client.get("/integration/webhooks").get_data(as_text=True)
        response = client.post("/integration/webhooks", data={"url": "ftp://x", "event_type": "*"})
        assert response.status_code == 303
        receiver.up = True
        submit(app, "S06")
        output = app.test_cli_runner().invoke(main, ["tick"]).output
        assert "Webhook 推送成功 1 条" in output
        assert [b["type"] for b in receiver.bodies()] == ["order.created"]
