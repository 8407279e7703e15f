"""Helpers for the order-cycle tests: people, submissions, logging in, reading an order back."""
from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import func, select

from qunti import intake
from qunti.accounts.models import User
from qunti.db import db
from qunti.forms.registry import current_version
from qunti.menu.models import ServiceItem
from qunti.orders.models import Order, OrderEvent

from helpers import example_answers

_names = itertools.count(1)

# Example answers that each end up on one route of rules/dispatch.json.
ROUTES = {
    # item, answer overrides, expected rule row, route class, unit, mode
    "transfer": ("S11", {"issueType": "wage_arrears", "affectedWorkers": 3}, "wage-arrears", "transfer",
                 "hr-social-security", "auto"),
    "purchase": ("S05", {"serviceType": "legal_aid", "applicantCategory": "migrant_worker"}, "legal-aid-migrant",
                 "purchase", "tongxin-legal-aid", "auto"),
    "handle": ("S06", {}, "union-items", "handle", "union", "auto"),
    "escalate": ("S11", {"issueType": "wage_arrears", "affectedWorkers": 40}, "wage-arrears-mass", "escalate",
                 "district", "manual"),
}


def make_user(role: str, *, unit_code: str | None = None, station_code: str | None = None,
              organization: str | None = None, name: str | None = None) -> User:
    """A staff account (no usable password: tests sign in through the session)."""
    n = next(_names)
    user = User(username=f"{role}-{n}", display_name=name or f"测试{role}{n}", password_hash="!", role=role,
                unit_code=unit_code, station_code=station_code, organization=organization)
    db.session.add(user)
    db.session.commit()
    return user


def login(client, user_id: int) -> None:
    with client.session_transaction() as s:
        s["_user_id"] = str(user_id)
        s["_fresh"] = True


def logout(client) -> None:
    with client.session_transaction() as s:
        s.pop("_user_id", None)


def answers_for(app, item_code: str, **overrides: Any) -> dict[str, Any]:
    item = next(i for i in app.extensions["qunti"].catalog.menu if i["code"] == item_code)
    answers = example_answers(app, item["form"])
    answers.update(overrides)
    return answers


def submit(app, item_code: str, **overrides: Any) -> str:
    """Submit the item's example answers through intake (inside an app context); the number."""
    item = db.session.get(ServiceItem, item_code)
    submission = intake.accept(current_version(item.form_id), answers_for(app, item_code, **overrides),
                               service_item_code=item_code)
    return submission.tracking_number


def order(number: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.number == number))


def event_count(number: str | None = None) -> int:
    query = select(func.count()).select_from(OrderEvent)
    if number is not None:
        query = query.join(Order, Order.id == OrderEvent.order_id).where(Order.number == number)
    return db.session.scalar(query)


def prove_phone(client, number: str, phone: str):
    """Open the track page with the phone, as a resident does; this browser may then act."""
    return client.post("/track", data={"number": number, "phone": phone})
