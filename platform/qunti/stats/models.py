"""The daily summary the dashboards read instead of a million orders (按日汇总).

One :class:`OrderDaySummary` row per (local day the orders were created, service item, station, unit)
holds every count that does not depend on the day a dashboard is read; one :class:`OrderDayPending`
row per (the same key, kind, due date) counts the orders not yet accepted or completed, so the
orders not yet due on ``as_of`` — few, for a recent ``as_of`` — are found by an index on the due
date and taken off. :mod:`qunti.stats.rollup` rebuilds whole days from
the orders and keeps :class:`StatsWatermark`; nothing on the order paths writes here.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import db

NONE = ""  # station_code of an order made online, unit_code of an order not dispatched (key columns)


class OrderDaySummary(db.Model):
    """The counts :func:`qunti.reports.evaluation.add` makes, for the orders of one key and day."""

    __tablename__ = "order_day_summary"
    __table_args__ = (Index("ix_order_day_summary_station_day", "station_code", "day"),)

    day: Mapped[date] = mapped_column(primary_key=True)  # local (BABEL_DEFAULT_TIMEZONE) day of created_at
    service_item_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    station_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    orders: Mapped[int]
    # Response due on as_of = with_accept_by − waiting to be accepted with accept_by on or after as_of;
    # the same for completion with the deadline.
    with_accept_by: Mapped[int]
    responded: Mapped[int]  # accepted on or before accept_by
    with_deadline: Mapped[int]
    completed_on_time: Mapped[int]  # completed on or before the deadline
    rated: Mapped[int]  # rated in the order's current round
    satisfied: Mapped[int]
    rating_sum: Mapped[int]


class OrderDayPending(db.Model):
    """Orders of one key and day still waiting to be accepted (kind ``accept``, due on accept_by) or
    completed (``complete``, due on the deadline): not due yet while ``as_of`` is not after ``due_on``."""

    __tablename__ = "order_day_pending"
    # Covering: the dashboards read only the rows not due yet, and all they need is in the index.
    __table_args__ = (Index("ix_order_day_pending_due_day", "due_on", "day", "service_item_code", "station_code",
                            "unit_code", "kind", "orders"),)

    day: Mapped[date] = mapped_column(primary_key=True)
    service_item_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    station_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    due_on: Mapped[date] = mapped_column(primary_key=True)
    orders: Mapped[int]


class StatsWatermark(db.Model):
    """How far a summary has taken in changes: every order whose ``updated_at`` is at or before
    ``settled_until`` is counted in it (None: not built yet). While every day is being rebuilt, a
    month per transaction, ``built_through`` is the last day done and ``build_until`` what
    ``settled_until`` becomes when the last day is. The row is also the lock refreshes take in turn."""

    __tablename__ = "stats_watermark"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    settled_until: Mapped[datetime | None]
    build_until: Mapped[datetime | None]
    built_through: Mapped[date | None]
    refreshed_at: Mapped[datetime | None]
