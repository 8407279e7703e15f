"""Two real connections acting on one order at the same moment (PostgreSQL): one wins, one is told.

Each thread pushes its own app context, so it has its own session and connection. Both load the
order, wait for each other at a barrier, then write; the database's row lock and the lock_version
check decide the winner.
"""
from __future__ import annotations

import os
import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from qunti.accounts.models import User
from qunti.db import db
from qunti.orders.models import Order, Reminder
from qunti.orders.tick import run
from qunti.orders.transitions import Conflict, perform, staff_actor

from order_helpers import make_user, order, submit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("QUNTI_DATABASE_URL", "").startswith("postgresql"),
                       reason="needs QUNTI_DATABASE_URL pointing at PostgreSQL"),
]


def _race(app, work, count: int = 2) -> list[object]:
    """Run ``work(index)`` in ``count`` threads that start writing together; their results."""
    barrier = threading.Barrier(count, timeout=20)
    results: list[object] = [None] * count

    def thread(index: int) -> None:
        with app.app_context():
            try:
                results[index] = work(index, barrier)
            except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results


def test_two_handlers_accept_and_return_at_once_exactly_one_wins(app):
    with app.app_context():
        number = submit(app, "S06")
        users = [make_user("handler", unit_code="union", name=name).id for name in ("张三", "李四")]
    actions = [("accept", {}), ("return", {"reason": "不属于本单位职责"})]

    def work(index, barrier):
        # Each keeps the copy it read: were it expired by the commit below, the thread that comes
        # second to its first read would load the other's change and be refused for what it sees
        # (another unit's order) instead of meeting the lock.
        db.session().expire_on_commit = False
        loaded = db.session.scalar(select(Order).where(Order.number == number))
        actor = staff_actor(db.session.get(User, users[index]))
        db.session.commit()  # end the read transaction: both now hold a stale copy, nothing else
        barrier.wait()
        action, params = actions[index]
        perform(loaded, action, actor, **params)
        return action

    results = _race(app, work)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    wins = [r for r in results if isinstance(r, str)]
    assert len(wins) == 1 and len(conflicts) == 1, results
    winner = ("张三" if wins[0] == "accept" else "李四") + "（江北区总工会）"
    assert conflicts[0].message == f"该订单刚刚被 {winner} 修改，请刷新后再操作。"
    with app.app_context():
        placed = order(number)
        assert placed.state == ("accepted" if wins[0] == "accept" else "awaiting_dispatch")
        assert len(placed.events) == 3  # submit, dispatch, and the winner's only


def test_two_residents_rate_the_same_round_once(app):
    with app.app_context():
        number = submit(app, "S06")
        handler = make_user("handler", unit_code="union")
        for action, params in [("accept", {}), ("plan", {"plan": {
                "goal": "g", "task": "t", "people": "p", "deadline": order(number).deadline.isoformat(),
                "unit": "u", "person": "x"}}), ("complete", {"result_note": "已办结"})]:
            perform(order(number), action, staff_actor(db.session.get(User, handler.id)), **params)

    def work(index, barrier):
        from qunti.orders.transitions import resident_actor
        loaded = db.session.scalar(select(Order).where(Order.number == number))
        actor = resident_actor(loaded)
        db.session.commit()
        barrier.wait()
        perform(loaded, "rate", actor, level=5 - index)
        return "rated"

    results = _race(app, work)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "str"], results
    with app.app_context():
        assert len(order(number).ratings) == 1


def test_concurrent_ticks_do_the_work_once(app):
    with app.app_context():
        numbers = [submit(app, "S06") for _ in range(20)]
        for number in numbers:
            order(number).deadline = date(2026, 10, 8)
            db.session.commit()

    def work(_index, barrier):
        barrier.wait()
        return run(date(2026, 10, 9))

    results = _race(app, work, count=4)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.marked_overdue for r in results) == 20
    assert sum(r.overdue_reminders for r in results) == 20
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Reminder)) == 20
