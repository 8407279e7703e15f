"""统一的基础信息统计: every dashboard figure recomputed from the raw rows (orders, ratings,
memberships, checklists, activities) with the evaluation report's own functions, the pages, charts
and CSVs; the daily summary kept equal to the orders through the whole cycle."""
from __future__ import annotations

import csv
import io
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import func, select, update

from qunti import intake
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.db import utcnow
from qunti.directory.models import Station
from qunti.forms.models import Submission
from qunti.forms.registry import current_version
from qunti.membership.models import KINDS, Member, Membership, Organization
from qunti.menu.models import ServiceItem
from qunti.orders.models import Order, Rating
from qunti.orders.transitions import perform, resident_actor, staff_actor
from qunti.reports import evaluation
from qunti.stats import rollup
from qunti.stations.checklist import current_checklist
from qunti.stations.inspections import record_inspection
from qunti.stations.models import Inspection
from qunti.stats.figures import Scope, dashboard
from qunti.stats.models import OrderDayPending, OrderDaySummary, StatsWatermark

from helpers import example_answers
from users import ensure_station, ensure_unit, login, make_order, make_user

ZONE = ZoneInfo("Asia/Shanghai")
START, END, AS_OF = date(2026, 9, 1), date(2026, 11, 30), date(2026, 11, 10)
SCOPES = [Scope("district"), Scope("organization", "union"), Scope("organization", "women"),
          Scope("station", "gangcheng"), Scope("station", "heyun")]


@pytest.fixture(params=["summary", "orders"])
def app(make_app, request):
    """Every test twice: the figures read from the daily summary (changes settle at once), and
    counted from the orders themselves (nothing has settled yet)."""
    return make_app(STATS_SETTLE_SECONDS=0 if request.param == "summary" else 10 ** 9)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(timezone.utc)


def inspect(app, station_code: str, results: dict[str, str], when: str) -> Inspection:
    """A 七有 inspection of the checklist's example answers with ``results`` changed."""
    answers = example_answers(app, "station-checklist-qiyou")
    answers["inspectionDate"] = when
    for key, result in results.items():
        answers[key] = {"result": result}
    inspection = record_inspection(db.session.get(Station, station_code), current_checklist(), answers)
    db.session.commit()
    return inspection


@pytest.fixture
def world(app, ctx):
    """Orders across items, stations, units and months, with every kind of timing and rating."""
    ensure_unit("women", kind="organization")
    ensure_station("gangcheng", community="港城社区", lead="union")
    ensure_station("heyun", community="和韵家园社区", lead="women")
    db.session.get(Station, "gangcheng").name = "港城工业园区群团服务站"
    db.session.commit()
    d = date(2026, 10, 8)
    specs = [
        # item, station, unit, created, accept_by, accepted, deadline, completed, round
        ("S05", "gangcheng", "justice", at(d), d, at(d, 23), d + timedelta(10), at(d + timedelta(10)), 1),
        ("S05", "gangcheng", "justice", at(d), d, at(d + timedelta(1), 7), d + timedelta(5), at(d + timedelta(6)), 1),
        ("S10", "heyun", "women", at(d, 9), d, None, d + timedelta(3), None, 1),
        ("S10", None, "women", at(date(2026, 9, 30), 23, 30), date(2026, 10, 9), None, AS_OF, None, 1),
        ("S12", None, None, at(date(2026, 11, 1), 0, 10), None, None, None, None, 1),  # not dispatched
        ("S11", "gangcheng", "justice", at(d), d, at(d), d + timedelta(2), at(d + timedelta(1)), 2),  # redone
        ("S11", "heyun", "justice", at(d), AS_OF + timedelta(3), None, AS_OF + timedelta(9), None, 1),  # not yet due
        ("S05", None, "justice", at(date(2026, 8, 31), 23, 59), d, at(d), d, at(d), 1),  # out of the period
        ("S05", None, "justice", at(date(2026, 9, 1), 0, 1), d, at(d), d, at(d), 1),     # in (08-31 16:01 UTC)
    ]
    orders = []
    for item, station, unit, created, accept_by, accepted, deadline, completed, round_ in specs:
        orders.append(make_order(item, unit_code=unit, station_code=station, created_at=created, accept_by=accept_by,
                                 accepted_at=accepted, deadline=deadline, completed_at=completed, round=round_,
                                 state="rated" if completed else "dispatched"))
    for order, round_, level in ((orders[0], 1, 5), (orders[1], 1, 2), (orders[5], 1, 1), (orders[5], 2, 4),
                                 (orders[2], 1, 3), (orders[8], 1, 4)):
        db.session.add(Rating(order_id=order.id, round=round_, level=level))
    for _ in range(3):
        make_user("resident")
    add_members()
    make_user("dispatcher")
    inspect(app, "gangcheng", {"venue": "fail", "signage": "fail"}, "2026-05-01")  # superseded
    inspect(app, "gangcheng", {"plaque": "partial", "atmosphere": "fail"}, "2026-10-01")
    inspect(app, "gangcheng", {"plaque": "fail", "atmosphere": "fail"}, "2026-09-15")  # recorded later, older
    form = current_version("demand-survey")
    for org, station, status, signups in (("union", "gangcheng", "published", ["confirmed", "confirmed", "waiting"]),
                                          ("union", None, "cancelled", ["confirmed"]),
                                          ("women", "heyun", "published", ["confirmed", "cancelled"])):
        activity = Activity(plugin_id="p", type_id="t", organization=org, title="活动", starts_at=at(d),
                            signup_deadline=at(d), station_code=station, capacity=10, status=status,
                            taken=signups.count("confirmed"))
        db.session.add(activity)
        db.session.flush()
        for n, signup_status in enumerate(signups):
            submission = Submission(tracking_number=f"A{activity.id}-{n}", form_version_id=form.id, answers={},
                                    channel="online")
            db.session.add(submission)
            db.session.flush()
            db.session.add(ActivitySignup(activity_id=activity.id, submission_id=submission.id, status=signup_status,
                                          nonce="n" * 32))
    db.session.commit()
    return orders


