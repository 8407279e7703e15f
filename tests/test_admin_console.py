"""The admin console's catalog pages, users and audit log, through HTTP: Chinese throughout, the
CSP, every change audited in its own transaction, refusals that change nothing, row scopes, no
deletes of what orders point at, and nothing an admin types running as script."""
from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import Blueprint
from sqlalchemy import func, select

from qunti.accounts.models import User
from qunti.admin.models import AuditEntry
from qunti.db import db
from qunti.directory.models import CalendarDay, Station, Unit
from qunti.menu.models import ServiceItem
from qunti.orders.calendar import is_working_day

from admin_helpers import audit_entries, flashes, model_form, signed_in, text
from users import forget_request_state, make_user

MENU, UNITS, STATIONS, CALENDAR, USERS, AUDIT = ("/admin/menu/", "/admin/units/", "/admin/stations/",
                                                 "/admin/calendar/", "/admin/users/", "/admin/audit/")


@pytest.fixture
def admin(ctx):
    return make_user("sys_admin")


@pytest.fixture
def browser(app, admin):
    return signed_in(app, admin)


def save(client, url, fill=None):
    """Post the page's form with ``fill`` typed over it; the page the browser ends on."""
    return client.post(url, data=model_form(client, url, fill), follow_redirects=True)


def item(code: str) -> ServiceItem:
    db.session.expire_all()
    return db.session.get(ServiceItem, code)


def audit_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


# ---------------------------------------------------------------- language and CSP


def test_flask_admin_speaks_chinese(browser):
    shown = text(browser.get(MENU))
    assert "列表 (" in shown and "创建" in shown and "添加筛选器" in shown
    assert "List (" not in shown and "Create" not in shown and "Add Filter" not in shown
    refused = save(browser, MENU + "edit/?id=S05", {"time_limit_days": "0"})
    assert "没有保存，请按提示修改。" in flashes(refused) and "Failed" not in text(refused)


