"""挂单销号: the public board of dispatched orders and the ones ticked off.

Public and without login, so it shows no personal data at all: never a name, a phone or an answer;
only the item, the community, the handling unit, the state, the deadline and the day it closed.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import func, select

from qunti.db import db
from qunti.orders.models import Order
from qunti.staff.present import state_labels
from qunti.orders.transitions import TRANSITIONS, WORKING_STATES

bp = Blueprint("board", __name__)

PAGE_SIZE = 30
# 挂单: a unit holds the order and works on it; 销号: the work is done (rated or waiting for a rating).
POSTED = sorted(WORKING_STATES)
CLOSED = sorted({TRANSITIONS["complete"].target, TRANSITIONS["rate"].target})


def masked_number(number: str) -> str:
    """Enough of the tracking number to recognise one's own order, not enough to look it up."""
    return number if len(number) <= 6 else f"{number[:6]}****{number[-2:]}"


@bp.get("/board")
def board():
    show = "closed" if request.args.get("show") == "closed" else "open"
    states = CLOSED if show == "closed" else POSTED
    community = request.args.get("community", "").strip()[:60]
    query = select(Order).where(Order.state.in_(states), Order.unit_code.is_not(None))
    if community:
        query = query.where(Order.community == community)
    if show == "closed":
        query = query.order_by(Order.completed_at.desc().nulls_last(), Order.id.desc())
    else:
        query = query.order_by(Order.deadline.is_(None), Order.deadline, Order.id)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    total = db.session.scalar(query.with_only_columns(func.count(Order.id)).order_by(None))
    rows = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    communities = db.session.scalars(select(Order.community).where(
        Order.community != "", Order.unit_code.is_not(None)).distinct().order_by(Order.community)).all()
    return render_template("staff/board.html", orders=rows, show=show, community=community,
                           communities=communities, labels=state_labels(), page=page, total=total,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), masked_number=masked_number)
