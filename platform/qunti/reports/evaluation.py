"""The 评单 evaluation figures of organizations, stations and handling units.

Everything here is a pure function of plain rows (:class:`OrderRow`, :class:`RatingRow`), so a test
can build rows by hand and recompute every figure. :func:`load_rows` is the only part that reads the
database.

Definitions (a rate whose denominator is zero is ``None``, shown as "—"):

- orders: orders created in the period (local dates, both ends included).
- response rate: accepted on or before ``accept_by``, among orders that had an ``accept_by`` and are
  either accepted or past it on ``as_of`` (an order still inside its time to respond is not judged yet).
- on-time completion rate: completed on or before ``deadline``, among orders that had a deadline and
  are either completed or past it on ``as_of``.
- satisfaction rate: ratings of 4 or 5 among rated orders; average rating over the same ratings. An
  order's rating is the one of its current round: after a redo (round 2) the round-1 rating no longer
  counts, and the order is unrated until the resident rates round 2.
- channel counts: orders per intake channel.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone, tzinfo
from typing import Any

from qunti.db import as_utc

SATISFIED_LEVELS = (4, 5)
DIMENSIONS = {"organization": "群团组织", "station": "服务站", "unit": "办单单位"}
NO_STATION = ""  # orders made online, without a station
NO_UNIT = ""  # orders not dispatched yet


@dataclass(frozen=True)
class OrderRow:
    id: int
    organization: str  # of the service item
    station_code: str | None
    unit_code: str | None
    channel: str
    round: int
    created_at: datetime
    accept_by: date | None = None
    accepted_at: datetime | None = None
    deadline: date | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class RatingRow:
    order_id: int
    round: int
    level: int


@dataclass
class Figures:
    """The evaluation figures of one group of orders."""

    key: str
    orders: int = 0
    response_due: int = 0
    responded: int = 0
    completion_due: int = 0
    completed_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    rating_sum: int = 0
    channels: Counter = field(default_factory=Counter)

    @property
    def response_rate(self) -> float | None:
        return _rate(self.responded, self.response_due)

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.completed_on_time, self.completion_due)

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied, self.rated)

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.rated, 2) if self.rated else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar day of a stored moment in ``zone`` (naive moments are UTC, as SQLite returns them)."""
    return as_utc(moment).astimezone(zone).date()


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The moment, in UTC, the local ``day`` begins in ``zone`` (the inverse of :func:`local_date`)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(timezone.utc)


def in_period(row: OrderRow, start: date, end: date, zone: tzinfo) -> bool:
    return start <= local_date(row.created_at, zone) <= end


def counted_ratings(orders: Iterable[OrderRow], ratings: Iterable[RatingRow]) -> dict[int, int]:
    """order id -> the level that counts: the rating of the order's current round, if any."""
    current = {o.id: o.round for o in orders}
    return {r.order_id: r.level for r in ratings if current.get(r.order_id) == r.round}


def add(figures: Figures, row: OrderRow, level: int | None, as_of: date, zone: tzinfo) -> None:
    """Count one order into ``figures``."""
    figures.orders += 1
    figures.channels[row.channel] += 1
    if row.accept_by is not None and (row.accepted_at is not None or row.accept_by < as_of):
        figures.response_due += 1
        if row.accepted_at is not None and local_date(row.accepted_at, zone) <= row.accept_by:
            figures.responded += 1
    if row.deadline is not None and (row.completed_at is not None or row.deadline < as_of):
        figures.completion_due += 1
        if row.completed_at is not None and local_date(row.completed_at, zone) <= row.deadline:
            figures.completed_on_time += 1
    if level is not None:
        figures.rated += 1
        figures.rating_sum += level
        figures.satisfied += level in SATISFIED_LEVELS


GROUP_KEYS: Mapping[str, Callable[[OrderRow], str]] = {
    "organization": lambda row: row.organization,
    "station": lambda row: row.station_code or NO_STATION,
    "unit": lambda row: row.unit_code or NO_UNIT,
}


def evaluate(orders: Sequence[OrderRow], ratings: Iterable[RatingRow], *, start: date, end: date,
             as_of: date, zone: tzinfo) -> dict[str, list[Figures]]:
    """Figures per organization, per station and per handling unit for orders created in
    [start, end], plus ``"total"`` (one row, key ``""``). Groups are sorted by key."""
    chosen = [row for row in orders if in_period(row, start, end, zone)]
    levels = counted_ratings(chosen, ratings)
    result: dict[str, list[Figures]] = {}
    for dimension, key_of in GROUP_KEYS.items():
        groups: dict[str, Figures] = defaultdict(lambda: Figures(key=""))
        for row in chosen:
            key = key_of(row)
            groups[key].key = key
            add(groups[key], row, levels.get(row.id), as_of, zone)
        result[dimension] = [groups[key] for key in sorted(groups)]
    total = Figures(key="")
    for row in chosen:
        add(total, row, levels.get(row.id), as_of, zone)
    result["total"] = [total]
    return result


def load_rows(order_query: Any) -> tuple[list[OrderRow], list[RatingRow]]:
    """Read the rows of the orders ``order_query`` selects (already scoped) and their ratings."""
    from sqlalchemy import select

    from qunti.db import db
    from qunti.menu.models import ServiceItem
    from qunti.orders.models import Order, Rating

    ids = order_query.with_only_columns(Order.id).subquery()
    query = (select(Order.id, ServiceItem.organization, Order.station_code, Order.unit_code, Order.channel,
                    Order.round, Order.created_at, Order.accept_by, Order.accepted_at, Order.deadline,
                    Order.completed_at)
             .join(ServiceItem, ServiceItem.code == Order.service_item_code)
             .where(Order.id.in_(select(ids.c.id))))
    orders = [OrderRow(*row) for row in db.session.execute(query)]
    ratings = [RatingRow(*row) for row in db.session.execute(
        select(Rating.order_id, Rating.round, Rating.level).where(Rating.order_id.in_(select(ids.c.id))))]
    return orders, ratings
