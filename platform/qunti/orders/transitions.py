"""The order cycle as one table: every state, every transition, who may perform it, and what it does.

Nothing else changes ``Order.state``. :func:`perform` runs one transition as one transaction: it
checks the actor, the state and the parameters (in that order), applies the transition's effect,
appends exactly one :class:`~qunti.orders.models.OrderEvent` and commits. ``Order.lock_version``
makes two people acting on the same order at once end with one success and one :class:`Conflict`,
never with one silently overwriting the other.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import FileStorage

from qunti.accounts.models import ROLES, User
from qunti.db import core_row, db, utcnow
from qunti.directory.models import Unit
from qunti.directory.units import UnitRef, active_unit
from qunti.integration import webhooks
from qunti.orders import calendar, followups
from qunti.orders.models import Order, OrderEvent, Rating
from qunti.rules.ruleset import ROUTE_UNIT_KINDS

STATES: dict[str, str] = {
    "submitted": "已提交",
    "awaiting_dispatch": "待派单",
    "dispatched": "已派单",
    "accepted": "已签收",
    "in_progress": "办理中",
    "completed": "已办结",
    "rated": "已评价",
    "cancelled": "已撤销",
}
# Not yet closed: what "open orders" counts (dispatch rules, the applicant's own open orders).
OPEN_STATES = frozenset({"submitted", "awaiting_dispatch", "dispatched", "accepted", "in_progress"})
# A unit holds the order and its deadline runs (``qunti tick`` watches these).
WORKING_STATES = frozenset({"dispatched", "accepted", "in_progress"})

RATING_LEVELS: dict[int, str] = {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}
UNSATISFIED_AT_MOST = 2  # a round-1 rating at or below this lets the resident ask for 重办

ROUTE_CLASS_NAMES = {"escalate": "民生实事", "handle": "群团承办", "purchase": "购买服务", "transfer": "转办"}
# The route class a unit of each kind implies when someone names only the unit (转办).
CLASS_OF_KIND = {"organization": "handle", "social": "purchase", "department": "transfer",
                 "subdistrict": "transfer", "district": "escalate"}
ATTACHMENT_TYPES = {  # extension -> the file's first bytes
    "pdf": (b"%PDF-",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",), "docx": (b"PK\x03\x04",),
}
STAFF_ROLES = frozenset({"dispatcher", "handler"})
# Argument names of perform() itself; no transition may use them as parameters.
RESERVED_PARAMS = frozenset({"order", "action", "actor", "expected_version", "commit", "unwritten"})


class TransitionError(Exception):
    """A transition that cannot happen. ``message`` is for people (中文); ``status`` is the HTTP code."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(TransitionError):
    status = 403


class Conflict(TransitionError):
    status = 409


class InvalidInput(TransitionError):
    status = 422


@dataclass(frozen=True)
class Actor:
    """Who performs a transition. ``label`` is written to ``updated_by`` and the event; a resident
    actor speaks for the one order whose ownership was proved (``order_number``)."""

    kind: str  # "staff" | "resident" | "system"
    user: User | None
    label: str
    order_number: str | None = None
    public_label: str = ""  # what residents see instead of a staff member's name


def _unit_name(code: str | None) -> str | None:
    unit = db.session.get(Unit, code) if code else None
    return unit.name if unit is not None else code


def staff_actor(user: User) -> Actor:
    """The signed-in staff member ``user`` as an actor (label: name and unit or role)."""
    where = _unit_name(user.unit_code) if user.role == "handler" else ROLES.get(user.role, user.role)
    public = "群团工作联席会" if user.role == "dispatcher" else where
    return Actor("staff", user, f"{user.display_name}（{where}）"[:60], public_label=public or "")


