"""Keeps the daily summary (:mod:`qunti.stats.models`) in step with the orders, with no write on any
order path.

Every change to an order moves ``Order.updated_at`` (the column's onupdate: a transition always
UPDATEs its order, and a rating is written by the 评单 transition, which moves the order to rated).
A refresh takes the orders changed after the watermark, rebuilds from the orders every local day they were created
on, and moves the watermark to now − ``STATS_SETTLE_SECONDS`` — not to now, so a transaction that
stamped ``updated_at`` before a refresh and committed after it is still ahead of the watermark and
the next refresh sees it. Until then nothing is lost: :func:`unsettled_days` names the days of
orders changed after the watermark, and the dashboards count those days from the orders themselves.
The first refresh (or one far behind) rebuilds every day instead, a month per transaction, and an
interrupted one goes on where it stopped.

A day's rows are replaced inside one transaction, and every transaction holds the watermark row
while it works (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write lock its first statement, an
UPDATE of that row, takes), so refreshes on several workers or hosts run one after the other and
never count a day twice.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (Connection, Date, DateTime, and_, bindparam, case, delete, func, insert, literal_column,
                        select, union_all, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from qunti.db import as_utc, db, utcnow
from qunti.orders.models import Order, Rating
from qunti.reports.evaluation import SATISFIED_LEVELS, local_date, local_midnight
from qunti.stats.models import OrderDayPending, OrderDaySummary, StatsWatermark
from qunti.stats.sqltime import on_or_before_local_day

log = logging.getLogger(__name__)

NAME = "order_day"  # the watermark row of the order summary
BATCH = 20_000  # more changed orders than this, and every day is rebuilt instead of theirs
BUILD_DAYS = 31  # days rebuilt per transaction when every day is (a SQLite write lock lasts one)
UNSETTLED_LIMIT = 20_000  # more changed orders than this and the dashboards count from the orders alone
_NONE = literal_column("''")  # models.NONE as SQL text: PostgreSQL matches GROUP BY expressions by their text


def count_if(condition: Any) -> Any:
    """SUM of 1 over the rows where ``condition`` holds."""
    return func.sum(case((condition, literal_column("1")), else_=literal_column("0")))


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC moments [low, high) of one local day."""
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


# --- rebuilding days --------------------------------------------------------------------------------

_MOMENT = DateTime(timezone=True)


def _of_the_day() -> Any:
    return and_(Order.created_at >= bindparam("low", type_=_MOMENT),
                Order.created_at < bindparam("high", type_=_MOMENT))


def _keys() -> tuple[Any, Any, Any, Any]:
    return (bindparam("day", type_=Date), Order.service_item_code, func.coalesce(Order.station_code, _NONE),
            func.coalesce(Order.unit_code, _NONE))


def _summary_insert(zone: str) -> Any:
    """INSERT … SELECT of one day's summary rows (parameters day, low, high): the counts
    :func:`qunti.reports.evaluation.add` makes that do not depend on ``as_of``."""
    day, item, station, unit = _keys()
    s = OrderDaySummary
    rows = (select(day, item, station, unit, func.count(Order.id), func.count(Order.accept_by),
                   count_if(on_or_before_local_day(Order.accepted_at, Order.accept_by, zone)),
                   func.count(Order.deadline),
                   count_if(on_or_before_local_day(Order.completed_at, Order.deadline, zone)),
                   # The rating that counts is the one of the order's current round (after 重办: round 2).
                   func.count(Rating.id),
                   count_if(Rating.level.in_([literal_column(str(level)) for level in SATISFIED_LEVELS])),
                   func.coalesce(func.sum(Rating.level), 0))
            .select_from(Order).outerjoin(Rating, and_(Rating.order_id == Order.id, Rating.round == Order.round))
            .where(_of_the_day()).group_by(item, station, unit))
    return insert(s).from_select([s.day, s.service_item_code, s.station_code, s.unit_code, s.orders, s.with_accept_by,
                                  s.responded, s.with_deadline, s.completed_on_time, s.rated, s.satisfied,
                                  s.rating_sum], rows)


def _pending_insert() -> Any:
    """INSERT … SELECT of one day's orders still waiting to be accepted or completed, by due date."""
    day, item, station, unit = _keys()

    def waiting(kind: str, due: Any, done: Any) -> Any:
        return (select(day, item, station, unit, literal_column(f"'{kind}'"), due, func.count(Order.id))
                .where(_of_the_day(), due.is_not(None), done.is_(None)).group_by(item, station, unit, due))

    p = OrderDayPending
    return insert(p).from_select(
        [p.day, p.service_item_code, p.station_code, p.unit_code, p.kind, p.due_on, p.orders],
        union_all(waiting("accept", Order.accept_by, Order.accepted_at),
                  waiting("complete", Order.deadline, Order.completed_at)))


def rebuild(connection: Connection, days: Iterable[date], zone: ZoneInfo) -> int:
    """Replace the summary rows of ``days`` by what the orders say now (in the caller's transaction);
    returns how many days."""
    days = sorted(set(days))
    for start in range(0, len(days), 500):
        chunk = days[start:start + 500]
        connection.execute(delete(OrderDaySummary).where(OrderDaySummary.day.in_(chunk)))
        connection.execute(delete(OrderDayPending).where(OrderDayPending.day.in_(chunk)))
    if days:
        params = []
        for day in days:
            low, high = day_bounds(day, zone)
            params.append({"day": day, "low": low, "high": high})
        connection.execute(_summary_insert(zone.key), params)
        connection.execute(_pending_insert(), params)
    return len(days)


