"""Every admin-console endpoint × every role: who is let in, who is turned away.

The endpoints are read from ``app.url_map`` (everything under /admin but Flask-Admin's static
files); one missing from MATRIX fails the test, so a new admin page cannot ship without deciding
who may open it. "Let in" means the role check passed (the page answered, or redirected back to its
list); a refusal is a 403, and an anonymous visitor is sent to the login page.
"""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from qunti.admin import audit
from qunti.admin.base import RoleMixin
from qunti.admin.models import AuditEntry
from qunti.db import db
from qunti.directory.models import CalendarDay
from qunti.rules import published

from users import ensure_station, ensure_unit, forget_request_state, login, logout, make_user

ROLES = ("anonymous", "resident", "station_staff", "dispatcher", "handler", "brand_lead", "org_admin", "sys_admin")
SYS = {"sys_admin"}
ORG = {"sys_admin", "org_admin"}
ADMIN_ROLES = {"station_staff", "brand_lead", "org_admin", "sys_admin"}
NOBODY: set[str] = set()
DAY = date(2031, 5, 1)


def model_view(prefix: str, roles: set[str], edit_id: str, *, create: set[str], details: set[str] = NOBODY,
               delete: set[str] = NOBODY, endpoint: str) -> dict:
    """The endpoints Flask-Admin gives one model view, and who may use each."""
    return {
        f"{endpoint}.index_view": ("GET", prefix, roles),
        f"{endpoint}.create_view": ("GET", prefix + "new/", create),
        f"{endpoint}.edit_view": ("GET", prefix + "edit/?id=" + edit_id, roles if endpoint != "admin_audit" else NOBODY),
        f"{endpoint}.details_view": ("GET", prefix + "details/?id=" + edit_id, details),
        f"{endpoint}.delete_view": ("POST", prefix + "delete/", delete),
        f"{endpoint}.action_view": ("POST", prefix + "action/", roles),
        f"{endpoint}.export": ("GET", prefix + "export/csv/", NOBODY),
        f"{endpoint}.ajax_lookup": ("GET", prefix + "ajax/lookup/", roles),
        f"{endpoint}.ajax_update": ("POST", prefix + "ajax/update/", NOBODY),
    }


def matrix(ids: dict[str, str]) -> dict[str, tuple[str, str, set[str]]]:
    """endpoint -> (method, path, roles let in)."""
    found = {
        "admin.index": ("GET", "/admin/", ADMIN_ROLES),
        # the catalog (qunti.admin.menu_views)
        **model_view("/admin/menu/", ORG, "S05", create=ORG, endpoint="admin_menu"),
        **model_view("/admin/stations/", ORG | {"station_staff"}, "gangcheng", create=SYS, endpoint="admin_stations"),
        **model_view("/admin/units/", ORG, "union", create=SYS, endpoint="admin_units"),
        **model_view("/admin/calendar/", SYS, DAY.isoformat(), create=SYS, delete=SYS, endpoint="admin_calendar"),
        "admin_organizations.index": ("GET", "/admin/organizations/", ORG),
        "admin_qiyou.index": ("GET", "/admin/qiyou/", SYS),
        # rules, users, audit (qunti.admin.rules_views, users_views, audit_views)
        "admin_rules.index": ("GET", "/admin/rules/", SYS),
        "admin_rules.versions": ("GET", "/admin/rules/versions/", SYS),
        "admin_rules.version": ("GET", "/admin/rules/versions/1", SYS),
        **model_view("/admin/users/", ORG, ids["user"], create=ORG, endpoint="admin_users"),
        **model_view("/admin/audit/", SYS, ids["audit"], create=NOBODY, details=SYS, endpoint="admin_audit"),
        # forms (qunti.admin.forms_views): S05's form belongs to the union alone, so its org admin edits it
        "admin_forms.index": ("GET", "/admin/forms/", ORG),
        "admin_forms.new": ("GET", "/admin/forms/new", SYS),
        "admin_forms.detail": ("GET", "/admin/forms/legal-consultation/", ORG),
        "admin_forms.edit": ("GET", "/admin/forms/legal-consultation/edit", ORG),
        "admin_forms.fields": ("GET", "/admin/forms/legal-consultation/fields", ORG),
        "admin_forms.version": ("GET", "/admin/forms/legal-consultation/versions/1", ORG),
        "admin_forms.diff": ("GET", "/admin/forms/legal-consultation/diff", ORG),
        "admin_forms.rollback": ("POST", "/admin/forms/legal-consultation/versions/1/rollback", ORG),
    }
    return found


