"""Joining by QR code: staff print a signed code for a station and workplace; scanning opens the join
form with station, workplace and organization filled in and locked; altered, revoked and expired
codes are refused in Chinese."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.membership.models import JoinApplication, JoinCode
from qunti.orders.models import Order

from browser import elements
from membership_helpers import UNION_ANSWERS, application_of, post_form, setup_organizations
from users import login, make_user


@pytest.fixture
def staff(app, ctx):
    setup_organizations()
    client = app.test_client()
    login(client, make_user("station_staff", station_code="gangcheng"))
    return client


def make_code(staff, **form) -> tuple[JoinCode, str]:
    """Staff generate a code; (the code, the link printed in it)."""
    data = {"purpose": "join", "organization": "gangcheng-union", "workplace": "重庆港城物流有限公司", **form}
    response = staff.post("/staff/membership/codes", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    code = db.session.scalar(select(JoinCode).order_by(JoinCode.id.desc()))
    poster = staff.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r"链接：(\S+)</p>", poster).group(1)
    return code, link.split("qunti.test", 1)[1]


def test_a_station_code_opens_the_form_with_station_workplace_and_organization_locked(app, staff):
    code, link = make_code(staff)
    assert code.station_code == "gangcheng" and code.label == "重庆港城物流有限公司"
    resident = app.test_client()
    html = resident.get(link).get_data(as_text=True)
    assert "港城工业园区联合工会" in html and "gangcheng服务站" in html and "重庆港城物流有限公司" in html
    assert elements(html, "input", name="organization")[0]["value"] == "gangcheng-union"
    assert elements(html, "input", name="station")[0]["value"] == "gangcheng"
    # Prefilled (not locked): the workplace is offered as the employer.
    assert elements(html, "input", name="employer-name")[0]["value"] == "重庆港城物流有限公司"

    # Someone edits the hidden inputs before sending: the code's values win.
    response = post_form(resident, link, {**UNION_ANSWERS, "organization": "guanyinqiao-union",
                                          "station": "shizishan", "workplace": "别的单位"}, status=303)
    number = response.headers["Location"].rsplit("/", 1)[1]
    application = application_of(number)
    assert application.organization_code == "gangcheng-union" and application.station_code == "gangcheng"
    assert application.workplace == "重庆港城物流有限公司" and application.join_code_id == code.id
    order = db.session.scalar(select(Order).where(Order.number == number))
    assert order.channel == "qr" and order.station_code == "gangcheng" and order.unit_code == "union"


def test_the_poster_comes_as_svg_with_the_name_and_as_png(staff):
    code, _link = make_code(staff)
    svg = staff.get(f"/staff/membership/codes/{code.id}.svg")
    assert svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert "<text" in text and "重庆港城物流有限公司" in text and "<path" in text
    png = staff.get(f"/staff/membership/codes/{code.id}.png?download=1")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    assert "attachment" in png.headers["Content-Disposition"]
    poster = staff.get(f"/staff/membership/codes/{code.id}/poster").get_data(as_text=True)
    assert "微信扫一扫" in poster and f"/staff/membership/codes/{code.id}.svg" in poster


@pytest.mark.parametrize("tamper", ["signature", "id", "payload"])
def test_an_altered_link_is_refused(app, staff, tamper):
    _code, link = make_code(staff)
    token = link.rsplit("/", 1)[1]
    payload, signature = token.split(".", 1)
    if tamper == "signature":
        bad = payload + "." + signature[::-1]
    elif tamper == "id":
        bad = "Mg." + signature  # the id 2 with the signature of another id
    else:
        bad = payload + "x." + signature
    response = app.test_client().get(f"/j/{bad}")
    assert response.status_code == 400
    assert "二维码无效：链接不完整或被改动过" in response.get_data(as_text=True)


def test_a_revoked_code_is_refused_at_once(app, staff):
    code, link = make_code(staff)
    resident = app.test_client()
    assert resident.get(link).status_code == 200
    assert staff.post(f"/staff/membership/codes/{code.id}/revoke").status_code == 303
    response = resident.get(link)
    assert response.status_code == 410 and "这个二维码已停用" in response.get_data(as_text=True)
    before = db.session.scalar(select(func.count()).select_from(JoinApplication))
    posted = resident.post(link, data={"name": "王小芳"})
    assert posted.status_code == 410
    assert db.session.scalar(select(func.count()).select_from(JoinApplication)) == before


def test_an_expired_code_is_refused(app, staff):
    code, link = make_code(staff, days="30")
    code.expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    db.session.commit()
    response = app.test_client().get(link)
    assert response.status_code == 410 and "这个二维码已过期" in response.get_data(as_text=True)
    assert "已过期" in staff.get("/staff/membership/codes").get_data(as_text=True)


def test_station_staff_see_and_revoke_only_their_stations_codes(app, staff):
    code, _link = make_code(staff)
    other = app.test_client()
    login(other, make_user("station_staff", station_code="shizishan"))
    assert other.get(f"/staff/membership/codes/{code.id}/poster").status_code == 404
    assert other.post(f"/staff/membership/codes/{code.id}/revoke").status_code == 404
    assert "重庆港城物流有限公司" not in other.get("/staff/membership/codes").get_data(as_text=True)
    # A station's staff always print for their own station, whatever the form says.
    mine, _ = make_code(other, organization="shizishan-league", workplace="", station="gangcheng")
    assert mine.station_code == "shizishan" and mine.label == "shizishan服务站"


def test_org_admins_print_for_their_own_organizations_only(app, ctx):
    setup_organizations()
    league_admin = app.test_client()
    login(league_admin, make_user("org_admin", organization="league"))
    refused = league_admin.post("/staff/membership/codes", data={"purpose": "join", "organization": "gangcheng-union"},
                                follow_redirects=True)
    assert "请选择要加入的组织" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(JoinCode)) == 0
    resident = app.test_client()
    login(resident, make_user("resident"))
    assert resident.get("/staff/membership/codes").status_code == 403


def test_an_activity_code_opens_the_activity(app, ctx):
    from qunti.activities.models import Activity
    setup_organizations()
    now = datetime.now(timezone.utc)
    activity = Activity(plugin_id="xinqinghui", type_id="matchmaking", organization="league", title="青年联谊会",
                        starts_at=now + timedelta(days=7), signup_deadline=now + timedelta(days=5), capacity=30)
    db.session.add(activity)
    db.session.commit()
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="league"))
    response = admin.post("/staff/membership/codes", data={"purpose": "activity", "activity": str(activity.id)})
    assert response.status_code == 303
    code = db.session.scalar(select(JoinCode))
    assert code.purpose == "activity" and code.label == "青年联谊会"
    poster = admin.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r"链接：(\S+)</p>", poster).group(1).split("qunti.test", 1)[1]
    scanned = app.test_client().get(link)
    assert scanned.status_code == 302 and scanned.headers["Location"].endswith(f"/activities/{activity.id}")
    admin.post(f"/staff/membership/codes/{code.id}/revoke")
    assert app.test_client().get(link).status_code == 410
