"""Scale: the dashboards and the ledger lists on a database of a million orders.

Fills a fresh database with N orders (default 1,000,000) spread over the last two years — each with
its submission, two to five events and, once rated, a rating — plus N/10 survey answers, N/4
documents and N/4 problems, with bulk INSERT … SELECT over a generated series (generate_series on
PostgreSQL, a recursive CTE on SQLite). Then it times, on the real code paths:

- the daily statistics summary built from those orders by the refresh production runs (a dashboard
  read or ``qunti tick``), timed on its own line;
- every dashboard figure (district, each organization, each station; the default period: a year);
- the first and the 5,000th page of each ledger list (keyset pagination: the 5,000th page is reached
  with the cursor of the row before it, as "下一页" would carry it).

Targets: every figure under 1 s, every page under 100 ms, the 5,000th page no slower than 2× the
first. Each timing is the median of several runs after one warm-up (a list's two pages are timed
alternately, so a busy machine slows both alike). The worst page ratio is printed last; the exit
status is 1 when a target is missed.

Usage: python benchmarks/scale.py [--orders N] [--database-url URL ...] [--explain] [--keep]
Default: both a temporary SQLite file and a fresh PostgreSQL database ``qunti_scale`` (skipped when
no PostgreSQL answers).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import _util
from sqlalchemy import select, text

ROOT = _util.ROOT
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/qunti_scale"
PAGE = 5000
RUNS = 5
FIGURE_TARGET, PAGE_TARGET, RATIO_TARGET = 1.0, 0.100, 2.0
COMMUNITIES = 400
DAYS = 730


# --- filling ------------------------------------------------------------------------------------

def series(dialect: str, n: int) -> str:
    """A FROM clause giving column ``i`` = 1..n."""
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) AS s"


def moment(dialect: str, seconds: str) -> str:
    """The SQL moment ``seconds`` (an SQL expression) after the series start, as stored UTC."""
    if dialect == "postgresql":
        return f"(CAST(:start AS timestamptz) + ({seconds}) * interval '1 second')"
    return f"strftime('%Y-%m-%d %H:%M:%f000', :start, '+' || ({seconds}) || ' seconds')"


def day(dialect: str, seconds: str) -> str:
    if dialect == "postgresql":
        return f"CAST((CAST(:start AS timestamptz) + ({seconds}) * interval '1 second') AS date)"
    return f"date(:start, '+' || ({seconds}) || ' seconds')"


def json_text(dialect: str, sql: str) -> str:
    return f"CAST({sql} AS jsonb)" if dialect == "postgresql" else sql


def fill(db, n: int) -> dict[str, float]:
    """Bulk-insert the rows; returns seconds per table."""
    from qunti.directory.models import Station, Unit
    from qunti.forms.registry import current_version
    from qunti.menu.models import ServiceItem

    dialect = db.engine.dialect.name
    items = db.session.execute(select(ServiceItem.code, ServiceItem.form_id).order_by(ServiceItem.position)).all()
    units = [u for u in db.session.scalars(select(Unit.code).where(Unit.kind != "meeting").order_by(Unit.code))]
    stations = list(db.session.scalars(select(Station.code).order_by(Station.code)))
    survey = current_version("demand-survey").id
    start = (datetime.now(timezone.utc) - timedelta(days=DAYS)).replace(microsecond=0)
    step = DAYS * 86400 / n  # seconds between two orders
    params = {"start": start.isoformat() if dialect == "postgresql" else start.strftime("%Y-%m-%d %H:%M:%S")}
    timings: dict[str, float] = {}
    with db.engine.begin() as c:
        # Small lookup tables: item k, unit k, station k by i modulo their counts.
        c.execute(text("CREATE TEMPORARY TABLE bench_item (k integer PRIMARY KEY, code varchar(16), version integer)"))
        c.execute(text("INSERT INTO bench_item VALUES (:k, :code, :version)"),
                  [{"k": k, "code": code, "version": current_version(form).id} for k, (code, form) in enumerate(items)])
        c.execute(text("CREATE TEMPORARY TABLE bench_unit (k integer PRIMARY KEY, code varchar(40))"))
        c.execute(text("INSERT INTO bench_unit VALUES (:k, :code)"), [{"k": k, "code": u} for k, u in enumerate(units)])
        c.execute(text("CREATE TEMPORARY TABLE bench_station (k integer PRIMARY KEY, code varchar(40))"))
        c.execute(text("INSERT INTO bench_station VALUES (:k, :code)"),
                  [{"k": k, "code": s} for k, s in enumerate(stations)])
    ni, nu, ns = len(items), len(units), len(stations)
    created = f"(i * {step:.6f})"
    # States by i % 20: 0-9 rated, 10-11 completed, 12-13 in_progress, 14-15 accepted, 16-17 dispatched,
    # 18 awaiting_dispatch, 19 cancelled. Orders of the last 30 days are still open.
    state = (f"CASE WHEN {created} > {(DAYS - 30) * 86400} AND i % 20 < 12 THEN 'in_progress' "
             "WHEN i % 20 < 10 THEN 'rated' WHEN i % 20 < 12 THEN 'completed' WHEN i % 20 < 14 THEN 'in_progress' "
             "WHEN i % 20 < 16 THEN 'accepted' WHEN i % 20 < 18 THEN 'dispatched' WHEN i % 20 = 18 "
             "THEN 'awaiting_dispatch' ELSE 'cancelled' END")
    dispatched = "i % 20 < 18"
    community = f"'社区' || (i % {COMMUNITIES})"
    order_answers = json_text(dialect, """'{"community": "' || """ + community
                              + """ || '", "name": "张三", "phone": "13800000000"}'""")
    survey_answers = json_text(dialect, """'{"community": "' || """ + community + """ || '"}'""")
    plan = json_text(dialect, """'{"goal": "解决诉求", "task": "协调", "people": "王强", "person": "王强"}'""")
    closed = f"(i % 20 < 12 AND NOT ({created} > {(DAYS - 30) * 86400}))"
    deadline_s = f"({created} + 86400 * (5 + i % 20))"
    statements = {
        "submission": f"""
            INSERT INTO submission (id, tracking_number, form_version_id, service_item_code, answers, channel,
                                    phone_hash, created_at)
            SELECT i, 'JB' || i, it.version, it.code,
                   {order_answers},
                   CASE WHEN i % 3 = 0 THEN 'station' ELSE 'online' END, NULL, {moment(dialect, created)}
            FROM {series(dialect, n)} JOIN bench_item it ON it.k = i % {ni}""",
        "service_order": f"""
            INSERT INTO service_order (id, number, submission_id, service_item_code, state, lock_version, channel,
                station_code, community, applicant_category, route_class, unit_code, time_limit_days, accept_by,
                deadline, overdue, plan, result_note, round, created_at, dispatched_at, accepted_at, completed_at,
                updated_at, updated_by)
            SELECT i, 'JB' || i, i, it.code, {state}, 3, CASE WHEN i % 3 = 0 THEN 'station' ELSE 'online' END,
                   CASE WHEN i % 3 = 0 THEN st.code END, '社区' || (i % {COMMUNITIES}), '',
                   CASE WHEN {dispatched} THEN 'handle' END, CASE WHEN {dispatched} THEN un.code END, 10,
                   CASE WHEN {dispatched} THEN {day(dialect, created + " + 86400")} END,
                   CASE WHEN {dispatched} THEN {day(dialect, deadline_s)} END,
                   CASE WHEN i % 20 IN (12, 13, 16) AND {deadline_s} < {DAYS * 86400} THEN TRUE ELSE FALSE END,
                   CASE WHEN i % 20 < 14 THEN {plan} END,
                   CASE WHEN {closed} THEN '已办结' END, CASE WHEN i % 50 = 0 THEN 2 ELSE 1 END,
                   {moment(dialect, created)},
                   CASE WHEN {dispatched} THEN {moment(dialect, created + " + 600")} END,
                   CASE WHEN i % 20 < 16 THEN {moment(dialect, created + " + 3600 * (i % 40)")} END,
                   CASE WHEN {closed} THEN {moment(dialect, created + " + 86400 * (i % 25)")} END,
                   {moment(dialect, created + " + 86400")}, '系统'
            FROM {series(dialect, n)} JOIN bench_item it ON it.k = i % {ni} JOIN bench_unit un ON un.k = i % {nu}
                 JOIN bench_station st ON st.k = i % {ns}""",
        # Two to five events per order: 点单, then one per step it took.
        "order_event": f"""
            INSERT INTO order_event (order_id, at, action, from_state, to_state, actor_label, data)
            SELECT o.id, o.created_at, e.action, e.from_state, e.to_state, '系统', NULL
            FROM service_order o JOIN (SELECT 0 AS k, 'submit' AS action, NULL AS from_state, 'submitted' AS to_state
                                       UNION ALL SELECT 1, 'dispatch', 'submitted', 'dispatched'
                                       UNION ALL SELECT 2, 'accept', 'dispatched', 'accepted'
                                       UNION ALL SELECT 3, 'plan', 'accepted', 'in_progress'
                                       UNION ALL SELECT 4, 'complete', 'in_progress', 'completed') e
              ON e.k < CASE o.state WHEN 'rated' THEN 5 WHEN 'completed' THEN 5 WHEN 'in_progress' THEN 4
                                    WHEN 'accepted' THEN 3 WHEN 'dispatched' THEN 2 ELSE 1 END""",
        "rating": f"""
            INSERT INTO rating (order_id, round, level, comment, created_at)
            SELECT o.id, o.round, 1 + o.id % 5, '', o.updated_at FROM service_order o WHERE o.state = 'rated'""",
        "survey": f"""
            INSERT INTO submission (id, tracking_number, form_version_id, service_item_code, answers, channel,
                                    phone_hash, created_at)
            SELECT {n} + i, 'SV' || i, {survey}, NULL,
                   {survey_answers},
                   'online', NULL, {moment(dialect, f"(i * {step * 10:.6f})")}
            FROM {series(dialect, max(n // 10, 1))}""",
        "document": f"""
            INSERT INTO document (title, doc_type, organization, tags, original_name, stored_name, extension,
                                  size_bytes, sha256, uploaded_by, created_at)
            SELECT '资料' || i, CASE i % 5 WHEN 0 THEN 'policy' WHEN 1 THEN 'minutes' WHEN 2 THEN 'photo'
                   WHEN 3 THEN 'report' ELSE 'other' END, 'union', '|标签' || (i % 50) || '|', '资料.pdf',
                   'x' || i || '.pdf', 'pdf', 1000, '', '', {moment(dialect, f"(i * {step * 4:.6f})")}
            FROM {series(dialect, max(n // 4, 1))}""",
        "problem": f"""
            INSERT INTO problem (title, description, status, created_by, created_at, updated_at)
            SELECT '问题' || i, '', CASE i % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'proposed' ELSE 'closed' END, '',
                   {moment(dialect, f"(i * {step * 4:.6f})")}, {moment(dialect, f"(i * {step * 4:.6f})")}
            FROM {series(dialect, max(n // 4, 1))}""",
    }
    for name, sql in statements.items():
        began = time.perf_counter()
        with db.engine.begin() as c:
            c.execute(text(sql), params)
        timings[name] = time.perf_counter() - began
    with db.engine.begin() as c:
        if dialect == "postgresql":
            for table in ("submission", "service_order", "order_event", "rating", "document", "problem"):
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    began = time.perf_counter()
    analyze(db)
    timings["analyze"] = time.perf_counter() - began
    return timings


def analyze(db, tables: tuple[str, ...] = ()) -> None:
    """What autovacuum does in production after bulk writes: statistics, and the visibility map
    index-only scans need."""
    dialect = db.engine.dialect.name
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in tables or ("",):
            c.execute(text(f"{'VACUUM ANALYZE' if dialect == 'postgresql' else 'ANALYZE'} {table}".strip()))


# --- timing -------------------------------------------------------------------------------------

def median_time(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()  # warm-up: the first run pays for the cache
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def paired_median_times(first: Callable[[], object], second: Callable[[], object],
                        runs: int = 2 * RUNS + 1) -> tuple[float, float]:
    """Median times of two functions called alternately, so a busy machine slows both alike (their
    ratio is what is judged)."""
    first(), second()  # warm-up
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, times in ((first, samples[0]), (second, samples[1])):
            began = time.perf_counter()
            fn()
            times.append(time.perf_counter() - began)
    return statistics.median(samples[0]), statistics.median(samples[1])


def run(url: str, n: int, explain: bool) -> list[tuple[str, float, float, float, str]]:
    from flask_migrate import upgrade

    from qunti import create_app
    from qunti.accounts.models import User
    from qunti.catalog import state as catalog_state
    from qunti.db import db
    from qunti.ledgers import demands, documents, problems, tasks
    from qunti.ledgers.demands import DemandFilter
    from qunti.orders import calendar
    from qunti.orders.models import Order
    from qunti.directory.models import Station
    from qunti.menu.models import ORGANIZATIONS
    from qunti.stats import figures, rollup
    from qunti.stats.figures import Scope
    from qunti.sync import sync

    instance = tempfile.mkdtemp(prefix="qunti-scale-")
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "scale", "LOAD_DEMO": False})
    results: list[tuple[str, float, float, float, str]] = []
    try:
        with app.app_context(), app.test_request_context():
            upgrade()
            sync(catalog_state().catalog)
            from qunti.accounts.demo import load_demo_accounts
            load_demo_accounts()
            db.session.commit()
            dialect = db.engine.dialect.name
            began = time.perf_counter()
            timings = fill(db, n)
            print(f"[{dialect}] filled {n:,} orders in {time.perf_counter() - began:.1f} s ("
                  + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()) + ")")
            counts = {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in
                      ("submission", "service_order", "order_event", "rating", "document", "problem")}
            print(f"[{dialect}] rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            began = time.perf_counter()
            days = rollup.refresh()
            rebuilt = time.perf_counter() - began
            rows = db.session.scalar(text("SELECT count(*) FROM order_day_summary"))
            waiting = db.session.scalar(text("SELECT count(*) FROM order_day_pending"))
            analyze(db, ("order_day_summary", "order_day_pending"))
            print(f"[{dialect}] statistics summary rebuilt from the orders: {days:,} days, {rows:,} summary rows, "
                  f"{waiting:,} waiting rows in {rebuilt:.1f} s")

            dispatcher = db.session.scalar(select(User).where(User.role == "dispatcher"))
            today = calendar.today()
            start, end = today - timedelta(days=364), today
            station_codes = db.session.scalars(select(Station.code).order_by(Station.code)).all()
            scopes = [Scope("district"), *(Scope("organization", code) for code in ORGANIZATIONS),
                      *(Scope("station", code) for code in station_codes)]
            worst_figure = 0.0
            for scope in scopes:
                name = f"{scope.kind}{':' + scope.key if scope.key else ''}"
                parts = {
                    "orders, rates, by item, by month, groups": lambda s=scope: figures.order_figures(
                        s, start, end, today, dispatcher),
                    "members": lambda s=scope: figures.member_count(s),
                    "stations + 七有": lambda s=scope: figures.qiyou(figures.station_codes(s)),
                    "activities and sign-ups": lambda s=scope: figures.activity_rows(s),
                    "whole dashboard": lambda s=scope: figures.dashboard(s, start, end, today, dispatcher),
                }
                for label, fn in parts.items():
                    seconds = median_time(fn, runs=3)
                    worst_figure = max(worst_figure, seconds)
                    flag = "" if seconds < FIGURE_TARGET else "  <-- over 1 s"
                    print(f"[{dialect}] figure {name:<22} {label:<40} {seconds * 1000:8.1f} ms{flag}")

            size = app.config["LEDGER_PAGE_SIZE"]
            handler_unit = db.session.scalar(select(Order.unit_code).where(Order.unit_code.is_not(None)).limit(1))
            lists = {
                "需求收集库 all": lambda c, n: demands.demand_page(dispatcher, DemandFilter(), c, n),
                "需求收集库 item=S05": lambda c, n: demands.demand_page(dispatcher, DemandFilter(item="S05"), c, n),
                "需求收集库 state=rated": lambda c, n: demands.demand_page(dispatcher, DemandFilter(state="rated"), c, n),
                "需求收集库 community": lambda c, n: demands.demand_page(dispatcher, DemandFilter(community="社区7"), c, n),
                "需求收集库 surveys": lambda c, n: demands.demand_page(dispatcher, DemandFilter(kind="survey"), c, n),
                "任务销号库 open": lambda c, n: tasks.task_page(dispatcher, "open", c, n),
                "任务销号库 closed": lambda c, n: tasks.task_page(dispatcher, "closed", c, n),
                f"任务销号库 unit={handler_unit}": lambda c, n: tasks.task_page(dispatcher, "all", c, n, unit=handler_unit),
                "问题清单库": lambda c, n: problems.problem_page("", c, n),
                "文字资料库": lambda c, n: documents.document_page("", "", "", "", c, n),
            }
            worst_page, worst_ratio, worst_name = 0.0, 0.0, ""
            for name, page_of in lists.items():
                cursor = walk_to(page_of, (PAGE - 1) * size)  # untimed
                if cursor is None:
                    first = median_time(lambda: page_of(None, size))
                    print(f"[{dialect}] list {name:<28} first page {first * 1000:7.1f} ms; fewer than {PAGE:,} pages")
                    worst_page = max(worst_page, first)
                    continue
                first, far = paired_median_times(lambda: page_of(None, size), lambda: page_of(cursor, size))
                rows = len(page_of(cursor, size).rows)
                ratio = far / first if first else 0.0
                worst_page = max(worst_page, first, far)
                if ratio > worst_ratio:
                    worst_ratio, worst_name = ratio, name
                flag = "" if far < PAGE_TARGET and first < PAGE_TARGET and ratio <= RATIO_TARGET else "  <-- target missed"
                print(f"[{dialect}] list {name:<28} page 1 {first * 1000:7.1f} ms   page {PAGE:,} {far * 1000:7.1f} ms"
                      f" ({rows} rows)   ratio {ratio:4.2f}{flag}")
            if explain and dialect == "postgresql":
                explain_all(db, dispatcher, start, end, today)
            results.append((dialect, worst_figure, worst_page, worst_ratio, worst_name))
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return results


def walk_to(page_of, rows: int, chunk: int = 10_000) -> str | None:
    """The cursor after the first ``rows`` rows (what "下一页" carries to the page after them), found
    by reading big pages: a keyset cursor does not depend on the page size. Untimed."""
    cursor = None
    while rows > 0:
        result = page_of(cursor, min(chunk, rows))
        rows -= len(result.rows)
        if result.next_cursor is None:
            return None
        cursor = result.next_cursor
    return cursor


def explain_all(db, user, start, end, today) -> None:
    """EXPLAIN ANALYZE of the dashboard aggregation and of a demand ledger page (PostgreSQL)."""
    from sqlalchemy import event

    from qunti.ledgers.demands import DemandFilter, demand_page
    from qunti.stats import figures

    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    for label, fn in (("dashboard district", lambda: figures.order_figures(figures.Scope("district"), start, end,
                                                                            today, user)),
                      ("需求收集库 page 1", lambda: demand_page(user, DemandFilter(), None, 50))):
        captured.clear()
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            fn()
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        statement, parameters = captured[-1]
        with db.engine.connect() as c:
            plan = c.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters).scalars().all()
        print(f"EXPLAIN {label}:\n  " + "\n  ".join(plan))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--database-url", action="append", dest="urls")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the dashboard query (PG)")
    args = parser.parse_args()
    urls = args.urls
    temp = None
    if not urls:
        temp = tempfile.mkdtemp(prefix="qunti-scale-db-")
        urls = [f"sqlite:///{Path(temp) / 'scale.sqlite3'}"]
        if _util.fresh_postgres(PG_DEFAULT):
            urls.append(PG_DEFAULT)
    else:
        for url in urls:
            if url.startswith("postgresql") and not _util.fresh_postgres(url):
                return 1
    summary = []
    try:
        for url in urls:
            summary += run(url, args.orders, args.explain)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    ok = True
    worst = max(summary, key=lambda r: r[3])
    for dialect, figure, page, ratio, name in summary:
        ok &= figure < FIGURE_TARGET and page < PAGE_TARGET and ratio <= RATIO_TARGET
        print(f"[{dialect}] slowest figure {figure * 1000:.1f} ms (target < 1000); slowest page {page * 1000:.1f} ms "
              f"(target < 100); worst page-{PAGE:,}/page-1 ratio {ratio:.2f} ({name})")
    print(f"worst ratio: {worst[3]:.2f} ({worst[0]}, {worst[4]}; target ≤ {RATIO_TARGET})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
