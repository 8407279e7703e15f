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
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, or_, select

from qunti.accounts.access import scope_orders
from qunti.accounts.models import User
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.directory.models import Station, Unit
from qunti.forms.models import FormVersion, Submission
from qunti.ledgers.demands import local_bounds
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders.models import Order, Rating
from qunti.reports.evaluation import NO_STATION, NO_UNIT, SATISFIED_LEVELS, Figures
from qunti.stations.models import Inspection, latest_inspection_ids
from qunti.stats.sqltime import month_bucket, on_or_before_local_day

SCOPES = {"district": "全区", "organization": "群团组织", "station": "服务站"}
# What the rates of each scope are broken down by.
BREAKDOWN = {"district": "organization", "organization": "station", "station": "unit"}
BREAKDOWN_NAMES = {"organization": "群团组织", "station": "服务站", "unit": "办单单位"}
PASS = "pass"  # 符合, in the 七有 checklist's result choices
MEMBERS_NOTE = "会员数暂按注册居民账号统计（尚无会员库）；按组织、服务站的会员数待会员库上线后提供。"


@dataclass(frozen=True)
class Scope:
    kind: str  # district, organization, station
    key: str = ""

    def order_conditions(self) -> list[Any]:
        if self.kind == "organization":
            return [Order.service_item_code.in_(
                select(ServiceItem.code).where(ServiceItem.organization == self.key))]
        if self.kind == "station":
            return [Order.station_code == self.key]
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


def _one(condition) -> Any:
    return func.sum(case((condition, 1), else_=0))


def order_figures(scope: Scope, start: date, end: date, as_of: date, user) -> list[Any]:
    """One row per (item, breakdown key, local month) with the counts ``evaluation.add`` makes.

    The ratings are counted by a second query driven by the ratings themselves (a join per order
    costs more than reading each rating once) and merged into the rows by their key."""
    zone = _zone_name()
    low, high = local_bounds(start, end)
    breakdown = BREAKDOWN[scope.kind]
    # By organization: the item's organization, read from the item code after grouping (a constant
    # key keeps the row shape; PostgreSQL refuses to GROUP BY a constant, so it is left out there).
    key_expression = {"organization": None, "station": func.coalesce(Order.station_code, NO_STATION),
                      "unit": func.coalesce(Order.unit_code, NO_UNIT)}[breakdown]
    key = (key_expression if key_expression is not None else literal_column("''")).label("group_key")
    bucket, month_names = month_bucket(Order.created_at, start, end, zone)
    month = bucket.label("month")
    group_by = [Order.service_item_code, month, *([key_expression] if key_expression is not None else [])]
    where = [Order.created_at >= low, Order.created_at < high, *scope.order_conditions()]
    orders = (
        select(Order.service_item_code.label("item"), key, month,
               func.count().label("orders"),
               _one(and_(Order.accept_by.is_not(None),
                         or_(Order.accepted_at.is_not(None), Order.accept_by < as_of))).label("response_due"),
               _one(on_or_before_local_day(Order.accepted_at, Order.accept_by, zone)).label("responded"),
               _one(and_(Order.deadline.is_not(None),
                         or_(Order.completed_at.is_not(None), Order.deadline < as_of))).label("completion_due"),
               _one(on_or_before_local_day(Order.completed_at, Order.deadline, zone)).label("completed_on_time"))
        .where(*where).group_by(*group_by))
    # The rating that counts is the one of the order's current round (after 重办: round 2).
    ratings = (
        select(Order.service_item_code.label("item"), key, month, func.count().label("rated"),
               _one(Rating.level.in_(SATISFIED_LEVELS)).label("satisfied"), func.sum(Rating.level).label("rating_sum"))
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


def _add(target: Figures, row: Any) -> None:
    target.orders += row.orders
    target.response_due += row.response_due
    target.responded += row.responded
    target.completion_due += row.completion_due
    target.completed_on_time += row.completed_on_time
    target.rated += row.rated
    target.satisfied += row.satisfied
    target.rating_sum += row.rating_sum


def member_count(scope: Scope) -> int | None:
    if scope.kind != "district":
        return None
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "resident"))


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
