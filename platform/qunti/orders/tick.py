"""``qunti tick``: the periodic pass over deadlines, safe to run from cron on several hosts at once.

Idempotent by construction: the overdue flag is set with ``UPDATE … WHERE overdue = false`` and
reminders are inserted with ``ON CONFLICT DO NOTHING`` against their unique (order, kind, day) key,
so a second run on the same day — or a concurrent one on another host — changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from qunti.db import db, utcnow
from qunti.orders import calendar
from qunti.orders.models import Order, Reminder
from qunti.orders.transitions import WORKING_STATES

_CHUNK = 500


@dataclass(frozen=True)
class TickResult:
    marked_overdue: int
    overdue_reminders: int
    due_soon_reminders: int

    def __str__(self) -> str:
        return (f"标记超期 {self.marked_overdue} 件；新增超期提醒 {self.overdue_reminders} 条；"
                f"新增临期提醒 {self.due_soon_reminders} 条。")


def _insert_new(rows: list[dict[str, Any]]) -> int:
    """Insert reminders that do not exist yet; returns how many were new."""
    dialects = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    insert = dialects[db.session.get_bind().dialect.name]
    created = 0
    for start in range(0, len(rows), _CHUNK):
        statement = insert(Reminder).values(rows[start:start + _CHUNK]).on_conflict_do_nothing(
            index_elements=["order_id", "kind", "day"]).returning(Reminder.id)
        created += len(db.session.execute(statement).all())
    return created


def _reminders(kind: str, today: date, where: list[Any]) -> int:
    due = db.session.execute(select(Order.id, Order.unit_code).where(
        Order.state.in_(WORKING_STATES), Order.deadline.is_not(None), *where)).all()
    now = utcnow()
    return _insert_new([{"order_id": order_id, "kind": kind, "day": today, "unit_code": unit, "created_at": now}
                        for order_id, unit in due])


def run(today: date | None = None) -> TickResult:
    """Mark overdue orders and record today's overdue and due-soon reminders; commits."""
    today = today or calendar.today()
    # lock_version is left alone on purpose: the flag is the system's note, and a handler who
    # loaded the order before the tick must still be able to act on it.
    marked = db.session.execute(
        update(Order).where(Order.state.in_(WORKING_STATES), Order.deadline < today, Order.overdue.is_(False))
        .values(overdue=True).execution_options(synchronize_session=False)).rowcount
    overdue = _reminders("overdue", today, [Order.deadline < today])
    soon_until = calendar.add_working_days(today, 1)
    due_soon = _reminders("due_soon", today, [Order.deadline >= today, Order.deadline <= soon_until])
    db.session.commit()
    return TickResult(marked_overdue=marked, overdue_reminders=overdue, due_soon_reminders=due_soon)
