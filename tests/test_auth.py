"""Signing in and out, resident registration, the lockout, CSRF, role checks and the demo accounts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from qunti.accounts import throttle
from qunti.accounts.auth import BAD_LOGIN, LOCKED, REGISTERED
from qunti.accounts.models import ROLE_BINDING, ROLES, User
from qunti.db import db, utcnow
from qunti.directory.models import Station, Unit

from users import PASSWORD, login, make_user


def post_login(client, username, password, **query):
    return client.post("/login", data={"username": username, "password": password}, query_string=query)


def test_staff_login_goes_to_the_workbench(client, ctx):
    user = make_user("handler")
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/")
    page = client.get("/staff/").get_data(as_text=True)
    assert "工作台" in page and "退出" in page and user.display_name in page


def test_the_sign_in_cookies_are_not_sent_with_requests_other_sites_start(client, ctx):
    # SameSite=Lax: the JSON API accepts a staff session without a CSRF token (see qunti.web).
    user = make_user("handler")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("SameSite=Lax" in cookie and "HttpOnly" in cookie for cookie in cookies), cookies


def test_resident_login_goes_to_the_menu_and_sees_no_workbench_link(client, ctx):
    user = make_user("resident", username="13912345678")
    response = post_login(client, "13912345678", PASSWORD)
    assert response.headers["Location"].endswith("/")
    page = client.get("/").get_data(as_text=True)
    assert "退出" in page and "工作台" not in page


def test_wrong_password_and_unknown_user_read_the_same(client, ctx):
    make_user("dispatcher", username="dispatch-a")
    wrong = post_login(client, "dispatch-a", "not-the-password")
    unknown = post_login(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 422
    assert BAD_LOGIN in wrong.get_data(as_text=True) and BAD_LOGIN in unknown.get_data(as_text=True)
    assert wrong.get_data(as_text=True).replace("dispatch-a", "X") == \
        unknown.get_data(as_text=True).replace("nobody-here", "X")


def test_disabled_account_cannot_sign_in(client, ctx):
    user = make_user("handler")
    user.active = False
    db.session.commit()
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 422 and BAD_LOGIN in response.get_data(as_text=True)


def test_lockout_after_repeated_failures_even_with_the_right_password(client, ctx):
    user = make_user("sys_admin", username="root-admin")
    for _ in range(throttle.MAX_FAILURES - 1):
        assert BAD_LOGIN in post_login(client, "Root-Admin ", "wrong").get_data(as_text=True)
    assert LOCKED in post_login(client, "root-admin", "wrong").get_data(as_text=True)
    locked = post_login(client, "root-admin", PASSWORD)
    assert locked.status_code == 422 and LOCKED in locked.get_data(as_text=True)
    # Once the lock has run out the right password works, and success clears the count.
    row = db.session.get(throttle.LoginThrottle, "root-admin")
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_login(client, "root-admin", PASSWORD).status_code == 303
    db.session.expire_all()
    assert db.session.get(throttle.LoginThrottle, "root-admin").failures == 0
    assert user.id


def test_unknown_usernames_lock_the_same_way(client, ctx):
    for _ in range(throttle.MAX_FAILURES):
        post_login(client, "ghost", "wrong")
    assert LOCKED in post_login(client, "ghost", "wrong").get_data(as_text=True)


def test_register_a_resident_with_a_phone(client, ctx):
    response = client.post("/register", data={"phone": "139 0000 1111", "display_name": "李四",
                                              "password": "long-enough-1", "confirm": "long-enough-1"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    user = db.session.scalar(select(User).where(User.username == "13900001111"))
    assert user.role == "resident" and user.phone == "13900001111"
    assert user.password_hash != "long-enough-1" and user.check_password("long-enough-1")
    assert post_login(client, "13900001111", "long-enough-1").status_code == 303


def test_register_does_not_tell_whether_a_phone_is_taken(client, ctx):
    make_user("resident", username="13900002222", phone="13900002222")
    data = {"phone": "13900002222", "display_name": "冒名", "password": "another-pass-2", "confirm": "another-pass-2"}
    taken = client.post("/register", data=data, follow_redirects=True).get_data(as_text=True)
    fresh = client.post("/register", data={**data, "phone": "13900003333"}, follow_redirects=True).get_data(as_text=True)
    assert REGISTERED in taken and REGISTERED in fresh
    assert db.session.scalar(select(func.count()).select_from(User).where(User.username == "13900002222")) == 1
    # The existing account keeps its password.
    assert post_login(client, "13900002222", "another-pass-2").status_code == 422


def test_register_errors_are_in_chinese(client, ctx):
    response = client.post("/register", data={"phone": "12345", "display_name": "", "password": "short",
                                              "confirm": "other"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("请填写 11 位手机号", "请填写称呼", "密码至少 8 位", "两次输入的密码不一致"):
        assert message in page


def test_next_only_redirects_within_the_site(client, ctx):
    user = make_user("dispatcher")
    assert post_login(client, user.username, PASSWORD, next="/staff/dispatch").headers["Location"] == "/staff/dispatch"
    client.post("/logout")
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        location = post_login(client, user.username, PASSWORD, next=evil).headers["Location"]
        assert "evil" not in location
        client.post("/logout")


def test_logout_is_a_post(client, ctx):
    login(client, make_user("handler"))
    assert client.get("/logout").status_code == 405
    response = client.post("/logout", follow_redirects=True)
    assert "您已退出登录" in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_forms_need_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        user = make_user("handler")
        username = user.username
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    ok = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 303
    assert client.post("/logout").status_code == 400  # logout needs the token too


def test_anonymous_staff_page_asks_to_log_in(client, ctx):
    response = client.get("/staff/orders")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


@pytest.mark.parametrize("role", sorted(ROLE_BINDING))
def test_a_role_without_its_binding_is_refused_in_chinese(client, ctx, role):
    user = make_user(role, **{ROLE_BINDING[role]: None})
    login(client, user)
    response = client.get("/staff/")
    assert response.status_code == 403 and "尚未绑定" in response.get_data(as_text=True)


def test_resident_gets_the_chinese_403_page(client, ctx):
    login(client, make_user("resident"))
    response = client.get("/staff/")
    assert response.status_code == 403 and "没有权限" in response.get_data(as_text=True)


def test_demo_accounts_cover_every_role_and_are_idempotent(app, ctx):
    from qunti.accounts.demo import DEMO_PASSWORD, STATIONS, load_demo_accounts
    created = load_demo_accounts()
    db.session.commit()
    assert created > 0 and load_demo_accounts() == 0
    users = list(db.session.scalars(select(User)))
    assert {u.role for u in users} == set(ROLES)
    for user in users:
        field = ROLE_BINDING.get(user.role)
        if field == "unit_code":
            assert db.session.get(Unit, user.unit_code) is not None
        elif field == "station_code":
            assert db.session.get(Station, user.station_code) is not None
        elif field == "organization":
            assert user.organization in ("union", "league", "women")
    assert {s.code: s.lead_organization for s in db.session.scalars(select(Station))} == \
        {"gangcheng": "union", "shizishan": "league", "heyun": "women"}
    assert all(db.session.get(Unit, s.subdistrict_unit).kind == "subdistrict" for s in STATIONS)
    client = app.test_client()
    assert post_login(client, "dispatcher", DEMO_PASSWORD).status_code == 303


def test_load_demo_keeps_its_behaviour_and_adds_accounts(app, ctx):
    from qunti.demo import load_demo
    first = load_demo()
    assert "演示" in first
    accounts = db.session.scalar(select(func.count()).select_from(User))
    assert load_demo() == "演示数据已存在，未做改动。"
    assert db.session.scalar(select(func.count()).select_from(User)) == accounts
