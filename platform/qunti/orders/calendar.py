"""Working days: Monday to Friday, except the holidays and 调休 make-up working days listed in
``rules/calendar.json`` (stored as :class:`~qunti.directory.models.CalendarDay` rows by ``qunti sync``).

Time limits (时限) are counted in working days after the day an order is dispatched.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from flask import current_app
from sqlalchemy import select

from qunti.db import db
from qunti.definitions import DefinitionError, pointer, read_json
from qunti.directory.models import CalendarDay
from qunti.revision import cached

CALENDAR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["days"],
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["date", "workday", "name"],
                "additionalProperties": False,
                "properties": {
                    "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                    "workday": {"type": "boolean"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 40},
                    "note": {"type": "string"},
                },
            },
        },
    },
}
_validator = jsonschema.Draft202012Validator(CALENDAR_SCHEMA)
_CHINA = timezone(timedelta(hours=8))  # no daylight saving: a fixed offset is exact


def load_calendar(path: Path, source: str | None = None) -> tuple[dict[str, Any], ...]:
    """Read and check the holiday calendar; raises DefinitionError naming the entry at fault."""
    source = source or str(path)
    document = read_json(path, source)
    for error in sorted(_validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        raise DefinitionError(source, pointer(error.absolute_path), f"节假日日历不符合格式：{error.message}")
    seen: dict[date, int] = {}
    days = []
    for index, entry in enumerate(document["days"]):
        at = ["days", index, "date"]
        try:
            day = date.fromisoformat(entry["date"])
        except ValueError:
            raise DefinitionError(source, pointer(at), f"日期 '{entry['date']}' 不存在") from None
        if day in seen:
            raise DefinitionError(source, pointer(at), f"日期 {day} 重复（第一次出现在 /days/{seen[day]}）")
        seen[day] = index
        if entry["workday"] and day.weekday() < 5:
            raise DefinitionError(source, pointer(["days", index, "workday"]),
                                  f"{day} 本来就是工作日；调休上班日只能是周六或周日")
        days.append({"date": day, "workday": entry["workday"], "name": entry["name"]})
    return tuple(days)


def sync_calendar(days: tuple[dict[str, Any], ...]) -> None:
    """Upsert the calendar's days as CalendarDay rows (caller commits); never deletes a row."""
    stored = {row.day: row for row in db.session.scalars(
        select(CalendarDay).where(CalendarDay.day.in_([d["date"] for d in days])))} if days else {}
    for entry in days:
        row = stored.get(entry["date"]) or CalendarDay(day=entry["date"])
        row.is_workday, row.name = entry["workday"], entry["name"]
        db.session.add(row)


def today() -> date:
    """Today in the district's time zone (a deadline falls on a local date, not a UTC one)."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if current_app else None
    try:
        zone = ZoneInfo(name) if name else _CHINA
    except (ZoneInfoNotFoundError, ValueError):
        zone = _CHINA
    return datetime.now(zone).date()


_EXCEPTIONS = select(CalendarDay.day, CalendarDay.is_workday)


def _exceptions() -> dict[date, bool]:
    """Every listed day (a few dozen a year). Cached per app under the definitions revision
    (``calendar_day`` is a watched table, so an admin's new holiday counts from the next
    transaction on; see qunti.revision): every routed order reads it."""
    return cached("calendar", lambda: {day: workday for day, workday in db.session.execute(_EXCEPTIONS)})


def _plain_working_day(d: date) -> bool:
    return d.weekday() < 5


def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day (a listed exception wins over the day of the week)."""
    exception = _exceptions().get(d)
    return _plain_working_day(d) if exception is None else exception


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself never counts; n=0 gives ``start``)."""
    return working_days_after(start, n)[0]


def working_days_after(start: date, *counts: int) -> tuple[date, ...]:
    """``add_working_days(start, n)`` for each n, reading the calendar once (dispatch needs two)."""
    if any(n < 0 for n in counts):
        raise ValueError("counts must not be negative")
    wanted = sorted(set(counts))
    found = {0: start} if 0 in wanted else {}
    current, done, total = start, 0, max(wanted, default=0)
    exceptions = _exceptions()
    while done < total:
        current += timedelta(days=1)
        if exceptions.get(current, _plain_working_day(current)):
            done += 1
            if done in wanted:
                found[done] = current
    return tuple(found[n] for n in counts)