def resident_actor(order: Order, user: User | None = None) -> Actor:
    """The order's owner. The caller has proved it: tracking number + phone, or ``user`` is the
    account the order was filed for (checked here)."""
    if user is not None and user.id != order.resident_user_id:
        raise Forbidden("这不是您的订单。")
    return Actor("resident", user, "居民", order_number=order.number, public_label="居民")


SYSTEM = Actor("system", None, "系统", public_label="系统")


@dataclass
class Step:
    """One transition being applied: what the effect reads and the event data it fills in."""

    order: Order
    actor: Actor
    params: dict[str, Any]
    today: date
    data: dict[str, Any] = field(default_factory=dict)
    cleanup: list[Callable[[], None]] = field(default_factory=list)  # undo side effects on failure


Effect = Callable[[Step], None]


@dataclass(frozen=True)
class Transition:
    """One row of the table. ``target`` None leaves the state as it is. ``params`` are the names the
    action takes besides ``reason`` (which every action accepts and ``needs_reason`` requires)."""

    action: str
    label: str
    sources: frozenset[str]
    target: str | None
    actors: frozenset[str]
    needs_reason: bool = False
    params: frozenset[str] = frozenset()
    rule_decided: bool = False  # the event records the dispatch rule row and rule-set digest
    effect: Effect | None = field(default=None, compare=False, repr=False)


# --- parameters -------------------------------------------------------------------------------

def _text(step: Step, name: str, label: str, *, required: bool, max_length: int) -> str:
    value = step.params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"请填写{label}。")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label}须是文字。")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"{label}不能超过 {max_length} 个字。")
    return value


def _integer(step: Step, name: str, label: str, low: int, high: int, *, required: bool = True) -> int | None:
    value = step.params.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"请填写{label}。")
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{label}须是整数。")
    if not low <= value <= high:
        raise InvalidInput(f"{label}须在 {low} 到 {high} 之间。")
    return value


