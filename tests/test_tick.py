"""``qunti tick``: overdue flags and reminders, idempotent when run twice (or on two hosts)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from qunti.cli import main
from qunti.db import db
from qunti.orders.models import Order, Reminder
from qunti.orders.tick import TickResult, run

from order_helpers import order, submit

TODAY = date(2026, 10, 9)  # a Friday; the next working day is the 调休 Saturday 10-10


def _orders_with_deadlines(app) -> dict[str, str]:
    deadlines = {
        "overdue": date(2026, 10, 8),
        "due_today": TODAY,
        "due_next_working_day": date(2026, 10, 10),
        "due_monday": date(2026, 10, 12),  # two working days away: not yet
        "closed_overdue": date(2026, 9, 1),
        "queued": None,
    }
    numbers = {name: submit(app, "S06") for name in deadlines}
    for name, number in numbers.items():
        placed = order(number)
        placed.deadline = deadlines[name]
        if name == "closed_overdue":
            placed.state = "completed"
        if name == "queued":
            placed.state, placed.unit_code = "awaiting_dispatch", None
        db.session.commit()
    return numbers


def _reminders() -> set[tuple[str, str, date]]:
    rows = db.session.execute(select(Reminder.order_id, Reminder.kind, Reminder.day))
    numbers = dict(db.session.execute(select(Order.id, Order.number)).all())
    return {(numbers[o_id], kind, day) for o_id, kind, day in rows}


def test_tick_marks_overdue_and_records_reminders_once(ctx):
    numbers = _orders_with_deadlines(ctx)
    first = run(TODAY)
    assert first == TickResult(marked_overdue=1, overdue_reminders=1, due_soon_reminders=2)
    assert order(numbers["overdue"]).overdue is True
    assert order(numbers["due_today"]).overdue is False
    assert order(numbers["closed_overdue"]).overdue is False
    assert _reminders() == {(numbers["overdue"], "overdue", TODAY), (numbers["due_today"], "due_soon", TODAY),
                            (numbers["due_next_working_day"], "due_soon", TODAY)}
    versions = {n: order(n).lock_version for n in numbers.values()}

    second = run(TODAY)
    assert second == TickResult(0, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 3
    # The flag is the system's note: a handler holding the order can still act on it.
    assert {n: order(n).lock_version for n in numbers.values()} == versions


def test_next_day_adds_one_overdue_reminder_per_order(ctx):
    numbers = _orders_with_deadlines(ctx)
    run(TODAY)
    result = run(date(2026, 10, 10))
    # due_today is now overdue; due_next_working_day is due today; due_monday is the next working day.
    assert result == TickResult(marked_overdue=1, overdue_reminders=2, due_soon_reminders=2)
    assert (numbers["overdue"], "overdue", date(2026, 10, 10)) in _reminders()


def test_tick_command_prints_counts(app):
    with app.app_context():
        _orders_with_deadlines(app)
    runner = app.test_cli_runner()
    first = runner.invoke(main, ["tick", "--today", "2026-10-09"])
    assert first.exit_code == 0, first.output
    assert "标记超期 1 件；新增超期提醒 1 条；新增临期提醒 2 条。" in first.output
    second = runner.invoke(main, ["tick", "--today", "2026-10-09"])
    assert "标记超期 0 件；新增超期提醒 0 条；新增临期提醒 0 条。" in second.output
    assert runner.invoke(main, ["tick", "--today", "10/09/2026"]).exit_code != 0
