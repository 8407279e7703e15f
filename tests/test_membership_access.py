"""Every membership and information staff route × every role, wrong organizations included: who is
let in, who is turned away (403, 404 or the login page, never a page or a 500), and that a turned
away POST changes nothing. Plus CSRF: every POST form of these pages carries the token, and a POST
without it is refused.

The routes are read from ``app.url_map``; a route of ``member_staff`` or ``info_staff`` missing from
CASES fails the test, so a new page cannot ship without deciding who may open it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.membership.models import (
    InfoPost, JoinApplication, JoinCode, Membership, Organization, TransferRequest)

from membership_helpers import ID_B, PHONE_B, decide, join, prove, setup_organizations, union_handler
from users import forget_request_state, login, make_user

ROLES = ("anonymous", "resident", "station_staff", "other_station", "dispatcher", "handler", "other_handler",
         "brand_lead", "org_admin", "other_org_admin", "sys_admin")
CASE_READERS = {"station_staff", "dispatcher", "handler", "org_admin", "sys_admin"}
LISTS = CASE_READERS | {"other_station", "other_handler", "other_org_admin"}  # each sees its own rows
DECIDERS = {"handler", "sys_admin"}
ADMINS = {"org_admin", "sys_admin"}
CODE_MAKERS = {"station_staff", "other_station", "brand_lead", "org_admin", "other_org_admin", "sys_admin"}
CODE_OWNERS = {"station_staff", "org_admin", "sys_admin"}  # of a 港城 station code for 港城联合工会

# (method, path, roles let in); {application}, {transfer}, {membership}, {code}, {post} are filled in.
CASES = [
    ("GET", "/staff/membership/", LISTS),
    ("GET", "/staff/membership/applications", LISTS),
    ("GET", "/staff/membership/applications/{application}", CASE_READERS),
    ("POST", "/staff/membership/applications/{application}/decline", DECIDERS),
    ("POST", "/staff/membership/applications/{application}/approve", DECIDERS),
    ("GET", "/staff/membership/transfers", LISTS),
    ("GET", "/staff/membership/transfers/{transfer}", CASE_READERS - {"station_staff"}),  # filed online
    ("POST", "/staff/membership/transfers/{transfer}/refuse", DECIDERS),
    ("POST", "/staff/membership/transfers/{transfer}/accept", DECIDERS),
    ("GET", "/staff/membership/members", {"handler", "org_admin", "other_org_admin", "sys_admin"}),
    ("GET", "/staff/membership/members.csv", {"org_admin", "other_org_admin"}),
    ("GET", "/staff/membership/members.xlsx", {"org_admin", "other_org_admin"}),
    ("POST", "/staff/membership/members/{membership}/revoke", ADMINS),
    ("GET", "/staff/membership/codes", CODE_MAKERS),
    ("POST", "/staff/membership/codes", CODE_MAKERS),
    ("GET", "/staff/membership/codes/{code}/poster", CODE_OWNERS),
    ("GET", "/staff/membership/codes/{code}.svg", CODE_OWNERS),
    ("GET", "/staff/membership/codes/{code}.png", CODE_OWNERS),
    ("POST", "/staff/membership/codes/{code}/revoke", CODE_OWNERS),
    ("GET", "/staff/membership/organizations", ADMINS | {"other_org_admin"}),
    ("POST", "/staff/membership/organizations", ADMINS | {"other_org_admin"}),
    ("POST", "/staff/membership/organizations/gangcheng-union/toggle", ADMINS),
    ("GET", "/staff/info/course", ADMINS | {"other_org_admin"}),
    ("GET", "/staff/info/course/new", ADMINS | {"other_org_admin"}),
    ("POST", "/staff/info/course/new", ADMINS | {"other_org_admin"}),
    ("GET", "/staff/info/course/{post}/edit", ADMINS),
    ("POST", "/staff/info/course/{post}/edit", ADMINS),
    ("POST", "/staff/info/posts/{post}/withdraw", ADMINS),
    ("GET", "/staff/info/posts/{post}/signups", ADMINS),
]
# What each POST sends: enough for the action to succeed for a role that is let in.
FORMS = {"decline": {"reason": "资料不全"}, "refuse": {"reason": "暂不接收"}, "revoke": {"reason": "本人申请退会"},
         "codes": {"purpose": "join", "organization": "gangcheng-union"},
         "organizations": {"code": "test-union", "name": "测试联合工会", "kind": "union"},
         "new": {"title": "电工培训"}, "edit": {"title": "电工培训（修订）"}}


def _rule(app, method: str, path: str):
    adapter = app.url_map.bind("qunti.test")
    rule, _args = adapter.match(re.sub(r"\{\w+\}", "1", path), method=method, return_rule=True)
    return rule


def test_every_membership_staff_route_is_decided(app):
    listed = {(_rule(app, method, path).rule, method) for method, path, _roles in CASES}
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules()
              if rule.endpoint.split(".")[0] in ("member_staff", "info_staff")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == listed, "a membership staff route was added or removed: decide who may open it in CASES"
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("member_staff", "info_staff"):
            assert getattr(app.view_functions[rule.endpoint], "allowed_roles", None), f"{rule.endpoint}: no role check"


@pytest.fixture
def world(app, ctx):
    """People of every role, and one of each thing the routes act on, all of 港城 and the union."""
    setup_organizations()
    people = {
        "resident": make_user("resident"),
        "station_staff": make_user("station_staff", station_code="gangcheng"),
        "other_station": make_user("station_staff", station_code="shizishan"),
        "dispatcher": make_user("dispatcher"),
        "handler": union_handler(),
        "other_handler": make_user("handler", unit_code="justice"),
        "brand_lead": make_user("brand_lead", organization="union"),
        "org_admin": make_user("org_admin", organization="union"),
        "other_org_admin": make_user("org_admin", organization="league"),
        "sys_admin": make_user("sys_admin"),
    }
    staff = app.test_client()
    login(staff, people["station_staff"])
    staff.post("/staff/membership/codes", data={"purpose": "join", "organization": "gangcheng-union",
                                                "workplace": "重庆港城物流有限公司"})
    code = db.session.scalar(select(JoinCode))
    from qunti.membership import codes
    member = app.test_client()
    number = join(member)  # becomes a member, then asks to transfer
    decide(member, people["handler"], number)
    prove(member, number)
    membership = db.session.scalar(select(Membership))
    member.post(f"/member/transfer/{membership.id}", data={"to": "guanyinqiao-union", "reason": "工作单位变动"})
    with app.test_request_context():
        link = "/j/" + codes.token_for(code)
    pending = join(app.test_client(), url=link, idNumber=ID_B, phone=PHONE_B, name="张建国")
    publisher = app.test_client()
    login(publisher, people["org_admin"])
    publisher.post("/staff/info/course/new", data={"title": "电工培训", "form_id": "skills-training", "publish": "1"})
    forget_request_state()
    ids = {"application": db.session.scalar(select(JoinApplication.id).where(JoinApplication.state == "pending")),
           "transfer": db.session.scalar(select(TransferRequest.id)), "membership": membership.id,
           "code": code.id, "post": db.session.scalar(select(InfoPost.id))}
    assert all(ids.values()) and pending
    return people, ids


def fingerprint() -> tuple:
    """Everything the POST routes change."""
    db.session.expire_all()
    return (tuple(db.session.execute(select(JoinApplication.id, JoinApplication.state)).all()),
            tuple(db.session.execute(select(TransferRequest.id, TransferRequest.state)).all()),
            tuple(db.session.execute(select(Membership.id, Membership.status)).all()),
            tuple(db.session.execute(select(JoinCode.id, JoinCode.revoked_at)).all()),
            tuple(db.session.execute(select(Organization.code, Organization.active)).all()),
            tuple(db.session.execute(select(InfoPost.id, InfoPost.title, InfoPost.withdrawn_at)).all()))


def outcome(client, method: str, path: str) -> str:
    forget_request_state()
    action = path.rstrip("/").rsplit("/", 1)[-1]
    response = client.get(path) if method == "GET" else client.post(path, data=FORMS.get(action, {}))
    status = response.status_code
    assert status < 500, f"{method} {path} answered {status}"
    if status in (403, 404) or (status == 302 and "/login" in response.headers.get("Location", "")):
        return "deny"
    assert status in ((200,) if method == "GET" else (303,)), f"{method} {path} answered {status}"
    return "allow"


def test_every_route_by_every_role(app, world):
    """Turned-away roles first (and nothing may change), then the roles let in; every mismatch is
    listed at the end."""
    people, ids = world
    wrong = []
    for method, template, allowed in CASES:
        path = template.format(**ids)
        before = fingerprint()
        for role in sorted(ROLES, key=lambda r: r in allowed):
            if role in allowed and before is not None:
                if fingerprint() != before:
                    wrong.append(f"{method} {path}: a turned-away role changed something")
                before = None
            client = app.test_client()
            if role != "anonymous":
                login(client, people[role])
            got = outcome(client, method, path)
            expected = "allow" if role in allowed else "deny"
            if got != expected:
                wrong.append(f"{method} {path} as {role}: {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_lists_show_only_the_users_own_rows(app, world):
    people, ids = world
    for role, sees in (("org_admin", True), ("other_org_admin", False), ("handler", True), ("other_handler", False),
                       ("station_staff", True), ("other_station", False)):
        client = app.test_client()
        login(client, people[role])
        html = client.get("/staff/membership/applications").get_data(as_text=True)
        assert (f"/staff/membership/applications/{ids['application']}" in html) is sees, role
    for role, sees in (("org_admin", True), ("other_org_admin", False)):
        client = app.test_client()
        login(client, people[role])
        for path in ("/staff/membership/members", "/staff/membership/members.csv"):
            assert ("王*芳" in client.get(path).get_data(as_text=True)) is sees, (role, path)
        assert ("电工培训" in client.get("/staff/info/course").get_data(as_text=True)) is sees, role
        assert ("重庆港城物流有限公司" in client.get("/staff/membership/codes").get_data(as_text=True)) is sees, role


# --- CSRF ---------------------------------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parents[1] / "platform" / "qunti" / "templates" / "membership"


def test_every_post_form_of_the_membership_pages_carries_the_csrf_token():
    found = 0
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for form in re.finditer(r"<form\b[^>]*>.*?</form>", text, flags=re.S | re.I):
            if not re.search(r'method="post"', form.group(0), flags=re.I):
                continue
            found += 1
            assert 'name="csrf_token" value="{{ csrf_token() }}"' in form.group(0), f"{template.name}: {form.group(0)[:80]}"
        # Generated forms (join, sign-up) get their token from the form engine's macro.
        if "render_form(" in text:
            found += 1
            assert "forms/_macros.html" in text
    assert found >= 15


@pytest.fixture
def guarded(make_app):
    return make_app(WTF_CSRF_ENABLED=True)


def test_posts_without_the_token_are_refused_and_change_nothing(guarded):
    app = guarded
    with app.app_context():
        setup_organizations()
        admin = make_user("org_admin", organization="union")
        client = app.test_client()
        login(client, admin)
        before = fingerprint()
        for path, data in (("/staff/membership/codes", FORMS["codes"]),
                           ("/staff/membership/organizations", FORMS["organizations"]),
                           ("/staff/membership/organizations/gangcheng-union/toggle", {}),
                           ("/staff/info/course/new", {"title": "电工培训", "publish": "1"}),
                           ("/join/union/gangcheng-union", {"name": "王小芳"})):
            forget_request_state()
            response = client.post(path, data=data)
            assert response.status_code == 400, path
            assert "页面已过期或来源不明" in response.get_data(as_text=True)
        assert fingerprint() == before
        assert db.session.scalar(select(func.count()).select_from(JoinApplication)) == 0


def test_the_token_on_the_pages_is_accepted(guarded):
    app = guarded
    with app.app_context():
        setup_organizations()
        client = app.test_client()
        login(client, make_user("org_admin", organization="union"))
        page = client.get("/staff/membership/codes").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/staff/membership/codes", data={**FORMS["codes"], "csrf_token": token})
        assert response.status_code == 303
        assert db.session.scalar(select(func.count()).select_from(JoinCode)) == 1
        # The generated join form carries its own token: a resident's join goes through with it.
        forget_request_state()  # Flask-WTF keeps the token of the request in g; this is another visitor
        number = join(app.test_client())
        assert number
