"""派单: the joint meeting's queue of orders awaiting dispatch, each with the rules' suggestion."""
from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from qunti.accounts.access import login_required_role, scope_orders
from qunti.db import db
from qunti.orders.models import Order
from qunti.staff import bp
from qunti.staff.actions import action_forms, actor_for, queue_states
from qunti.staff.present import suggestion_view

QUEUE_LIMIT = 100


@bp.get("/dispatch")
@login_required_role("dispatcher", "sys_admin")
def dispatch_queue():
    query = scope_orders(select(Order).where(Order.state.in_(queue_states())), current_user)
    orders = db.session.scalars(query.order_by(Order.created_at, Order.id).limit(QUEUE_LIMIT)).all()
    actor = actor_for(current_user)
    back = url_for(".dispatch_queue")
    entries = []
    for order in orders:
        forms = action_forms(order, actor)
        for _, form in forms:
            form.next.data = back
        entries.append({"order": order, "suggestion": suggestion_view(order.suggestion), "forms": forms})
    return render_template("staff/dispatch.html", entries=entries, limit=QUEUE_LIMIT)
