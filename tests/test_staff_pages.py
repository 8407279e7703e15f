"""The staff pages: walk-in, the dispatch queue, the handler workbench and order page, the board."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from qunti.db import db
from qunti.orders.models import Order, OrderEvent

from helpers import example_answers
from users import ensure_unit, login, make_order, make_user


def reload(order_id: int) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


def act(client, order, action, **data):
    data.setdefault("expected_version", order.lock_version)
    return client.post(f"/staff/orders/{order.id}/do/{action}", data=data, content_type="multipart/form-data")


def flashes(client) -> str:
    with client.session_transaction() as session:
        return " ".join(message for _, message in session.get("_flashes", []))


@pytest.fixture
def handler(ctx):
    return make_user("handler", unit_code="justice")


@pytest.fixture
def working(ctx):
    """A dispatched order of the handler's unit with ten days left."""
    return make_order("S05", unit_code="justice", deadline=date.today() + timedelta(days=10),
                      accept_by=date.today() + timedelta(days=1))


# --- handler workbench ---------------------------------------------------------------------------

def test_workbench_lists_my_unit_only_overdue_first(client, handler):
    ensure_unit("women", kind="organization")
    later = make_order("S05", unit_code="justice", deadline=date.today() + timedelta(days=9))
    soon = make_order("S05", unit_code="justice", deadline=date.today() + timedelta(days=1))
    late = make_order("S05", unit_code="justice", deadline=date.today() - timedelta(days=1), overdue=True)
    other = make_order("S10", unit_code="women")
    login(client, handler)
    page = client.get("/staff/orders").get_data(as_text=True)
    positions = [page.index(o.number) for o in (late, soon, later)]
    assert positions == sorted(positions)
    assert other.number not in page
    assert "已逾期" in page and "临近期限" in page


def test_accept_plan_complete_with_attachment(client, handler, working, app):
    login(client, handler)
    response = act(client, working, "accept")
    assert response.status_code == 303 and "已签收" in flashes(client)
    order = reload(working.id)
    assert order.state == "accepted" and order.accepted_at is not None

    plan = {"goal": "一个月内讨回工资", "task": "代写仲裁申请书", "people": "王律师、社工小陈",
            "deadline": (date.today() + timedelta(days=5)).isoformat(), "unit": "justice", "person": "王律师"}
    assert act(client, order, "plan", **plan).status_code == 303
    order = reload(working.id)
    assert order.state == "in_progress" and order.plan["person"] == "王律师"

    pdf = (io.BytesIO(b"%PDF-1.4 result"), "结案报告.pdf")
    assert act(client, order, "complete", result_note="已调解，工资到账", attachment=pdf).status_code == 303
    order = reload(working.id)
    assert order.state == "completed" and order.result_note == "已调解，工资到账"
    download = client.get(f"/staff/orders/{order.id}/attachment")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 result"
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()
    actions = [e.action for e in db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id))]
    assert actions == ["accept", "plan", "complete"]
    page = client.get(f"/staff/orders/{order.id}").get_data(as_text=True)
    assert "结案报告.pdf" in page and "一个月内讨回工资" in page


def test_stale_version_is_a_conflict_flash_and_changes_nothing(client, handler, working):
    login(client, handler)
    response = act(client, working, "accept", expected_version=working.lock_version - 1)
    assert response.status_code == 303
    assert "该订单刚刚被" in flashes(client)
    assert reload(working.id).state == "dispatched"


def test_two_handlers_accepting_at_once_one_wins(client, handler, working, app):
    version = working.lock_version
    login(client, handler)
    assert act(client, working, "accept", expected_version=version).status_code == 303
    other = app.test_client()
    login(other, make_user("handler", unit_code="justice"))
    response = other.post(f"/staff/orders/{working.id}/do/accept", data={"expected_version": version})
    assert response.status_code == 303
    with other.session_transaction() as session:
        assert "该订单刚刚被" in " ".join(m for _, m in session["_flashes"])


def test_missing_reason_re_renders_with_a_chinese_error(client, handler, working):
    login(client, handler)
    response = act(client, working, "return", reason="")
    assert response.status_code == 422
    assert "请填写理由" in response.get_data(as_text=True)
    assert reload(working.id).state == "dispatched"


def test_engine_refusal_keeps_what_was_typed(client, handler, working):
    login(client, handler)
    act(client, working, "accept")
    order = reload(working.id)
    late = (order.deadline + timedelta(days=3)).isoformat()
    response = act(client, order, "plan", goal="目标甲", task="任务乙", people="丙", deadline=late,
                   unit="justice", person="丁")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "不能晚于办理期限" in page and "目标甲" in page
    assert reload(working.id).state == "accepted"


