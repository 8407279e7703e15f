"""统一的基础信息统计: the figures of the district, of one organization and of one station.

Every figure is aggregated by the database (GROUP BY), never by looping over orders in Python. The
rates are :class:`qunti.reports.evaluation.Figures` filled from SQL counts, so a rate has one
definition (its property there); the SQL conditions below count exactly what
:func:`qunti.reports.evaluation.add` counts, and ``tests/test_stats.py`` recomputes every figure
with ``evaluation.evaluate`` from the raw rows to keep the two in step.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, or_, select, union_all

from qunti.accounts.access import order_visibility, scope_orders
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.directory.models import Station, Unit
from qunti.ledgers.demands import local_bounds
from qunti.membership.models import KINDS, Membership, Organization
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders.models import Order, Rating
from qunti.reports.evaluation import NO_STATION, NO_UNIT, SATISFIED_LEVELS, Figures
from qunti.stations.models import Inspection, latest_inspection_ids
from qunti.stats import rollup
from qunti.stats.models import OrderDayPending, OrderDaySummary
from qunti.stats.rollup import count_if
from qunti.stats.sqltime import day_month_bucket, month_bucket, on_or_before_local_day

SCOPES = {"district": "全区", "organization": "群团组织", "station": "服务站"}
# What the rates of each scope are broken down by.
BREAKDOWN = {"district": "organization", "organization": "station", "station": "unit"}
BREAKDOWN_NAMES = {"organization": "群团组织", "station": "服务站", "unit": "办单单位"}
PASS = "pass"  # 符合, in the 七有 checklist's result choices
MEMBERS_NOTE = ("会员数为会员库中在册的工会会员和共青团员（同时在册两种的计两次）；服务站的会员数按入会时经由的服务站，"
                "未经服务站的按所属基层组织所在的服务站；区妇联、群团联合不设会员库，显示为“—”。")


@dataclass(frozen=True)
class Scope:
    kind: str  # district, organization, station
    key: str = ""

    def order_conditions(self, item: Any = Order.service_item_code, station: Any = Order.station_code) -> list[Any]:
        """The scope as conditions on an order's item and station (or the summary's columns)."""
        if self.kind == "organization":
            return [item.in_(select(ServiceItem.code).where(ServiceItem.organization == self.key))]
        if self.kind == "station":
            return [station == self.key]
        return []


@dataclass
class QiyouRow:
    station_code: str
    station_name: str
    inspected_on: str | None  # the latest inspection's date, YYYY-MM-DD
    inspection_id: int | None  # qunti.stations.models.Inspection
    passed: int = 0
    items: int = 0

    @property
    def share(self) -> float | None:
        return self.passed / self.items if self.items else None


@dataclass
class ActivityRow:
    organization: str
    activities: int = 0
    signups: int = 0


@dataclass
class Dashboard:
    scope: Scope
    start: date
    end: date
    as_of: date
    members: int | None
    stations: int
    total: Figures
    by_item: dict[str, int] = field(default_factory=dict)       # item code -> orders
    by_month: dict[str, int] = field(default_factory=dict)      # "YYYY-MM" -> orders
    groups: dict[str, Figures] = field(default_factory=dict)    # breakdown key -> figures
    qiyou: list[QiyouRow] = field(default_factory=list)
    activities: list[ActivityRow] = field(default_factory=list)

    @property
    def breakdown(self) -> str:
        return BREAKDOWN[self.scope.kind]

    @property
    def qiyou_share(self) -> float | None:
        """The 七有 compliance of the scope: 符合 items over all items, latest inspection per station."""
        items = sum(r.items for r in self.qiyou)
        return sum(r.passed for r in self.qiyou) / items if items else None


def _zone_name() -> str:
    return current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"


def order_figures(scope: Scope, start: date, end: date, as_of: date, user) -> list[FigureRow]:
    """One row per (item, breakdown key, local month) with the counts ``evaluation.add`` makes.

    Days the summary holds are read from it (:mod:`qunti.stats.rollup`); the days of orders changed
    after its watermark, from the orders themselves; all of it from the orders when the summary
    cannot be used."""
    unsettled = rollup.unsettled_days()
    if unsettled is None:
        return _merged(_counted_from_orders(scope, [local_bounds(start, end)], as_of, user, start, end))
    days = sorted(day for day in unsettled if start <= day <= end)
    rows = _counted_from_summary(scope, start, end, as_of, user, days)
    if days:
        rows += _counted_from_orders(scope, _day_ranges(days), as_of, user, start, end)
    return _merged(rows)


def _day_ranges(days: list[date]) -> list[tuple[datetime, datetime]]:
    """UTC [low, high) ranges covering the local ``days`` (sorted), consecutive days joined."""
    zone = ZoneInfo(_zone_name())
    ranges: list[tuple[datetime, datetime]] = []
    for day in days:
        low, high = rollup.day_bounds(day, zone)
        if ranges and ranges[-1][1] == low:
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    return ranges


def _summary_query(table: Any, scope: Scope, start: date, end: date, user, skip: list[date],
                   counts: list[Any]) -> tuple[Any, list[str]]:
    """SELECT item, group_key, month, *counts from a summary table over the days [start, end] but
    ``skip``, in ``scope`` and as ``user`` may see, grouped like :func:`_counted_from_orders`."""
    breakdown = BREAKDOWN[scope.kind]
    key_expression = {"organization": None, "station": table.station_code, "unit": table.unit_code}[breakdown]
    key = (key_expression if key_expression is not None else literal_column("''")).label("group_key")
    bucket, month_names = day_month_bucket(table.day, start, end)
    month = bucket.label("month")
    visible = order_visibility(user, item=table.service_item_code, station=table.station_code, unit=table.unit_code,
                               resident=None)
    query = (select(table.service_item_code.label("item"), key, month, *counts)
             .where(table.day >= start, table.day <= end, table.day.not_in(skip),
                    *scope.order_conditions(table.service_item_code, table.station_code),
                    *([visible] if visible is not None else []))
             .group_by(table.service_item_code, month, *([key_expression] if key_expression is not None else [])))
    return query, month_names


def _counted_from_summary(scope: Scope, start: date, end: date, as_of: date, user,
                          skip: list[date]) -> list[FigureRow]:
    """The rows of the days [start, end] but ``skip``, from the summary: the counts as stored, less
    the orders still waiting to be accepted or completed whose accept_by or deadline is not before
    ``as_of`` (not due yet: few, found by the due date's index). One statement, so a refresh
    committing meanwhile cannot show it half."""
    s, p = OrderDaySummary, OrderDayPending
    # The summary's counts line up with FigureRow's; with_accept_by and with_deadline become the
    # due counts once the orders not due yet are taken off (negative rows, added up by _merged).
    stored, months = _summary_query(s, scope, start, end, user, skip, [
        func.sum(column) for column in (s.orders, s.with_accept_by, s.responded, s.with_deadline,
                                        s.completed_on_time, s.rated, s.satisfied, s.rating_sum)])
    zero = literal_column("0")
    not_due, _ = _summary_query(p, scope, start, end, user, skip, [
        zero, -func.sum(case((p.kind == "accept", p.orders), else_=0)), zero,
        -func.sum(case((p.kind == "complete", p.orders), else_=0)), zero, zero, zero, zero])
    rows = db.session.execute(union_all(stored, not_due.where(p.due_on >= as_of)))
    return [FigureRow(r.item, r.group_key, months[int(r.month)], *(int(n or 0) for n in r[3:])) for r in rows]


def _counted_from_orders(scope: Scope, ranges: list[tuple[datetime, datetime]], as_of: date, user, start: date,
                         end: date) -> list[FigureRow]:
    """The rows of orders created in the UTC ``ranges`` (inside the local days [start, end]), counted
    from the orders. The ratings are counted by a second query driven by the ratings themselves (a
    join per order costs more than reading each rating once) and merged into the rows by their key."""
    zone = _zone_name()
    breakdown = BREAKDOWN[scope.kind]
    # By organization: the item's organization, read from the item code after grouping (a constant
    # key keeps the row shape; PostgreSQL refuses to GROUP BY a constant, so it is left out there).
    key_expression = {"organization": None, "station": func.coalesce(Order.station_code, NO_STATION),
                      "unit": func.coalesce(Order.unit_code, NO_UNIT)}[breakdown]
    key = (key_expression if key_expression is not None else literal_column("''")).label("group_key")
    bucket, month_names = month_bucket(Order.created_at, start, end, zone)
    month = bucket.label("month")
    group_by = [Order.service_item_code, month, *([key_expression] if key_expression is not None else [])]
    where = [or_(*(and_(Order.created_at >= low, Order.created_at < high) for low, high in ranges)),
             *scope.order_conditions()]
    orders = (
        select(Order.service_item_code.label("item"), key, month,
               func.count().label("orders"),
               count_if(and_(Order.accept_by.is_not(None),
                             or_(Order.accepted_at.is_not(None), Order.accept_by < as_of))).label("response_due"),
               count_if(on_or_before_local_day(Order.accepted_at, Order.accept_by, zone)).label("responded"),
               count_if(and_(Order.deadline.is_not(None),
                             or_(Order.completed_at.is_not(None), Order.deadline < as_of))).label("completion_due"),
               count_if(on_or_before_local_day(Order.completed_at, Order.deadline, zone)).label("completed_on_time"))
        .where(*where).group_by(*group_by))
    # The rating that counts is the one of the order's current round (after 重办: round 2).
    ratings = (
        select(Order.service_item_code.label("item"), key, month, func.count().label("rated"),
               count_if(Rating.level.in_(SATISFIED_LEVELS)).label("satisfied"),
               func.sum(Rating.level).label("rating_sum"))
        .select_from(Rating).join(Order, and_(Order.id == Rating.order_id, Order.round == Rating.round))
        .where(*where).group_by(*group_by))
    counted = {(r.item, r.group_key, r.month): r for r in db.session.execute(scope_orders(ratings, user))}
    rows = []
    for row in db.session.execute(scope_orders(orders, user)):
        rated = counted.get((row.item, row.group_key, row.month))
        rows.append(FigureRow(row.item, row.group_key, month_names[int(row.month)], row.orders, row.response_due or 0,
                              row.responded or 0, row.completion_due or 0, row.completed_on_time or 0,
                              rated.rated if rated else 0, (rated.satisfied or 0) if rated else 0,
                              (rated.rating_sum or 0) if rated else 0))
    return rows


def _merged(rows: list[FigureRow]) -> list[FigureRow]:
    """One row per (item, key, month): the summary's and the orders' rows of one group added up."""
    merged: dict[tuple[str, str, str], list[int]] = {}
    for row in rows:
        counts = merged.setdefault((row.item, row.group_key, row.month), [0] * len(COUNTS))
        for i, name in enumerate(COUNTS):
            counts[i] += getattr(row, name)
    return [FigureRow(*key, *counts) for key, counts in merged.items()]


@dataclass(frozen=True)
class FigureRow:
    """The counts of one (item, breakdown key, month) group."""

    item: str
    group_key: str
    month: str
    orders: int
    response_due: int
    responded: int
    completion_due: int
    completed_on_time: int
    rated: int
    satisfied: int
    rating_sum: int


COUNTS = ("orders", "response_due", "responded", "completion_due", "completed_on_time", "rated", "satisfied",
          "rating_sum")  # FigureRow's counts, in order: the Figures fields they add to


def _add(target: Figures, row: Any) -> None:
    for name in COUNTS:
        setattr(target, name, getattr(target, name) + getattr(row, name))


def member_count(scope: Scope) -> int | None:
    """Active memberships (会员、团员) of the scope; None for an organization without members."""
    query = select(func.count()).select_from(Membership).where(Membership.status == "active")
    if scope.kind == "organization":
        if scope.key not in KINDS:
            return None
        query = query.where(Membership.kind == scope.key)
    elif scope.kind == "station":
        query = query.join(Organization, Organization.code == Membership.organization_code).where(
            func.coalesce(Membership.station_code, Organization.station_code) == scope.key)
    return db.session.scalar(query)


def station_codes(scope: Scope) -> list[Station]:
    query = select(Station).order_by(Station.code)
    if scope.kind == "organization":
        query = query.where(Station.lead_organization == scope.key)
    elif scope.kind == "station":
        query = query.where(Station.code == scope.key)
    return list(db.session.scalars(query))


def qiyou(stations: list[Station]) -> list[QiyouRow]:
    """The latest 七有 inspection of each station (qunti.stations: latest inspection date, then the
    latest recorded) and the share of its items judged 符合."""
    found = {row.station_code: row for row in db.session.execute(
        select(Inspection.station_code, Inspection.id, Inspection.inspected_on, Inspection.passed,
               Inspection.items_count).where(Inspection.id.in_(latest_inspection_ids([s.code for s in stations]))))
    } if stations else {}
    rows = []
    for station in stations:
        row = found.get(station.code)
        rows.append(QiyouRow(station.code, station.name, row.inspected_on.isoformat() if row else None,
                             row.id if row else None, passed=row.passed if row else 0,
                             items=row.items_count if row else 0))
    return rows


def activity_rows(scope: Scope) -> list[ActivityRow]:
    """Activities (not cancelled) and their confirmed sign-ups, per organization."""
    signups = (select(ActivitySignup.activity_id, func.count().label("n")).where(ActivitySignup.status == "confirmed")
               .group_by(ActivitySignup.activity_id).subquery())
    query = (select(Activity.organization, func.count(Activity.id), func.coalesce(func.sum(signups.c.n), 0))
             .outerjoin(signups, signups.c.activity_id == Activity.id).where(Activity.status != "cancelled")
             .group_by(Activity.organization).order_by(Activity.organization))
    if scope.kind == "organization":
        query = query.where(Activity.organization == scope.key)
    elif scope.kind == "station":
        query = query.where(Activity.station_code == scope.key)
    return [ActivityRow(org, int(n), int(s)) for org, n, s in db.session.execute(query)]


def dashboard(scope: Scope, start: date, end: date, as_of: date, user) -> Dashboard:
    """Every figure of ``scope`` for orders created in [start, end] (local days), as ``user`` may see."""
    rollup.refresh(wait=False)  # cheap when nothing changed; another worker's refresh is not waited for
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.organization)).all())
    stations = station_codes(scope)
    board = Dashboard(scope=scope, start=start, end=end, as_of=as_of, members=member_count(scope),
                      stations=len(stations), total=Figures(key=""))
    by_item: dict[str, int] = defaultdict(int)
    by_month: dict[str, int] = defaultdict(int)
    groups: dict[str, Figures] = {}
    for row in order_figures(scope, start, end, as_of, user):
        _add(board.total, row)
        by_item[row.item] += row.orders
        by_month[row.month] += row.orders
        key = items.get(row.item, "") if board.breakdown == "organization" else row.group_key
        _add(groups.setdefault(key, Figures(key=key)), row)
    board.by_item = dict(sorted(by_item.items()))
    board.by_month = dict(sorted(by_month.items()))
    board.groups = dict(sorted(groups.items()))
    board.qiyou = qiyou(stations)
    board.activities = activity_rows(scope)
    return board


def scope_name(scope: Scope) -> str:
    if scope.kind == "organization":
        return ORGANIZATIONS.get(scope.key, scope.key)
    if scope.kind == "station":
        station = db.session.get(Station, scope.key)
        return station.name if station else scope.key
    return "江北区"


def group_name(breakdown: str, key: str) -> str:
    if breakdown == "organization":
        return ORGANIZATIONS.get(key, key)
    if breakdown == "station":
        station = db.session.get(Station, key) if key else None
        return station.name if station else (key or "网上（未经站点）")
    unit = db.session.get(Unit, key) if key else None
    return unit.name if unit else (key or "未派单")


def as_json(board: Dashboard) -> dict[str, Any]:
    """The dashboard for the API: counts, and rates as fractions (null where nothing was judged)."""
    def figures(f: Figures) -> dict[str, Any]:
        return {"orders": f.orders, "responseRate": f.response_rate, "onTimeRate": f.on_time_rate,
                "satisfactionRate": f.satisfaction_rate, "averageRating": f.average_rating, "rated": f.rated,
                "responseDue": f.response_due, "responded": f.responded, "completionDue": f.completion_due,
                "completedOnTime": f.completed_on_time, "satisfied": f.satisfied}

    return {
        "scope": {"kind": board.scope.kind, "key": board.scope.key or None, "name": scope_name(board.scope)},
        "period": {"from": board.start.isoformat(), "to": board.end.isoformat(), "asOf": board.as_of.isoformat()},
        "members": board.members, "stations": board.stations, "total": figures(board.total),
        "ordersByItem": board.by_item, "ordersByMonth": board.by_month,
        "breakdown": {"by": board.breakdown, "groups": [{"key": k, "name": group_name(board.breakdown, k),
                                                         **figures(f)} for k, f in board.groups.items()]},
        "qiyou": {"share": board.qiyou_share, "stations": [
            {"station": r.station_code, "name": r.station_name, "inspectedOn": r.inspected_on, "passed": r.passed,
             "items": r.items, "share": r.share} for r in board.qiyou]},
        "activities": [{"organization": a.organization, "activities": a.activities, "signups": a.signups}
                       for a in board.activities],
    }