def _sha256(value: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode() + "'"


def test_admin_pages_run_only_their_own_inline_code_under_the_csp(browser, app):
    response = browser.get(CALENDAR)
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    # The delete confirmation and the filter menu: each inline handler on the page is allowed by hash.
    handlers = {htmllib.unescape(v) for v in re.findall(r'\son\w+="([^"]*)"', html)}
    handlers |= set(re.findall(r'href="(javascript:[^"]*)"', html))
    assert any("safeConfirm" in h for h in handlers)
    assert "'unsafe-hashes'" in csp and all(_sha256(h) in csp for h in handlers)
    assert "'unsafe-inline'" not in csp
    # Pages outside the console get neither a nonce nor hashes.
    forget_request_state()  # under the ctx fixture requests share one app context, hence one ``g``
    plain = browser.get("/").headers["Content-Security-Policy"]
    assert "nonce-" not in plain and "sha256-" not in plain


# ---------------------------------------------------------------- the service menu


def test_an_item_edit_is_saved_and_audited_with_before_and_after(browser):
    before = item("S05")
    old_limit, old_position = before.time_limit_days, before.position
    page = save(browser, MENU + "edit/?id=S05", {"time_limit_days": "20", "position": "30", "enabled": None})
    assert "保存记录成功" in flashes(page)
    after = item("S05")
    assert (after.time_limit_days, after.position, after.enabled) == (20, 30, False)
    entry, = audit_entries("service_item", "S05")
    assert entry.action == "update" and entry.user_label.endswith(f"（{browser_user(browser).username}）")
    assert entry.before == {"time_limit_days": old_limit, "position": old_position, "enabled": True}
    assert entry.after == {"time_limit_days": 20, "position": 30, "enabled": False}


def browser_user(client) -> User:
    with client.session_transaction() as session:
        return db.session.get(User, int(session["_user_id"]))


def test_saving_without_a_change_writes_no_audit_entry(browser):
    save(browser, MENU + "edit/?id=S05")
    assert audit_entries("service_item") == []


@pytest.mark.parametrize("limit", ["0", "91", "十"])
def test_a_time_limit_outside_1_to_90_is_refused_and_nothing_changes(browser, limit):
    before = item("S05").time_limit_days
    page = save(browser, MENU + "edit/?id=S05", {"time_limit_days": limit})
    assert "办理时限" in flashes(page) and "没有保存" in flashes(page)
    assert item("S05").time_limit_days == before and audit_count() == 0


def test_a_new_item_needs_a_valid_code_and_an_existing_form(browser):
    fill = {"code": "S14", "name": "就业创业指导", "form_id": "job-information", "organization": "league",
            "time_limit_days": "10", "functions": ["对接需求信息平台", "整合资源共享平台"],
            "summary": "就业和创业政策一对一指导。", "position": "20"}
    for bad, message in [({"code": "s14"}, "事项编码须以大写字母开头"), ({"code": "S05"}, "事项编码 S05 已经存在"),
                         ({"form_id": "no-such-form"}, "不是有效的选择"),
                         ({"functions": ["随便什么"]}, "不是可选的值：随便什么")]:
        page = save(browser, MENU + "new/", {**fill, **bad})
        assert message in flashes(page), (bad, flashes(page))
    assert item("S14") is None and audit_count() == 0
    save(browser, MENU + "new/", fill)
    created = item("S14")
    assert (created.form_id, created.organization, created.enabled) == ("job-information", "league", True)
    assert created.functions == ["整合资源共享平台", "对接需求信息平台"]  # in the menu schema's order
    entry, = audit_entries("service_item", "S14")
    assert entry.action == "create" and entry.before is None and entry.after["code"] == "S14"


def test_an_item_form_change_that_would_break_a_running_rule_is_refused(browser):
    page = save(browser, MENU + "edit/?id=S11", {"form_id": "policy-briefing"})
    assert "正在使用的派单规则不再成立" in flashes(page)
    assert item("S11").form_id == "rights-protection" and audit_count() == 0


def test_an_organization_admin_sees_and_edits_only_its_own_items(app, ctx):
    union = signed_in(app, make_user("org_admin", organization="union"))
    listed = text(union.get(MENU))
    assert "S05" in listed and "S11" in listed and "S12" not in listed and "S01" not in listed
    assert "记录不存在" in flashes(union.get(MENU + "edit/?id=S12", follow_redirects=True))
    limit = item("S12").time_limit_days
    union.post(MENU + "edit/?id=S12", data={"time_limit_days": "3"})
    assert item("S12").time_limit_days == limit
    # Moving its own item to another organization is refused: it would leave the admin's scope.
    page = save(union, MENU + "edit/?id=S05", {"organization": "league"})
    assert "不是有效的选择" in flashes(page) and item("S05").organization == "union"
    assert audit_count() == 0


# ---------------------------------------------------------------- units, stations, organizations


def test_a_unit_is_switched_off_not_deleted_and_its_kind_must_suit_the_rules(browser):
    save(browser, UNITS + "edit/?id=justice", {"active": None})
    db.session.expire_all()
    assert db.session.get(Unit, "justice").active is False
    entry, = audit_entries("unit", "justice")
    assert entry.before == {"active": True} and entry.after == {"active": False}
    page = save(browser, UNITS + "edit/?id=justice", {"kind": "social"})
    assert "正在使用的派单规则不再成立" in flashes(page)
    db.session.expire_all()
    assert db.session.get(Unit, "justice").kind == "department"
    assert browser.post(UNITS + "delete/", data={"id": "justice"}).status_code == 403


def test_an_organization_admin_edits_only_the_name_and_switch_of_its_own_unit(app, ctx):
    union = signed_in(app, make_user("org_admin", organization="union"))
    listed = text(union.get(UNITS))
    assert "江北区总工会" in listed and "江北区司法局" not in listed
    data = model_form(union, UNITS + "edit/?id=union", {"name": "江北区总工会（职工服务中心）"})
    assert "kind" not in data
    data["kind"] = "social"  # not on the page: a tampered post
    union.post(UNITS + "edit/?id=union", data=data)
    db.session.expire_all()
    unit = db.session.get(Unit, "union")
    assert (unit.name, unit.kind) == ("江北区总工会（职工服务中心）", "organization")
    assert union.get(UNITS + "new/").status_code == 403


def test_station_staff_edit_their_own_station_profile_only(app, ctx):
    from users import ensure_station
    ensure_station("heyun", community="和韵家园社区", lead="women")
    staff = signed_in(app, make_user("station_staff", station_code="gangcheng"))
    listed = text(staff.get(STATIONS))
    assert "gangcheng" in listed and "heyun" not in listed
    data = model_form(staff, STATIONS + "edit/?id=gangcheng", {"name": "港城工业园区群团服务站", "address": "港城园区综合楼一楼"})
    data["community"] = "别的社区"  # not on the page for station staff
    staff.post(STATIONS + "edit/?id=gangcheng", data=data)
    db.session.expire_all()
    station = db.session.get(Station, "gangcheng")
    assert (station.name, station.address, station.community) == ("港城工业园区群团服务站", "港城园区综合楼一楼", "港城社区")
    assert audit_entries("station", "gangcheng")[0].after == {"name": "港城工业园区群团服务站",
                                                              "address": "港城园区综合楼一楼"}
    assert "记录不存在" in flashes(staff.get(STATIONS + "edit/?id=heyun", follow_redirects=True))
    assert staff.get(STATIONS + "new/").status_code == 403


def test_the_four_organizations_are_a_read_only_list(browser):
    page = browser.get("/admin/organizations/")
    shown = text(page)
    for name in ("区总工会", "团区委", "区妇联", "群团联合"):
        assert name in shown
    assert browser.post("/admin/organizations/").status_code == 405


def test_the_qiyou_page_lists_the_checklist_and_links_to_the_form_editor(browser, app):
    page = browser.get("/admin/qiyou/")
    assert "有场所" in text(page) or "场所" in text(page)
    assert 'href="/admin/forms/station-checklist-qiyou/"' in page.get_data(as_text=True)


# ---------------------------------------------------------------- holidays


def test_holidays_are_added_checked_and_deleted_with_audit(browser):
    holiday, friday, saturday = date(2031, 10, 1), date(2031, 10, 10), date(2031, 10, 11)
    assert friday.weekday() == 4 and saturday.weekday() == 5
    save(browser, CALENDAR + "new/", {"day": holiday.isoformat(), "name": "国庆节"})
    assert is_working_day(holiday) is False
    page = save(browser, CALENDAR + "new/", {"day": friday.isoformat(), "is_workday": "y", "name": "调休"})
    assert "调休上班日只能是周六或周日" in flashes(page)
    save(browser, CALENDAR + "new/", {"day": saturday.isoformat(), "is_workday": "y", "name": "国庆调休"})
    assert is_working_day(saturday) is True
    assert "已经登记过了" in flashes(save(browser, CALENDAR + "new/", {"day": holiday.isoformat(), "name": "重复"}))
    browser.post(CALENDAR + "delete/", data={"id": holiday.isoformat()})
    db.session.expire_all()
    assert db.session.get(CalendarDay, holiday) is None and is_working_day(holiday) is True
    actions = [(e.action, e.object_id) for e in audit_entries("calendar_day")]
    assert actions == [("create", "2031-10-01"), ("create", "2031-10-11"), ("delete", "2031-10-01")]
    assert audit_entries("calendar_day")[-1].before == {"day": "2031-10-01", "is_workday": False, "name": "国庆节"}


# ---------------------------------------------------------------- no deletes, escaping, CSRF


@pytest.mark.parametrize("url, key", [(MENU, "S05"), (UNITS, "justice"), (STATIONS, "gangcheng"), (USERS, "1")])
def test_nothing_orders_point_at_can_be_deleted(browser, url, key):
    from users import ensure_station
    ensure_station("gangcheng")
    assert browser.post(url + "delete/", data={"id": key}).status_code == 403
    assert f'action="{url}delete/' not in browser.get(url).get_data(as_text=True)


def test_an_admin_typed_script_is_shown_as_text_everywhere(browser, app):
    save(browser, MENU + "edit/?id=S05", {"name": "<script>x</script>"})
    assert item("S05").name == "<script>x</script>"
    for page in (browser.get(MENU), browser.get(AUDIT), browser.get(MENU + "edit/?id=S05")):
        html = page.get_data(as_text=True)
        assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_a_post_without_the_csrf_token_is_refused(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = signed_in(app, make_user("sys_admin"))
        data = model_form(client, MENU + "edit/?id=S05", {"time_limit_days": "21"})
        token = data.pop("csrf_token")
        assert client.post(MENU + "edit/?id=S05", data=data).status_code == 400
        assert item("S05").time_limit_days != 21 and audit_count() == 0
        data["csrf_token"] = token
        assert client.post(MENU + "edit/?id=S05", data=data).status_code == 302
        assert item("S05").time_limit_days == 21


# ---------------------------------------------------------------- users


def user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


NEW_HANDLER = {"username": "handler-li", "display_name": "李办理", "role": "handler", "unit_code": "justice",
               "password": "long-enough-1"}


def test_a_user_is_created_with_a_hashed_password_that_no_page_shows(browser):
    save(browser, USERS + "new/", NEW_HANDLER)
    created = user("handler-li")
    assert created.role == "handler" and created.unit_code == "justice" and created.check_password("long-enough-1")
    for page in (browser.get(USERS), browser.get(USERS + f"edit/?id={created.id}"), browser.get(AUDIT)):
        html = page.get_data(as_text=True)
        assert created.password_hash not in html and "long-enough-1" not in html
    entry, = audit_entries("user", str(created.id))
    assert entry.after["password"] == "已设置" and created.password_hash not in json.dumps(entry.after)


@pytest.mark.parametrize("change, message", [
    ({"unit_code": ""}, "办单人员必须绑定办单单位"),
    ({"password": ""}, "新建账号必须设置密码"),
    ({"password": "short"}, "密码须为 8–128 个字符"),
    ({"username": "x"}, "用户名须为 3–60 位"),
])
def test_a_bad_new_user_is_refused_in_chinese(browser, change, message):
    page = save(browser, USERS + "new/", {**NEW_HANDLER, **change})
    assert message in flashes(page)
    assert user("handler-li") is None and audit_count() == 0


def test_a_role_change_keeps_only_the_new_roles_binding_and_a_blank_password_keeps_the_old(browser):
    from users import ensure_station
    ensure_station("gangcheng")
    db.session.commit()
    save(browser, USERS + "new/", NEW_HANDLER)
    created = user("handler-li")
    old_hash = created.password_hash
    save(browser, USERS + f"edit/?id={created.id}", {"role": "station_staff", "station_code": "gangcheng"})
    changed = user("handler-li")
    assert (changed.role, changed.station_code, changed.unit_code) == ("station_staff", "gangcheng", None)
    assert changed.password_hash == old_hash


def test_an_admin_cannot_demote_or_switch_off_themselves(browser, admin):
    page = save(browser, USERS + f"edit/?id={admin.id}", {"role": "dispatcher"})
    assert "不能修改自己的角色或停用自己的账号" in flashes(page)
    page = save(browser, USERS + f"edit/?id={admin.id}", {"active": None})
    assert "不能修改自己的角色或停用自己的账号" in flashes(page)
    assert user(admin.username).role == "sys_admin" and user(admin.username).active


def test_a_switched_off_admin_is_turned_away(app, ctx):
    off = make_user("sys_admin")
    client = signed_in(app, off)
    off.active = False
    db.session.commit()
    assert client.get(MENU).status_code in (302, 403)


def test_an_organization_admin_manages_its_handlers_and_brand_leads_only(app, ctx):
    from users import ensure_unit
    ensure_unit("union", kind="organization")
    mine = make_user("handler", unit_code="union")
    theirs = make_user("handler", unit_code="justice")
    union = signed_in(app, make_user("org_admin", organization="union"))
    listed = text(union.get(USERS))
    assert mine.username in listed and theirs.username not in listed
    assert "记录不存在" in flashes(union.get(USERS + f"edit/?id={theirs.id}", follow_redirects=True))
    lead = {"username": "lead-union", "display_name": "王品牌", "role": "brand_lead", "organization": "union",
            "password": "long-enough-1"}
    save(union, USERS + "new/", lead)
    assert user("lead-union").organization == "union"
    page = save(union, USERS + "new/", {**lead, "username": "boss", "role": "sys_admin"})
    assert "不是有效的选择" in flashes(page) and user("boss") is None
    page = save(union, USERS + "new/", {**lead, "username": "lead-women", "organization": "women"})
    assert "不是有效的选择" in flashes(page) and user("lead-women") is None


# ---------------------------------------------------------------- the audit log


def test_the_audit_log_is_read_only_and_filters_by_user_action_type_and_date(browser, app, admin):
    save(browser, MENU + "edit/?id=S05", {"time_limit_days": "21"})
    save(browser, UNITS + "edit/?id=justice", {"active": None})
    save(browser, CALENDAR + "new/", {"day": "2031-10-01", "name": "国庆节"})
    other = signed_in(app, make_user("sys_admin", username="second-admin"))
    save(other, MENU + "edit/?id=S06", {"time_limit_days": "22"})

    def listed(query: str = "") -> str:
        page = browser.get(AUDIT + query)
        assert page.status_code == 200
        return text(page)

    everything = listed()
    assert "S05" in everything and "justice" in everything and "2031-10-01" in everything
    assert "time_limit_days：15 → 21" in everything  # before → after in the list
    by_action = listed("?flt0_1=create")
    assert "2031-10-01" in by_action and "justice" not in by_action
    by_type = listed("?flt0_2=unit")
    assert "justice" in by_type and "S05" not in by_type
    by_user = listed("?flt0_0=second-admin")
    assert "S06" in by_user and "S05" not in by_user
    today = datetime.now(timezone(timedelta(hours=8))).date()
    in_range = listed(f"?flt0_4={today - timedelta(days=1)}+to+{today}")
    assert "S05" in in_range and "S06" in in_range
    assert "S05" not in listed(f"?flt0_4={today - timedelta(days=30)}+to+{today - timedelta(days=2)}")
    entry = audit_entries("service_item", "S05")[0]
    details = text(browser.get(AUDIT + f"details/?id={entry.id}"))
    assert "改前" in details and "改后" in details and "21" in details
    for path in ("new/", f"edit/?id={entry.id}"):
        assert browser.get(AUDIT + path).status_code == 403
    assert browser.post(AUDIT + "delete/", data={"id": entry.id}).status_code == 403
    assert audit_entries("service_item", "S05")[0].after == {"time_limit_days": 21}


# ---------------------------------------------------------------- links to pages outside the console


def _stub(app, name: str, rule: str, endpoint: str):
    if f"{name}.{endpoint}" not in app.view_functions:
        bp = Blueprint(name, __name__)
        bp.add_url_rule(rule, endpoint, lambda: "stub")
        app.register_blueprint(bp)


@pytest.mark.parametrize("role, binding, links", [
    ("brand_lead", {"organization": "union"}, {"插件管理", "品牌活动"}),
    ("sys_admin", {}, {"插件管理", "品牌活动"}),
    ("org_admin", {"organization": "union"}, {"品牌活动"}),
    ("station_staff", {"station_code": "gangcheng"}, set()),
])
def test_the_menu_links_to_the_plugins_and_activities_pages_by_role(make_app, role, binding, links):
    app = make_app()
    _stub(app, "plugins", "/plugins/", "index")
    _stub(app, "activities", "/activities/manage", "manage")
    with app.app_context():
        client = signed_in(app, make_user(role, **binding))
        html = client.get("/admin/").get_data(as_text=True)
        shown = {name for name in ("插件管理", "品牌活动") if re.search(rf'href="[^"]+">\s*{name}</a>', html)}
        assert shown == links
