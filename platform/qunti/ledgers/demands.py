"""需求收集库: every demand — each order, and each survey answer that made no order — in one list,
filtered by service item, organization, station, community, state and date, newest first, and
exported with the form's own field titles as column headers.

A demand is a :class:`~qunti.forms.models.Submission` with a service item (it has an order) or of a
survey form (``LEDGER_SURVEY_FORMS``). Rows with an order are scoped by
:func:`~qunti.accounts.access.scope_orders`; survey answers, which belong to no unit or station, are
read by the roles that review demand (``SURVEY_ROLES``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import Select, false, func, null, select, tuple_

from qunti.accounts.access import ORDER_ROLES, login_required_role, scope_orders
from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.models import Form, FormVersion, Submission
from qunti.intake import CHANNELS
from qunti.ledgers import bp, keyset
from qunti.ledgers.export import answer_cells, cell, demand_columns, stream_csv, xlsx
from qunti.ledgers.models import Problem, ProblemOrder
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.orders.models import Order
from qunti.reports.evaluation import local_midnight
from qunti.staff.present import local, state_labels, stations, units, zone

# Roles that read survey answers (定期研判): the joint meeting and the organizations' admins.
SURVEY_ROLES = ("dispatcher", "org_admin", "sys_admin")
KINDS = {"order": "订单", "survey": "调查问卷"}


@dataclass
class DemandFilter:
    """What the ledger is narrowed to; empty strings and None mean "any"."""

    item: str = ""
    organization: str = ""
    station: str = ""
    community: str = ""
    state: str = ""
    kind: str = ""
    form: str = ""
    number: str = ""
    start: date | None = None
    end: date | None = None

    @classmethod
    def from_args(cls, args) -> tuple[DemandFilter, str | None]:
        """The filter in a query string, and a message when a date could not be read."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("start", "end"):
                continue
            values[f.name] = str(args.get(f.name, "")).strip()[:60]
        values["number"] = values["number"].upper()
        problem = None
        for name, arg in (("start", "from"), ("end", "to")):
            raw = args.get(arg, "")
            try:
                values[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                values[name], problem = None, "日期格式不对，已忽略。"
        return cls(**values), problem

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links to the next page and the exports)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("start", "end")}
        out["from"] = self.start.isoformat() if self.start else ""
        out["to"] = self.end.isoformat() if self.end else ""
        return {k: v for k, v in out.items() if v}


