"""Brand activities: a lead publishes, residents sign up (waiting list when full), staff check people
in at the door, the lead downloads the list; a disabled brand's activities vanish and come back."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from qunti.activities import seats, tokens
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.forms.registry import compiled_version, current_version

from plugin_helpers import SHIPPED_DIRS, enable, form_data
from users import ensure_station, login, make_user

SKILLS = "league-skills-upgrade"
MATCHMAKING = "league-matchmaking-signup"


@pytest.fixture
def app(make_app):
    app = make_app(PLUGINS_DIRS=SHIPPED_DIRS)
    enable(app, "union-care", "youth-hub", "women-bridge", "startup-dream")
    return app


def new_activity(app, type_id: str = SKILLS, *, capacity: int = 2, starts_in=timedelta(days=7),
                 deadline_in=timedelta(days=6), station_code: str | None = None, **fields) -> int:
    kind = app.extensions["qunti"].catalog.plugins.activity_types[type_id]
    plugin = app.extensions["qunti"].catalog.plugins.get(kind.plugin_id)
    now = datetime.now(timezone.utc)
    with app.app_context():
        if station_code:
            ensure_station(station_code)
        activity = Activity(plugin_id=plugin.id, type_id=type_id, organization=plugin.organization,
                            title=fields.pop("title", "青年新媒体运营训练营"), starts_at=now + starts_in,
                            signup_deadline=now + deadline_in, place="石子山青年创业社区", capacity=capacity,
                            station_code=station_code, **fields)
        db.session.add(activity)
        db.session.commit()
        return activity.id


def answers(app, form_id: str = SKILLS, **changes):
    example = dict(app.extensions["qunti"].catalog.forms[form_id].schema["examples"][0])
    example.update(changes)
    return example


def sign_up(app, client, activity_id: int, form_id: str = SKILLS, **changes):
    with app.app_context():
        compiled = compiled_version(current_version(form_id))
        data = form_data(compiled, answers(app, form_id, **changes))
    return client.post(f"/activities/{activity_id}/signup", data=data)


def ref_of(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return re.search(r"/activities/signups/([^/]+)$", response.headers["Location"]).group(1)


def signup_of(app, ref: str) -> ActivitySignup:
    with app.app_context():
        signup = db.session.get(ActivitySignup, tokens.read_confirmation_ref(ref))
        db.session.expunge(signup)
        return signup


def logged_in(app, role: str, **binding):
    client = app.test_client()
    with app.app_context():
        user = make_user(role, **binding)
        login(client, user)
    return client


def test_a_lead_publishes_and_a_resident_signs_up_and_gets_a_check_in_code(app):
    lead = logged_in(app, "brand_lead", organization="league")
    form = lead.get("/activities/manage/new").get_data(as_text=True)
    assert "新青荟 · 能力增值" in form and "情系职工" not in form  # only their brand's types
    soon = datetime.now() + timedelta(days=3)
    published = lead.post("/activities/manage/new", data={
        "type_id": SKILLS, "title": "直播电商入门课", "starts_at": soon.strftime("%Y-%m-%dT%H:%M"),
        "signup_deadline": (soon - timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"), "station_code": "",
        "place": "石子山青年创业社区二楼", "capacity": "30", "description": "手把手教你开直播。"})
    assert published.status_code == 303
    with app.app_context():
        activity = db.session.scalar(select(Activity).where(Activity.title == "直播电商入门课"))
        assert (activity.plugin_id, activity.organization, activity.capacity) == ("youth-hub", "league", 30)
        # Typed in Beijing time, stored in UTC.
        typed = soon.replace(second=0, microsecond=0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert seats.aware(activity.starts_at) == typed.astimezone(timezone.utc)

    resident = app.test_client()
    listing = resident.get("/activities/").get_data(as_text=True)
    assert "直播电商入门课" in listing and "剩余 30 个名额" in listing
    assert f'href="/activities/{activity.id}"' in listing
    assert "直播电商入门课" in resident.get("/activities/brands/youth-hub").get_data(as_text=True)
    assert resident.get(f"/activities/{activity.id}/signup").status_code == 200
    poster = resident.get(f"/activities/{activity.id}/poster.svg")
    assert poster.status_code == 200 and poster.mimetype == "image/svg+xml"
    ref = ref_of(sign_up(app, resident, activity.id))
    page = resident.get(f"/activities/signups/{ref}").get_data(as_text=True)
    assert "报名成功" in page and f"/activities/signups/{ref}/checkin.svg" in page
    qr = resident.get(f"/activities/signups/{ref}/checkin.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and "no-store" in qr.headers["Cache-Control"]


def test_publishing_times_must_make_sense(app):
    lead = logged_in(app, "brand_lead", organization="league")
    past = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    later = (datetime.now() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = lead.post("/activities/manage/new", data={
        "type_id": SKILLS, "title": "错的时间", "starts_at": past, "signup_deadline": later, "station_code": "",
        "place": "", "capacity": "10"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "开始时间须晚于现在" in page and "不能晚于开始时间" in page and "请选择服务站或填写地点" in page


def test_a_brand_lead_publishes_only_for_their_own_enabled_brand(app):
    union_lead = logged_in(app, "brand_lead", organization="union")
    soon = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = union_lead.post("/activities/manage/new", data={
        "type_id": SKILLS, "title": "越权活动", "starts_at": soon, "signup_deadline": soon, "station_code": "",
        "place": "某地", "capacity": "5"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(Activity).where(Activity.title == "越权活动")) is None
    enable(app, "union-care", on=False)
    refused = union_lead.get("/activities/manage/new")
    assert refused.status_code == 403 and "尚未启用" in refused.get_data(as_text=True)


def test_a_brand_lead_sees_only_their_organizations_activities(app):
    league = new_activity(app, title="新青荟的活动")
    women_lead = logged_in(app, "brand_lead", organization="women")
    assert "新青荟的活动" not in women_lead.get("/activities/manage").get_data(as_text=True)
    assert women_lead.get(f"/activities/manage/{league}").status_code == 403
    assert women_lead.get(f"/activities/manage/{league}/signups.csv").status_code == 403
    league_lead = logged_in(app, "brand_lead", organization="league")
    assert "新青荟的活动" in league_lead.get("/activities/manage").get_data(as_text=True)
    assert logged_in(app, "resident").get("/activities/manage").status_code == 403


def test_a_full_activity_takes_a_waiting_list_that_moves_up_on_cancel(app):
    activity_id = new_activity(app, capacity=2)
    client = app.test_client()
    refs = [ref_of(sign_up(app, client, activity_id, phone=f"1390000000{i}")) for i in range(4)]
    assert [signup_of(app, r).status for r in refs] == ["confirmed", "confirmed", "waiting", "waiting"]
    waiting_page = client.get(f"/activities/signups/{refs[3]}").get_data(as_text=True)
    assert "候补第 <strong>2</strong> 位" in waiting_page and "checkin.svg" not in waiting_page
    assert client.get(f"/activities/signups/{refs[2]}/checkin.svg").status_code == 404

    assert client.post(f"/activities/signups/{refs[0]}/cancel").status_code == 303
    assert [signup_of(app, r).status for r in refs] == ["cancelled", "confirmed", "confirmed", "waiting"]
    assert "候补第 <strong>1</strong> 位" in client.get(f"/activities/signups/{refs[3]}").get_data(as_text=True)
    # The cancelled phone may sign up again, at the end of the queue.
    again = ref_of(sign_up(app, client, activity_id, phone="13900000000"))
    assert signup_of(app, again).status == "waiting"
    with app.app_context():
        assert db.session.get(Activity, activity_id).taken == 2


def test_raising_the_capacity_moves_the_waiting_list_up(app):
    activity_id = new_activity(app, capacity=1)
    client = app.test_client()
    refs = [ref_of(sign_up(app, client, activity_id, phone=f"1380000000{i}")) for i in range(3)]
    lead = logged_in(app, "brand_lead", organization="league")
    assert lead.post(f"/activities/manage/{activity_id}/capacity", data={"capacity": "2"}).status_code == 303
    assert [signup_of(app, r).status for r in refs] == ["confirmed", "confirmed", "waiting"]
    lead.post(f"/activities/manage/{activity_id}/capacity", data={"capacity": "1"})
    with app.app_context():
        assert db.session.get(Activity, activity_id).capacity == 2  # never below the seats taken


def test_one_sign_up_per_phone(app):
    activity_id = new_activity(app)
    client = app.test_client()
    ref_of(sign_up(app, client, activity_id))
    twice = sign_up(app, client, activity_id)
    assert twice.status_code == 409 and "已经报名" in twice.get_data(as_text=True)


def test_no_sign_up_after_the_deadline(app):
    activity_id = new_activity(app, deadline_in=timedelta(hours=-1))
    client = app.test_client()
    assert client.get(f"/activities/{activity_id}/signup").status_code == 409
    late = sign_up(app, client, activity_id)
    assert late.status_code == 409 and "报名已截止" in late.get_data(as_text=True)


def test_eligibility_rules_refuse_with_the_plugins_message(app):
    activity_id = new_activity(app, MATCHMAKING, title="周末徒步交友")
    client = app.test_client()
    young = (datetime.now() + timedelta(days=7)).date().replace(year=datetime.now().year - 19)
    refused = sign_up(app, client, activity_id, MATCHMAKING, birthDate=young.isoformat())
    assert refused.status_code == 422
    assert "年满 20 周岁" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ActivitySignup.id)) is None
    ref_of(sign_up(app, client, activity_id, MATCHMAKING))


def test_invalid_answers_come_back_with_field_errors(app):
    activity_id = new_activity(app)
    response = sign_up(app, app.test_client(), activity_id, phone="123")
    assert response.status_code == 422 and "有 1 处需要修改" in response.get_data(as_text=True)


def test_check_in_at_the_door_once_and_never_with_a_forged_code(app):
    activity_id = new_activity(app, capacity=1)
    resident = app.test_client()
    confirmed = signup_of(app, ref_of(sign_up(app, resident, activity_id, phone="13700000001")))
    waiting = signup_of(app, ref_of(sign_up(app, resident, activity_id, phone="13700000002")))
    with app.test_request_context("/"):
        token, waiting_token = tokens.checkin_token(confirmed), tokens.checkin_token(waiting)
    staff = logged_in(app, "brand_lead", organization="league")

    shown = staff.get(f"/activities/checkin/{token}")
    assert shown.status_code == 200 and "确认签到" in shown.get_data(as_text=True)
    assert "137****0001" in shown.get_data(as_text=True)
    done = staff.post("/activities/checkin", data={"token": f"https://qunti.test/activities/checkin/{token}"})
    assert done.status_code == 200 and "签到成功" in done.get_data(as_text=True)
    twice = staff.post("/activities/checkin", data={"token": token})
    assert twice.status_code == 409 and "不能重复签到" in twice.get_data(as_text=True)
    forged = staff.post("/activities/checkin", data={"token": token[:-3] + "abc"})
    assert forged.status_code == 409 and "伪造" in forged.get_data(as_text=True)
    with app.test_request_context("/"):
        from itsdangerous import URLSafeSerializer
        wrong_key = URLSafeSerializer("another-secret", salt="qunti.activities.checkin").dumps([confirmed.id, "x"])
    assert "伪造" in staff.post("/activities/checkin", data={"token": wrong_key}).get_data(as_text=True)
    refused = staff.post("/activities/checkin", data={"token": waiting_token})
    assert refused.status_code == 409 and "候补" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ActivitySignup, confirmed.id).checked_in_at is not None
        assert db.session.get(ActivitySignup, waiting.id).checked_in_at is None


def test_only_staff_of_the_activity_may_check_in(app):
    activity_id = new_activity(app, station_code="shizishan")
    confirmed = signup_of(app, ref_of(sign_up(app, app.test_client(), activity_id)))
    with app.test_request_context("/"):
        token = tokens.checkin_token(confirmed)
    assert logged_in(app, "station_staff", station_code="gangcheng").get(f"/activities/checkin/{token}").status_code == 403
    assert logged_in(app, "brand_lead", organization="union").post(
        "/activities/checkin", data={"token": token}).status_code == 403
    assert logged_in(app, "resident").get("/activities/checkin").status_code == 403
    home = logged_in(app, "station_staff", station_code="shizishan")
    assert "签到成功" in home.post("/activities/checkin", data={"token": token}).get_data(as_text=True)


def test_a_cancelled_sign_up_cannot_check_in(app):
    activity_id = new_activity(app)
    client = app.test_client()
    ref = ref_of(sign_up(app, client, activity_id))
    client.post(f"/activities/signups/{ref}/cancel")
    with app.test_request_context("/"):
        token = tokens.checkin_token(signup_of(app, ref))
    response = logged_in(app, "sys_admin").post("/activities/checkin", data={"token": token})
    assert response.status_code == 409 and "已取消" in response.get_data(as_text=True)


def test_the_lead_downloads_sign_ups_with_phones_only_they_need(app):
    activity_id = new_activity(app)
    client = app.test_client()
    ref_of(sign_up(app, client, activity_id, phone="13612345678", name="=HYPERLINK(1)"))
    lead = logged_in(app, "brand_lead", organization="league")
    rows = list(csv.reader(io.StringIO(lead.get(f"/activities/manage/{activity_id}/signups.csv")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    header, row = rows[0], rows[1]
    assert header[:4] == ["序号", "报名状态", "报名时间", "签到时间"] and "手机号" in header and "想学的课程" in header
    assert row[header.index("手机号")] == "13612345678"
    assert row[header.index("姓名")] == "'=HYPERLINK(1)"  # never a live formula in Excel
    assert row[header.index("报名状态")] == "报名成功"

    admin = logged_in(app, "org_admin", organization="league")
    workbook = admin.get(f"/activities/manage/{activity_id}/signups.xlsx")
    assert workbook.status_code == 200 and "attachment" in workbook.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(workbook.data)).active
    values = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert values[1][values[0].index("手机号")] == "136****5678"
    page = admin.get(f"/activities/manage/{activity_id}").get_data(as_text=True)
    assert "136****5678" in page and "13612345678" not in page


def test_disabling_a_brand_hides_its_activities_at_once_and_keeps_the_data(app):
    activity_id = new_activity(app, title="公益接力在行动")
    client = app.test_client()
    ref = ref_of(sign_up(app, client, activity_id))
    enable(app, "youth-hub", on=False)
    assert "公益接力在行动" not in client.get("/activities/").get_data(as_text=True)
    for url in (f"/activities/{activity_id}", f"/activities/{activity_id}/signup", f"/activities/signups/{ref}",
                "/activities/brands/youth-hub", "/activities/?brand=youth-hub"):
        assert client.get(url).status_code == 404, url
    lead = logged_in(app, "brand_lead", organization="league")
    assert "插件已停用" in lead.get("/activities/manage").get_data(as_text=True)  # staff keep their data
    assert lead.get(f"/activities/manage/{activity_id}/signups.csv").status_code == 200
    enable(app, "youth-hub")
    assert "公益接力在行动" in client.get("/activities/").get_data(as_text=True)
    assert client.get(f"/activities/signups/{ref}").status_code == 200


def test_a_forged_confirmation_link_is_404(app):
    assert app.test_client().get("/activities/signups/1.forged").status_code == 404