def add_members() -> None:
    """Grassroots organizations at stations and online, and memberships active and ended."""
    for code, kind, station in (("gc-union", "union", "gangcheng"), ("hy-league", "league", "heyun"),
                                ("online-union", "union", None)):
        db.session.add(Organization(code=code, name=code, kind=kind, station_code=station))
    memberships = [  # person, organization, kind, status, station the member joined through
        (1, "gc-union", "union", "active", None), (1, "hy-league", "league", "active", None),
        (2, "online-union", "union", "active", "heyun"), (3, "gc-union", "union", "transferred", None),
        (3, "online-union", "union", "active", None), (4, "hy-league", "league", "revoked", "heyun"),
        (5, "gc-union", "union", "active", "heyun")]
    people = {}
    for n, (person, organization, kind, status, station) in enumerate(memberships):
        if person not in people:
            people[person] = Member(person_key=f"p{person}", name=f"会员{person}", id_number_enc="x", phone_enc="x",
                                    phone_key=f"k{person}")
            db.session.add(people[person])
            db.session.flush()
        db.session.add(Membership(member_id=people[person].id, organization_code=organization, kind=kind,
                                  number=f"M{n}", joined_on=date(2026, 1, 1), status=status, station_code=station))
    db.session.flush()


def members(scope: Scope) -> int | None:
    """Active memberships of the scope, from the rows: a station's by the station the member joined
    through, else their organization's."""
    station_of = dict(db.session.execute(select(Organization.code, Organization.station_code)).all())
    active = [m for m in db.session.scalars(select(Membership)) if m.status == "active"]
    if scope.kind == "organization":
        return sum(m.kind == scope.key for m in active) if scope.key in KINDS else None
    if scope.kind == "station":
        return sum((m.station_code or station_of[m.organization_code]) == scope.key for m in active)
    return len(active)


def recompute(scope: Scope, start: date = START, end: date = END, as_of: date = AS_OF):
    """Every figure again, from the raw rows and evaluation.evaluate (no SQL aggregation)."""
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.organization)).all())
    query = select(Order)
    if scope.kind == "organization":
        query = query.where(Order.service_item_code.in_([c for c, o in items.items() if o == scope.key]))
    elif scope.kind == "station":
        query = query.where(Order.station_code == scope.key)
    rows, ratings = evaluation.load_rows(query)
    result = evaluation.evaluate(rows, ratings, start=start, end=end, as_of=as_of, zone=ZONE)
    chosen = [r for r in rows if evaluation.in_period(r, start, end, ZONE)]
    by_id = {o.id: o for o in db.session.scalars(select(Order))}
    by_item = Counter(by_id[r.id].service_item_code for r in chosen)
    by_month = Counter(evaluation.local_date(r.created_at, ZONE).strftime("%Y-%m") for r in chosen)
    breakdown = {"district": "organization", "organization": "station", "station": "unit"}[scope.kind]
    return result["total"][0], {f.key: f for f in result[breakdown]}, by_item, by_month