def _date(value: Any, label: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{label}须是日期，形如 2026-10-08。") from None


def _active_unit(code: Any, *, label: str = "承办单位") -> UnitRef:
    if not isinstance(code, str) or not code:
        raise InvalidInput(f"请选择{label}。")
    unit = active_unit(code)
    if unit is None:
        raise InvalidInput(f"{label}“{code}”不存在或已停用。")
    if unit.kind == "meeting":
        raise InvalidInput("联席会本身不承办订单，请选择具体的承办单位。")
    return unit


def _route_class(value: Any, unit: UnitRef) -> str:
    if value not in ROUTE_CLASS_NAMES:
        raise InvalidInput(f"派单方式须是 {'、'.join(ROUTE_CLASS_NAMES)} 之一。")
    if unit.kind not in ROUTE_UNIT_KINDS[value]:
        raise InvalidInput(f"“{ROUTE_CLASS_NAMES[value]}”不能派给{unit.name}。")
    return value


def _time_limit(step: Step, default: int) -> int:
    return _integer(step, "time_limit_days", "办理时限（工作日）", 1, 365, required=False) or default


# --- effects (each validates everything first, then changes the order) -----------------------------

def _dispatch_to(step: Step, unit: UnitRef, route_class: str, time_limit_days: int, *,
                 keep_deadline: bool = False) -> None:
    order = step.order
    # Dates first: the calendar query must not flush a half-changed order.
    keep = keep_deadline and order.deadline is not None
    accept_by, new_deadline = calendar.working_days_after(
        step.today, current_app.config["ACCEPT_WITHIN_DAYS"], 0 if keep else time_limit_days)
    new_deadline = None if keep else new_deadline
    order.unit_code, order.route_class = unit.code, route_class
    order.dispatched_at, order.accepted_at, order.plan, order.accept_by = utcnow(), None, None, accept_by
    if new_deadline is not None:
        order.time_limit_days, order.deadline, order.overdue = time_limit_days, new_deadline, False
    step.data.update(unit=unit.code, unitName=unit.name, routeClass=route_class,
                     timeLimitDays=order.time_limit_days, acceptBy=accept_by.isoformat(),
                     deadline=order.deadline.isoformat())


def _suggested_route(order: Order) -> dict[str, Any]:
    return dict((order.suggestion or {}).get("route") or {})


def _dispatch(step: Step) -> None:
    route = _suggested_route(step.order)
    unit = _active_unit(route.get("unit"))
    _dispatch_to(step, unit, _route_class(route.get("class"), unit), step.order.time_limit_days)


def _queue(step: Step) -> None:
    step.data["suggestedUnit"] = _suggested_route(step.order).get("unit")


def _confirm(step: Step) -> None:
    route = _suggested_route(step.order)
    if route.get("class") is None:
        raise InvalidInput("派单规则没有给出承办单位，请用“改派”指定单位并说明理由。")
    unit = _active_unit(route.get("unit"))
    _dispatch_to(step, unit, _route_class(route["class"], unit), step.order.time_limit_days)


def _override(step: Step) -> None:
    unit = _active_unit(step.params.get("unit_code"))
    route_class = _route_class(step.params.get("route_class"), unit)
    _dispatch_to(step, unit, route_class, _time_limit(step, step.order.time_limit_days))


def _escalate(step: Step) -> None:
    unit = _active_unit("district", label="区委区政府")
    route = _suggested_route(step.order)
    default = route.get("timeLimitDays") if route.get("class") == "escalate" else None
    _dispatch_to(step, unit, "escalate", _time_limit(step, default or step.order.time_limit_days))


def _accept(step: Step) -> None:
    step.order.accepted_at = utcnow()


PLAN_FIELDS = {"goal": "目标", "task": "任务", "people": "人员", "deadline": "时限", "unit": "责任单位",
               "person": "责任人"}


def _plan(step: Step) -> None:
    plan = step.params.get("plan")
    if not isinstance(plan, dict):
        raise InvalidInput("请填写五定：目标、任务、人员、时限、责任单位和责任人。")
    unknown = sorted(set(plan) - set(PLAN_FIELDS))
    if unknown:
        raise InvalidInput(f"五定里不认识的项目：{'、'.join(unknown)}。")
    clean: dict[str, str] = {}
    for key, label in PLAN_FIELDS.items():
        value = plan.get(key)
        if isinstance(value, list) and key == "people":
            value = "、".join(str(v).strip() for v in value if str(v).strip())
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidInput(f"五定缺少“{label}”。")
        if not isinstance(value, (str, date)):
            raise InvalidInput(f"五定的“{label}”须是文字。")
        clean[key] = value.strip() if isinstance(value, str) else value
        if isinstance(clean[key], str) and len(clean[key]) > 500:
            raise InvalidInput(f"五定的“{label}”不能超过 500 个字。")
    deadline = _date(clean["deadline"], "五定的时限")
    if step.order.deadline is not None and deadline > step.order.deadline:
        raise InvalidInput(f"五定的时限不能晚于办理期限 {step.order.deadline.isoformat()}；需要更长时间请先申请延期。")
    clean["deadline"] = deadline.isoformat()
    step.order.plan = clean
    step.data["plan"] = clean


def _store_attachment(step: Step, upload: Any) -> None:
    if not isinstance(upload, FileStorage) or not upload.filename:
        raise InvalidInput("附件须以文件上传。")
    name = os.path.basename(upload.filename.replace("\\", "/")).strip()[:200] or "附件"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ATTACHMENT_TYPES:
        raise InvalidInput("附件只能是 PDF、JPG、PNG 或 DOCX 文件。")
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise InvalidInput(f"附件不能超过 {limit / 1024 / 1024:.1f} MB。")
    if not content.startswith(ATTACHMENT_TYPES[extension]):
        raise InvalidInput("附件内容与文件类型不符，请上传真正的 PDF、JPG、PNG 或 DOCX 文件。")
    folder = Path(current_app.instance_path) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    # A random stored name: the original name is data (shown, never used as a path).
    stored = f"{secrets.token_hex(16)}.{extension}"
    path = folder / stored
    path.write_bytes(content)
    step.cleanup.append(lambda: path.unlink(missing_ok=True))
    step.order.attachment_name, step.order.attachment_path = name, f"attachments/{stored}"
    step.data["attachment"] = {"name": name, "path": step.order.attachment_path, "bytes": len(content)}


def _complete(step: Step) -> None:
    note = _text(step, "result_note", "办理结果", required=True, max_length=2000)
    upload = step.params.get("attachment")
    if upload is not None:
        _store_attachment(step, upload)  # last: nothing can fail after the file is written
    step.order.result_note, step.order.completed_at = note, utcnow()
    step.data["resultNote"] = note


def _return(step: Step) -> None:
    order = step.order
    step.data["unit"] = order.unit_code
    order.unit_code = order.route_class = None
    order.accept_by = order.deadline = order.accepted_at = order.dispatched_at = None
    order.plan, order.overdue, order.extension_reason = None, False, None


def _transfer(step: Step) -> None:
    unit = _active_unit(step.params.get("unit_code"))
    if unit.code == step.order.unit_code:
        raise InvalidInput("转办须转给另一个单位。")
    if unit.kind == "district":
        raise InvalidInput("提请民生实事请由联席会派单员“报民生实事”。")
    given = step.params.get("route_class")
    route_class = _route_class(given, unit) if given else CLASS_OF_KIND[unit.kind]
    step.data["fromUnit"] = step.order.unit_code
    # The resident's deadline does not restart because the order changed hands.
    _dispatch_to(step, unit, route_class, step.order.time_limit_days, keep_deadline=True)


def _deadline_open(order: Order, today: date) -> TransitionError | None:
    if order.deadline is not None and today > order.deadline:
        return Conflict(f"办理期限 {order.deadline.isoformat()} 已过，不能再延期；请尽快办结。")
    return None


def _extend(step: Step) -> None:
    days = _integer(step, "days", "延期天数（工作日）", 1, 30)
    order = step.order
    start = order.deadline or step.today
    new_deadline = calendar.add_working_days(start, days)
    step.data.update(days=days, fromDeadline=start.isoformat(), deadline=new_deadline.isoformat())
    order.deadline, order.extension_reason = new_deadline, step.params["reason"]


def _rate(step: Step) -> None:
    level = _integer(step, "level", "满意程度", 1, 5)
    comment = _text(step, "comment", "评价内容", required=False, max_length=500)
    db.session.add(Rating(order_id=step.order.id, round=step.order.round, level=level, comment=comment))
    step.data.update(round=step.order.round, level=level, levelName=RATING_LEVELS[level])


def _round_one_unsatisfied(order: Order) -> bool:
    rating = db.session.scalar(db.select(Rating).where(Rating.order_id == order.id, Rating.round == 1))
    return rating is not None and rating.level <= UNSATISFIED_AT_MOST


def _reopen_problem(order: Order, actor: Actor) -> TransitionError | None:
    if order.round >= 2:
        return Conflict("这张订单已经重办过一次，不能再次重办。")
    if actor.kind == "resident" and not _round_one_unsatisfied(order):
        return Conflict("只有对办理结果评价为“不满意”或“非常不满意”时，才能申请重办。")
    return None


def _reopen(step: Step) -> None:
    order = step.order
    unit = _active_unit(order.unit_code, label="原承办单位")
    _dispatch_to(step, unit, order.route_class or CLASS_OF_KIND[unit.kind], order.time_limit_days)
    order.round, order.completed_at = 2, None
    order.result_note = order.attachment_name = order.attachment_path = None
    step.data["round"] = 2


def _cancel(step: Step) -> None:
    pass


def _staff(*roles: str) -> frozenset[str]:
    # sys_admin may do every staff action.
    return frozenset({*roles, "sys_admin"})


_T = Transition
TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    # 点单: the creation of an order by intake; no state leads here, so perform() never runs it.
    _T("submit", "点单", frozenset(), "submitted", frozenset({"resident", "system"})),
    # 派单
    _T("dispatch", "自动派单", frozenset({"submitted"}), "dispatched", frozenset({"system"}),
       rule_decided=True, effect=_dispatch),
    _T("queue", "转人工派单", frozenset({"submitted"}), "awaiting_dispatch", frozenset({"system"}),
       rule_decided=True, effect=_queue),
    _T("confirm", "确认派单", frozenset({"awaiting_dispatch"}), "dispatched", _staff("dispatcher"),
       rule_decided=True, effect=_confirm),
    _T("override", "改派", frozenset({"awaiting_dispatch"}), "dispatched", _staff("dispatcher"),
       needs_reason=True, params=frozenset({"unit_code", "route_class", "time_limit_days"}), effect=_override),
    _T("escalate", "报民生实事", frozenset({"awaiting_dispatch", "dispatched"}), "dispatched",
       _staff("dispatcher"), params=frozenset({"time_limit_days"}), effect=_escalate),
    # 办单
    _T("accept", "签收", frozenset({"dispatched"}), "accepted", _staff("handler"), effect=_accept),
    _T("plan", "五定", frozenset({"accepted"}), "in_progress", _staff("handler"),
       params=frozenset({"plan"}), effect=_plan),
    _T("complete", "销号", frozenset({"in_progress"}), "completed", _staff("handler"),
       params=frozenset({"result_note", "attachment"}), effect=_complete),
    _T("return", "退回", frozenset({"dispatched", "accepted"}), "awaiting_dispatch", _staff("handler"),
       needs_reason=True, effect=_return),
    _T("transfer", "转办", frozenset({"dispatched", "accepted", "in_progress"}), "dispatched",
       _staff("handler", "dispatcher"), needs_reason=True, params=frozenset({"unit_code", "route_class"}),
       effect=_transfer),
    _T("extend", "延期", frozenset({"accepted", "in_progress"}), None, _staff("handler"),
       needs_reason=True, params=frozenset({"days"}), effect=_extend),
    # 评单
    _T("rate", "评单", frozenset({"completed"}), "rated", frozenset({"resident"}),
       params=frozenset({"level", "comment"}), effect=_rate),
    _T("reopen", "重办", frozenset({"rated"}), "dispatched", frozenset({"resident"}) | _staff("dispatcher"),
       effect=_reopen),
    _T("cancel", "撤销", frozenset({"submitted", "awaiting_dispatch", "dispatched"}), "cancelled",
       frozenset({"resident"}), effect=_cancel),
)}
assert not any(t.params & RESERVED_PARAMS for t in TRANSITIONS.values())