def test_return_transfer_and_extend(client, handler, ctx):
    ensure_unit("hr-social-security")
    login(client, handler)
    back = make_order("S05", unit_code="justice")
    assert act(client, back, "return", reason="不属于本单位职责").status_code == 303
    assert reload(back.id).state == "awaiting_dispatch"

    moved = make_order("S05", unit_code="justice", deadline=date.today() + timedelta(days=5))
    response = act(client, moved, "transfer", reason="涉及欠薪，转人社局", unit_code="hr-social-security")
    # The order left the unit: back to the list, not to a page the handler can no longer open.
    assert response.headers["Location"].endswith("/staff/orders")
    assert reload(moved.id).unit_code == "hr-social-security"

    longer = make_order("S05", unit_code="justice", state="accepted", deadline=date.today() + timedelta(days=2))
    assert act(client, longer, "extend", reason="需等待鉴定结论", days="5").status_code == 303
    assert reload(longer.id).deadline > date.today() + timedelta(days=2)


def test_an_action_not_allowed_is_a_flash_not_an_error(client, handler, working):
    login(client, handler)
    response = act(client, working, "confirm")
    assert response.status_code == 303 and "无权" in flashes(client)
    assert client.post(f"/staff/orders/{working.id}/do/no-such-action", data={"expected_version": 1}).status_code == 404


