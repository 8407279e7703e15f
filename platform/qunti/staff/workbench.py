"""The staff home, the order list of each role's scope (the handler's workbench) and one order."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, render_template, request, send_file
from flask_login import current_user
from sqlalchemy import case, func, select

from qunti.accounts.access import ORDER_ROLES, REPORT_ROLES, STAFF_ROLES, STATS_ROLES, login_required_role, \
    scope_orders, scoped_order
from qunti.db import db
from qunti.orders.models import Order
from qunti.orders import calendar
from qunti.orders.transitions import OPEN_STATES, WORKING_STATES
from qunti.staff import bp
from qunti.staff.actions import order_page, queue_states
from qunti.staff.present import state_labels

PAGE_SIZE = 50
DUE_SOON_DAYS = 3


def workbench_order(query):
    """Overdue first, then the nearest deadline, then the oldest."""
    return query.order_by(case((Order.overdue.is_(True), 0), else_=1), Order.deadline.is_(None),
                          Order.deadline, Order.created_at, Order.id)


def state_counts(user) -> dict[str, int]:
    """How many orders in ``user``'s scope are in each state."""
    return dict(db.session.execute(scope_orders(
        select(Order.state, func.count()).group_by(Order.state), user)).all())


@bp.get("/")
@login_required_role(*STAFF_ROLES)
def index():
    counts, overdue = {}, 0
    if current_user.role in ORDER_ROLES:
        counts = state_counts(current_user)
        overdue = db.session.scalar(scope_orders(select(func.count()).select_from(Order).where(
            Order.overdue.is_(True), Order.state.in_(OPEN_STATES)), current_user))
    queue = sum(counts.get(state, 0) for state in queue_states())
    return render_template("staff/index.html", counts=counts, labels=state_labels(), overdue=overdue,
                           queue=queue, order_roles=ORDER_ROLES, report_roles=REPORT_ROLES, stats_roles=STATS_ROLES)


@bp.get("/orders")
@login_required_role(*ORDER_ROLES)
def orders():
    """Orders by state; by default the unfinished ones, overdue and nearest deadline first."""
    labels = state_labels()
    state = request.args.get("state", "")
    query = scope_orders(select(Order), current_user)
    if state in labels:
        query = query.where(Order.state == state)
    elif state != "all":
        state = ""
        query = query.where(Order.state.in_(OPEN_STATES))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    total = db.session.scalar(query.with_only_columns(func.count(Order.id)).order_by(None))
    rows = db.session.scalars(workbench_order(query).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    today = calendar.today()
    return render_template("staff/orders.html", orders=rows, state=state, labels=labels,
                           counts=state_counts(current_user), page=page, total=total,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), working=WORKING_STATES,
                           soon=today + timedelta(days=DUE_SOON_DAYS))


@bp.get("/orders/<int:order_id>")
@login_required_role(*ORDER_ROLES)
def order(order_id: int):
    return order_page(scoped_order(order_id, current_user))


@bp.get("/orders/<int:order_id>/attachment")
@login_required_role(*ORDER_ROLES)
def attachment(order_id: int):
    found = scoped_order(order_id, current_user)
    if not found.attachment_path:
        abort(404)
    # Stored relative to the instance folder; never follow a path out of it.
    root = Path(current_app.instance_path).resolve()
    path = (root / found.attachment_path).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(path, as_attachment=True, download_name=found.attachment_name or path.name)
