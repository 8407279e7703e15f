"""The dashboards: every figure as a table and a server-rendered SVG chart, each downloadable as CSV."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, flash, render_template, request
from flask_login import current_user
from sqlalchemy import select

from qunti.accounts.access import STATS_ROLES, forbidden, login_required_role
from qunti.charts import bar_chart
from qunti.db import db
from qunti.directory.models import Station
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders import calendar
from qunti.reports.export import RATE_COLUMNS, to_csv
from qunti.stats import bp
from qunti.stats.figures import (BREAKDOWN_NAMES, MEMBERS_NOTE, SCOPES, Dashboard, Scope, dashboard, group_name,
                                 scope_name)

MAX_DAYS = 366 * 3
FIGURES = {"summary": "概况", "items": "各服务事项订单数", "months": "各月订单数", "groups": "分组评价",
           "qiyou": "七有达标", "activities": "活动与报名"}


def _period() -> tuple[date, date]:
    """From/to in the query string; default the last 365 days."""
    today = calendar.today()
    start, end = today - timedelta(days=364), today
    try:
        if request.args.get("from"):
            start = date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            end = date.fromisoformat(request.args["to"])
    except ValueError:
        flash("日期格式不对，已按最近一年统计。", "error")
        start, end = today - timedelta(days=364), today
    if start > end:
        start, end = end, start
    if (end - start).days > MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS)
        flash("统计区间最长三年，已截取最近三年。", "error")
    return start, end


def _check(scope: Scope) -> None:
    """Station staff read their own station only; the other roles read every scope (their order
    figures still pass through scope_orders)."""
    if scope.kind == "organization" and scope.key not in ORGANIZATIONS:
        abort(404)
    if scope.kind == "station" and db.session.get(Station, scope.key) is None:
        abort(404)
    if current_user.role == "station_staff" and (scope.kind != "station" or scope.key != current_user.station_code):
        forbidden("站点工作人员只能查看本服务站的统计。")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def tables(board: Dashboard) -> dict[str, tuple[list[str], list[list]]]:
    """Every figure as (header, rows): the page shows them and the CSV downloads are them."""
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.name)).all())
    t = board.total
    summary = [["会员数", board.members if board.members is not None else "—"], ["服务站数", board.stations],
               ["订单数", t.orders], ["响应率", _pct(t.response_rate)], ["按时办结率", _pct(t.on_time_rate)],
               ["满意率", _pct(t.satisfaction_rate)], ["平均评分", t.average_rating if t.average_rating is not None else "—"],
               ["七有达标率", _pct(board.qiyou_share)],
               ["活动数", sum(a.activities for a in board.activities)],
               ["活动报名数", sum(a.signups for a in board.activities)]]
    breakdown = BREAKDOWN_NAMES[board.breakdown]
    return {
        "summary": (["指标", "数值"], summary),
        "items": (["服务事项", "订单数"], [[f"{code} {items.get(code, '')}".strip(), n] for code, n in board.by_item.items()]),
        "months": (["月份", "订单数"], [[month, n] for month, n in board.by_month.items()]),
        "groups": ([breakdown, "订单数", "响应率", "按时办结率", "满意率", "评价数", "平均评分"],
                   # Rates as fractions under RATE_COLUMNS names: the CSV writer and the page format them.
                   [[group_name(board.breakdown, key), f.orders, f.response_rate, f.on_time_rate,
                     f.satisfaction_rate, f.rated, f.average_rating]
                    for key, f in board.groups.items()]),
        "qiyou": (["服务站", "最近检查日期", "符合项", "检查项", "达标率"],
                  [[r.station_name, r.inspected_on or "未检查", r.passed, r.items, _pct(r.share)] for r in board.qiyou]),
        "activities": (["组织", "活动数", "报名数"],
                       [[ORGANIZATIONS.get(a.organization, a.organization), a.activities, a.signups]
                        for a in board.activities]),
    }


def charts(board: Dashboard):
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.name)).all())
    return {
        "items": bar_chart([(items.get(c, c), n) for c, n in board.by_item.items()], title="各服务事项订单数"),
        "months": bar_chart(list(board.by_month.items()), title="各月订单数"),
        "groups": bar_chart([(group_name(board.breakdown, k), f.satisfaction_rate) for k, f in board.groups.items()],
                            title=f"各{BREAKDOWN_NAMES[board.breakdown]}满意率", percent=True),
        "qiyou": bar_chart([(r.station_name, r.share) for r in board.qiyou], title="各服务站七有达标率", percent=True),
        "activities": bar_chart([(ORGANIZATIONS.get(a.organization, a.organization), a.signups)
                                 for a in board.activities], title="各组织活动报名数"),
    }


def _board(scope: Scope) -> Dashboard:
    _check(scope)
    start, end = _period()
    return dashboard(scope, start, end, calendar.today(), current_user)


def _page(scope: Scope):
    board = _board(scope)
    stations = db.session.scalars(select(Station).order_by(Station.code)).all()
    return render_template("stats/dashboard.html", board=board, scope=scope, name=scope_name(scope),
                           tables=tables(board), charts=charts(board), figures=FIGURES, scopes=SCOPES,
                           organizations=ORGANIZATIONS, stations=stations, members_note=MEMBERS_NOTE,
                           breakdown=BREAKDOWN_NAMES[board.breakdown], rate_columns=RATE_COLUMNS)


@bp.get("/")
@login_required_role(*STATS_ROLES)
def district():
    return _page(Scope("district"))


@bp.get("/org/<organization>")
@login_required_role(*STATS_ROLES)
def organization(organization: str):
    return _page(Scope("organization", organization))


@bp.get("/station/<code>")
@login_required_role(*STATS_ROLES)
def station(code: str):
    return _page(Scope("station", code))


@bp.get("/<figure>.csv")
@login_required_role(*STATS_ROLES)
def figure_csv(figure: str):
    """One figure as CSV: ``?scope=district|organization|station&key=…&from=…&to=…``."""
    if figure not in FIGURES:
        abort(404)
    kind = request.args.get("scope", "district")
    if kind not in SCOPES:
        abort(404)
    scope = Scope(kind, request.args.get("key", "") if kind != "district" else "")
    board = _board(scope)
    head, rows = tables(board)[figure]
    stem = f"qunti-stats-{kind}{'-' + scope.key if scope.key else ''}-{figure}-{board.start:%Y%m%d}-{board.end:%Y%m%d}"
    return Response(to_csv(head, rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