def admin_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/admin") and not rule.endpoint.endswith(".static")}


@pytest.fixture
def people(ctx):
    ensure_unit("union", kind="organization")
    ensure_station("gangcheng")
    users = {
        "resident": make_user("resident"),
        "station_staff": make_user("station_staff", station_code="gangcheng"),
        "dispatcher": make_user("dispatcher"),
        "handler": make_user("handler", unit_code="justice"),
        "brand_lead": make_user("brand_lead", organization="union"),
        "org_admin": make_user("org_admin", organization="union"),
        "sys_admin": make_user("sys_admin"),
    }
    return users


@pytest.fixture
def objects(people, app):
    """What the edit and detail pages open: a handler of the union's unit, an audit entry, a
    holiday, and a published version of the dispatch rules."""
    union_handler = make_user("handler", unit_code="union")
    db.session.add(CalendarDay(day=DAY, is_workday=False, name="劳动节"))
    entry = audit.record("update", "unit", "union", before={"active": True}, after={"active": False},
                         user=people["sys_admin"])
    db.session.commit()
    document = published.current_ruleset("dispatch").document
    document["rows"][0]["title"] += "（修订）"
    published.publish("dispatch", document, base_digest=published.current("dispatch").digest, note="矩阵测试",
                      user=people["sys_admin"])
    return {"user": str(union_handler.id), "audit": str(entry.id)}


def outcome(client, method: str, path: str) -> str:
    forget_request_state()
    response = client.open(path, method=method)
    assert response.status_code < 500, (method, path, response.status_code)
    if response.status_code == 403:
        return "refused"
    if response.status_code in (301, 302, 303) and "/login" in response.headers.get("Location", ""):
        return "login"
    return "in"


def test_every_admin_endpoint_is_in_the_matrix(app):
    assert admin_endpoints(app) == set(matrix({"user": "1", "audit": "1"})), \
        "an admin endpoint was added or removed: decide who may open it in MATRIX"


def test_every_admin_view_checks_the_role(app):
    admin = app.extensions["admin"][0]
    for view in admin._views:
        assert isinstance(view, RoleMixin) and view.roles, f"{type(view).__name__} has no role check"
    for link in admin._menu_links:
        assert getattr(link, "roles", None), f"menu link {link.name} has no role check"


def test_each_role_opens_exactly_its_admin_pages(app, people, objects):
    client = app.test_client()
    wrong = []
    for role in ROLES:
        if role == "anonymous":
            logout(client)
        else:
            login(client, people[role])
        for endpoint, (method, path, allowed) in matrix(objects).items():
            expected = "login" if role == "anonymous" else "in" if role in allowed else "refused"
            got = outcome(client, method, path)
            if got != expected:
                wrong.append(f"{role:14} {method:4} {path}: {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_rows_outside_a_users_scope_are_not_found_even_by_id(app, people, objects):
    """Row scoping: an id typed into the address bar never reaches past the user's scope."""
    client = app.test_client()
    login(client, people["org_admin"])  # of the union
    for path in ("/admin/menu/edit/?id=S12", "/admin/units/edit/?id=league", "/admin/users/edit/?id="
                 + str(people["handler"].id), "/admin/stations/edit/?id=nowhere"):
        forget_request_state()
        response = client.get(path, follow_redirects=True)
        assert "记录不存在" in response.get_data(as_text=True), path
    login(client, people["station_staff"])
    ensure_station("heyun", lead="women")
    db.session.commit()
    forget_request_state()
    assert "记录不存在" in client.get("/admin/stations/edit/?id=heyun", follow_redirects=True).get_data(as_text=True)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.object_type == "station")) is None
