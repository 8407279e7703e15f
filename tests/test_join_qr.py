"""Joining by QR code: staff print a signed code for a station and workplace; scanning opens the join
form with station, workplace and organization filled in and locked; altered, revoked and expired
codes are refused in Chinese."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.membership.models import JoinApplication, JoinCode
from qunti.orders.models import Order

from browser import elements
from membership_helpers import UNION_ANSWERS, application_of, post_form, setup_organizations
from users import forget_request_state, login, make_user


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
    answers = order.submission.answers
    assert (answers["organization"], answers["station"], answers["workplace"]) == (
        "gangcheng-union", "gangcheng", "重庆港城物流有限公司")


def test_what_a_code_leaves_empty_stays_empty(app, staff):
    """A code without a workplace, and the form opened without a code: nothing typed into the hidden
    inputs reaches the application."""
    _code, link = make_code(staff, workplace="")
    response = post_form(app.test_client(), link, {**UNION_ANSWERS, "workplace": "别的单位"}, status=303)
    application = application_of(response.headers["Location"].rsplit("/", 1)[1])
    assert application.station_code == "gangcheng" and application.workplace == "重庆港城物流有限公司"  # the employer
    order = db.session.scalar(select(Order).where(Order.id == application.order_id))
    assert "workplace" not in order.submission.answers

    direct = post_form(app.test_client(), "/join/union/guanyinqiao-union",
                       {**UNION_ANSWERS, "idNumber": "500105199506234119", "phone": "13912345678",
                        "station": "gangcheng", "organization": "gangcheng-union"}, status=303)
    application = application_of(direct.headers["Location"].rsplit("/", 1)[1])
    assert application.organization_code == "guanyinqiao-union" and application.station_code is None
    order = db.session.scalar(select(Order).where(Order.id == application.order_id))
    assert order.channel == "online" and "station" not in order.submission.answers


def test_the_poster_comes_as_svg_and_png_with_the_name_under_the_code(staff):
    from PIL import Image

    from qunti.membership import posters
    code, _link = make_code(staff)
    svg = staff.get(f"/staff/membership/codes/{code.id}.svg")
    assert svg.mimetype == "image/svg+xml" and svg.headers["Cache-Control"] == "private, no-store"
    text = svg.get_data(as_text=True)
    assert "<path" in text and re.search(r"<text[^>]*>重庆港城物流有限公司</text>", text)
    png = staff.get(f"/staff/membership/codes/{code.id}.png?download=1")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    assert "attachment" in png.headers["Content-Disposition"]
    poster = staff.get(f"/staff/membership/codes/{code.id}/poster").get_data(as_text=True)
    assert "微信扫一扫" in poster and f"/staff/membership/codes/{code.id}.svg" in poster
    assert f"/staff/membership/codes/{code.id}.png" in poster
    if posters.png_font() is None:
        pytest.skip("no font with Chinese glyphs on this machine (Debian: fonts-wqy-microhei)")
    image = Image.open(io.BytesIO(png.data)).convert("L")
    assert image.height > image.width  # the name's lines under the square code
    below = image.crop((0, image.width, image.width, image.height))
    assert below.getextrema()[0] < 128  # something dark is drawn there: the name
    assert "服务器没有中文字体" not in poster


def test_a_long_name_wraps_into_at_most_three_lines(staff):
    code, _link = make_code(staff, workplace="重庆港城物流有限公司" * 8)
    svg = staff.get(f"/staff/membership/codes/{code.id}.svg").get_data(as_text=True)
    lines = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert len(lines) == 3 and lines[-1].endswith("…") and "".join(lines).startswith("重庆港城物流有限公司重庆")


def test_without_a_chinese_font_the_png_is_the_code_alone(app, staff, tmp_path):
    from PIL import Image
    app.config["POSTER_FONT"] = str(tmp_path / "no-such-font.ttc")
    code, _link = make_code(staff)
    image = Image.open(io.BytesIO(staff.get(f"/staff/membership/codes/{code.id}.png").data))
    assert image.width == image.height
    assert "服务器没有中文字体" in staff.get(f"/staff/membership/codes/{code.id}/poster").get_data(as_text=True)


def test_a_name_with_markup_is_text_in_the_svg(staff):
    code, _link = make_code(staff, workplace="<script>alert(1)</script>&公司")
    svg = staff.get(f"/staff/membership/codes/{code.id}.svg").get_data(as_text=True)
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in svg


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


def test_a_link_signed_elsewhere_or_naming_no_code_is_refused(app, staff):
    from itsdangerous import URLSafeSerializer

    from qunti.membership import codes
    make_code(staff)
    before = db.session.scalar(select(func.count()).select_from(JoinApplication))
    with app.test_request_context():
        missing = URLSafeSerializer(app.config["SECRET_KEY"], salt=codes._SALT).dumps(999)
        text = URLSafeSerializer(app.config["SECRET_KEY"], salt=codes._SALT).dumps("1")
    forged = URLSafeSerializer("someone-elses-key", salt=codes._SALT).dumps(1)
    for token in (missing, text, forged, "", "x" * 300):
        for method in ("get", "post"):
            response = getattr(app.test_client(), method)(f"/j/{token}", data=UNION_ANSWERS)
            assert response.status_code in (400, 404), (token, method)
            if token:
                assert "二维码无效" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(JoinApplication)) == before


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
    posted = app.test_client().post(link, data={**UNION_ANSWERS, "organization": "gangcheng-union"})
    assert posted.status_code == 410 and "这个二维码已过期" in posted.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(JoinApplication)) == 0


def test_a_code_of_an_organization_that_stopped_taking_members_is_refused(app, staff):
    _code, link = make_code(staff)
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="union"))
    admin.post("/staff/membership/organizations/gangcheng-union/toggle")
    response = app.test_client().get(link)
    assert response.status_code == 410 and "这个二维码已停用" in response.get_data(as_text=True)


@pytest.mark.parametrize("days", ["0", "-3", "3651", "99999999999", "很多", "1.5", "²", "9" * 5000])
def test_a_bad_number_of_days_is_refused_in_chinese(staff, days):
    response = staff.post("/staff/membership/codes", data={"purpose": "join", "organization": "gangcheng-union",
                                                           "days": days}, follow_redirects=True)
    assert response.status_code == 200
    assert "有效天数须是 1 到 3650 之间的整数" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(JoinCode)) == 0


def test_staff_print_only_for_a_real_purpose_and_station(app, staff):
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="union"))
    for form, message in (({"purpose": "lottery"}, "不认识的二维码用途"),
                          ({"purpose": "join", "organization": "gangcheng-union", "station": "nowhere"}, "请选择服务站"),
                          ({"purpose": "join", "organization": "gangcheng-union", "workplace": "厂" * 101},
                           "单位名称不能超过 100 个字"),
                          ({"purpose": "activity", "activity": "12345"}, "请选择活动")):
        response = admin.post("/staff/membership/codes", data=form, follow_redirects=True)
        assert response.status_code == 200 and message in response.get_data(as_text=True), form
    assert db.session.scalar(select(func.count()).select_from(JoinCode)) == 0


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


def test_an_activity_code_opens_the_activity_sign_up(make_app):
    from qunti.activities.models import Activity, ActivitySignup
    from qunti.forms.registry import compiled_version, current_version
    from qunti.plugins import set_enabled

    from helpers import form_data
    root = Path(__file__).resolve().parents[1]
    app = make_app(PLUGINS_DIRS=[str(root / "plugins" / "brands")])
    with app.app_context():
        set_enabled("youth-hub", True, changed_by="test")
        setup_organizations()
        kind = app.extensions["qunti"].catalog.plugins.activity_types["league-skills-upgrade"]
        now = datetime.now(timezone.utc)
        activity = Activity(plugin_id="youth-hub", type_id=kind.id, organization="league", title="青年新媒体训练营",
                            starts_at=now + timedelta(days=7), signup_deadline=now + timedelta(days=5), capacity=30)
        db.session.add(activity)
        db.session.commit()
        activity_id = activity.id
        admin = app.test_client()
        login(admin, make_user("org_admin", organization="league"))
        codes_page = admin.get("/staff/membership/codes").get_data(as_text=True)
        assert "青年新媒体训练营" in codes_page  # offered in the activity code form
        response = admin.post("/staff/membership/codes", data={"purpose": "activity", "activity": str(activity_id)})
        assert response.status_code == 303
        code = db.session.scalar(select(JoinCode))
        assert code.purpose == "activity" and code.label == "青年新媒体训练营" and code.organization_code is None
        poster = admin.get(response.headers["Location"]).get_data(as_text=True)
        assert "扫码报名" in poster
        link = re.search(r"链接：(\S+)</p>", poster).group(1).split("qunti.test", 1)[1]
        assert re.search(r"<text[^>]*>青年新媒体训练营</text>",
                         admin.get(f"/staff/membership/codes/{code.id}.svg").get_data(as_text=True))

        resident = app.test_client()
        scanned = resident.get(link)
        assert scanned.status_code == 302
        target = scanned.headers["Location"].split("qunti.test", 1)[-1]
        assert target == f"/activities/{activity_id}/signup?via=qr"
        page = resident.get(target)
        assert page.status_code == 200 and "青年新媒体训练营" in page.get_data(as_text=True)
        compiled = compiled_version(current_version(kind.form))
        example = app.extensions["qunti"].catalog.forms[kind.form].schema["examples"][0]
        done = resident.post(target, data=form_data(compiled, example))
        assert done.status_code == 303, done.get_data(as_text=True)
        signup = db.session.scalar(select(ActivitySignup))
        assert signup.activity_id == activity_id and signup.submission.channel == "qr"

        admin.post(f"/staff/membership/codes/{code.id}/revoke")
        refused = app.test_client().get(link)
        assert refused.status_code == 410 and "这个二维码已停用" in refused.get_data(as_text=True)

        # The brand's lead prints codes for their brand's activities, and nothing else.
        lead = app.test_client()
        login(lead, make_user("brand_lead", organization="league"))
        page = lead.get("/staff/membership/codes").get_data(as_text=True)
        assert "活动报名二维码" in page and "青年新媒体训练营" in page and 'name="organization"' not in page
        assert lead.post("/staff/membership/codes", data={"purpose": "activity", "activity": str(activity_id)}
                         ).status_code == 303
        assert lead.get(f"/staff/membership/codes/{code.id}/poster").status_code == 200  # the league's activity
        joined = lead.post("/staff/membership/codes", data={"purpose": "join", "organization": "shizishan-league"},
                           follow_redirects=True)
        assert "请选择要加入的组织" in joined.get_data(as_text=True)
        other = app.test_client()
        login(other, make_user("brand_lead", organization="union"))
        assert other.get(f"/staff/membership/codes/{code.id}/poster").status_code == 404
        assert "青年新媒体训练营" not in other.get("/staff/membership/codes").get_data(as_text=True)
        refused = other.post("/staff/membership/codes", data={"purpose": "activity", "activity": str(activity_id)},
                             follow_redirects=True)
        assert "请选择活动" in refused.get_data(as_text=True)
        assert db.session.scalar(select(func.count()).select_from(JoinCode)) == 2
        forget_request_state()  # one app context for all the clients here
        signups = lead.get(f"/activities/manage/{activity_id}")  # the brand's own page points to these codes
        assert signups.status_code == 200 and "/staff/membership/codes" in signups.get_data(as_text=True)