def local_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC moments bounding the local days [start, end] (both included)."""
    tz = zone()
    return (local_midnight(start, tz) if start else None,
            local_midnight(end + timedelta(days=1), tz) if end else None)


def _survey_versions() -> Select:
    forms = current_app.config["LEDGER_SURVEY_FORMS"]
    return select(FormVersion.id).where(FormVersion.form_id.in_(forms))


def _form_versions(form_id: str) -> Select:
    return select(FormVersion.id).where(FormVersion.form_id == form_id)


# The list's order: newest first by (created_at, branch, id); a branch is 1 for orders, 0 for survey
# answers, so the two kinds interleave by time and never tie.
ORDERS, SURVEYS = 1, 0


def _order_branch(user, f: DemandFilter, *, export: bool) -> Select | None:
    """Orders matching ``f`` that ``user`` may see (None when ``f`` asks for survey answers only)."""
    if f.kind == "survey":
        return None
    columns = [Order.created_at, Order.id, Order.number.label("tracking_number"), Order.channel,
               Order.service_item_code, Submission.form_version_id, Order.id.label("order_id"), Order.state,
               Order.station_code, Order.community, Order.unit_code, Order.overdue]
    if export:
        columns += [Submission.answers, Problem.title.label("problem")]
    query = select(*columns).join(Submission, Submission.id == Order.submission_id)
    if export:
        query = (query.outerjoin(ProblemOrder, ProblemOrder.order_id == Order.id)
                 .outerjoin(Problem, Problem.id == ProblemOrder.problem_id))
    query = scope_orders(query, user)
    if f.item:
        query = query.where(Order.service_item_code == f.item)
    if f.organization:
        query = query.where(Order.service_item_code.in_(
            select(ServiceItem.code).where(ServiceItem.organization == f.organization)))
    if f.form:
        query = query.where(Submission.form_version_id.in_(_form_versions(f.form)))
    if f.station:
        query = query.where(Order.station_code == f.station)
    if f.state:
        query = query.where(Order.state == f.state) if f.state in state_labels() else query.where(false())
    if f.community:
        query = query.where(Order.community == f.community)
    if f.number:
        query = query.where(Order.number == f.number)
    return _dated(query, Order.created_at, f)


def _survey_branch(user, f: DemandFilter, *, export: bool) -> Select | None:
    """Survey answers (no order) matching ``f``, for the roles that review demand; None when ``f``
    names something only orders have."""
    if f.kind == "order" or f.item or f.organization or f.station or f.state:
        return None
    if getattr(user, "role", None) not in SURVEY_ROLES:
        return None
    community = Submission.answers["community"].as_string()
    columns = [Submission.created_at, Submission.id, Submission.tracking_number, Submission.channel,
               Submission.service_item_code, Submission.form_version_id, null().label("order_id"),
               null().label("state"), null().label("station_code"), community.label("community"),
               null().label("unit_code"), false().label("overdue")]
    if export:
        columns += [Submission.answers, null().label("problem")]
    # service_item_code IS NULL first: the index (service_item_code, created_at, id) then serves it.
    query = select(*columns).where(Submission.service_item_code.is_(None),
                                   Submission.form_version_id.in_(_survey_versions()))
    if f.form:
        query = query.where(Submission.form_version_id.in_(_form_versions(f.form)))
    if f.community:
        query = query.where(community == f.community)
    if f.number:
        query = query.where(Submission.tracking_number == f.number)
    return _dated(query, Submission.created_at, f)


def _dated(query: Select, column, f: DemandFilter) -> Select:
    low, high = local_bounds(f.start, f.end)
    if low is not None:
        query = query.where(column >= low)
    if high is not None:
        query = query.where(column < high)
    return query


def _after(query: Select, created, ident, branch: int, after: list[Any] | None) -> Select:
    """Rows of one branch that sort after the cursor (created_at, branch, id), descending; written
    so that an index on (…, created_at, id) can seek to them."""
    if after is None:
        return query
    at, other, last_id = after
    if branch < other:
        return query.where(created <= at)
    if branch > other:
        return query.where(created < at)
    return query.where(tuple_(created, ident) < (at, last_id))


def demand_page(user, f: DemandFilter, cursor: str | None, size: int, *, export: bool = False) -> keyset.Page:
    """One page of the ledger, newest first: each branch is read by keyset (at most one page more
    than needed) and the two are merged."""
    after = keyset.decode(cursor, 3)
    rows: list[tuple[tuple, Any]] = []
    branches = ((ORDERS, _order_branch(user, f, export=export), Order.created_at, Order.id),
                (SURVEYS, _survey_branch(user, f, export=export), Submission.created_at, Submission.id))
    for branch, query, created, ident in branches:
        if query is None:
            continue
        query = _after(query, created, ident, branch, after).order_by(created.desc(), ident.desc()).limit(size + 1)
        rows += [((row.created_at, branch, row.id), row) for row in db.session.execute(query)]
    rows.sort(key=lambda pair: (aware(pair[0][0]), pair[0][1], pair[0][2]), reverse=True)
    more = len(rows) > size
    rows = rows[:size]
    return keyset.Page(rows=[row for _, row in rows], next_cursor=keyset.encode(rows[-1][0]) if more else None)


def aware(moment: datetime) -> datetime:
    """SQLite reads stored UTC moments back naive; compare them as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def count_demands(user, f: DemandFilter) -> int:
    total = 0
    for query in (_order_branch(user, f, export=False), _survey_branch(user, f, export=False)):
        if query is not None:
            total += db.session.scalar(select(func.count()).select_from(query.subquery()))
    return total


EXPORT_CHUNK = 1000


def demand_rows(user, f: DemandFilter, columns: list[tuple[str, str]]):
    """Every demand matching ``f`` as export rows, newest first, read a chunk at a time (keyset)."""
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.name)).all())
    labels, station_names = state_labels(), {c: s.name for c, s in stations().items()}
    unit_names = {c: u.name for c, u in units().items()}
    version_numbers = dict(db.session.execute(select(FormVersion.id, FormVersion.number)).all())
    cursor = None
    while True:
        chunk = demand_page(user, f, cursor, EXPORT_CHUNK, export=True)
        for row in chunk.rows:
            fixed = [row.tracking_number, f"{local(row.created_at):%Y-%m-%d %H:%M}",
                     KINDS["order"] if row.order_id else KINDS["survey"],
                     items.get(row.service_item_code, row.service_item_code or ""),
                     version_numbers.get(row.form_version_id), CHANNELS.get(row.channel, row.channel),
                     labels.get(row.state, row.state or ""), station_names.get(row.station_code, row.station_code),
                     row.community, unit_names.get(row.unit_code, row.unit_code), row.problem]
            yield [cell(value) for value in fixed] + answer_cells(row.answers, columns)
        if chunk.next_cursor is None:
            return
        cursor = chunk.next_cursor