def test_typed_text_is_escaped_on_the_order_page(client, handler, ctx):
    order = make_order("S05", unit_code="justice", state="completed", result_note="<script>alert(1)</script>")
    login(client, handler)
    page = client.get(f"/staff/orders/{order.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- the dispatch queue ------------------------------------------------------------------------

def queued(app, **answers):
    """A real wage-arrears order routed by the rules into the joint meeting's queue."""
    from qunti import intake
    from qunti.forms.registry import current_version
    version = current_version("rights-protection")
    data = {**example_answers(app, "rights-protection"), **answers}
    submission = intake.accept(version, data, channel="online", service_item_code="S11")
    return db.session.scalar(select(Order).where(Order.submission_id == submission.id))


def test_queue_shows_suggestion_reason_and_confirms(client, app, ctx):
    order = queued(app, issueType="wage_arrears", affectedWorkers=45)
    if order.state != "awaiting_dispatch":
        pytest.skip("the shipped rules dispatched this order automatically")
    login(client, make_user("dispatcher"))
    page = client.get("/staff/dispatch").get_data(as_text=True)
    assert order.number in page and "作为民生实事报区委区政府" in page
    assert "answers.affectedWorkers" in page  # the condition that held
    assert ">确认派单<" in page and ">改派<" in page and ">报民生实事<" in page
    response = client.post(f"/staff/orders/{order.id}/do/confirm",
                           data={"expected_version": order.lock_version, "next": "/staff/dispatch"})
    assert response.headers["Location"].endswith("/staff/dispatch")
    assert reload(order.id).state == "dispatched" and reload(order.id).unit_code == "district"


def test_override_needs_a_reason_and_a_unit(client, app, ctx):
    order = queued(app, issueType="wage_arrears", affectedWorkers=45)
    if order.state != "awaiting_dispatch":
        pytest.skip("the shipped rules dispatched this order automatically")
    login(client, make_user("dispatcher"))
    assert act(client, order, "override", reason="", unit_code="hr-social-security").status_code == 422
    assert act(client, order, "override", reason="个案处理即可", unit_code="hr-social-security").status_code == 303
    order = reload(order.id)
    assert (order.state, order.unit_code, order.route_class) == ("dispatched", "hr-social-security", "transfer")


# --- station walk-in ----------------------------------------------------------------------------

def formdata_of(form) -> MultiDict:
    """What a browser would post for a bound generated form (its fields as they render)."""
    data = MultiDict()

    def walk(fields):
        for f in fields:
            if f.type in ("CSRFTokenField", "SubmitField"):
                continue
            if hasattr(f, "entries"):
                walk(f.entries)
            elif hasattr(f, "form") and not callable(getattr(f, "form")):
                walk(f.form)
            elif isinstance(f.data, bool):
                if f.data:
                    data.add(f.name, "y")
            elif isinstance(f.data, (list, tuple)):
                for value in f.data:
                    data.add(f.name, str(value))
            elif f.data is not None:
                data.add(f.name, f._value() if hasattr(f, "_value") else str(f.data))
    walk(form)
    return data


def test_station_staff_file_by_phone_for_a_resident(client, app, ctx):
    from qunti.forms.registry import compiled_version, current_version
    staff = make_user("station_staff", station_code="gangcheng")
    login(client, staff)
    assert "站点代办" in client.get("/staff/walkin").get_data(as_text=True)
    form_page = client.get("/staff/walkin/S05/phone")
    assert form_page.status_code == 200 and "电话" in form_page.get_data(as_text=True)
    compiled = compiled_version(current_version("legal-consultation"))
    bound = compiled.bind(data=example_answers(app, "legal-consultation"), meta={"csrf": False})
    response = client.post("/staff/walkin/S05/phone", data=formdata_of(bound))
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    order = db.session.scalar(select(Order).order_by(Order.id.desc()))
    assert (order.channel, order.station_code, order.filed_by_user_id) == ("phone", "gangcheng", staff.id)
    assert response.headers["Location"].endswith(f"/staff/orders/{order.id}")
    assert "已代为受理" in flashes(client)
    assert client.get(f"/staff/orders/{order.id}").status_code == 200


def test_walkin_form_errors_stay_on_the_page(client, ctx):
    login(client, make_user("station_staff"))
    response = client.post("/staff/walkin/S05/station", data={})
    assert response.status_code == 422 and "请修改" in response.get_data(as_text=True)


def test_walkin_rejects_other_channels_and_unknown_items(client, ctx):
    login(client, make_user("station_staff"))
    assert client.get("/staff/walkin/S05/online").status_code == 404
    assert client.get("/staff/walkin/S99/station").status_code == 404


# --- the public board ---------------------------------------------------------------------------

def test_board_is_public_and_shows_no_personal_data(client, app, ctx):
    answers = example_answers(app, "legal-consultation")
    posted = make_order("S05", unit_code="justice", community="港城社区")
    closed = make_order("S05", unit_code="justice", state="completed", community="石子山社区")
    closed.completed_at = closed.created_at
    db.session.commit()
    response = client.get("/board")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert posted.number[:6] in page and posted.number not in page  # masked
    assert "港城社区" in page and "已派单" in page
    for value in (answers.get("name"), answers.get("phone")):
        if value:
            assert str(value) not in page
    closed_page = client.get("/board?show=closed").get_data(as_text=True)
    assert "石子山社区" in closed_page and "港城社区</td>" not in closed_page


def test_board_filters_by_community(client, ctx):
    make_order("S05", unit_code="justice", community="港城社区")
    make_order("S05", unit_code="justice", community="和韵家园社区")
    page = client.get("/board", query_string={"community": "和韵家园社区"}).get_data(as_text=True)
    assert re.search(r"<td>和韵家园社区</td>", page) and "<td>港城社区</td>" not in page


def test_actions_need_the_csrf_token_from_the_page(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        user = make_user("handler", unit_code="justice")
        order = make_order("S05", unit_code="justice", deadline=date.today() + timedelta(days=5))
        order_id, version = order.id, order.lock_version
        login(client, user)
    refused = client.post(f"/staff/orders/{order_id}/do/accept", data={"expected_version": version})
    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    page = client.get(f"/staff/orders/{order_id}").get_data(as_text=True)
    form = page[page.index(f'action="/staff/orders/{order_id}/do/accept"'):]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    assert f'name="expected_version" type="hidden" value="{version}"' in form
    accepted = client.post(f"/staff/orders/{order_id}/do/accept", data={"expected_version": version, "csrf_token": token})
    assert accepted.status_code == 303
    with app.app_context():
        assert db.session.get(Order, order_id).state == "accepted"


@pytest.mark.parametrize("role, binding, stats_url", [
    ("station_staff", {"station_code": "heyun"}, "/stats/station/heyun"),
    ("dispatcher", {}, "/stats/"),
    ("org_admin", {"organization": "union"}, "/stats/"),
    ("sys_admin", {}, "/stats/"),
    ("handler", {"unit_code": "justice"}, None),
    ("brand_lead", {}, None),
])
def test_the_staff_home_links_the_ledgers_and_the_statistics_the_role_may_read(client, ctx, role, binding, stats_url):
    login(client, make_user(role, **binding))
    home = client.get("/staff/").get_data(as_text=True)
    assert 'href="/ledgers/"' in home
    assert client.get("/ledgers/").status_code == 200
    links = set(re.findall(r'href="(/stats/[^"]*)"', home))
    assert links == ({stats_url} if stats_url else set())
    if stats_url:
        assert client.get(stats_url).status_code == 200