# --- checks -----------------------------------------------------------------------------------

def _forbidden(order: Order, transition: Transition, actor: Actor) -> Forbidden | None:
    """Why ``actor`` may not perform ``transition`` on ``order`` whatever its state, or None."""
    refused = Forbidden(f"您无权对这张订单执行“{transition.label}”。")
    if actor.kind == "system":
        return None if "system" in transition.actors else refused
    if actor.kind == "resident":
        if "resident" not in transition.actors or actor.order_number != order.number:
            return refused
        if actor.user is not None and actor.user.id != order.resident_user_id:
            return refused
        return None
    user = actor.user
    if actor.kind != "staff" or user is None:
        return refused
    if not user.active:
        return Forbidden("您的账号已停用。")
    if user.role not in transition.actors or user.role == "resident":
        return refused
    if user.role == "handler" and (not user.unit_code or user.unit_code != order.unit_code):
        return Forbidden(f"这张订单不归您所在的单位办理，不能“{transition.label}”。")
    return None


def _wrong_state(order: Order, transition: Transition) -> Conflict | None:
    if order.state in transition.sources:
        return None
    return Conflict(f"订单当前状态为“{STATES.get(order.state, order.state)}”，不能“{transition.label}”。")


def _precondition(order: Order, transition: Transition, actor: Actor, today: date) -> TransitionError | None:
    if transition.action == "extend":
        return _deadline_open(order, today)
    if transition.action == "reopen":
        return _reopen_problem(order, actor)
    if transition.action == "confirm" and _suggested_route(order).get("class") is None:
        return InvalidInput("派单规则没有给出承办单位，请用“改派”指定单位并说明理由。")
    return None