FIELDS = ("orders", "response_due", "responded", "completion_due", "completed_on_time", "rated", "satisfied",
          "rating_sum")


def same(a: evaluation.Figures, b: evaluation.Figures) -> None:
    assert {f: getattr(a, f) for f in FIELDS} == {f: getattr(b, f) for f in FIELDS}
    assert (a.response_rate, a.on_time_rate, a.satisfaction_rate, a.average_rating) == \
        (b.response_rate, b.on_time_rate, b.satisfaction_rate, b.average_rating)


def same_orders(board, scope: Scope, start: date = START, end: date = END, as_of: date = AS_OF) -> None:
    """The order figures of ``board`` are those recomputed from the raw rows."""
    total, groups, by_item, by_month = recompute(scope, start, end, as_of)
    same(board.total, total)
    assert board.groups.keys() == groups.keys()
    for key, figures in groups.items():
        same(board.groups[key], figures)
    assert board.by_item == dict(by_item)
    assert board.by_month == dict(by_month)


@pytest.mark.parametrize("scope", SCOPES)
def test_every_figure_equals_its_recomputation_from_the_raw_rows(world, scope):
    dispatcher = make_user("dispatcher")
    board = dashboard(scope, START, END, AS_OF, dispatcher)
    same_orders(board, scope)
    assert board.total.orders > 0
    assert board.members == members(scope)
    stations = [s for s in db.session.scalars(select(Station).order_by(Station.code))
                if scope.kind == "district" or (scope.kind == "organization" and s.lead_organization == scope.key)
                or (scope.kind == "station" and s.code == scope.key)]
    assert board.stations == len(stations)
    # 七有: the latest inspection of each station (latest date, then latest recorded), 符合 over all items.
    inspections = db.session.scalars(select(Inspection).order_by(Inspection.inspected_on, Inspection.id)).all()
    for row in board.qiyou:
        latest = [i for i in inspections if i.station_code == row.station_code][-1:]
        results = [item.result for i in latest for item in i.items]
        assert (row.passed, row.items) == (results.count("pass"), len(results))
        assert row.inspection_id == (latest[0].id if latest else None)
    signups = db.session.scalars(select(ActivitySignup)).all()
    activities = [a for a in db.session.scalars(select(Activity)) if a.status != "cancelled"
                  and (scope.kind == "district" or (scope.kind == "organization" and a.organization == scope.key)
                       or (scope.kind == "station" and a.station_code == scope.key))]
    expected = Counter()
    for activity in activities:
        expected[(activity.organization, "activities")] += 1
        expected[(activity.organization, "signups")] += sum(
            s.activity_id == activity.id and s.status == "confirmed" for s in signups)
    assert {(a.organization, "activities"): a.activities for a in board.activities} | \
        {(a.organization, "signups"): a.signups for a in board.activities} == dict(expected)


def test_the_world_covers_the_edges(world):
    """The fixture is worth recomputing: late responses, a redo, an unjudged order, both month ends."""
    board = dashboard(Scope("district"), START, END, AS_OF, make_user("dispatcher"))
    assert board.total.orders == 8  # the 8-31 23:59 order is outside
    assert (board.total.response_due, board.total.responded) == (6, 3)
    assert (board.total.rated, board.total.satisfied) == (5, 3)  # round 2 counts for the redone order
    assert set(board.by_month) == {"2026-09", "2026-10", "2026-11"}
    gangcheng = next(r for r in board.qiyou if r.station_code == "gangcheng")
    assert (gangcheng.passed, gangcheng.items, gangcheng.inspected_on) == (5, 7, "2026-10-01")
    assert next(r for r in board.qiyou if r.station_code == "heyun").items == 0
    # Memberships: 5 active of 7; union 4, league 1; 妇联 keeps no members.
    assert board.members == 5
    assert [dashboard(Scope(*s), START, END, AS_OF, make_user("dispatcher")).members
            for s in (("organization", "union"), ("organization", "league"), ("organization", "women"),
                      ("station", "gangcheng"), ("station", "heyun"))] == [4, 1, None, 1, 3]