# --- the watermark ------------------------------------------------------------------------------------

W = StatsWatermark  # short: every statement below names its columns


def _mark(connection: Connection) -> Any:
    return connection.execute(select(W.settled_until, W.build_until, W.built_through).where(W.name == NAME)).first()


def _create_mark(connection: Connection) -> None:
    insert_ = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[connection.dialect.name]
    connection.execute(insert_(W).values(name=NAME).on_conflict_do_nothing(index_elements=["name"]))


def _claim(connection: Connection, *, wait: bool) -> Any:
    """Take the watermark row for the current transaction and read it; None when another refresh
    holds it and ``wait`` is false."""
    if connection.dialect.name != "sqlite":
        return connection.execute(select(W.settled_until, W.build_until, W.built_through).where(W.name == NAME)
                                  .with_for_update(skip_locked=not wait)).first()
    # SQLite: a write first, so the transaction holds the database's write lock before it reads.
    connection.execute(update(W).where(W.name == NAME).values(refreshed_at=utcnow()))
    return _mark(connection)


@contextmanager
def _own_connection(*, wait: bool) -> Iterator[Connection]:
    """A connection of its own, so the caller's session and transaction are left as they are; on
    SQLite without ``wait``, one that gives up at once when another connection holds the write lock."""
    with db.engine.connect() as connection:
        timeout = None
        if not wait and connection.dialect.name == "sqlite":
            timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            connection.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            yield connection
        finally:
            if timeout is not None:
                connection.rollback()
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout)}")


def _changed(after: datetime, until: datetime) -> Any:
    return select(Order.created_at).where(Order.updated_at > after, Order.updated_at <= until)


def _set(connection: Connection, **values: Any) -> None:
    connection.execute(update(W).where(W.name == NAME).values(refreshed_at=utcnow(), **values))


def _step(connection: Connection, mark: Any, settled: datetime, zone: ZoneInfo) -> tuple[int, bool]:
    """One transaction's work: (days rebuilt, whether there is more to do)."""
    done, build_until = as_utc(mark.settled_until), as_utc(mark.build_until)
    if build_until is None:
        if done is not None and done >= settled:
            return 0, False
        if done is not None:
            moments = connection.scalars(_changed(done, settled).limit(BATCH + 1)).all()
            if len(moments) <= BATCH:
                days = rebuild(connection, {local_date(moment, zone) for moment in moments}, zone)
                _set(connection, settled_until=settled)
                return days, False
        # Never built, or too far behind to look for the days one change at a time: every day again,
        # a month per transaction. What changes from now on is after ``settled``, so the next
        # refreshes take it in.
        _set(connection, build_until=settled, built_through=None)
        return 0, True
    first, last = (connection.scalar(select(func.min(Order.created_at))),
                   connection.scalar(select(func.max(Order.created_at))))
    start = mark.built_through + timedelta(days=1) if mark.built_through else \
        local_date(first, zone) if first is not None else None
    end = local_date(last, zone) if last is not None else None
    if start is None or end is None or start > end:
        _set(connection, settled_until=build_until, build_until=None, built_through=None)
        return 0, False
    through = min(end, start + timedelta(days=BUILD_DAYS - 1))
    days = rebuild(connection, [start + timedelta(days=n) for n in range((through - start).days + 1)], zone)
    _set(connection, built_through=through)
    return days, True


def refresh(now: datetime | None = None, *, wait: bool = True) -> int:
    """Take every order change older than ``STATS_SETTLE_SECONDS`` into the summary; returns how many
    days were rebuilt. Costs two index look-ups when nothing changed. ``wait=False`` (dashboard
    reads) gives up at once when another refresh is at work; ``qunti tick`` waits its turn."""
    settled = (now or utcnow()) - timedelta(seconds=current_app.config["STATS_SETTLE_SECONDS"])
    zone = _zone()
    rebuilt = 0
    try:
        with _own_connection(wait=wait) as connection:
            mark = _mark(connection)
            if mark is None:
                _create_mark(connection)
            elif mark.build_until is None and mark.settled_until is not None and (
                    as_utc(mark.settled_until) >= settled
                    or not connection.scalar(select(_changed(as_utc(mark.settled_until), settled).exists()))):
                return 0
            connection.commit()
            more = True
            while more:
                with connection.begin():
                    mark = _claim(connection, wait=wait)
                    if mark is None:
                        break
                    days, more = _step(connection, mark, settled, zone)
                    rebuilt += days
    except OperationalError as error:
        if "database is locked" not in str(error.orig):
            raise
        # SQLite: another connection kept the write lock (longer than busy_timeout, or at all when
        # not waiting). Nothing is half done: the next refresh goes on from the watermark.
        log.info("statistics summary: the database is busy, refreshed later")
    if rebuilt:
        log.info("statistics summary: %d days rebuilt, settled until %s", rebuilt, settled.isoformat())
    return rebuilt


def unsettled_days() -> set[date] | None:
    """The local days of orders changed after the watermark, whose summary rows may not count the
    change yet (read them from the orders); None when the summary cannot be used at all (never
    built, or further behind than ``UNSETTLED_LIMIT`` changed orders)."""
    mark = as_utc(db.session.scalar(select(StatsWatermark.settled_until).where(StatsWatermark.name == NAME)))
    if mark is None:
        return None
    moments = db.session.scalars(select(Order.created_at).where(Order.updated_at > mark)
                                 .limit(UNSETTLED_LIMIT + 1)).all()
    if len(moments) > UNSETTLED_LIMIT:
        return None
    zone = _zone()
    return {local_date(moment, zone) for moment in moments}
