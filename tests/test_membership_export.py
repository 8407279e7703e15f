"""名册导出: only an organization's admin, only its own members, names, ID numbers and phones
masked, a typed formula defused, and every export in the audit log; every other role is refused
and leaves no trace."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qunti.admin.models import AuditEntry
from qunti.db import db

from membership_helpers import (
    ID_A, ID_YOUNG, PHONE_A, PHONE_B, XLSX, active_membership, body_text, decide, join, post_form,
    setup_organizations, union_handler)
from users import forget_request_state, login, make_user


@pytest.fixture
def members(client, app, ctx):
    """A union member (王小芳, whose employer name was typed as a formula) and a league member."""
    setup_organizations()
    decide(client, union_handler(), join(client, **{"employer-name": "=HYPERLINK(\"http://x\")"}))
    league = post_form(app.test_client(), "/join/league/shizishan-league", {
        "name": "何雨萱", "idNumber": ID_YOUNG, "phone": PHONE_B, "applicantCategory": "employee",
        "employer-name": "重庆石子山创客空间运营有限公司", "trade": "信息技术和互联网",
        "community": "五里店街道石子山社区", "consent": "y",
        "statement": "我志愿加入中国共产主义青年团，拥护中国共产党的领导，遵守团的章程，履行团员义务。"}, status=303)
    decide(client, make_user("handler", unit_code="league"), league.headers["Location"].rsplit("/", 1)[1])
    forget_request_state()


def exported(app, user, fmt: str, query: str = ""):
    client = app.test_client()
    login(client, user)
    return client.get(f"/staff/membership/members.{fmt}{query}")


def audit_entries() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_organization_admin_exports_their_own_members_masked_and_logged(app, members, fmt):
    admin = make_user("org_admin", organization="union")
    response = exported(app, admin, fmt)
    assert response.status_code == 200
    assert response.mimetype == ("text/csv" if fmt == "csv" else XLSX)
    assert response.headers["Cache-Control"] == "no-store"
    assert f'filename="members.{fmt}"' in response.headers["Content-Disposition"]
    text = body_text(response)
    union = active_membership(ID_A)
    for shown in ("港城工业园区联合工会", "王*芳", "500***********3029", "151****6789", union.number):
        assert shown in text, shown
    for hidden in ("王小芳", ID_A, PHONE_A):
        assert hidden not in text, hidden
    assert "'=HYPERLINK" in text  # a spreadsheet shows it as text, never runs it
    # Own organization only: the league member is not in the union's list.
    assert "何*萱" not in text and active_membership(ID_YOUNG).number not in text
    entry, = audit_entries()
    assert (entry.user_id, entry.object_type, entry.object_id) == (admin.id, "member", "union")
    assert entry.after == {"format": fmt, "rows": 1, "organization": "", "status": "active"}
    assert admin.username in entry.user_label


def test_the_league_admin_gets_the_league_members(app, members):
    text = body_text(exported(app, make_user("org_admin", organization="league"), "csv"))
    assert "何*萱" in text and "王*芳" not in text


def test_asking_for_another_organization_gives_nothing_of_it(app, members):
    response = exported(app, make_user("org_admin", organization="league"), "csv", "?organization=gangcheng-union&status=all")
    text = body_text(response)
    assert response.status_code == 200 and "王*芳" not in text and "港城工业园区联合工会" not in text
    assert len(text.strip().splitlines()) == 1  # the header alone
    assert audit_entries()[0].after["rows"] == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("role,binding", [
    ("resident", {}), ("station_staff", {"station_code": "gangcheng"}), ("dispatcher", {}),
    ("handler", {"unit_code": "union"}), ("brand_lead", {"organization": "union"}), ("sys_admin", {}),
    ("org_admin", {"organization": "women"}),  # an organization without members to export
])
def test_every_other_role_is_refused_and_nothing_is_logged(app, members, fmt, role, binding):
    response = exported(app, make_user(role, **binding), fmt)
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and "王*芳" not in html and "500***" not in html
    assert "没有权限" in html or "没有会员名册" in html
    assert audit_entries() == []


def test_anonymous_visitors_go_to_the_login_page(app, members):
    for fmt in ("csv", "xlsx"):
        response = app.test_client().get(f"/staff/membership/members.{fmt}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert audit_entries() == []


def test_the_member_list_masks_too_and_offers_the_export_to_the_admin_only(app, members):
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="union"))
    html = admin.get("/staff/membership/members").get_data(as_text=True)
    assert "王*芳" in html and "151****6789" in html and "王小芳" not in html and PHONE_A not in html
    assert "members.csv" in html and "members.xlsx" in html
    handler = app.test_client()
    login(handler, union_handler())
    html = handler.get("/staff/membership/members").get_data(as_text=True)
    assert "王*芳" in html and "members.csv" not in html and "确认注销" not in html
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0  # reading is not exporting