def test_pages_show_tables_and_charts_and_every_figure_downloads_as_csv(client, world):
    login(client, make_user("org_admin", organization="union"))
    period = {"from": START.isoformat(), "to": END.isoformat()}
    for url in ("/stats/", "/stats/org/union", "/stats/station/gangcheng"):
        page = client.get(url, query_string=period).get_data(as_text=True)
        assert "<svg" in page and "<table" in page and "七有达标" in page
    for figure in ("summary", "items", "months", "groups", "qiyou", "activities"):
        response = client.get(f"/stats/{figure}.csv", query_string={"scope": "organization", "key": "union", **period})
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
        assert len(rows) >= 2
    rows = list(csv.reader(io.StringIO(client.get("/stats/groups.csv", query_string={**period}).get_data()
                                       .decode("utf-8-sig"))))
    assert rows[0][:5] == ["群团组织", "订单数", "响应率", "按时办结率", "满意率"]
    assert client.get("/stats/org/nowhere").status_code == 404


def test_station_staff_read_their_own_station_only(client, world):
    login(client, make_user("station_staff", station_code="heyun"))
    assert client.get("/stats/station/heyun").status_code == 200
    assert client.get("/stats/station/gangcheng").status_code == 403
    assert client.get("/stats/").status_code == 403
    login(client, make_user("handler", unit_code="justice"))
    assert client.get("/stats/").status_code == 403


# --- the daily summary ----------------------------------------------------------------------------

PLAN = {"goal": "解决诉求", "task": "协调", "people": "王强", "deadline": "2026-10-12", "unit": "司法局", "person": "王强"}


def same_everywhere(as_of: date = AS_OF) -> None:
    """Every scope's order figures equal the raw recomputation, read through a fresh dashboard."""
    dispatcher = make_user("dispatcher")
    for scope in SCOPES:
        same_orders(dashboard(scope, START, END, as_of, dispatcher), scope, as_of=as_of)
    if settles_at_once():
        assert rollup.unsettled_days() == set()  # all of it was read from the summary


def settles_at_once() -> bool:
    return current_app.config["STATS_SETTLE_SECONDS"] == 0


def work(order: Order, handler, *, level: int) -> None:
    """签收, 五定, 销号 and 评单 (by the resident) of one round."""
    for action, params in (("accept", {}), ("plan", {"plan": dict(PLAN, deadline=order.deadline.isoformat())}),
                           ("complete", {"result_note": "已办结"})):
        perform(order, action, staff_actor(handler), **params)
    perform(order, "rate", resident_actor(order), level=level)


@pytest.fixture
def near_midnight(app, ctx):
    """Orders on both sides of local midnight (10-08 23:59:59 and 10-09 00:00:00 in Shanghai: the
    same UTC day), of a month's last and next first moment, and one elsewhere."""
    ensure_unit("women", kind="organization")
    ensure_station("gangcheng", community="港城社区", lead="union")
    ensure_station("heyun", community="和韵家园社区", lead="women")
    midnight = datetime(2026, 10, 9, tzinfo=ZONE)
    month_end = datetime(2026, 11, 1, tzinfo=ZONE)
    second = timedelta(seconds=1)
    specs = [  # item, station, created, accept_by, deadline
        ("S05", "gangcheng", midnight - second, date(2026, 10, 9), date(2026, 10, 20)),
        ("S05", "gangcheng", midnight, date(2026, 10, 10), date(2026, 10, 21)),
        ("S10", "heyun", month_end - second, date(2026, 11, 2), date(2026, 11, 12)),
        ("S11", None, month_end, date(2026, 11, 2), date(2026, 11, 12)),
        ("S05", None, datetime(2026, 9, 15, 12, tzinfo=ZONE), date(2026, 9, 16), date(2026, 9, 30)),
    ]
    orders = [make_order(item, unit_code="justice", station_code=station, created_at=created.astimezone(timezone.utc),
                         accept_by=accept_by, deadline=deadline, state="dispatched")
              for item, station, created, accept_by, deadline in specs]
    db.session.commit()
    return orders


