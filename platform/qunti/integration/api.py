"""The interconnection API (``/api/v1/interop``): other systems read and file orders, move them
through the cycle, and read the service items, forms and statistics — with an API key
(``Authorization: Bearer <key>``) that acts as one staff account and holds some scopes.

Documented in :mod:`qunti.integration.openapi`; errors are ``{"error": "…"}`` with the HTTP status.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, url_for
from sqlalchemy import select

from qunti import intake
from qunti.accounts.access import scope_orders
from qunti.api.body import json_object
from qunti.api.errors import ApiError
from qunti.db import db
from qunti.forms.models import Form, FormVersion
from qunti.forms.registry import compiled_version, current_version, version_schema
from qunti.integration.keys import api_actor, authenticate
from qunti.integration.webhooks import iso
from qunti.ledgers import keyset
from qunti.ledgers.demands import local_bounds
from qunti.ledgers.problems import problem_for_order
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders import calendar
from qunti.orders.api import _params as action_params
from qunti.orders.models import Order
from qunti.orders.present import STAFF, events_json, order_json
from qunti.orders.transitions import STATES, TRANSITIONS, TransitionError, perform

bp = Blueprint("interop_api", __name__)


def requires(scope: str | None):
    """Authenticate the API key of the request and check it holds ``scope`` (None: any key)."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            authenticate(scope)
            return view(*args, **kwargs)
        wrapped.api_scope = scope  # read by the OpenAPI document and its test
        return wrapped
    return decorate


@bp.after_request
def _retry_after(response):
    if response.status_code == 429 and getattr(g, "retry_after", None):
        response.headers["Retry-After"] = str(g.retry_after)
    return response


def order_summary(order: Order) -> dict[str, Any]:
    """An order in a list: what it is and where it stands, no answers."""
    return {"number": order.number, "state": order.state, "stateName": STATES.get(order.state, order.state),
            "serviceItem": order.service_item_code, "unit": order.unit_code, "station": order.station_code,
            "community": order.community, "channel": order.channel, "deadline": iso(order.deadline),
            "overdue": order.overdue, "round": order.round, "version": order.lock_version,
            "createdAt": iso(order.created_at), "updatedAt": iso(order.updated_at),
            "url": url_for(".get_order", number=order.number, _external=True)}


def page_size() -> int:
    default = current_app.config["API_PAGE_SIZE"]
    size = request.args.get("limit", default, type=int) or default
    return max(1, min(size, default * 4))


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{name} 须是日期，形如 2026-10-08。", parameter=name) from None


def _scoped(query):
    return scope_orders(query, g.api_key.user)


def _order(number: str) -> Order:
    order = db.session.scalar(_scoped(select(Order).where(Order.number == number.strip().upper())))
    if order is None:
        raise ApiError(404, "没有这个订单，或它不在该密钥的范围内。")
    return order


@bp.get("/orders")
@requires("orders:read")
def list_orders():
    """Orders in the key's scope, newest first, a page at a time (``cursor`` from ``nextCursor``)."""
    query = _scoped(select(Order))
    state = request.args.get("state")
    if state:
        if state not in STATES:
            raise ApiError(400, f"state 须是 {'、'.join(STATES)} 之一。", parameter="state")
        query = query.where(Order.state == state)
    for arg, column in (("serviceItem", Order.service_item_code), ("station", Order.station_code),
                        ("unit", Order.unit_code)):
        if request.args.get(arg):
            query = query.where(column == request.args[arg])
    if request.args.get("organization"):
        query = query.where(Order.service_item_code.in_(select(ServiceItem.code).where(
            ServiceItem.organization == request.args["organization"])))
    low, high = local_bounds(_date_arg("createdFrom"), _date_arg("createdTo"))
    if low is not None:
        query = query.where(Order.created_at >= low)
    if high is not None:
        query = query.where(Order.created_at < high)
    result = keyset.page(db.session, query, (Order.created_at, Order.id), request.args.get("cursor"), page_size(),
                         descending=True, key_of=lambda row: (row.Order.created_at, row.Order.id))
    return jsonify({"orders": [order_summary(row.Order) for row in result.rows], "nextCursor": result.next_cursor})


@bp.get("/orders/<number>")
@requires("orders:read")
def get_order(number: str):
    order = _order(number)
    body = order_json(order, STAFF, api_actor(g.api_key))
    body["problem"] = problem_for_order(order.id)
    return jsonify(body)


@bp.get("/orders/<number>/events")
@requires("orders:read")
def get_events(number: str):
    order = _order(number)
    return jsonify({"number": order.number, "events": events_json(order, STAFF)})


