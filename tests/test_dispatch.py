"""派单: the context the rules read, the decision applied to a new order, in the submission's transaction."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from qunti import intake
from qunti.db import db
from qunti.directory.models import Station, Unit
from qunti.forms.models import Submission
from qunti.forms.registry import current_version
from qunti.menu.models import ServiceItem
from qunti.menu.queries import menu_item
from qunti.orders import calendar, dispatch
from qunti.orders.models import Order, OrderEvent
from qunti.rules.ruleset import context_problem

from helpers import example_answers
from order_helpers import ROUTES, answers_for, order, submit


def build_context(placed: Order, submission: Submission, **kwargs):
    """The context the dispatcher builds for ``placed``, with its service item looked up."""
    return dispatch.build_context(placed, submission, menu_item(placed.service_item_code), **kwargs)


def test_every_menu_item_gets_a_valid_context_and_an_order(ctx):
    for item in ctx.extensions["qunti"].catalog.menu:
        number = submit(ctx, item["code"])
        placed = order(number)
        context = build_context(placed, placed.submission)
        assert context_problem(context) is None, (item["code"], context_problem(context))
        assert context["item"]["code"] == item["code"]
        assert placed.state in ("dispatched", "awaiting_dispatch")
        assert placed.suggestion["row"]["id"] == placed.rule_row_id


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_new_order_follows_the_rule_row(ctx, route):
    code, overrides, row, route_class, unit, mode = ROUTES[route]
    number = submit(ctx, code, **overrides)
    placed = order(number)
    ruleset = ctx.extensions["qunti"].rulesets["dispatch"]
    assert placed.rule_row_id == row
    assert placed.ruleset_digest == ruleset.digest
    assert placed.suggestion["route"]["unit"] == unit
    events = placed.events
    assert [e.action for e in events] == ["submit", "dispatch" if mode == "auto" else "queue"]
    assert events[1].rule_id == row and events[1].ruleset_digest == ruleset.digest
    if mode == "auto":
        today = calendar.today()
        assert (placed.state, placed.unit_code, placed.route_class) == ("dispatched", unit, route_class)
        assert placed.accept_by == calendar.add_working_days(today, 1)
        rows = {r["id"]: r for r in ruleset.document["rows"]}
        limit = rows[row]["route"]["timeLimitDays"] or db.session.get(ServiceItem, code).time_limit_days
        assert placed.time_limit_days == limit
        assert placed.deadline == calendar.add_working_days(today, limit)
    else:
        assert (placed.state, placed.unit_code) == ("awaiting_dispatch", None)


def test_the_order_gets_the_same_decision_as_the_evaluate_api(app, client):
    with app.app_context():
        number = submit(app, "S05", serviceType="legal_aid", applicantCategory="migrant_worker")
        placed = order(number)
        context = build_context(placed, placed.submission)
        row = placed.rule_row_id
    response = client.post("/api/v1/rules/dispatch/evaluate", json={"context": context})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["row"]["id"] == row


def test_similar_open_orders_in_the_community_escalate_wage_arrears(ctx):
    community = ctx.extensions["qunti"].catalog.forms["rights-protection"].schema["examples"][0]["community"]
    numbers = [submit(ctx, "S11", issueType="wage_arrears", affectedWorkers=2) for _ in range(4)]
    assert {order(n).rule_row_id for n in numbers} == {"wage-arrears"}
    # A closed one and one from another community do not count.
    closed = order(numbers[0])
    closed.state = "cancelled"
    db.session.commit()
    submit(ctx, "S11", issueType="wage_arrears", affectedWorkers=2, community="别的社区")
    fifth = order(submit(ctx, "S11", issueType="wage_arrears", affectedWorkers=2))
    assert build_context(fifth, fifth.submission)["counts"]["similarOpenInCommunity"] == 3
    assert fifth.rule_row_id == "wage-arrears"
    sixth = order(submit(ctx, "S11", issueType="wage_arrears", affectedWorkers=2))
    assert build_context(sixth, sixth.submission)["counts"]["similarOpenInCommunity"] == 4
    assert (sixth.rule_row_id, sixth.state) == ("wage-arrears-mass", "awaiting_dispatch")
    assert community


def test_open_by_applicant_counts_the_same_phone_across_items(ctx):
    phone = "13900001111"
    submit(ctx, "S06", phone=phone)
    submit(ctx, "S05", phone=phone)
    submit(ctx, "S06", phone="13900002222")
    third = order(submit(ctx, "S13", phone=phone))
    assert build_context(third, third.submission)["counts"]["openByApplicant"] == 2


def test_station_context_comes_from_the_station_row(ctx):
    db.session.add(Station(code="gangcheng", name="港城工业园区群团服务站", community="港城社区",
                           lead_organization="union", kind="center"))
    db.session.commit()
    version = current_version("appeal-submission")
    answers = answers_for(ctx, "S04", appealType="facilities", affectedPeople=5)
    submission = intake.accept(version, answers, channel="station", service_item_code="S04",
                               station_code="gangcheng")
    placed = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
    context = build_context(placed, submission)
    assert context["station"] == {"code": "gangcheng", "kind": "center", "community": "港城社区",
                                  "leadOrganization": "union"}
    assert context["channel"] == "station"
    assert (placed.rule_row_id, placed.unit_code) == ("appeal-local-cuntan", "cuntan")


def test_an_inactive_unit_sends_the_order_to_the_manual_queue(ctx):
    db.session.get(Unit, "union").active = False
    db.session.commit()
    placed = order(submit(ctx, "S06"))
    assert (placed.rule_row_id, placed.state, placed.unit_code) == ("union-items", "awaiting_dispatch", None)


def test_a_failing_rule_set_still_queues_the_order(ctx, monkeypatch):
    ruleset = ctx.extensions["qunti"].rulesets["dispatch"]

    def broken(_context):
        raise ValueError("规则出错")
    monkeypatch.setattr(type(ruleset), "decide", lambda self, context: broken(context))
    placed = order(submit(ctx, "S06"))
    assert placed.state == "awaiting_dispatch"
    assert "规则出错" in placed.suggestion["error"]


def test_the_demand_survey_makes_no_order(ctx):
    version = current_version("demand-survey")
    intake.accept(version, example_answers(ctx, "demand-survey"))
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_submission_and_order_are_one_transaction(app, client, monkeypatch):
    """If creating or routing the order fails, the submission is not kept either (and not acknowledged)."""
    def explode(*_args, **_kwargs):
        raise RuntimeError("routing failed")
    monkeypatch.setattr(dispatch, "perform", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post("/api/v1/forms/skills-training/submissions", json=answers_for(app, "S06"))
    assert response.status_code == 500
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 0
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 0


def test_every_service_submission_has_its_order(app, client):
    for item in app.extensions["qunti"].catalog.menu:
        response = client.post(f"/api/v1/forms/{item['form']}/submissions", json=answers_for(app, item["code"]))
        assert response.status_code == 201, response.get_json()
    with app.app_context():
        orphans = db.session.scalar(select(func.count()).select_from(Submission).where(
            Submission.service_item_code.is_not(None),
            ~select(Order.id).where(Order.submission_id == Submission.id).exists()))
        assert orphans == 0
        assert db.session.scalar(select(func.count()).select_from(Order)) == len(app.extensions["qunti"].catalog.menu)


def test_dispatch_deadline_counts_working_days_from_today(ctx, monkeypatch):
    monkeypatch.setattr(calendar, "today", lambda: date(2026, 9, 30))
    placed = order(submit(ctx, "S11", issueType="wage_arrears", affectedWorkers=3))  # 15 working days
    assert placed.accept_by == date(2026, 10, 8)  # the first working day after 国庆
    assert placed.deadline == date(2026, 10, 27)  # the 调休 Saturday 10-10 counts


def test_counts_are_skipped_only_where_no_rule_reads_them(ctx):
    ruleset = ctx.extensions["qunti"].rulesets["dispatch"]
    assert dispatch.reads_counts(ruleset, "S11") and dispatch.reads_counts(ruleset, "S04")
    assert not dispatch.reads_counts(ruleset, "S06")
    for item in ctx.extensions["qunti"].catalog.menu:
        placed = order(submit(ctx, item["code"]))
        full = ruleset.decide(build_context(placed, placed.submission))
        lean = ruleset.decide(build_context(placed, placed.submission, counts=False))
        assert dispatch.reads_counts(ruleset, item["code"]) or full.row_id == lean.row_id
