"""任务销号库: every task (a dispatched order) with its 五定 and its close-out, as a board: overdue
tasks on top, then the others, each by unit and deadline (tasks without a deadline last).

The board is three sections read one after the other, each paged by keyset on plain columns
(index ``ix_service_order_task_board``, per state, merged): the cursor names the section and the
last row's key.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request
from flask_login import current_user
from sqlalchemy import false, select, true, tuple_

from qunti.accounts.access import ORDER_ROLES, login_required_role, scope_orders
from qunti.db import db
from qunti.ledgers import bp, keyset
from qunti.orders import calendar
from qunti.orders.models import Order
from qunti.orders.transitions import TRANSITIONS, WORKING_STATES
from qunti.staff.present import active_units, state_labels

CLOSED_STATES = sorted({TRANSITIONS["complete"].target, TRANSITIONS["rate"].target})
VIEWS = {"open": ("在办", sorted(WORKING_STATES)), "closed": ("已销号", CLOSED_STATES),
         "all": ("全部", sorted(WORKING_STATES) + CLOSED_STATES)}
# (name, conditions, sort key); "= true/false", not "IS": an index can serve an equality.
SECTIONS = (
    ("overdue", (Order.overdue == true(), Order.deadline.is_not(None)), (Order.unit_code, Order.deadline, Order.id)),
    ("due", (Order.overdue == false(), Order.deadline.is_not(None)), (Order.unit_code, Order.deadline, Order.id)),
    ("undated", (Order.deadline.is_(None),), (Order.unit_code, Order.id)),
)


def task_query(user, state: str, unit: str = "", *columns):
    """Tasks in ``state`` that ``user`` may see (selecting ``columns``, or the orders)."""
    query = select(*(columns or (Order,))).where(Order.state == state, Order.unit_code.is_not(None))
    if unit:
        query = query.where(Order.unit_code == unit)
    return scope_orders(query, user)


def _after(cursor: str | None) -> tuple[int, list[Any] | None]:
    values = keyset.decode(cursor)
    if not values or not isinstance(values[0], int) or not 0 <= values[0] < len(SECTIONS) \
            or len(values) != 1 + len(SECTIONS[values[0]][2]):
        return 0, None
    return values[0], values[1:]


def task_page(user, view: str, cursor: str | None, size: int, *, unit: str = "",
              overdue_only: bool = False) -> keyset.Page:
    """One page of the board: rows are (section name, order). Each section is read per state by
    keyset on the index (state, overdue, unit_code, deadline, id), and the states are merged."""
    start, after = _after(cursor)
    states = VIEWS.get(view, VIEWS["open"])[1]
    rows: list[tuple[str, Order, tuple]] = []
    for index in range(start, len(SECTIONS)):
        name, conditions, key = SECTIONS[index]
        if overdue_only and name != "overdue":
            break
        need = size + 1 - len(rows)
        keys: list[tuple] = []  # sort keys only (cheap rows); the orders are loaded for the page alone
        for state in states:
            query = task_query(user, state, unit, *key).where(*conditions)
            if index == start and after is not None:
                query = query.where(tuple_(*key) > tuple(after))
            keys += [tuple(row) for row in db.session.execute(query.order_by(*key).limit(need))]
        keys = sorted(keys)[:need]
        orders = {o.id: o for o in db.session.scalars(select(Order).where(Order.id.in_([k[-1] for k in keys])))}
        rows += [(name, orders[k[-1]], (index, *k)) for k in keys]
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    return keyset.Page(rows=[(name, order) for name, order, _ in rows],
                       next_cursor=keyset.encode(rows[-1][2]) if more else None)


@bp.get("/tasks")
@login_required_role(*ORDER_ROLES)
def tasks():
    view = request.args.get("view", "open")
    view = view if view in VIEWS else "open"
    unit = request.args.get("unit", "").strip()[:40]
    overdue_only = request.args.get("overdue") == "1"
    result = task_page(current_user, view, request.args.get("after"), current_app.config["LEDGER_PAGE_SIZE"],
                       unit=unit, overdue_only=overdue_only)
    return render_template("ledgers/tasks.html", rows=result.rows, next_cursor=result.next_cursor, view=view,
                           views=VIEWS, unit=unit, overdue_only=overdue_only, units=active_units(),
                           labels=state_labels(), today=calendar.today(), first_page=not request.args.get("after"))