def test_the_summary_follows_transitions_ratings_and_redo_across_local_days(near_midnight):
    late, early, october_end, november_first, september = near_midnight
    handler = make_user("handler", unit_code="justice")
    dispatcher = make_user("dispatcher")
    same_everywhere()
    assert db.session.scalar(select(func.sum(OrderDaySummary.orders))) == 5
    # Late and on time, unsatisfied, then 重办: the round-1 rating stops counting until round 2 is rated.
    perform(late, "accept", staff_actor(handler))
    same_everywhere()
    same_everywhere(as_of=date(2026, 10, 15))
    work(early, handler, level=2)
    same_everywhere()
    perform(early, "reopen", resident_actor(early))
    assert early.round == 2
    same_everywhere()
    work(early, handler, level=5)
    same_everywhere()
    # Cancelled before anybody accepted it: still due to be answered once accept_by is past.
    perform(october_end, "cancel", resident_actor(october_end))
    same_everywhere()
    same_everywhere(as_of=date(2026, 11, 1))
    # Handed to another unit: the unit key of its day moves.
    perform(november_first, "transfer", staff_actor(dispatcher), unit_code="women", reason="妇女权益")
    same_everywhere()
    work(september, handler, level=4)
    same_everywhere(as_of=date(2026, 12, 31))


def test_changes_not_yet_settled_are_counted_from_the_orders_beside_the_summary(make_app):
    app = make_app(STATS_SETTLE_SECONDS=300)
    with app.app_context():
        ensure_station("gangcheng", community="港城社区", lead="union")
        old_day = date(2026, 10, 8)
        make_order("S05", unit_code="justice", station_code="gangcheng", created_at=at(old_day),
                   accept_by=date(2026, 10, 9), deadline=date(2026, 10, 20))
        new = make_order("S05", unit_code="justice", created_at=at(date(2026, 10, 9)), accept_by=date(2026, 10, 10),
                         deadline=date(2026, 10, 20))
        db.session.commit()
        # As if five minutes had passed: everything so far settles into the summary.
        assert rollup.refresh(now=utcnow() + timedelta(seconds=300)) == 2
        assert rollup.unsettled_days() == set()
        perform(new, "accept", staff_actor(make_user("handler", unit_code="justice")))
        assert rollup.unsettled_days() == {date(2026, 10, 9)}
        assert rollup.refresh() == 0  # too fresh to settle
        same_everywhere()  # 10-08 from the summary, 10-09 from the orders
        waiting = select(OrderDayPending.day).where(OrderDayPending.kind == "accept").order_by(OrderDayPending.day)
        assert db.session.scalars(waiting).all() == [old_day, date(2026, 10, 9)]  # the summary does not know yet
        assert rollup.refresh(now=utcnow() + timedelta(seconds=300)) == 1
        assert db.session.scalars(waiting).all() == [old_day]
        same_everywhere()


def test_refreshes_at_once_count_each_day_once(app, ctx, near_midnight):
    dispatcher = make_user("dispatcher")
    done, failures = [], []

    def refresh_in_thread():
        try:
            with app.app_context():
                # As if it were late enough for everything to settle.
                done.append(rollup.refresh(now=utcnow() + timedelta(seconds=app.config["STATS_SETTLE_SECONDS"] + 1)))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=refresh_in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(done) == (date(2026, 11, 1) - date(2026, 9, 15)).days + 1  # each day once, first to last order
    assert db.session.scalar(select(func.sum(OrderDaySummary.orders))) == 5
    for scope in SCOPES:
        same_orders(dashboard(scope, START, END, AS_OF, dispatcher), scope)


def test_a_dashboard_does_not_wait_for_a_refresh_at_work(app, ctx, near_midnight):
    """While another refresh holds the watermark, a dashboard counts what has not settled from the
    orders instead of waiting."""
    dispatcher = make_user("dispatcher")
    rollup.refresh()
    late = near_midnight[0]
    perform(late, "accept", staff_actor(make_user("handler", unit_code="justice")))
    with db.engine.connect() as holder:
        with holder.begin():
            # What a refresh at work holds: the watermark row (and on SQLite the write lock).
            holder.execute(update(StatsWatermark).values(refreshed_at=utcnow()))
            assert rollup.refresh(wait=False) == 0
            for scope in SCOPES:
                same_orders(dashboard(scope, START, END, AS_OF, dispatcher), scope)


def test_a_dashboard_before_the_first_refresh_does_not_wait_for_a_writer(app, ctx, near_midnight):
    dispatcher = make_user("dispatcher")
    with db.engine.connect() as writer:
        with writer.begin():
            # Someone else's write transaction (on SQLite it holds the database's write lock).
            writer.execute(update(Station).where(Station.code == "heyun").values(address="和韵路 1 号"))
            began = time.monotonic()
            for scope in SCOPES:
                same_orders(dashboard(scope, START, END, AS_OF, dispatcher), scope)
            assert time.monotonic() - began < 5  # not busy_timeout (10 s) per dashboard