def _problem(order: Order, transition: Transition, actor: Actor, today: date) -> TransitionError | None:
    return (_forbidden(order, transition, actor) or _wrong_state(order, transition)
            or _precondition(order, transition, actor, today))


def allowed_actions(order: Order, actor: Actor) -> list[Transition]:
    """The transitions ``actor`` could perform on ``order`` now (parameters aside), in table order."""
    today = calendar.today()
    return [t for t in TRANSITIONS.values()
            if t.effect is not None and _problem(order, t, actor, today) is None]


def _conflict(order: Order) -> Conflict:
    who = order.updated_by or "其他人"
    return Conflict(f"该订单刚刚被 {who} 修改，请刷新后再操作。")


def _event(step: Step, transition: Transition, from_state: str | None, *,
           new_order: bool = False) -> OrderEvent:
    """The event of ``step``; for a ``new_order`` not written yet, a row for Core that
    insert_new_order writes with it (and gives its order's id)."""
    order, actor = step.order, step.actor
    data = {"by": actor.public_label or actor.label, **step.data}
    # Through the relationship: also right for an order that has no id yet.
    values = dict(
        order=order, at=utcnow(), action=transition.action, from_state=from_state, to_state=order.state,
        actor_user_id=actor.user.id if actor.user is not None else None, actor_label=actor.label[:60],
        reason=step.params.get("reason") or None,
        rule_id=order.rule_row_id if transition.rule_decided else None,
        ruleset_digest=order.ruleset_digest if transition.rule_decided else None, data=data)
    return core_row(OrderEvent, **values) if new_order else OrderEvent(**values)


