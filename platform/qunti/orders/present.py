"""An order as its audiences see it: staff see everything; a resident sees the state, the unit,
the deadline and the history without any staff member's name or the working notes."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from qunti.db import db
from qunti.directory.models import Unit
from qunti.menu.models import ServiceItem
from qunti.orders.models import Order, OrderEvent
from qunti.orders.transitions import RATING_LEVELS, STATES, TRANSITIONS, Actor, allowed_actions

STAFF, RESIDENT = "staff", "resident"


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def unit_name(code: str | None) -> str | None:
    unit = db.session.get(Unit, code) if code else None
    return unit.name if unit is not None else code


def event_actor(event: OrderEvent, audience: str) -> str:
    """Who acted, as ``audience`` may see it: residents get the unit or body, never a person."""
    if audience == STAFF:
        return event.actor_label
    return (event.data or {}).get("by") or ("居民" if event.actor_user_id is None else "工作人员")


def event_json(event: OrderEvent, audience: str) -> dict[str, Any]:
    transition = TRANSITIONS.get(event.action)
    body: dict[str, Any] = {
        "at": _iso(event.at), "action": event.action, "actionName": transition.label if transition else event.action,
        "from": event.from_state, "fromName": STATES.get(event.from_state or "", None),
        "to": event.to_state, "toName": STATES.get(event.to_state, event.to_state),
        "actor": event_actor(event, audience), "reason": event.reason,
    }
    if audience == STAFF:
        body.update(id=event.id, actorUserId=event.actor_user_id, ruleId=event.rule_id,
                    rulesetDigest=event.ruleset_digest, data=event.data)
    else:
        data = event.data or {}
        public = {k: data[k] for k in ("unitName", "deadline", "days", "levelName", "round") if k in data}
        if public:
            body["data"] = public
    return body


def events_json(order: Order, audience: str) -> list[dict[str, Any]]:
    return [event_json(event, audience) for event in order.events]


def current_rating(order: Order) -> dict[str, Any] | None:
    """The rating that counts: the latest round's (after 重办, round 2)."""
    if not order.ratings:
        return None
    rating = order.ratings[-1]
    return {"round": rating.round, "level": rating.level, "levelName": RATING_LEVELS.get(rating.level),
            "comment": rating.comment, "at": _iso(rating.created_at)}


def _problem(order: Order) -> dict[str, Any] | None:
    from qunti.ledgers.problems import problem_for_order  # 问题清单库; imported late, it reads staff pages
    return problem_for_order(order.id)


def order_json(order: Order, audience: str, actor: Actor | None = None) -> dict[str, Any]:
    item = db.session.get(ServiceItem, order.service_item_code)
    body: dict[str, Any] = {
        "number": order.number,
        "version": order.lock_version,
        "state": order.state,
        "stateName": STATES.get(order.state, order.state),
        "serviceItem": {"code": order.service_item_code, "name": item.name if item else order.service_item_code},
        "channel": order.channel,
        "unit": {"code": order.unit_code, "name": unit_name(order.unit_code)} if order.unit_code else None,
        "routeClass": order.route_class,
        "timeLimitDays": order.time_limit_days,
        "acceptBy": _iso(order.accept_by),
        "deadline": _iso(order.deadline),
        "overdue": order.overdue,
        "extensionReason": order.extension_reason,
        "resultNote": order.result_note,
        "attachmentName": order.attachment_name,
        "round": order.round,
        "rating": current_rating(order),
        "createdAt": _iso(order.created_at),
        "dispatchedAt": _iso(order.dispatched_at),
        "acceptedAt": _iso(order.accepted_at),
        "completedAt": _iso(order.completed_at),
        "updatedAt": _iso(order.updated_at),
    }
    if audience == STAFF:
        body.update(
            community=order.community, applicantCategory=order.applicant_category,
            stationCode=order.station_code, suggestion=order.suggestion, ruleRowId=order.rule_row_id,
            rulesetDigest=order.ruleset_digest, plan=order.plan, updatedBy=order.updated_by,
            answers=order.submission.answers, problem=_problem(order))
    elif order.plan:
        # 五定 names staff; the resident sees what will be done and by when.
        body["plan"] = {"goal": order.plan.get("goal"), "deadline": order.plan.get("deadline")}
    if actor is not None:
        body["allowedActions"] = [
            {"action": t.action, "label": t.label, "needsReason": t.needs_reason, "params": sorted(t.params)}
            for t in allowed_actions(order, actor)]
    return body
