"""统一的基础信息统计: every dashboard figure recomputed from the raw rows (orders, ratings,
checklists, activities) with the evaluation report's own functions, the pages, charts and CSVs."""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from qunti import intake
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.models import Submission
from qunti.forms.registry import current_version
from qunti.menu.models import ServiceItem
from qunti.orders.models import Order, Rating
from qunti.reports import evaluation
from qunti.stations.checklist import current_checklist
from qunti.stations.inspections import record_inspection
from qunti.stations.models import Inspection
from qunti.stats.figures import Scope, dashboard

from helpers import example_answers
from users import ensure_station, ensure_unit, login, make_order, make_user

ZONE = ZoneInfo("Asia/Shanghai")
START, END, AS_OF = date(2026, 9, 1), date(2026, 11, 30), date(2026, 11, 10)


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


def recompute(scope: Scope):
    """Every figure again, from the raw rows and evaluation.evaluate (no SQL aggregation)."""
    items = dict(db.session.execute(select(ServiceItem.code, ServiceItem.organization)).all())
    query = select(Order)
    if scope.kind == "organization":
        query = query.where(Order.service_item_code.in_([c for c, o in items.items() if o == scope.key]))
    elif scope.kind == "station":
        query = query.where(Order.station_code == scope.key)
    rows, ratings = evaluation.load_rows(query)
    result = evaluation.evaluate(rows, ratings, start=START, end=END, as_of=AS_OF, zone=ZONE)
    chosen = [r for r in rows if evaluation.in_period(r, START, END, ZONE)]
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


@pytest.mark.parametrize("scope", [Scope("district"), Scope("organization", "union"), Scope("organization", "women"),
                                   Scope("station", "gangcheng"), Scope("station", "heyun")])
def test_every_figure_equals_its_recomputation_from_the_raw_rows(world, scope):
    dispatcher = make_user("dispatcher")
    board = dashboard(scope, START, END, AS_OF, dispatcher)
    total, groups, by_item, by_month = recompute(scope)
    same(board.total, total)
    assert board.total.orders > 0
    assert board.groups.keys() == groups.keys()
    for key, figures in groups.items():
        same(board.groups[key], figures)
    assert board.by_item == dict(by_item)
    assert board.by_month == dict(by_month)
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
    if scope.kind == "district":
        assert board.members == 3  # residents: no members table yet


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
