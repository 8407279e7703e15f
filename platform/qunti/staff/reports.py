"""评单 evaluation report for a period: HTML table with SVG charts, CSV and XLSX downloads."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask import Response, flash, render_template, request
from flask_login import current_user
from sqlalchemy import select

from qunti.accounts.access import REPORT_ROLES, login_required_role, scope_orders
from qunti.charts import bar_chart
from qunti.intake import CHANNELS
from qunti.menu.models import ORGANIZATIONS
from qunti.orders import calendar
from qunti.orders.models import Order
from qunti.reports import evaluation, export
from qunti.staff import bp
from qunti.staff.present import stations, units, zone

MAX_DAYS = 366 * 3


def _period() -> tuple[date, date, str | None]:
    """The period asked for (from/to, both included); defaults to this month so far."""
    today = calendar.today()
    start, end, problem = today.replace(day=1), today, None
    try:
        if request.args.get("from"):
            start = date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            end = date.fromisoformat(request.args["to"])
    except ValueError:
        start, end, problem = today.replace(day=1), today, "日期格式不对，已按本月统计。"
    if start > end:
        start, end = end, start
    if (end - start).days > MAX_DAYS:
        start, problem = end - timedelta(days=MAX_DAYS), "统计区间最长三年，已截取最近三年。"
    return start, end, problem


def name_of(dimension: str, key: str) -> str:
    if dimension == "organization":
        return ORGANIZATIONS.get(key, key)
    if dimension == "station":
        station = stations().get(key)
        return station.name if station else (key or "网上（未经站点）")
    if dimension == "unit":
        unit = units().get(key)
        return unit.name if unit else (key or "未派单")
    return key


def compute(start: date, end: date) -> dict[str, list[evaluation.Figures]]:
    """The figures of the orders the current user may see, created in [start, end]."""
    # A UTC window a day wider than the period on each side; evaluate() cuts it by local date.
    low = datetime.combine(start - timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    high = datetime.combine(end + timedelta(days=2), datetime.min.time(), tzinfo=timezone.utc)
    query = scope_orders(select(Order).where(Order.created_at >= low, Order.created_at < high), current_user)
    orders, ratings = evaluation.load_rows(query)
    return evaluation.evaluate(orders, ratings, start=start, end=end, as_of=calendar.today(), zone=zone())


def _scope_note() -> str:
    if current_user.role == "org_admin":
        return f"范围：{ORGANIZATIONS.get(current_user.organization, current_user.organization)}的服务事项（含群团联合事项）及其承办的订单"
    return "范围：全部订单"


@bp.get("/reports")
@login_required_role(*REPORT_ROLES)
def reports():
    start, end, problem = _period()
    if problem:
        flash(problem, "error")
    result = compute(start, end)
    sections = []
    for dimension, title in evaluation.DIMENSIONS.items():
        groups = [(name_of(dimension, f.key), f) for f in result[dimension]]
        charts = [bar_chart([(n, f.satisfaction_rate) for n, f in groups], title=f"各{title}满意率", percent=True),
                  bar_chart([(n, f.on_time_rate) for n, f in groups], title=f"各{title}按时办结率", percent=True),
                  bar_chart([(n, f.orders) for n, f in groups], title=f"各{title}订单数")]
        sections.append({"dimension": dimension, "title": title, "groups": groups, "charts": charts})
    return render_template("staff/reports.html", start=start, end=end, sections=sections,
                           total=result["total"][0], channels=CHANNELS, scope_note=_scope_note())


def _download(kind: str) -> Response:
    start, end, _ = _period()
    result = compute(start, end)
    head, rows = export.header(CHANNELS), export.table(result, name_of, CHANNELS)
    stem = f"qunti-evaluation-{start:%Y%m%d}-{end:%Y%m%d}"
    if kind == "csv":
        body, mimetype = export.to_csv(head, rows), "text/csv; charset=utf-8"
    else:
        body = export.to_xlsx(head, rows, title=f"评单统计 {start:%Y-%m-%d} 至 {end:%Y-%m-%d}（{_scope_note()}）")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{kind}"'})


@bp.get("/reports.csv")
@login_required_role(*REPORT_ROLES)
def reports_csv():
    return _download("csv")


@bp.get("/reports.xlsx")
@login_required_role(*REPORT_ROLES)
def reports_xlsx():
    return _download("xlsx")
