"""The resident's side of an order on the status page: rate (评单), ask for a redo (重办), cancel.

Every action re-checks that this browser proved the phone for this tracking number (the session list
``seen_tracking`` kept by :mod:`qunti.resident.views`): a stranger guessing numbers can never act.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from qunti.db import db
from qunti.forms.models import Submission
from qunti.orders.models import Order
from qunti.orders.present import RESIDENT, current_rating, event_actor, unit_name
from qunti.orders.transitions import (
    RATING_LEVELS, STATES, TRANSITIONS, UNSATISFIED_AT_MOST, TransitionError, allowed_actions, perform,
    resident_actor)

bp = Blueprint("resident_orders", __name__)

SEEN = "seen_tracking"  # the list resident.views keeps of numbers this browser may see
DONE = {"rate": "感谢您的评价！", "reopen": "已申请重办，订单已交回原承办单位。", "cancel": "订单已撤销。"}


def status_page(submission: Submission):
    """The status page for ``submission`` (the caller has checked this browser may see it)."""
    order = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
    context = {"submission": submission, "order": order}
    if order is not None:
        actions = {t.action for t in allowed_actions(order, resident_actor(order))}
        history = [{"at": e.at, "label": TRANSITIONS[e.action].label if e.action in TRANSITIONS else e.action,
                    "state": STATES.get(e.to_state, e.to_state), "actor": event_actor(e, RESIDENT),
                    "reason": e.reason, "data": e.data or {}} for e in order.events]
        context.update(state_name=STATES.get(order.state, order.state), unit_name=unit_name(order.unit_code),
                       history=history, actions=actions, levels=RATING_LEVELS, rating=current_rating(order),
                       unsatisfied_at_most=UNSATISFIED_AT_MOST)
    return render_template("resident/status.html", **context)


def _proved_order(number: str) -> Order:
    number = number.strip().upper()
    if number not in session.get(SEEN, []):
        abort(404)
    order = db.session.scalar(select(Order).where(Order.number == number))
    if order is None:
        abort(404)
    return order


def _act(number: str, action: str, **params):
    order = _proved_order(number)
    version = request.form.get("version", "")
    try:
        perform(order, action, resident_actor(order),
                expected_version=int(version) if version.isdigit() else None, **params)
    except TransitionError as exc:
        flash(exc.message, "error")
    else:
        flash(DONE[action], "success")
    return redirect(url_for("resident.track", number=order.number), code=303)


def _form_text(name: str) -> str | None:
    return request.form.get(name, "").strip() or None


@bp.post("/track/<number>/rate")
def rate(number: str):
    level = request.form.get("level", "")
    return _act(number, "rate", level=int(level) if level.isdigit() else None,
                comment=_form_text("comment"))


@bp.post("/track/<number>/reopen")
def reopen(number: str):
    return _act(number, "reopen", reason=_form_text("reason"))


@bp.post("/track/<number>/cancel")
def cancel(number: str):
    return _act(number, "cancel", reason=_form_text("reason"))
