"""Joins (S02) and transfers (S08) are service orders like any other: a decision on one closes its
order through the order cycle's own table (:func:`qunti.orders.transitions.perform`), never beside it.

A decision walks the order from where the handling unit has it to 销号 — 签收, 五定, 销号, each one
event — inside the caller's transaction, so the membership change and the closed order are committed
together or not at all.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from qunti.accounts.models import User
from qunti.db import db
from qunti.orders import calendar
from qunti.orders.models import Order
from qunti.orders.transitions import TransitionError, perform, staff_actor

__all__ = ["DecisionError", "close_order", "run_decision"]


class DecisionError(Exception):
    """A decision that cannot be made; ``message`` is for people (中文), ``status`` the HTTP code."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def close_order(order: Order, user: User, *, goal: str, task: str, result_note: str) -> None:
    """Take ``order`` to 已办结 as ``user`` without committing. Raises TransitionError (the
    order cycle's refusal: wrong unit, wrong state) before anything is changed for good."""
    if order.state in ("submitted", "awaiting_dispatch"):
        raise DecisionError("这张订单还没有派给承办单位，请等联席会派单后再处理。")
    actor = staff_actor(user)
    if order.state == "dispatched":
        perform(order, "accept", actor, commit=False)
    if order.state == "accepted":
        deadline = order.deadline or calendar.today()
        perform(order, "plan", actor, commit=False, plan={
            "goal": goal, "task": task, "people": user.display_name, "deadline": deadline,
            "unit": order.unit_code or "", "person": user.display_name})
    perform(order, "complete", actor, commit=False, result_note=result_note)


def run_decision(decide) -> None:
    """Run ``decide()`` (which changes rows and closes the order) as one transaction: commit on
    success; on any refusal roll everything back and raise DecisionError."""
    try:
        decide()
        db.session.commit()
    except DecisionError:
        db.session.rollback()
        raise
    except TransitionError as exc:
        db.session.rollback()
        raise DecisionError(exc.message, exc.status) from None
    except (IntegrityError, StaleDataError):
        # Someone decided the same application (or the same person joined) a moment earlier.
        db.session.rollback()
        raise DecisionError("这件申请刚刚被其他人处理过，请刷新页面查看结果。") from None
    except Exception:
        db.session.rollback()
        current_app.logger.exception("membership decision failed")
        raise
