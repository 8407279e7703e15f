"""How orders read on staff pages and the board: names for codes, states, dates and rule reasons."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g
from sqlalchemy import select

from qunti.db import db
from qunti.directory.models import Station, Unit
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.rules.ruleset import CLASS_NAMES
from qunti.staff import bp

_OPERATORS = {"==": "等于", "===": "等于", "!=": "不等于", "!==": "不等于", ">": "大于", ">=": "不少于",
              "<": "小于", "<=": "不超过", "in": "属于"}


def _cached(name: str, load):
    if name not in g:
        setattr(g, name, load())
    return getattr(g, name)


def units() -> dict[str, Unit]:
    return _cached("qunti_units", lambda: {u.code: u for u in db.session.scalars(select(Unit).order_by(Unit.code))})


def active_units() -> list[Unit]:
    return [u for u in units().values() if u.active]


def items() -> dict[str, ServiceItem]:
    return _cached("qunti_items", lambda: {i.code: i for i in db.session.scalars(
        select(ServiceItem).order_by(ServiceItem.position))})


def stations() -> dict[str, Station]:
    return _cached("qunti_stations", lambda: {s.code: s for s in db.session.scalars(
        select(Station).order_by(Station.code))})


def state_labels() -> dict[str, str]:
    from qunti.orders.transitions import STATES
    return {code: (value if isinstance(value, str) else getattr(value, "label", code))
            for code, value in STATES.items()}


@bp.app_template_filter("unit_name")
def unit_name(code: str | None) -> str:
    if not code:
        return "未派单"
    unit = units().get(code)
    return unit.name if unit else code


@bp.app_template_filter("item_name")
def item_name(code: str | None) -> str:
    item = items().get(code or "")
    return item.name if item else (code or "")


@bp.app_template_filter("station_name")
def station_name(code: str | None) -> str:
    if not code:
        return "网上"
    station = stations().get(code)
    return station.name if station else code


@bp.app_template_filter("order_state")
def order_state(state: str | None) -> str:
    return state_labels().get(state or "", state or "")


@bp.app_template_filter("route_class")
def route_class_name(route_class: str | None) -> str:
    return CLASS_NAMES.get(route_class, route_class or "")


@bp.app_template_filter("organization_name")
def organization_name(code: str | None) -> str:
    return ORGANIZATIONS.get(code or "", code or "")


def zone() -> ZoneInfo:
    """The district's time zone, in which dates are shown and periods are cut."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def local(moment: datetime | date | None) -> datetime | date | None:
    """A stored UTC moment in the district's time zone (dates pass through)."""
    if not isinstance(moment, datetime):
        return moment
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(zone())


@bp.app_template_filter("local_time")
def when(moment: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    value = local(moment)
    if value is None:
        return "—"
    return value.strftime(fmt if isinstance(value, datetime) else "%Y-%m-%d")


@bp.app_template_filter("local_date")
def day(moment: datetime | date | None) -> str:
    value = local(moment)
    return value.strftime("%Y-%m-%d") if value is not None else "—"


def _operand(value: Any) -> str:
    if isinstance(value, dict) and "var" in value:
        path = value["var"]
        return str(path[0] if isinstance(path, list) else path)
    if isinstance(value, list):
        return "、".join(_operand(v) for v in value)
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


@bp.app_template_filter("condition_text")
def condition_text(condition: Any) -> str:
    """A JSON Logic condition as one readable line, e.g. ``answers.issueType 等于 wage_arrears``."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return _operand(condition)
    (op, args), = condition.items()
    args = args if isinstance(args, list) else [args]
    if op in _OPERATORS and len(args) == 2:
        return f"{_operand(args[0])} {_OPERATORS[op]} {_operand(args[1])}"
    if op in ("and", "or"):
        joined = " 且 " if op == "and" else " 或 "
        return joined.join(f"（{condition_text(a)}）" for a in args)
    if op == "!" and args:
        return f"并非（{condition_text(args[0])}）"
    if op == "some" and len(args) == 2:
        return f"{_operand(args[0])} 中有一项满足（{condition_text(args[1])}）"
    return json.dumps(condition, ensure_ascii=False)


def suggestion_view(suggestion: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the dispatch queue shows of a rule suggestion: the row, the route and the conditions
    that held (the reason the row matched)."""
    if not suggestion:
        return None
    row = suggestion.get("row") or {}
    route = suggestion.get("route") or {}
    held = []
    for entry in suggestion.get("reason") or []:
        if isinstance(entry, dict) and entry.get("held"):
            held.append(entry.get("text") or condition_text(entry.get("condition")))
    return {"row_id": row.get("id") or suggestion.get("id"), "title": row.get("title") or suggestion.get("title"),
            "route_class": route.get("class"), "unit": route.get("unit"), "mode": route.get("mode"),
            "held": held, "errors": list(suggestion.get("errors") or [])
            + ([{"row": None, "message": suggestion["error"]}] if suggestion.get("error") else [])}
