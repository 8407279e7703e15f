"""Every staff route × every role: who is let in, who is turned away.

The routes are read from ``app.url_map``; a staff route missing from MATRIX fails the test, so a new
page cannot ship without deciding who may open it.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from qunti.accounts.access import scope_orders
from qunti.db import db
from qunti.orders.models import Order

from users import ensure_unit, forget_request_state, login, make_order, make_user

ROLES = ("anonymous", "resident", "station_staff", "dispatcher", "handler", "other_handler", "brand_lead",
         "org_admin", "sys_admin")
ORDER_READERS = {"station_staff", "dispatcher", "handler", "org_admin", "sys_admin"}

# endpoint -> (method, path with {order} for the order's id, roles let in)
MATRIX = {
    "staff.index": ("GET", "/staff/", ORDER_READERS | {"brand_lead", "other_handler"}),
    "staff.orders": ("GET", "/staff/orders", ORDER_READERS | {"other_handler"}),
    "staff.order": ("GET", "/staff/orders/{order}", ORDER_READERS),
    "staff.attachment": ("GET", "/staff/orders/{order}/attachment", ORDER_READERS),
    # Let in = the action took effect; the route lets in every order reader, the engine decides.
    "staff.act": ("POST", "/staff/orders/{order}/do/accept", {"handler", "sys_admin"}),
    "staff.dispatch_queue": ("GET", "/staff/dispatch", {"dispatcher", "sys_admin"}),
    "staff.walkin": ("GET", "/staff/walkin", {"station_staff"}),
    "staff.walkin_form": ("GET", "/staff/walkin/S05/station", {"station_staff"}),
    "staff.reports": ("GET", "/staff/reports", {"dispatcher", "org_admin", "sys_admin"}),
    "staff.reports_csv": ("GET", "/staff/reports.csv", {"dispatcher", "org_admin", "sys_admin"}),
    "staff.reports_xlsx": ("GET", "/staff/reports.xlsx", {"dispatcher", "org_admin", "sys_admin"}),
}


def test_every_staff_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("staff.")}
    assert endpoints == set(MATRIX), "a staff route was added or removed: decide who may open it in MATRIX"


def test_every_staff_view_checks_the_role(app):
    for endpoint in MATRIX:
        assert getattr(app.view_functions[endpoint], "allowed_roles", None), f"{endpoint} has no role check"


@pytest.fixture
def people(ctx):
    ensure_unit("justice")
    ensure_unit("civil-affairs")
    return {
        "resident": make_user("resident"),
        "station_staff": make_user("station_staff", station_code="gangcheng"),
        "dispatcher": make_user("dispatcher"),
        "handler": make_user("handler", unit_code="justice"),
        "other_handler": make_user("handler", unit_code="civil-affairs"),
        "brand_lead": make_user("brand_lead", organization="union"),
        "org_admin": make_user("org_admin", organization="union"),  # S05 is a union item
        "sys_admin": make_user("sys_admin"),
    }


def fresh_order(people, app):
    """A dispatched S05 order of unit justice filed at station gangcheng for the resident, with an
    attachment on file."""
    order = make_order("S05", unit_code="justice", station_code="gangcheng",
                       resident_user_id=people["resident"].id, deadline=date.today() + timedelta(days=5),
                       attachment_name="a.pdf", attachment_path="attachments/matrix.pdf")
    folder = Path(app.instance_path) / "attachments"
    folder.mkdir(exist_ok=True)
    (folder / "matrix.pdf").write_bytes(b"%PDF-1.4")
    return order


def outcome(client, method, path, order, endpoint) -> str:
    forget_request_state()
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={"expected_version": order.lock_version})
    response.close()  # file downloads hold the file open until closed
    status = response.status_code
    assert status < 500, f"{endpoint} answered {status}"
    if status in (403, 404) or (status == 302 and "/login" in response.headers.get("Location", "")):
        return "deny"
    if endpoint == "staff.act":
        db.session.expire_all()
        return "allow" if db.session.get(Order, order.id).state == "accepted" else "deny"
    assert status == 200, f"{endpoint} answered {status}"
    return "allow"


def test_every_route_by_every_role(app, people):
    """One walk over the whole matrix (one app set-up); every mismatch is listed at the end."""
    wrong = []
    for endpoint, (method, template, allowed) in sorted(MATRIX.items()):
        order = fresh_order(people, app)
        for role in ROLES:
            if method != "GET":
                order = fresh_order(people, app)  # each role tries on an untouched order
            client = app.test_client()
            if role != "anonymous":
                login(client, people[role])
            got = outcome(client, method, template.format(order=order.id), order, endpoint)
            expected = "allow" if role in allowed else "deny"
            if got != expected:
                wrong.append(f"{endpoint} as {role}: {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_a_resident_cannot_read_orders_by_guessing_ids(app, people):
    mine = fresh_order(people, app)
    theirs = make_order("S05", unit_code="justice", resident_user_id=make_user("resident").id)
    client = app.test_client()
    login(client, people["resident"])
    for order in (mine, theirs):
        for path in (f"/staff/orders/{order.id}", f"/staff/orders/{order.id}/attachment"):
            response = client.get(path)
            assert response.status_code == 403 and theirs.number not in response.get_data(as_text=True)
    seen = db.session.scalars(scope_orders(select(Order), people["resident"])).all()
    assert [o.id for o in seen] == [mine.id]
    # The public tracking page wants the phone as well as the number.
    page = client.get(f"/track/{theirs.number}").get_data(as_text=True)
    assert "受理时间" not in page and "手机号" in page


def test_out_of_scope_ids_look_like_missing_ones(app, people):
    order = fresh_order(people, app)
    client = app.test_client()
    login(client, people["other_handler"])
    assert client.get(f"/staff/orders/{order.id}").status_code == 404
    assert client.get("/staff/orders/999999").status_code == 404
    assert client.post(f"/staff/orders/{order.id}/do/accept", data={"expected_version": 1}).status_code == 404


@pytest.mark.parametrize("role,sees", [
    ("handler", {"mine"}), ("other_handler", {"other"}), ("station_staff", {"mine"}),
    ("org_admin", {"mine", "women_joint"}), ("dispatcher", {"mine", "other", "women_only"}),
])
def test_scope_orders_per_role(app, people, role, sees):
    ensure_unit("women", kind="organization")
    orders = {
        "mine": fresh_order(people, app),                                    # S05 union item, justice
        "other": make_order("S10", unit_code="civil-affairs"),               # S10 women item
        "women_joint": make_order("S01", unit_code="women"),                 # S01 joint item
        "women_only": make_order("S10", unit_code="women"),
    }
    if role == "dispatcher":
        sees = set(orders)
    seen = {o.id for o in db.session.scalars(scope_orders(select(Order), people[role]))}
    assert seen == {orders[name].id for name in sees}