def record_submission(order: Order, actor: Actor) -> OrderEvent:
    """The 点单 event of a new order, written with it by :func:`insert_new_order`; used by intake only."""
    step = Step(order=order, actor=actor, params={}, today=calendar.today(),
                data={"channel": order.channel, "serviceItem": order.service_item_code})
    return _event(step, TRANSITIONS["submit"], None, new_order=True)


_ORDER, _EVENT = Order.__table__, OrderEvent.__table__
# Built once: they run for every submission. The events' ids come back in the order given, so the
# 点单 event keeps the smaller id (Order.events is ordered by id).
_INSERT_ORDER = insert(_ORDER).returning(_ORDER.c.id)
_INSERT_EVENTS = insert(_EVENT).returning(_EVENT.c.id, sort_by_parameter_order=True)


def _columns(row: Any) -> dict[str, Any]:
    """The column values set on a model object not yet stored (Core adds the columns' defaults)."""
    state = sa_inspect(row)
    return {prop.columns[0].key: state.dict[prop.key] for prop in state.mapper.column_attrs
            if prop.key in state.dict}


def insert_new_order(order: Order, events: list[OrderEvent], *, written: bool = False, attach: bool = True,
                     outbox: bool = True, committed: bool = False) -> None:
    """Write a new order (its submission is stored already) and its first events in the caller's
    transaction: one INSERT for the order, one for the events, never an UPDATE. Core statements, not
    a unit-of-work flush, which cost a third of a whole submission; then the objects join the session
    as the stored rows they are. Used by intake only, after :func:`record_submission` and
    ``perform(..., unwritten=events)``; ``written``: intake wrote the rows already and set their ids
    (together with the submission, in one statement), only the rest is left; ``attach`` False: the
    objects stay out of the session, whose caller reads nothing more of them (see
    ``qunti.intake._store_all``); ``outbox`` False: no webhook subscription takes these events (the
    caller asked ``webhooks.subscribed``); ``committed``: the rows are committed already (then
    plugins hear of the events at once)."""
    if not written:
        order.submission_id = order.submission.id
        order.id = db.session.execute(_INSERT_ORDER, _columns(order)).scalar_one()
        ids = db.session.execute(_INSERT_EVENTS, [{**_columns(e), "order_id": order.id} for e in events]).scalars()
        for event, event_id in zip(events, ids, strict=True):
            event.id, event.order_id = event_id, order.id
    if attach:
        for row in (order, *events):
            make_transient_to_detached(row)  # columns not set here (defaults) load when first read
            db.session.add(row)
    if outbox:
        for event in events:
            webhooks.enqueue(order, event)  # the outbox rows go out in this same transaction
    followups.announce(order, *events, committed=committed)


