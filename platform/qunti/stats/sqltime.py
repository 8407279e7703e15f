"""Local calendar days and months of stored UTC moments, decided by the database so statistics can
GROUP BY them, the same way :func:`qunti.reports.evaluation.local_date` decides them in Python.

Both are written to cost almost nothing per row on a million rows:

- :func:`month_bucket`: the local month as a CASE over the period's month boundaries, computed in
  Python with the zone's rules (a string or timestamp comparison per boundary, no date function;
  :func:`day_month_bucket` does the same for a column of local days);
- :class:`on_or_before_local_day`: "the moment falls on or before this local day" — PostgreSQL
  converts with ``timezone()``; SQLite (no zone database, and slow date functions) compares the
  stored UTC text with the day's local midnight written as UTC text, which for a zone east of UTC
  (Asia/Shanghai: +08:00, no daylight saving since 1991) is the same day at 24 h minus the offset.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from typing import Any

from sqlalchemy import Boolean, case, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from qunti.reports.evaluation import local_midnight

_ZONE_NAME = re.compile(r"^[A-Za-z0-9_/+-]{1,64}$")


def _zone(name: str) -> str:
    if not _ZONE_NAME.match(name):
        raise ValueError(f"not a time zone name: {name!r}")
    ZoneInfo(name)  # raises for an unknown zone
    return name


def _months(start: date, end: date) -> list[tuple[date, date]]:
    """(first day, first day of the next) of every month [start, end] touches."""
    months, first = [], date(start.year, start.month, 1)
    while first <= end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        months.append((first, following))
        first = following
    return months


def _bucket(column, months: list[tuple[date, date]], bound) -> tuple[Any, list[str]]:
    whens = [(column < bound(following), literal_column(str(index)))
             for index, (_, following) in enumerate(months[:-1])]
    last = literal_column(str(len(months) - 1))
    return (case(*whens, else_=last) if whens else last), [f"{first:%Y-%m}" for first, _ in months]


def month_bucket(column, start: date, end: date, zone: str) -> tuple[Any, list[str]]:
    """The local month of ``column`` for moments in [start, end] (local days), as a small integer
    (cheap to group by) and the "YYYY-MM" each integer stands for."""
    tz = ZoneInfo(_zone(zone))
    return _bucket(column, _months(start, end), lambda first: local_midnight(first, tz))


def day_month_bucket(column, start: date, end: date) -> tuple[Any, list[str]]:
    """:func:`month_bucket` of a column holding local days (the statistics summary's ``day``)."""
    return _bucket(column, _months(start, end), lambda first: first)


class on_or_before_local_day(FunctionElement):
    """``on_or_before_local_day(moment, day, zone)``: the moment's local calendar day is ``day`` or
    earlier (false when either is NULL)."""

    type = Boolean()
    name = "on_or_before_local_day"
    inherit_cache = False  # the zone is an attribute, not a clause: no statement caching

    def __init__(self, moment, day, zone: str) -> None:
        self.zone = _zone(zone)
        super().__init__(moment, day)


@compiles(on_or_before_local_day, "postgresql")
def _on_or_before_pg(element, compiler, **kw):
    moment, day = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(timezone('{element.zone}', {moment}) AS DATE) <= {day})"


@compiles(on_or_before_local_day, "sqlite")
def _on_or_before_sqlite(element, compiler, **kw):
    moment, day = (compiler.process(c, **kw) for c in element.clauses)
    offset = datetime.now(ZoneInfo(element.zone)).utcoffset() or timedelta(0)
    if timedelta(0) < offset <= timedelta(hours=24):
        # The next local midnight, in UTC, is this same day at 24 h − offset: compare as text.
        until = (datetime.min + (timedelta(hours=24) - offset)).strftime("%H:%M:%S")
        return f"({moment} < {day} || ' {until}')"
    minutes = int(offset.total_seconds() // 60)
    return f"(date({moment}, '{minutes:+d} minutes') <= {day})"