@bp.post("/orders")
@requires("orders:create")
def create_order():
    """File an order: ``{"serviceItem": "S05", "answers": {...}, "channel": "online"}``; the answers are
    checked against the item's current form exactly as on the resident page."""
    body = json_object()
    code = body.get("serviceItem")
    item = db.session.get(ServiceItem, code) if isinstance(code, str) else None
    if item is None or not item.enabled:
        raise ApiError(422, "serviceItem 不是在用的服务事项编号。", path="/serviceItem")
    answers = body.get("answers")
    if not isinstance(answers, dict):
        raise ApiError(422, "answers 须是 JSON 对象（表单的回答）。", path="/answers")
    channel = body.get("channel", "online")
    if channel not in intake.CHANNELS:
        raise ApiError(422, f"channel 须是 {'、'.join(intake.CHANNELS)} 之一。", path="/channel")
    version = current_version(item.form_id)
    compiled = compiled_version(version)
    errors = compiled.check(answers)
    if errors:
        return jsonify({"errors": [{"path": "/answers" + e.path, "message": e.message} for e in errors]}), 422
    user = g.api_key.user
    station = user.station_code if user.role == "station_staff" else None
    submission = intake.accept(version, compiled.prune_hidden(answers), channel=channel, service_item_code=item.code,
                               station_code=station, filed_by=user)
    order = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
    return jsonify({"number": order.number, "state": order.state, "formVersion": version.number,
                    "url": url_for(".get_order", number=order.number, _external=True)}), 201, \
        {"Location": url_for(".get_order", number=order.number, _external=True)}


@bp.post("/orders/<number>/actions/<action>")
@requires("orders:update")
def act(number: str, action: str):
    """Run one transition (``transitions.perform``) as the key's account; the body holds the
    action's parameters and an optional ``expectedVersion``."""
    order = _order(number)
    transition = TRANSITIONS.get(action)
    if transition is None or transition.effect is None:
        raise ApiError(404, f"没有“{action}”这个操作。")
    expected, params = action_params(json_object())
    actor = api_actor(g.api_key)
    try:
        perform(order, action, actor, expected_version=expected, **params)
    except TransitionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return jsonify(order_json(order, STAFF, actor))


@bp.get("/services")
@requires(None)
def services():
    items = db.session.scalars(select(ServiceItem).order_by(ServiceItem.position)).all()
    return jsonify({"services": [
        {"code": i.code, "name": i.name, "organization": i.organization,
         "organizationName": ORGANIZATIONS.get(i.organization, i.organization), "form": i.form_id,
         "timeLimitDays": i.time_limit_days, "functions": i.functions, "summary": i.summary, "enabled": i.enabled}
        for i in items]})


@bp.get("/forms")
@requires(None)
def forms():
    rows = db.session.execute(select(Form.id, Form.title, FormVersion.number).join(
        FormVersion, FormVersion.id == Form.current_version_id).order_by(Form.id)).all()
    return jsonify({"forms": [{"id": fid, "title": title, "currentVersion": number,
                               "url": url_for(".form", form_id=fid, _external=True)} for fid, title, number in rows]})


@bp.get("/forms/<form_id>")
@requires(None)
def form(form_id: str):
    version = current_version(form_id)
    if version is None:
        raise ApiError(404, f"没有编号为“{form_id}”的表单。")
    versions = db.session.execute(select(FormVersion.number, FormVersion.created_at).where(
        FormVersion.form_id == form_id).order_by(FormVersion.number)).all()
    return jsonify({"id": form_id, "version": version.number, "digest": version.digest,
                    "schema": version_schema(version),
                    "fields": [{"pointer": p, "title": t} for p, t in compiled_version(version).field_titles()],
                    "versions": [{"number": n, "createdAt": iso(at)} for n, at in versions]})


@bp.get("/statistics")
@requires("orders:read")
def statistics():
    """The base statistics of the district, an organization or a station (``scope``, ``key``,
    ``from``, ``to``), computed as the dashboards compute them, within the key's scope."""
    from qunti.stats.figures import SCOPES, Scope, as_json, dashboard

    kind = request.args.get("scope", "district")
    if kind not in SCOPES:
        raise ApiError(400, f"scope 须是 {'、'.join(SCOPES)} 之一。", parameter="scope")
    key = request.args.get("key", "") if kind != "district" else ""
    if kind != "district" and not key:
        raise ApiError(400, "请用 key 指定组织代码或服务站代码。", parameter="key")
    today = calendar.today()
    start = _date_arg("from") or today - timedelta(days=364)
    end = _date_arg("to") or today
    if start > end:
        start, end = end, start
    return jsonify(as_json(dashboard(Scope(kind, key), start, end, today, g.api_key.user)))