def _undo(step: Step, *, rollback: bool = False) -> None:
    for undo in step.cleanup:
        undo()
    if rollback:
        db.session.rollback()


def perform(order: Order, action: str, actor: Actor, *, expected_version: int | None = None,
            commit: bool = True, unwritten: list[OrderEvent] | None = None, **params: Any) -> Order:
    """Run ``action`` on ``order`` as ``actor``: check, change, append one event, commit.

    Raises Forbidden (wrong role, unit or owner), Conflict (wrong state, or the order changed since
    ``expected_version`` / since it was loaded) or InvalidInput (bad or missing parameters). On any
    error nothing is changed. ``commit=False`` leaves the commit to the caller (intake runs the
    first dispatch inside the submission's transaction). ``unwritten`` is for a new order that is not
    stored yet (intake): the event is appended to it, and the caller writes the order and its events
    together with :func:`insert_new_order`.
    """
    if unwritten is not None and commit:
        raise ValueError("a new order is committed by its caller, after insert_new_order()")
    transition = TRANSITIONS.get(action)
    if transition is None or transition.effect is None:
        raise InvalidInput(f"没有“{action}”这个操作。")
    today = calendar.today()
    refused = _forbidden(order, transition, actor)
    if refused:
        raise refused
    if expected_version is not None and expected_version != order.lock_version:
        raise _conflict(order)
    problem = _wrong_state(order, transition) or _precondition(order, transition, actor, today)
    if problem:
        raise problem
    unknown = sorted(set(params) - transition.params - {"reason"})
    if unknown:
        raise InvalidInput(f"“{transition.label}”不认识这些参数：{'、'.join(unknown)}。")
    step = Step(order=order, actor=actor, params=dict(params), today=today)
    reason = _text(step, "reason", "原因", required=transition.needs_reason, max_length=500)
    step.params["reason"] = reason or None

    from_state = order.state
    try:
        transition.effect(step)
        if transition.target is not None:
            order.state = transition.target
        order.updated_by = actor.label[:60]
        event = _event(step, transition, from_state, new_order=unwritten is not None)
        if unwritten is not None:
            unwritten.append(event)  # nothing is stored yet, so there is no UPDATE to check either
        else:
            db.session.add(event)
            webhooks.enqueue(order, event)  # the outbox row goes out in this same transaction
            db.session.flush()  # the UPDATE checks lock_version here
            followups.announce(order, event)  # plugins hear of it once it is committed
        if commit:
            db.session.commit()
    except TransitionError:
        # Effects check before they change anything: only files written so far need undoing.
        _undo(step)
        raise
    except (StaleDataError, IntegrityError):
        # Someone else changed the order (or rated this round) between our read and our write.
        _undo(step, rollback=True)
        raise _conflict(order) from None
    except BaseException:
        _undo(step, rollback=True)
        raise
    return order
