"""The order cycle 点单 → 派单 → 办单 → 评单: end to end over HTTP, every refusal, locking, privacy."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from qunti.accounts.models import User
from qunti.db import db
from qunti.directory.models import Station
from qunti.orders import calendar
from qunti.orders.models import OrderEvent, Rating
from qunti.orders.transitions import (
    STATES, SYSTEM, TRANSITIONS, Conflict, Forbidden, InvalidInput, allowed_actions, perform, resident_actor,
    staff_actor)

from order_helpers import ROUTES, answers_for, event_count, login, make_user, order, prove_phone, submit


def _form(app, code: str) -> str:
    return next(i["form"] for i in app.extensions["qunti"].catalog.menu if i["code"] == code)


def _api_submit(app, client, code: str, **overrides) -> tuple[str, dict]:
    answers = answers_for(app, code, **overrides)
    response = client.post(f"/api/v1/forms/{_form(app, code)}/submissions", json=answers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["trackingNumber"], answers


def _act(client, number: str, action: str, status: int = 200, **body):
    response = client.post(f"/api/v1/orders/{number}/actions/{action}", json=body)
    assert response.status_code == status, (action, response.get_json())
    return response.get_json()


def _plan(deadline: str) -> dict:
    return {"goal": "帮助申请人解决诉求", "task": "核实情况并协调办理", "people": "王强、刘敏", "deadline": deadline,
            "unit": "承办单位", "person": "王强"}


def _handle_to_completion(staff, number: str, unit: str) -> dict:
    body = staff.get(f"/api/v1/orders/{number}").get_json()
    assert (body["state"], body["unit"]["code"]) == ("dispatched", unit)
    assert "accept" in {a["action"] for a in body["allowedActions"]}
    body = _act(staff, number, "accept", expectedVersion=body["version"])
    assert body["stateName"] == "已签收"
    body = _act(staff, number, "plan", plan=_plan(body["deadline"]), expectedVersion=body["version"])
    assert (body["state"], body["plan"]["person"]) == ("in_progress", "王强")
    body = _act(staff, number, "complete", resultNote="已协调办结，申请人已收到答复。", expectedVersion=body["version"])
    assert body["state"] == "completed" and body["resultNote"].startswith("已协调办结")
    return body


def _resident_rates(app, number: str, phone: str, level: int) -> str:
    resident = app.test_client()
    page = prove_phone(resident, number, phone)
    assert page.status_code == 200
    assert "已办结" in page.get_data(as_text=True) and "提交评价" in page.get_data(as_text=True)
    response = resident.post(f"/track/{number}/rate", data={"level": str(level), "comment": "办得不错"})
    assert response.status_code == 303
    return resident.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_full_cycle_over_http_for_every_route_class(app, client, route):
    code, overrides, row, route_class, unit, mode = ROUTES[route]
    number, answers = _api_submit(app, client, code, **overrides)
    with app.app_context():
        handler = make_user("handler", unit_code=unit).id
        dispatcher = make_user("dispatcher").id
    staff = app.test_client()
    if mode == "manual":
        login(staff, dispatcher)
        body = staff.get(f"/api/v1/orders/{number}").get_json()
        assert (body["state"], body["suggestion"]["row"]["id"]) == ("awaiting_dispatch", row)
        body = _act(staff, number, "confirm", expectedVersion=body["version"])
        assert (body["state"], body["unit"]["code"], body["routeClass"]) == ("dispatched", unit, route_class)
    login(staff, handler)
    body = _handle_to_completion(staff, number, unit)
    assert body["routeClass"] == route_class
    page = _resident_rates(app, number, answers["phone"], 5)
    assert "已评价" in page and "非常满意" in page
    with app.app_context():
        placed = order(number)
        assert placed.state == "rated" and placed.ratings[0].level == 5
        expected = ["submit", "queue", "confirm"] if mode == "manual" else ["submit", "dispatch"]
        assert [e.action for e in placed.events] == expected + ["accept", "plan", "complete", "rate"]
        assert placed.events[1].rule_id == row


def test_manual_queue_dispatcher_confirms_a_suggested_transfer(app, client):
    number, answers = _api_submit(app, client, "S12")  # 创业担保贷款: the rule wants a person to confirm
    with app.app_context():
        dispatcher, handler = make_user("dispatcher").id, make_user("handler", unit_code="hr-social-security").id
    staff = app.test_client()
    login(staff, dispatcher)
    body = _act(staff, number, "confirm")
    assert (body["unit"]["code"], body["routeClass"]) == ("hr-social-security", "transfer")
    login(staff, handler)
    _handle_to_completion(staff, number, "hr-social-security")
    assert "已评价" in _resident_rates(app, number, answers["phone"], 4)


def test_manual_queue_dispatcher_overrides_with_a_reason(app, client):
    number, answers = _api_submit(app, client, "S01")  # no row matches: the joint meeting decides
    with app.app_context():
        dispatcher, handler = make_user("dispatcher").id, make_user("handler", unit_code="women").id
    staff = app.test_client()
    login(staff, dispatcher)
    body = staff.get(f"/api/v1/orders/{number}").get_json()
    assert body["state"] == "awaiting_dispatch" and body["suggestion"]["route"]["class"] is None
    assert "规则没有给出承办单位" in _act(staff, number, "confirm", 422)["error"]
    assert "原因" in _act(staff, number, "override", 422, unitCode="women", routeClass="handle")["error"]
    assert "不能派给" in _act(staff, number, "override", 422, unitCode="women", routeClass="purchase",
                             reason="x")["error"]
    body = _act(staff, number, "override", unitCode="women", routeClass="handle", reason="申请单位为女职工组织")
    assert (body["state"], body["unit"]["code"]) == ("dispatched", "women")
    login(staff, handler)
    _handle_to_completion(staff, number, "women")
    _resident_rates(app, number, answers["phone"], 4)
    with app.app_context():
        event = next(e for e in order(number).events if e.action == "override")
        assert event.reason == "申请单位为女职工组织" and event.data["unit"] == "women"


def test_unsatisfied_resident_gets_one_redo_and_the_second_rating_counts(app, client):
    number, answers = _api_submit(app, client, "S06")
    with app.app_context():
        handler = make_user("handler", unit_code="union").id
    staff = app.test_client()
    login(staff, handler)
    _handle_to_completion(staff, number, "union")
    resident = app.test_client()
    prove_phone(resident, number, answers["phone"])
    resident.post(f"/track/{number}/rate", data={"level": "1", "comment": "没有解决"})
    page = resident.get(f"/track/{number}").get_data(as_text=True)
    assert "<h2>申请重办</h2>" in page
    assert resident.post(f"/track/{number}/reopen", data={"reason": "培训时间仍未安排"}).status_code == 303
    body = staff.get(f"/api/v1/orders/{number}").get_json()
    assert (body["state"], body["round"], body["unit"]["code"]) == ("dispatched", 2, "union")
    _handle_to_completion(staff, number, "union")
    resident.post(f"/track/{number}/rate", data={"level": "4"})
    body = staff.get(f"/api/v1/orders/{number}").get_json()
    assert body["rating"]["round"] == 2 and body["rating"]["level"] == 4
    # No third round, and the resident cannot rate round 2 twice.
    resident.post(f"/track/{number}/reopen", data={})
    assert "<h2>申请重办</h2>" not in resident.get(f"/track/{number}").get_data(as_text=True)
    with app.app_context():
        assert order(number).state == "rated"
        assert [r.level for r in db.session.scalars(select(Rating).order_by(Rating.round))] == [1, 4]


def test_a_satisfied_resident_cannot_ask_for_a_redo(app, client):
    number, answers = _api_submit(app, client, "S06")
    with app.app_context():
        handler = make_user("handler", unit_code="union").id
    staff = app.test_client()
    login(staff, handler)
    _handle_to_completion(staff, number, "union")
    resident = app.test_client()
    prove_phone(resident, number, answers["phone"])
    resident.post(f"/track/{number}/rate", data={"level": "3"})
    response = resident.post(f"/track/{number}/reopen", data={}, follow_redirects=True)
    assert "只有对办理结果评价为" in response.get_data(as_text=True)
    with app.app_context():
        assert order(number).state == "rated"


# --- every refusal ----------------------------------------------------------------------------

# The rules as the brief states them, written out independently of the table under test.
SPEC = {
    "dispatch": ({"system"}, {"submitted"}),
    "queue": ({"system"}, {"submitted"}),
    "confirm": ({"dispatcher", "sys_admin"}, {"awaiting_dispatch"}),
    "override": ({"dispatcher", "sys_admin"}, {"awaiting_dispatch"}),
    "escalate": ({"dispatcher", "sys_admin"}, {"awaiting_dispatch", "dispatched"}),
    "accept": ({"handler", "sys_admin"}, {"dispatched"}),
    "plan": ({"handler", "sys_admin"}, {"accepted"}),
    "complete": ({"handler", "sys_admin"}, {"in_progress"}),
    "return": ({"handler", "sys_admin"}, {"dispatched", "accepted"}),
    "transfer": ({"handler", "dispatcher", "sys_admin"}, {"dispatched", "accepted", "in_progress"}),
    "extend": ({"handler", "sys_admin"}, {"accepted", "in_progress"}),
    "rate": ({"owner"}, {"completed"}),
    "reopen": ({"owner", "dispatcher", "sys_admin"}, {"rated"}),
    "cancel": ({"owner"}, {"submitted", "awaiting_dispatch", "dispatched"}),
}
ACTORS = ("system", "owner", "stranger", "dispatcher", "handler", "other_handler", "station_staff",
          "org_admin", "sys_admin")


def test_the_table_is_the_one_the_brief_describes():
    assert STATES == {"submitted": "已提交", "awaiting_dispatch": "待派单", "dispatched": "已派单",
                      "accepted": "已签收", "in_progress": "办理中", "completed": "已办结", "rated": "已评价",
                      "cancelled": "已撤销"}
    performable = {a for a, t in TRANSITIONS.items() if t.effect is not None}
    assert performable == set(SPEC)
    for action, (_roles, sources) in SPEC.items():
        assert TRANSITIONS[action].sources == sources, action


def _params(action: str, deadline: date) -> dict:
    return {
        "override": {"reason": "改派", "unit_code": "women", "route_class": "handle"},
        "plan": {"plan": _plan(deadline.isoformat())},
        "complete": {"result_note": "已办结"},
        "return": {"reason": "不属于本单位职责"},
        "transfer": {"reason": "转给团区委", "unit_code": "league"},
        "extend": {"reason": "需要协调多个部门", "days": 3},
        "rate": {"level": 4},
        "reopen": {"reason": "仍未解决"},
    }.get(action, {})


def _reset(number: str, state: str, deadline: date) -> None:
    placed = order(number)
    placed.state, placed.unit_code, placed.route_class, placed.round = state, "union", "handle", 1
    placed.deadline, placed.overdue = deadline, False
    placed.suggestion = {"route": {"class": "handle", "unit": "union", "mode": "auto", "timeLimitDays": None}}
    for rating in db.session.scalars(select(Rating).where(Rating.order_id == placed.id)):
        db.session.delete(rating)
    db.session.flush()
    if state == "rated":  # an unsatisfied round-1 rating, so that a redo is possible
        db.session.add(Rating(order_id=placed.id, round=1, level=1))
    db.session.commit()


def _snapshot(number: str) -> tuple:
    placed = order(number)
    return (placed.state, placed.lock_version, placed.unit_code, placed.deadline, placed.updated_by,
            placed.round, placed.plan, event_count(number))


@pytest.mark.parametrize("action", sorted(SPEC))
def test_every_forbidden_transition_is_refused_and_changes_nothing(ctx, action):
    """For each action, every state × every actor: refused ones raise and leave no trace."""
    number = submit(ctx, "S06")
    other = submit(ctx, "S05")
    db.session.add(Station(code="shizishan", name="石子山青年创业社区服务站", community="石子山社区",
                           lead_organization="league"))
    db.session.commit()
    users = {"dispatcher": make_user("dispatcher").id, "handler": make_user("handler", unit_code="union").id,
             "other_handler": make_user("handler", unit_code="women").id,
             "station_staff": make_user("station_staff", station_code="shizishan").id,
             "org_admin": make_user("org_admin", organization="union").id, "sys_admin": make_user("sys_admin").id}
    deadline = calendar.add_working_days(calendar.today(), 10)
    roles, sources = SPEC[action]
    allowed = refused = 0
    for state in STATES:
        for actor_name in ACTORS:
            where = (action, state, actor_name)
            _reset(number, state, deadline)
            before = _snapshot(number)
            placed = order(number)
            if actor_name == "system":
                actor = SYSTEM
            elif actor_name == "owner":
                actor = resident_actor(placed)
            elif actor_name == "stranger":
                actor = resident_actor(order(other))
            else:
                actor = staff_actor(db.session.get(User, users[actor_name]))
            placed = order(number)
            if actor_name in roles and state in sources:
                perform(placed, action, actor, **_params(action, deadline))
                assert event_count(number) == before[-1] + 1, where
                allowed += 1
                continue
            expected = Forbidden if actor_name not in roles else (Conflict, InvalidInput)
            with pytest.raises(expected) as caught:
                perform(placed, action, actor, **_params(action, deadline))
            assert caught.value.message and caught.value.status in (403, 409, 422), where
            assert _snapshot(number) == before, where
            refused += 1
    assert allowed == len(sources) * len(roles) and refused == len(STATES) * len(ACTORS) - allowed


def test_bad_parameters_are_refused_in_chinese(ctx):
    number = submit(ctx, "S06")
    handler = make_user("handler", unit_code="union")
    actor = staff_actor(handler)
    perform(order(number), "accept", actor)
    for params, words in [
        ({"plan": {"goal": "x"}}, "五定缺少"),
        ({"plan": {**_plan("2999-01-01")}}, "不能晚于办理期限"),
        ({"plan": {**_plan("明天")}}, "须是日期"),
        ({"plan": {**_plan("2026-01-01"), "extra": "x"}}, "不认识"),
        ({"plan": _plan("2026-01-01"), "colour": "red"}, "不认识这些参数"),
    ]:
        before = _snapshot(number)
        with pytest.raises(InvalidInput) as caught:
            perform(order(number), "plan", actor, **params)
        assert words in caught.value.message
        assert _snapshot(number) == before
    for days in (0, 31, "x", True):
        with pytest.raises(InvalidInput):
            perform(order(number), "extend", actor, reason="需要时间", days=days)
    with pytest.raises(InvalidInput) as caught:
        perform(order(number), "extend", actor, days=3)
    assert "原因" in caught.value.message


# --- optimistic locking -----------------------------------------------------------------------

def test_two_sessions_act_at_once_and_exactly_one_wins(app):
    with app.app_context():
        number = submit(app, "S06")
        first = make_user("handler", unit_code="union", name="张三").id
        second = make_user("handler", unit_code="union", name="李四").id
    with app.app_context():
        mine = order(number)
        me = staff_actor(db.session.get(User, first))
        with app.app_context():  # another request, another session, same order
            theirs = order(number)
            assert theirs is not mine
            perform(theirs, "accept", staff_actor(db.session.get(User, second)))
        with pytest.raises(Conflict) as caught:
            perform(mine, "return", me, reason="不属于本单位")
        assert caught.value.message == "该订单刚刚被 李四（江北区总工会） 修改，请刷新后再操作。"
        assert caught.value.status == 409
        placed = order(number)
        assert placed.state == "accepted" and placed.updated_by == "李四（江北区总工会）"
        assert [e.action for e in placed.events] == ["submit", "dispatch", "accept"]


def test_api_refuses_a_stale_expected_version(app, client):
    number, _answers = _api_submit(app, client, "S06")
    with app.app_context():
        first = make_user("handler", unit_code="union", name="张三").id
        second = make_user("handler", unit_code="union", name="李四").id
    a, b = app.test_client(), app.test_client()
    login(a, first)
    login(b, second)
    seen_by_a = a.get(f"/api/v1/orders/{number}").get_json()["version"]
    seen_by_b = b.get(f"/api/v1/orders/{number}").get_json()["version"]
    _act(b, number, "accept", expectedVersion=seen_by_b)
    body = _act(a, number, "return", 409, reason="不属于本单位", expectedVersion=seen_by_a)
    assert body["error"] == "该订单刚刚被 李四（江北区总工会） 修改，请刷新后再操作。"
    assert "expectedVersion" in _act(a, number, "accept", 422, expectedVersion="1")["error"]
    assert "不认识" in _act(a, number, "extend", 422, order=1, reason="x", days=1)["error"]


def test_an_api_action_in_a_staff_session_takes_only_json(app, client):
    # What a page of another site can make a browser send with the staff member's cookies (a plain
    # form; no CSRF token is asked of API clients) changes nothing.
    number, _answers = _api_submit(app, client, "S06")
    with app.app_context():
        login(client, make_user("handler", unit_code="union").id)
    before = client.get(f"/api/v1/orders/{number}").get_json()
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        response = client.post(f"/api/v1/orders/{number}/actions/accept", data="{}", content_type=content_type)
        assert response.status_code == 415, content_type
    assert client.get(f"/api/v1/orders/{number}").get_json() == before
    assert _act(client, number, "accept")["state"] == "accepted"  # the same, as JSON


# --- the record -------------------------------------------------------------------------------

def test_events_are_append_only(ctx):
    submit(ctx, "S06")
    event = db.session.scalars(select(OrderEvent)).first()
    event.reason = "改写历史"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(OrderEvent)).first())
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_each_transition_appends_exactly_one_event_with_the_actor(ctx):
    number = submit(ctx, "S06")
    handler = make_user("handler", unit_code="union", name="张三")
    before = event_count(number)
    perform(order(number), "accept", staff_actor(handler))
    assert event_count(number) == before + 1
    event = order(number).events[-1]
    assert (event.from_state, event.to_state, event.actor_user_id) == ("dispatched", "accepted", handler.id)
    assert event.actor_label == "张三（江北区总工会）" and event.data["by"] == "江北区总工会"
    assert order(number).updated_by == "张三（江北区总工会）"


# --- deadlines --------------------------------------------------------------------------------

def test_extension_moves_the_deadline_in_working_days_and_the_resident_sees_why(app, client, monkeypatch):
    number, answers = _api_submit(app, client, "S06")
    with app.app_context():
        handler = make_user("handler", unit_code="union")
        perform(order(number), "accept", staff_actor(handler))
        placed = order(number)
        placed.deadline = date(2026, 9, 29)
        db.session.commit()
        monkeypatch.setattr(calendar, "today", lambda: date(2026, 9, 29))  # the last day still counts
        perform(order(number), "extend", staff_actor(db.session.get(User, handler.id)),
                reason="需与用人单位协商培训时间", days=2)
        assert order(number).deadline == date(2026, 10, 8)  # 9-30, then 10-8 after 国庆
    resident = app.test_client()
    page = prove_phone(resident, number, answers["phone"]).get_data(as_text=True)
    assert "延期原因：需与用人单位协商培训时间" in page and "2026-10-08" in page


def test_extension_is_refused_after_the_deadline(ctx):
    number = submit(ctx, "S06")
    handler = make_user("handler", unit_code="union")
    perform(order(number), "accept", staff_actor(handler))
    placed = order(number)
    placed.deadline = calendar.today() - timedelta(days=1)
    db.session.commit()
    before = _snapshot(number)
    with pytest.raises(Conflict) as caught:
        perform(order(number), "extend", staff_actor(handler), reason="来不及", days=5)
    assert "已过，不能再延期" in caught.value.message
    assert _snapshot(number) == before
    assert "extend" not in {t.action for t in allowed_actions(order(number), staff_actor(handler))}


# --- privacy and access -----------------------------------------------------------------------

def test_resident_reads_own_order_by_phone_and_never_anothers(app, client):
    mine, my_answers = _api_submit(app, client, "S06", phone="13900001111")
    theirs, _ = _api_submit(app, client, "S05", phone="13900002222")
    own = client.get(f"/api/v1/orders/{mine}", headers={"X-Tracking-Phone": "13900001111"})
    assert own.status_code == 200 and own.get_json()["stateName"] == "已派单"
    assert "updatedBy" not in own.get_json() and "answers" not in own.get_json()
    for number, phone in [(theirs, "13900001111"), ("JB260101ABCDEF", "13900001111"), (mine, "13900002222")]:
        response = client.get(f"/api/v1/orders/{number}", headers={"X-Tracking-Phone": phone})
        assert response.status_code == 404, number
        assert client.get(f"/api/v1/orders/{number}/events", headers={"X-Tracking-Phone": phone}).status_code == 404
    assert client.get(f"/api/v1/orders/{mine}").status_code == 401
    assert client.post(f"/api/v1/orders/{mine}/actions/cancel", json={}).status_code == 401
    wrong = client.post(f"/api/v1/orders/{theirs}/actions/cancel", json={},
                        headers={"X-Tracking-Phone": "13900001111"})
    assert wrong.status_code == 404
    with app.app_context():
        assert order(theirs).state == "dispatched"


def test_resident_pages_act_only_after_this_browser_proved_the_phone(app, client):
    mine, my_answers = _api_submit(app, client, "S06", phone="13900001111")
    theirs, _ = _api_submit(app, client, "S05", phone="13900002222")
    browser = app.test_client()
    assert browser.post(f"/track/{mine}/cancel", data={}).status_code == 404  # not proved yet
    assert prove_phone(browser, theirs, "13900001111").status_code == 422     # wrong phone
    assert browser.post(f"/track/{theirs}/cancel", data={}).status_code == 404
    prove_phone(browser, mine, "13900001111")
    assert browser.post(f"/track/{theirs}/cancel", data={}).status_code == 404  # proving one proves no other
    assert browser.post("/track/JB260101ZZZZZZ/cancel", data={}).status_code == 404
    with app.app_context():
        assert order(theirs).state == "dispatched"
    assert browser.post(f"/track/{mine}/cancel", data={"reason": "已自行解决"}).status_code == 303
    with app.app_context():
        assert order(mine).state == "cancelled"


def test_resident_cannot_cancel_after_acceptance(app, client):
    number, answers = _api_submit(app, client, "S06")
    with app.app_context():
        perform(order(number), "accept", staff_actor(make_user("handler", unit_code="union")))
    browser = app.test_client()
    page = prove_phone(browser, number, answers["phone"]).get_data(as_text=True)
    assert "<h2>撤销申请</h2>" not in page
    result = browser.post(f"/track/{number}/cancel", data={}, follow_redirects=True).get_data(as_text=True)
    assert "不能“撤销”" in result
    with app.app_context():
        assert order(number).state == "accepted"


def test_status_page_shows_the_order_without_staff_names(app, client):
    number, answers = _api_submit(app, client, "S06")
    with app.app_context():
        handler = make_user("handler", unit_code="union", name="赵秘密")
        perform(order(number), "accept", staff_actor(handler))
    page = prove_phone(app.test_client(), number, answers["phone"]).get_data(as_text=True)
    assert "当前状态：<strong>已签收</strong>" in page
    assert "承办单位：江北区总工会" in page and "办理期限：" in page
    assert "签收" in page and "自动派单" in page
    assert "赵秘密" not in page


def test_staff_must_log_in_and_stay_in_their_scope(app, client):
    number, _answers = _api_submit(app, client, "S06")
    with app.app_context():
        other = make_user("handler", unit_code="women").id
        dispatcher = make_user("dispatcher").id
    staff = app.test_client()
    assert staff.post(f"/api/v1/orders/{number}/actions/accept", json={}).status_code == 401
    login(staff, other)
    assert staff.get(f"/api/v1/orders/{number}").status_code == 404  # outside the unit's scope
    login(staff, dispatcher)
    assert "无权" in _act(staff, number, "accept", 403)["error"]
    assert staff.post(f"/api/v1/orders/{number}/actions/fly", json={}).status_code == 404
    events = staff.get(f"/api/v1/orders/{number}/events").get_json()["events"]
    assert [e["action"] for e in events] == ["submit", "dispatch"]
    assert events[1]["ruleId"] == "union-items"


def test_csrf_protects_the_resident_forms(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        number = submit(app, "S06")
        phone = order(number).submission.answers["phone"]
    browser = app.test_client()
    page = browser.get("/track").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    page = browser.post("/track", data={"number": number, "phone": phone, "csrf_token": token})
    html = page.get_data(as_text=True)
    assert "<h2>撤销申请</h2>" in html
    assert browser.post(f"/track/{number}/cancel", data={}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert browser.post(f"/track/{number}/cancel", data={"csrf_token": token}).status_code == 303


# --- 销号 attachments -------------------------------------------------------------------------

def _in_progress(app) -> tuple[str, User]:
    number = submit(app, "S06")
    handler = make_user("handler", unit_code="union")
    perform(order(number), "accept", staff_actor(handler))
    perform(order(number), "plan", staff_actor(handler), plan=_plan(order(number).deadline.isoformat()))
    return number, handler


def test_complete_stores_an_attachment_under_a_random_name(ctx):
    number, handler = _in_progress(ctx)
    upload = FileStorage(io.BytesIO(b"%PDF-1.4 minimal"), filename="../../办结报告.pdf")
    perform(order(number), "complete", staff_actor(handler), result_note="已办结", attachment=upload)
    placed = order(number)
    assert placed.attachment_name == "办结报告.pdf"
    assert re.fullmatch(r"attachments/[0-9a-f]{32}\.pdf", placed.attachment_path)
    assert (Path(ctx.instance_path) / placed.attachment_path).read_bytes() == b"%PDF-1.4 minimal"


@pytest.mark.parametrize("filename, content, words", [
    ("run.exe", b"MZ", "只能是"),
    ("fake.png", b"%PDF-1.4", "不符"),
    ("big.pdf", b"%PDF-" + b"x" * 200, "不能超过"),
])
def test_complete_refuses_bad_attachments(make_app, filename, content, words):
    app = make_app(MAX_ATTACHMENT_BYTES=100)
    with app.app_context():
        number, handler = _in_progress(app)
        before = _snapshot(number)
        with pytest.raises(InvalidInput) as caught:
            perform(order(number), "complete", staff_actor(handler), result_note="已办结",
                    attachment=FileStorage(io.BytesIO(content), filename=filename))
        assert words in caught.value.message
        assert _snapshot(number) == before