def _forms_with_versions() -> dict[str, str]:
    """Forms a demand can be made with: the service items' forms and the survey forms."""
    ids = set(current_app.config["LEDGER_SURVEY_FORMS"]) | set(
        db.session.scalars(select(ServiceItem.form_id)))
    return dict(db.session.execute(select(Form.id, Form.title).where(Form.id.in_(ids)).order_by(Form.id)).all())


def export_form(f: DemandFilter) -> str | None:
    """The one form an export is about: the chosen form, or the chosen item's form."""
    if f.form:
        return f.form
    if f.item:
        item = db.session.get(ServiceItem, f.item)
        return item.form_id if item is not None else None
    return None


def problems_of(order_ids: list[int]) -> dict[int, Problem]:
    if not order_ids:
        return {}
    rows = db.session.execute(select(ProblemOrder.order_id, Problem).join(Problem, Problem.id == ProblemOrder.problem_id)
                              .where(ProblemOrder.order_id.in_(order_ids))).all()
    return {order_id: problem for order_id, problem in rows}


@bp.get("/demands")
@login_required_role(*ORDER_ROLES)
def demands():
    f, problem = DemandFilter.from_args(request.args)
    size = current_app.config["LEDGER_PAGE_SIZE"]
    result = demand_page(current_user, f, request.args.get("after"), size)
    order_ids = [row.order_id for row in result.rows if row.order_id]
    forms = _forms_with_versions()
    versions = dict(db.session.execute(select(FormVersion.id, FormVersion.form_id).where(
        FormVersion.id.in_({row.form_version_id for row in result.rows}))).all()) if result.rows else {}
    can_link = current_user.role in ("dispatcher", "sys_admin")
    open_problems = db.session.scalars(select(Problem).where(Problem.status == "open").order_by(
        Problem.created_at.desc()).limit(200)).all() if can_link else []
    return render_template(
        "ledgers/demands.html", rows=result.rows, next_cursor=result.next_cursor, f=f, date_problem=problem,
        first_page=not request.args.get("after"), items=db.session.scalars(select(ServiceItem).order_by(
            ServiceItem.position)).all(), organizations=ORGANIZATIONS,
        stations=db.session.scalars(select(Station).order_by(Station.code)).all(), labels=state_labels(),
        kinds=KINDS, forms=forms, versions=versions, channels=CHANNELS, problems=problems_of(order_ids),
        export_form=export_form(f), can_link=can_link, open_problems=open_problems,
        surveys=current_user.role in SURVEY_ROLES)


def _export(kind: str) -> Response | tuple[str, int]:
    f, _ = DemandFilter.from_args(request.args)
    form_id = export_form(f)
    if form_id is None or db.session.get(Form, form_id) is None:
        return render_template("error.html", status=400,
                               message="导出按表单分列：请先选择一个服务事项或一张调查表，再导出。"), 400
    f.form = form_id
    limit = current_app.config["LEDGER_EXPORT_MAX_ROWS"]
    count = count_demands(current_user, f)
    if count > limit:
        return render_template("error.html", status=400,
                               message=f"符合条件的需求有 {count} 条，超过单次导出上限 {limit} 条，请缩小日期范围后分批导出。"), 400
    columns = demand_columns(form_id)
    stem = f"qunti-demands-{form_id}-{datetime.now(zone()):%Y%m%d%H%M}"
    rows = demand_rows(current_user._get_current_object(), f, columns)
    if kind == "csv":
        return Response(stream_with_context(stream_csv(columns, rows)), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    title = db.session.get(Form, form_id).title
    return Response(xlsx(columns, rows, title=title),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})


@bp.get("/demands.csv")
@login_required_role(*ORDER_ROLES)
def demands_csv():
    return _export("csv")


@bp.get("/demands.xlsx")
@login_required_role(*ORDER_ROLES)
def demands_xlsx():
    return _export("xlsx")
