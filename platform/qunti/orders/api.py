"""Orders over JSON: read an order and its history, and perform transitions.

Staff authenticate with their signed-in session (Flask-Login) and see the orders of their scope
(:func:`qunti.accounts.access.scope_orders`); a resident proves ownership per request with the
header ``X-Tracking-Phone`` (the phone given when submitting). The JSON body of an action is its
parameters (snake_case or camelCase) plus an optional ``expectedVersion``.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from qunti import intake
from qunti.accounts.access import binding_problem, scope_orders
from qunti.api.body import json_object
from qunti.api.errors import ApiError
from qunti.db import db
from qunti.orders.models import Order
from qunti.orders.present import RESIDENT, STAFF, events_json, order_json
from qunti.orders.transitions import (
    RESERVED_PARAMS, TRANSITIONS, Actor, TransitionError, perform, resident_actor, staff_actor)

bp = Blueprint("orders_api", __name__)

PHONE_HEADER = "X-Tracking-Phone"
NOT_FOUND = "没有这个订单，或受理编号与手机号不匹配。"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _staff_user():
    user = current_user
    if user is not None and user.is_authenticated and user.role != "resident":
        return user
    return None


def _caller(number: str) -> tuple[Order, str, Actor]:
    """The order and who is asking for it, or an ApiError (401 anonymous, 403, 404)."""
    number = number.strip().upper()
    user = _staff_user()
    if user is not None:
        problem = binding_problem(user)
        if problem:
            raise ApiError(403, problem)
        order = db.session.scalar(scope_orders(select(Order).where(Order.number == number), user))
        if order is None:
            raise ApiError(404, NOT_FOUND)
        return order, STAFF, staff_actor(user)
    phone = request.headers.get(PHONE_HEADER, "")
    resident = current_user if current_user.is_authenticated and current_user.role == "resident" else None
    if not phone and resident is None:
        raise ApiError(401, f"请先登录；居民请在请求头 {PHONE_HEADER} 中提供提交时填写的手机号。")
    order = db.session.scalar(select(Order).where(Order.number == number))
    # One answer for a missing number and a wrong phone: the API must not tell which numbers exist.
    if order is None:
        raise ApiError(404, NOT_FOUND)
    if phone:
        if not intake.phone_matches(order.submission, phone):
            raise ApiError(404, NOT_FOUND)
        return order, RESIDENT, resident_actor(order)
    if order.resident_user_id != resident.id:
        raise ApiError(404, NOT_FOUND)
    return order, RESIDENT, resident_actor(order, resident)


@bp.get("/orders/<number>")
def get_order(number: str):
    order, audience, actor = _caller(number)
    return jsonify(order_json(order, audience, actor))


@bp.get("/orders/<number>/events")
def get_events(number: str):
    order, audience, _actor = _caller(number)
    return jsonify({"number": order.number, "events": events_json(order, audience)})


def _params(body: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    expected = body.pop("expectedVersion", None)
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise ApiError(422, "expectedVersion 须是整数（订单的 version）", path="/expectedVersion")
    params = {}
    for key, value in body.items():
        name = _CAMEL.sub("_", key).lower() if isinstance(key, str) else key
        if name in RESERVED_PARAMS or name == "attachment":  # files come through the staff pages
            raise ApiError(422, f"不认识的参数：{key}", path=f"/{key}")
        params[name] = value
    return expected, params


@bp.post("/orders/<number>/actions/<action>")
def act(number: str, action: str):
    order, audience, actor = _caller(number)
    transition = TRANSITIONS.get(action)
    if transition is None or transition.effect is None:
        raise ApiError(404, f"没有“{action}”这个操作。")
    expected, params = _params(json_object())
    try:
        perform(order, action, actor, expected_version=expected, **params)
    except TransitionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return jsonify(order_json(order, audience, actor))
