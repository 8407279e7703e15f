"""Open311 GeoReport v2 (``/open311/v2``): the service menu as Open311 services, each service's
form as its attributes, and orders as service requests.

- ``GET services.json``: public; ``GET services/<code>.json``: the definition (attributes from the
  form's fields, in display order);
- ``GET requests.json`` and ``GET requests/<id>.json``: an API key with ``orders:read``, sent as
  ``api_key`` or ``Authorization: Bearer`` (requests are residents' matters: they are not public);
  the list is the key's scope, newest first, filtered by ``service_code``, ``status``,
  ``start_date``, ``end_date`` (default: the last 90 days), at most 1000;
- ``POST requests.json``: form-encoded, ``api_key`` with ``orders:create``, ``service_code``,
  ``attribute[<code>]`` (``attribute[<code>][]`` for several values), and the standard
  ``first_name``, ``last_name``, ``phone``, ``email``, ``description``, mapped onto the form's
  ``name`` (姓 + 名), ``phone``, ``email`` and ``description`` fields when the form has them.

Errors are Open311's ``[{"code": 400, "description": "…"}]`` with that HTTP status. ``jurisdiction_id``
is accepted and ignored (one jurisdiction). Only the JSON format is offered.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from qunti import intake
from qunti.accounts.access import scope_orders
from qunti.api.errors import ApiError
from qunti.db import db
from qunti.directory.models import Unit
from qunti.forms.fields import typed_number
from qunti.forms.nodes import Node
from qunti.forms.registry import compiled_version, current_version
from qunti.integration.keys import authenticate
from qunti.integration.webhooks import iso
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders.models import Order
from qunti.orders.transitions import OPEN_STATES

bp = Blueprint("open311", __name__)

MAX_REQUESTS = 1000
DEFAULT_DAYS = 90
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _errors(status: int, *descriptions: str):
    return jsonify([{"code": status, "description": d} for d in descriptions]), status


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    return _errors(exc.status, exc.description)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    response, status = _errors(exc.status, exc.message)
    if status == 429 and getattr(g, "retry_after", None):
        response.headers["Retry-After"] = str(g.retry_after)
    return response, status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _errors(exc.code or 500, exc.description or "请求有误")


def _item(code: str) -> ServiceItem:
    item = db.session.get(ServiceItem, code)
    if item is None or not item.enabled:
        raise Open311Error(404, f"没有服务代码为“{code}”的服务。")
    return item


def _keywords(item: ServiceItem) -> str:
    words = [item.name, *(item.functions or []), item.organization_name]
    return ",".join(dict.fromkeys(w for w in words if w))


@bp.get("/services.json")
def services():
    items = db.session.scalars(select(ServiceItem).where(ServiceItem.enabled.is_(True))
                               .order_by(ServiceItem.position)).all()
    return jsonify([{"service_code": i.code, "service_name": i.name, "description": i.summary or i.name,
                     "metadata": True, "type": "realtime", "keywords": _keywords(i),
                     "group": ORGANIZATIONS.get(i.organization, i.organization)} for i in items])


def attribute_code(node: Node) -> str:
    """An attribute's code: the field's JSON Pointer with dots, e.g. ``employer.name``."""
    return node.pattern.lstrip("/").replace("/", ".")


def _leaves(node: Node):
    """Fields that take one value each (or a list of values), in display order; repeatable groups
    of single values count as one field, groups of rows cannot be sent through Open311."""
    for child in node.children:
        if child.kind == "object":
            yield from _leaves(child)
        elif child.kind == "group":
            if child.item is not None and child.item.is_leaf:
                yield child
        else:
            yield child


def _datatype(node: Node) -> str:
    if node.kind == "choice" or node.kind == "boolean":
        return "singlevaluelist"
    if node.kind == "multi":
        return "multivaluelist"
    if node.kind in ("integer", "number"):
        return "number"
    if node.kind == "group":
        return "text"
    if node.schema.get("format") in ("date", "date-time", "time"):
        return "datetime"
    return "text" if node.widget == "textarea" else "string"


_FORMAT_HINTS = {"date": "日期，形如 2026-10-08", "date-time": "日期时间，形如 2026-10-08T09:30:00+08:00",
                 "time": "时间，形如 09:30", "email": "电子邮箱", "uri": "网址"}


def _description(node: Node) -> str:
    if node.kind == "group":
        return "每行一项"
    if node.kind == "integer":
        return "整数"
    hints = [node.help, node.placeholder, _FORMAT_HINTS.get(node.schema.get("format", ""), "")]
    return "；".join(h for h in hints if h)


def _values(node: Node) -> list[dict[str, str]]:
    if node.kind == "boolean":
        return [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}]
    return [{"key": c.key, "name": c.label} for c in node.choices]


def attributes(item: ServiceItem) -> list[dict[str, Any]]:
    compiled = compiled_version(current_version(item.form_id))
    out = []
    for order, node in enumerate(_leaves(compiled.tree), start=1):
        attribute = {"variable": True, "code": attribute_code(node), "datatype": _datatype(node),
                     "required": bool(node.html_required), "datatype_description": _description(node),
                     "order": order, "description": node.title}
        if attribute["datatype"] in ("singlevaluelist", "multivaluelist"):
            attribute["values"] = _values(node)
        out.append(attribute)
    return out


@bp.get("/services/<code>.json")
def service_definition(code: str):
    item = _item(code)
    return jsonify({"service_code": item.code, "attributes": attributes(item)})


def _status(order: Order) -> str:
    return "open" if order.state in OPEN_STATES else "closed"


def request_json(order: Order, items: dict[str, ServiceItem], units: dict[str, str]) -> dict[str, Any]:
    item = items.get(order.service_item_code)
    return {
        "service_request_id": order.number, "status": _status(order),
        "status_notes": order.result_note if _status(order) == "closed" else None,
        "service_name": item.name if item else order.service_item_code, "service_code": order.service_item_code,
        # The item's name and the community only: answers are personal data.
        "description": f"{item.name if item else order.service_item_code}（{order.community or '未填社区'}）",
        "agency_responsible": units.get(order.unit_code, order.unit_code) if order.unit_code else "群团工作联席会",
        "service_notice": None, "requested_datetime": iso(order.created_at), "updated_datetime": iso(order.updated_at),
        "expected_datetime": iso(datetime.combine(order.deadline, datetime.min.time(), tzinfo=timezone.utc))
        if order.deadline else None,
        "address": order.community or None, "address_id": None, "zipcode": None, "lat": None, "long": None,
        "media_url": None,
    }


def _lookups() -> tuple[dict[str, ServiceItem], dict[str, str]]:
    items = {i.code: i for i in db.session.scalars(select(ServiceItem))}
    units = dict(db.session.execute(select(Unit.code, Unit.name)).all())
    return items, units


def _moment(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} 须是 ISO 8601 时间，如 2026-10-08T00:00:00+08:00。") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@bp.get("/requests.json")
def list_requests():
    key = authenticate("orders:read")
    query = scope_orders(select(Order), key.user)
    if request.args.get("service_request_id"):
        numbers = [n.strip().upper() for n in request.args["service_request_id"].split(",") if n.strip()]
        query = query.where(Order.number.in_(numbers[:MAX_REQUESTS]))
    else:
        start, end = _moment("start_date"), _moment("end_date")
        if start is None and end is None:
            start = datetime.now(timezone.utc) - timedelta(days=DEFAULT_DAYS)
        if start is not None:
            query = query.where(Order.created_at >= start)
        if end is not None:
            query = query.where(Order.created_at <= end)
        codes = [c.strip() for c in request.args.get("service_code", "").split(",") if c.strip()]
        if codes:
            query = query.where(Order.service_item_code.in_(codes))
        status = request.args.get("status", "")
        if status:
            wanted = {s.strip() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status 须是 open 或 closed。")
            if wanted == {"open"}:
                query = query.where(Order.state.in_(OPEN_STATES))
            elif wanted == {"closed"}:
                query = query.where(Order.state.not_in(OPEN_STATES))
    orders = db.session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(MAX_REQUESTS)).all()
    items, units = _lookups()
    return jsonify([request_json(o, items, units) for o in orders])


@bp.get("/requests/<number>.json")
def get_request(number: str):
    key = authenticate("orders:read")
    order = db.session.scalar(scope_orders(select(Order).where(Order.number == number.strip().upper()), key.user))
    if order is None:
        raise Open311Error(404, f"没有编号为“{number}”的服务请求，或它不在该密钥的范围内。")
    items, units = _lookups()
    return jsonify([request_json(order, items, units)])


def _convert(node: Node, values: list[str]) -> Any:
    """Open311 sends text; turn it into the JSON value the form's schema expects."""
    value = values[-1].strip() if values else ""
    if node.kind == "multi":
        return [node.value_of(v.strip()) for v in values if v.strip()]
    if node.kind == "group":
        return [line.strip() for v in values for line in v.splitlines() if line.strip()]
    if value == "":
        return None
    if node.kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "1", "yes", "是"):
            return True
        if lowered in ("false", "0", "no", "否"):
            return False
        raise Open311Error(400, f"{node.title}：须是 true 或 false。")
    if node.kind == "choice":
        return node.value_of(value)
    if node.kind in ("integer", "number"):
        # As a number typed in a form is read: exact integers, no NaN or infinity (float() takes
        # "nan" and "1e400"), and no absurd magnitudes.
        number = typed_number(value)
        if isinstance(number, str):
            raise Open311Error(400, f"{node.title}：须是数字。")
        return number  # (12.5 for an integer field: the validator says so)
    return value


