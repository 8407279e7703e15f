"""Working days: Monday–Friday plus the shipped holidays and 调休 days; the calendar file is checked."""
from __future__ import annotations

import json
import shutil
from datetime import date

import pytest
from sqlalchemy import func, select

from qunti.catalog import state
from qunti.db import db
from qunti.definitions import DefinitionError
from qunti.directory.models import CalendarDay, Unit
from qunti.orders.calendar import add_working_days, is_working_day, load_calendar
from qunti.sync import sync

from conftest import ROOT


@pytest.mark.parametrize("day, working", [
    (date(2026, 10, 1), False),   # 国庆节, a Thursday
    (date(2026, 10, 7), False),   # 国庆节, a Wednesday
    (date(2026, 10, 8), True),    # first working day after 国庆
    (date(2026, 10, 10), True),   # Saturday worked in exchange (调休)
    (date(2026, 10, 11), False),  # an ordinary Sunday
    (date(2026, 9, 20), True),    # Sunday worked before 国庆
    (date(2026, 2, 14), True),    # Saturday worked before 春节
    (date(2026, 2, 23), False),   # 春节, a Monday
    (date(2026, 11, 27), True),   # an ordinary Friday
])
def test_is_working_day(ctx, day, working):
    assert is_working_day(day) is working


@pytest.mark.parametrize("start, n, expected", [
    (date(2026, 9, 30), 1, date(2026, 10, 8)),    # across the whole 国庆 week
    (date(2026, 9, 30), 2, date(2026, 10, 9)),
    (date(2026, 9, 30), 3, date(2026, 10, 10)),   # …landing on the 调休 Saturday
    (date(2026, 9, 30), 4, date(2026, 10, 12)),
    (date(2026, 9, 18), 1, date(2026, 9, 20)),    # Friday → the 调休 Sunday, skipping Saturday
    (date(2026, 9, 24), 1, date(2026, 9, 28)),    # 中秋 Friday to Sunday skipped
    (date(2026, 2, 13), 1, date(2026, 2, 14)),    # Friday → 调休 Saturday before 春节
    (date(2026, 2, 13), 2, date(2026, 2, 24)),    # …then nine days off
    (date(2026, 11, 27), 1, date(2026, 11, 30)),  # an ordinary weekend
    (date(2026, 11, 27), 0, date(2026, 11, 27)),
    (date(2026, 9, 1), 30, date(2026, 10, 19)),   # long limits cross several holidays
])
def test_add_working_days(ctx, start, n, expected):
    assert add_working_days(start, n) == expected


def test_without_the_calendar_only_weekends_count(ctx):
    with db.engine.begin() as connection:
        connection.execute(CalendarDay.__table__.delete())
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 1)
    assert is_working_day(date(2026, 10, 10)) is False


def test_sync_seeds_calendar_and_units_and_never_deletes(ctx):
    catalog = state().catalog
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == len(catalog.calendar)
    assert {u.code for u in db.session.scalars(select(Unit))} == set(catalog.units)
    # An admin's edits: a unit switched off and a local holiday; an unchanged file keeps both.
    db.session.get(Unit, "union").active = False
    db.session.add(Unit(code="local-unit", name="某单位", kind="department"))
    db.session.add(CalendarDay(day=date(2026, 12, 31), is_workday=False, name="本地假日"))
    db.session.commit()
    sync(catalog)
    assert db.session.get(Unit, "union").active is False
    assert db.session.get(Unit, "local-unit") is not None
    assert db.session.get(CalendarDay, date(2026, 12, 31)) is not None


def test_shipped_calendar_covers_2026_and_2027():
    days = load_calendar(ROOT / "rules" / "calendar.json")
    years = {d["date"].year for d in days}
    assert years == {2026, 2027}
    assert any(d["workday"] for d in days)  # 调休 days are there, not only holidays


def _write(tmp_path, document) -> object:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("days, where, words", [
    ([{"date": "2026-10-01", "workday": False}], "/days/0", "name"),
    ([{"date": "2026-10-01", "workday": "no", "name": "国庆节"}], "/days/0/workday", "格式"),
    ([{"date": "2026-02-30", "workday": False, "name": "x"}], "/days/0/date", "不存在"),
    ([{"date": "2026-10-01", "workday": False, "name": "国庆节"},
      {"date": "2026-10-01", "workday": False, "name": "国庆节"}], "/days/1/date", "重复"),
    ([{"date": "2026-10-08", "workday": True, "name": "调休"}], "/days/0/workday", "周六或周日"),
])
def test_broken_calendar_is_refused_with_its_path(tmp_path, days, where, words):
    with pytest.raises(DefinitionError) as caught:
        load_calendar(_write(tmp_path, {"days": days}), "rules/calendar.json")
    assert caught.value.path == where
    assert words in caught.value.reason


def test_app_refuses_to_start_with_a_broken_calendar(tmp_path, make_app):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    _write(rules, {"days": [{"date": "2026-13-01", "workday": False, "name": "x"}]})
    with pytest.raises(DefinitionError) as caught:
        make_app(RULES_DIR=str(rules))
    assert "calendar.json" in str(caught.value)
