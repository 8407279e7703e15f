"""People for tests: ``make_user(role, **binding)`` and ``login(client, user)``; plus ``make_order``
for pages that need an order in a given state without walking the whole cycle.

Call them inside an app context (the ``ctx`` fixture). Bindings that do not exist yet (a unit or a
station) are created, so ``make_user("handler", unit_code="justice")`` just works.
"""
from __future__ import annotations

import itertools
from datetime import date, datetime, timezone
from typing import Any

from flask import g, has_app_context

from qunti.accounts.models import ROLE_BINDING, User
from qunti.db import db
from qunti.directory.models import Station, Unit

PASSWORD = "correct-horse-9"
_counter = itertools.count(1)

# What each role is bound to when a test does not say.
DEFAULT_BINDING = {"station_staff": {"station_code": "gangcheng"}, "handler": {"unit_code": "justice"},
                   "brand_lead": {"organization": "union"}, "org_admin": {"organization": "union"}}


def ensure_unit(code: str, kind: str = "department", name: str | None = None) -> Unit:
    unit = db.session.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, name=name or f"测试单位{code}", kind=kind)
        db.session.add(unit)
        db.session.flush()
    return unit


def ensure_station(code: str, community: str = "港城社区", lead: str = "union") -> Station:
    station = db.session.get(Station, code)
    if station is None:
        station = Station(code=code, name=f"{code}服务站", community=community, lead_organization=lead)
        db.session.add(station)
        db.session.flush()
    return station


def make_user(role: str, *, username: str | None = None, password: str = PASSWORD, **binding: Any) -> User:
    """A saved user of ``role``; the role's binding defaults to DEFAULT_BINDING. Pass e.g.
    ``unit_code=None`` to make a user whose binding is missing."""
    fields = {**DEFAULT_BINDING.get(role, {}), **binding}
    if fields.get("unit_code"):
        ensure_unit(fields["unit_code"])
    if fields.get("station_code"):
        ensure_station(fields["station_code"])
    n = next(_counter)
    user = User(username=username or f"{role}-{n}", display_name=f"测试{role}{n}", role=role, **fields)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def forget_request_state() -> None:
    """Drop what earlier requests left in ``g``. Under the ``ctx`` fixture the test client's requests
    share that one app context, so Flask-Login's cached user would otherwise outlive a (re)login."""
    if has_app_context():
        for name in list(g):
            g.pop(name, None)


def login(client, user: User) -> None:
    """Sign ``user`` in on ``client`` the way Flask-Login keeps it: the id in the session."""
    user_id = str(user.id)
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    forget_request_state()


def logout(client) -> None:
    with client.session_transaction() as session:
        session.pop("_user_id", None)
    forget_request_state()


def make_order(item_code: str = "S05", *, state: str = "dispatched", unit_code: str | None = "justice",
               created_at: datetime | None = None, **fields: Any):
    """An order inserted directly (no rules, no events), with a submission of the item's form
    example. ``fields`` set any Order column (deadline, accept_by, station_code, round…)."""
    from qunti.forms.models import Submission
    from qunti.forms.registry import current_version, version_schema
    from qunti.menu.models import ServiceItem
    from qunti.orders.models import Order

    if unit_code:
        ensure_unit(unit_code)
    if fields.get("station_code"):
        ensure_station(fields["station_code"])
    item = db.session.get(ServiceItem, item_code)
    version = current_version(item.form_id)
    n = next(_counter)
    number = f"JBT{n:09d}"
    created_at = created_at or datetime.now(timezone.utc)
    submission = Submission(tracking_number=number, form_version_id=version.id, service_item_code=item_code,
                            answers=dict((version_schema(version).get("examples") or [{}])[0]),
                            channel=fields.get("channel", "online"), created_at=created_at)
    db.session.add(submission)
    db.session.flush()
    values = {"deadline": date.today(), "community": "港城社区", "time_limit_days": item.time_limit_days}
    values.update(fields)
    order = Order(number=number, submission_id=submission.id, service_item_code=item_code, state=state,
                  unit_code=unit_code, created_at=created_at, **values)
    db.session.add(order)
    db.session.commit()
    return order


def binding_of(user: User) -> str | None:
    field = ROLE_BINDING.get(user.role)
    return getattr(user, field) if field else None