def _put(answers: dict[str, Any], node: Node, value: Any) -> None:
    target = answers
    parts = list(node.parts)
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def answers_from_form(item: ServiceItem, compiled) -> dict[str, Any]:
    """The form's answers from an Open311 POST body."""
    by_code = {attribute_code(node): node for node in _leaves(compiled.tree)}
    sent: dict[str, list[str]] = {}
    for name in request.form:
        match = _ATTRIBUTE.match(name)
        if match:
            sent.setdefault(match.group(1), []).extend(request.form.getlist(name))
    unknown = sorted(set(sent) - set(by_code))
    if unknown:
        raise Open311Error(400, f"服务“{item.name}”没有这些属性：{'、'.join(unknown)}。")
    answers: dict[str, Any] = {}
    for code, values in sent.items():
        value = _convert(by_code[code], values)
        if value is not None:
            _put(answers, by_code[code], value)
    standard = {
        "name": (request.form.get("last_name", "").strip() + request.form.get("first_name", "").strip()),
        "phone": request.form.get("phone", "").strip(), "email": request.form.get("email", "").strip(),
        "description": request.form.get("description", "").strip(),
    }
    for key, value in standard.items():
        if value and key in by_code and key not in answers and by_code[key].kind == "string":
            answers[key] = value
    return answers


@bp.post("/requests.json")
def create_request():
    key = authenticate("orders:create")
    code = request.form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "缺少 service_code。")
    item = _item(code)
    version = current_version(item.form_id)
    compiled = compiled_version(version)
    answers = answers_from_form(item, compiled)
    errors = compiled.check(answers)
    if errors:
        return _errors(400, *[f"{attribute_code_of(e.path)}：{e.message}" for e in errors])
    user = key.user
    submission = intake.accept(version, compiled.prune_hidden(answers), service_item_code=item.code,
                               station_code=user.station_code if user.role == "station_staff" else None,
                               filed_by=user)
    notice = f"已受理，受理编号 {submission.tracking_number}；办理时限 {item.time_limit_days} 个工作日。"
    return jsonify([{"service_request_id": submission.tracking_number, "service_notice": notice,
                     "account_id": None}]), 201


def attribute_code_of(pointer: str) -> str:
    return pointer.lstrip("/").replace("/", ".") or "表单"

