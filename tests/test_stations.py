"""服务站 pages: the profile and its staffing check, 七有 inspections (plugin items, history, what is
missing, photos), 以空间换资源 agreements with their delivery log, who may do what, bad input, and
the demo stations."""
from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.registry import compiled_version, current_version
from qunti.orders.calendar import today
from qunti.plugins import set_enabled
from qunti.stations.agreements import periods_started
from qunti.stations.checklist import current_checklist
from qunti.stations.models import (Agreement, Delivery, Inspection, InspectionItem, InspectionPhoto,
                                   StationProfile)

from helpers import example_answers, form_data
from users import forget_request_state, login, logout, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
CORE_ITEMS = ["有场所", "有标识", "有挂牌", "有设备", "有服务项目", "有活动", "有氛围"]
UNION_ITEM = "有“职工之家”服务角"


def switch(*plugin_ids: str, on: bool = True) -> None:
    for plugin_id in plugin_ids:
        set_enabled(plugin_id, on, changed_by="test")
    forget_request_state()


@pytest.fixture
def world(app, ctx):
    """Two stations of each kind's plugin (enabled), and one account per role."""
    for code, name, kind, lead in (("gangcheng", "港城工业园区群团服务站", "new", "union"),
                                   ("heyun", "和韵家园群团服务站", "center", "women")):
        db.session.add(Station(code=code, name=name, community=f"{name[:2]}社区", kind=kind, lead_organization=lead))
    db.session.commit()
    switch("station-center", "station-new")
    return {
        "gangcheng": make_user("station_staff", station_code="gangcheng"),
        "heyun": make_user("station_staff", station_code="heyun"),
        "dispatcher": make_user("dispatcher"),
        "org_admin": make_user("org_admin", organization="women"),
        "sys_admin": make_user("sys_admin"),
        "resident": make_user("resident"),
        "handler": make_user("handler", unit_code="justice"),
        "brand_lead": make_user("brand_lead", organization="union"),
    }


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def text(response) -> str:
    return response.get_data(as_text=True)


def flashes(client) -> str:
    with client.session_transaction() as session:
        return " ".join(message for _, message in session.get("_flashes", []))


# -- profile and staffing check ----------------------------------------------------------------------

def profile_data(app, form_id: str, **changes):
    answers = dict(example_answers(app, form_id), **changes)
    return form_data(compiled_version(current_version(form_id)), answers)


def test_a_1_3_n_station_with_two_liaisons_is_flagged_on_its_page(app, client, world):
    login(client, world["heyun"])
    page = text(client.get("/stations/heyun"))
    assert "尚未填写站点档案" in page and 'href="/stations/heyun/profile"' in page
    assert "专职负责人" in text(client.get("/stations/heyun/profile"))
    two = [{"organization": "union", "name": "刘志强", "phone": "13908300102"},
           {"organization": "women", "name": "张丽萍", "phone": "13908300104"}]
    response = client.post("/stations/heyun/profile", data=profile_data(app, "station-center-profile", liaisons=two))
    assert response.status_code == 303
    page = text(client.get("/stations/heyun"))
    assert "2 处不符合“1+3+N”" in page
    assert "群团联络员仅 2 名，1+3+N 要求 3 名（工会、共青团、妇联各 1 名）。" in page
    assert "缺少【共青团】联络员" in page
    profile = db.session.scalar(select(StationProfile))
    assert (profile.station_code, profile.kind, len(profile.answers["liaisons"])) == ("heyun", "center", 2)
    # A third liaison: the newest profile is checked, the old one stays as history.
    response = client.post("/stations/heyun/profile", data=profile_data(app, "station-center-profile"))
    assert response.status_code == 303 and "人员配置符合“1+3+N”" in flashes(client)
    page = text(client.get("/stations/heyun"))
    assert "符合“1+3+N”" in page and "群团联络员仅" not in page
    assert count(StationProfile) == 2


def test_a_new_station_fills_the_other_kinds_form(app, client, world):
    login(client, world["gangcheng"])
    form = text(client.get("/stations/gangcheng/profile"))
    assert "进驻单位" in form and "专职负责人" not in form
    units = example_answers(app, "station-new-profile")["enteringUnits"][:5]
    assert client.post("/stations/gangcheng/profile",
                       data=profile_data(app, "station-new-profile", enteringUnits=units)).status_code == 303
    assert "进驻单位仅 5 家，“一家牵头、八家进入”要求 8 家" in text(client.get("/stations/gangcheng"))


def test_a_disabled_kind_plugin_hides_its_form_and_check_and_keeps_the_profile(app, client, world):
    login(client, world["sys_admin"])
    two = [{"organization": "union", "name": "刘志强", "phone": "13908300102"}]
    client.post("/stations/heyun/profile", data=profile_data(app, "station-center-profile", liaisons=two))
    switch("station-center", on=False)
    assert client.get("/stations/heyun/profile").status_code == 404
    assert client.post("/stations/heyun/profile",
                       data=profile_data(app, "station-center-profile")).status_code == 404
    page = text(client.get("/stations/heyun"))
    assert "未启用" in page and "群团联络员仅" not in page
    assert count(StationProfile) == 1
    switch("station-center")
    assert "群团联络员仅 1 名" in text(client.get("/stations/heyun"))


def test_a_profile_with_errors_is_refused_in_chinese_and_not_stored(app, client, world):
    login(client, world["heyun"])
    data = profile_data(app, "station-center-profile")
    data["volunteers"] = "99999999999999999999"
    data.pop("partyCenter")
    response = client.post("/stations/heyun/profile", data=data)
    page = text(response)
    assert response.status_code == 422 and "所在党群服务中心" in page and "志愿者人数" in page
    assert count(StationProfile) == 0


# -- 七有 inspections --------------------------------------------------------------------------------

def checklist_answers(app, **results):
    """The 七有 example with every item on the current checklist (plugin items too) answered 符合,
    except ``results`` ({item code: result or (result, note)})."""
    answers = example_answers(app, "station-checklist-qiyou")
    answers["inspectionDate"] = today().isoformat()
    for item in current_checklist().items:
        answers[item.code] = {"result": "pass"}
    for code, result in results.items():
        result, note = result if isinstance(result, tuple) else (result, "")
        answers[code] = {"result": result, **({"note": note} if note else {})}
    return answers


def inspect(app, client, code: str = "gangcheng", answers=None, **results):
    answers = answers if answers is not None else checklist_answers(app, **results)
    return client.post(f"/stations/{code}/inspections/new", data=form_data(current_checklist().compiled, answers))


def test_an_inspection_is_kept_with_date_inspector_results_notes_and_score(app, client, world):
    login(client, world["gangcheng"])
    page = text(client.get("/stations/gangcheng/inspections/new"))
    assert all(title in page for title in CORE_ITEMS) and UNION_ITEM not in page
    response = inspect(app, client, plaque=("partial", "妇联牌子未挂"), atmosphere=("fail", "宣传栏空白"))
    assert response.status_code == 303
    inspection = db.session.scalar(select(Inspection))
    assert (inspection.station_code, inspection.inspected_on, inspection.inspector_user_id) == (
        "gangcheng", today(), world["gangcheng"].id)
    assert inspection.inspector == example_answers(app, "station-checklist-qiyou")["inspector"]
    assert [(i.title, i.result) for i in inspection.items] == [
        ("有场所", "pass"), ("有标识", "pass"), ("有挂牌", "partial"), ("有设备", "pass"), ("有服务项目", "pass"),
        ("有活动", "pass"), ("有氛围", "fail")]
    assert (inspection.passed, inspection.partial, inspection.items_count, inspection.score) == (5, 1, 7, 78.6)
    assert [(i.title, i.note) for i in inspection.missing] == [("有挂牌", "妇联牌子未挂"), ("有氛围", "宣传栏空白")]
    detail = text(client.get(response.headers["Location"]))
    assert "78.6" in detail and "宣传栏空白" in detail and "部分符合" in detail


def test_the_station_page_shows_the_history_and_what_the_latest_inspection_found_missing(app, client, world):
    login(client, world["sys_admin"])
    day = today()
    for days_ago, results in ((30, {"venue": "fail"}), (5, {"signage": ("partial", "门头被遮挡")}),
                              (60, {"equipment": "fail"})):  # the last one is recorded late, for an old visit
        answers = checklist_answers(app, **results)
        answers["inspectionDate"] = (day - timedelta(days=days_ago)).isoformat()
        assert inspect(app, client, answers=answers).status_code == 303
    page = text(client.get("/stations/gangcheng"))
    latest = page[page.index("最近一次"):page.index("<h3>检查记录</h3>")]
    assert (day - timedelta(days=5)).isoformat() in latest and "有标识" in latest and "门头被遮挡" in latest
    assert "有场所" not in latest and "有设备" not in latest
    history = page[page.index("<h3>检查记录</h3>"):]
    shown = [(day - timedelta(days=n)).isoformat() for n in (5, 30, 60)]
    assert sorted(shown, key=history.index) == shown  # newest inspection date first


def test_a_plugin_checklist_item_is_asked_only_while_its_plugin_is_enabled(app, client, world):
    login(client, world["gangcheng"])
    assert inspect(app, client).status_code == 303
    switch("union-care")
    page = text(client.get("/stations/gangcheng/inspections/new"))
    assert UNION_ITEM in page and "其中 1 项由已启用的插件增加" in page
    # Asked since the last inspection: the station page says it was not checked yet.
    assert "最近一次检查时还没有这一项" in text(client.get("/stations/gangcheng"))
    answers = checklist_answers(app)
    missing = dict(answers)
    missing.pop("union-care-worker-home")
    response = inspect(app, client, answers=missing)
    assert response.status_code == 422 and count(Inspection) == 1  # the contributed item is required
    assert inspect(app, client, **{"union-care-worker-home": ("fail", "没有饮水点")}).status_code == 303
    latest = db.session.scalars(select(Inspection).order_by(Inspection.id.desc())).first()
    item = next(i for i in latest.items if i.code == "union-care-worker-home")
    assert (item.title, item.plugin_id, item.result, latest.items_count) == (UNION_ITEM, "union-care", "fail", 8)
    assert UNION_ITEM in text(client.get("/stations/gangcheng"))
    switch("union-care", on=False)
    assert UNION_ITEM not in text(client.get("/stations/gangcheng/inspections/new"))
    assert len(current_checklist().items) == 7
    # The recorded item stays in the record it belongs to.
    assert UNION_ITEM in text(client.get(f"/stations/gangcheng/inspections/{latest.id}"))


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(inspectionDate=(today() + timedelta(days=1)).isoformat()), "检查日期不能晚于今天"),
    (lambda a: a.update(inspectionDate="1999-12-31"), "检查日期不能早于"),
    (lambda a: a.update(inspectionDate="2026-13-45"), "日期格式不正确"),
    (lambda a: a.pop("venue"), "有场所"),
    (lambda a: a.update(venueAreaSqm=10 ** 15), "服务场地面积"),
    (lambda a: a.update(activitiesLastQuarter=-3), "上一季度开展活动次数"),
    (lambda a: a.update(inspector=""), "检查人"),
])
def test_a_bad_inspection_is_refused_in_chinese_and_nothing_is_stored(app, client, world, change, message):
    login(client, world["gangcheng"])
    answers = checklist_answers(app)
    change(answers)
    response = inspect(app, client, answers=answers)
    assert response.status_code == 422 and message in text(response)
    assert count(Inspection) == 0 and count(InspectionItem) == 0


def test_nonsense_posted_to_the_checklist_is_a_422_not_a_500(app, client, world):
    login(client, world["gangcheng"])
    response = client.post("/stations/gangcheng/inspections/new",
                           data={"inspectionDate": "x" * 5000, "venue-result": "maybe", "overall": "\x00"})
    assert response.status_code == 422 and count(Inspection) == 0


@pytest.fixture
def inspected(app, client, world):
    login(client, world["gangcheng"])
    inspect(app, client)
    return db.session.scalar(select(Inspection))


def upload(client, inspection, name, content):
    import io
    return client.post(f"/stations/gangcheng/inspections/{inspection.id}/photos",
                       data={"photo": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_photos_are_kept_outside_the_web_root_under_generated_names(app, client, inspected):
    response = upload(client, inspected, "../../门头.png", PNG)
    assert response.status_code == 303 and "已上传" in flashes(client)
    photo = db.session.scalar(select(InspectionPhoto))
    stored = Path(app.instance_path) / "inspections" / photo.stored_name
    assert stored.read_bytes() == PNG and photo.original_name == "门头.png"
    assert photo.stored_name != "门头.png" and len(photo.stored_name) == 36
    assert not str(stored.resolve()).startswith(str(Path(app.static_folder).resolve()))
    page = text(client.get(f"/stations/gangcheng/inspections/{inspected.id}"))
    url = f"/stations/gangcheng/inspections/{inspected.id}/photos/{photo.id}"
    assert f'src="{url}"' in page
    shown = client.get(url)
    assert shown.status_code == 200 and shown.mimetype == "image/png" and shown.data == PNG
    shown.close()
    assert upload(client, inspected, "现场.JPG", JPG).status_code == 303
    assert count(InspectionPhoto) == 2
    stored.unlink()  # lost from the disk: a 404, not a 500
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name, content, message", [
    ("报告.pdf", b"%PDF-1.4 ...", "只能上传 JPG 或 PNG 文件"),
    ("脚本.svg", b"<svg onload=alert(1)>", "只能上传 JPG 或 PNG 文件"),
    ("伪装.png", b"%PDF-1.4", "文件内容与扩展名“.png”不符"),
    ("空.png", b"", "文件是空的"),
    ("大.png", PNG + b"\x00" * 3000, "文件不能超过"),
])
def test_refused_photos_say_why_in_chinese_and_keep_nothing(app, client, inspected, name, content, message):
    app.config["INSPECTION_PHOTO_MAX_BYTES"] = 2048
    response = upload(client, inspected, name, content)
    assert response.status_code == 303 and message in flashes(client)
    assert count(InspectionPhoto) == 0
    folder = Path(app.instance_path) / "inspections"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_photo_upload_without_a_file_is_refused(client, inspected):
    response = client.post(f"/stations/gangcheng/inspections/{inspected.id}/photos", data={})
    assert response.status_code == 303 and "请选择要上传的文件" in flashes(client)
    assert count(InspectionPhoto) == 0


# -- agreements and their delivery log -------------------------------------------------------------

def agreement_data(**changes):
    data = {"exchange": "space", "partner": "江北区益职社会工作服务中心", "partner_contact": "孔丹",
            "partner_phone": "13908300401", "offered": "一楼培训室每周三免费使用", "service": "职工技能培训",
            "pricing": "free", "pricing_note": "", "starts_on": (today() - timedelta(days=75)).isoformat(),
            "ends_on": (today() + timedelta(days=290)).isoformat(), "promised_count": "4", "frequency": "month",
            "note": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_an_agreement_and_its_delivery_log_show_delivered_against_promised(client, world):
    login(client, world["gangcheng"])
    response = client.post("/stations/gangcheng/agreements/new", data=agreement_data())
    assert response.status_code == 303
    agreement = db.session.scalar(select(Agreement))
    assert (agreement.partner, agreement.exchange, agreement.promised_count, agreement.frequency) == (
        "江北区益职社会工作服务中心", "space", 4, "month")
    url = response.headers["Location"]
    for days_ago, sessions, people in ((70, 2, 40), (40, 2, 35), (3, 1, 12)):
        posted = client.post(f"{url}/deliveries", data={
            "delivered_on": (today() - timedelta(days=days_ago)).isoformat(), "sessions": str(sessions),
            "people": str(people), "description": "技能培训"})
        assert posted.status_code == 303
    page = text(client.get(url))
    # 75 days in: three monthly periods have begun, 4 services each.
    assert "截至今日还差 7 次服务" in page
    figures = [page.index(label) for label in ("已提供服务", "截至今日应提供", "协议期内承诺", "服务人数")]
    assert figures == sorted(figures)
    assert ">5<" in page and ">12<" in page and ">87<" in page
    assert "5 / 12" in text(client.get("/stations/gangcheng"))
    assert count(Delivery) == 3


@pytest.mark.parametrize("start, last, frequency, periods", [
    (date(2026, 1, 15), date(2026, 1, 14), "month", 0),
    (date(2026, 1, 15), date(2026, 1, 15), "month", 1),
    (date(2026, 1, 15), date(2026, 3, 14), "month", 2),
    (date(2026, 1, 15), date(2026, 3, 15), "month", 3),
    (date(2026, 1, 31), date(2026, 2, 28), "month", 2),   # the period of 31 January starts on 28 February
    (date(2026, 1, 31), date(2026, 2, 27), "month", 1),
    (date(2026, 1, 1), date(2026, 1, 14), "week", 2),
    (date(2026, 1, 1), date(2026, 1, 15), "week", 3),
    (date(2026, 1, 1), date(2026, 12, 31), "quarter", 4),
    (date(2026, 1, 1), date(2027, 1, 1), "year", 2),
    (date(2026, 1, 1), date(2030, 1, 1), "term", 1),
])
def test_periods_begun(start, last, frequency, periods):
    assert periods_started(start, last, frequency) == periods


@pytest.mark.parametrize("changes, field_message", [
    ({"partner": None}, "请填写社会组织名称"),
    ({"offered": "   "}, "请写明站点提供什么"),
    ({"pricing": "discount", "pricing_note": "  "}, "优惠的请写明折扣或价格"),
    ({"exchange": "cash"}, "请从列表中选择"),
    ({"frequency": "daily"}, "请从列表中选择"),
    ({"starts_on": "2026-02-30"}, "日期格式不对"),
    ({"ends_on": "明年"}, "日期格式不对"),
    ({"starts_on": "2026-06-01", "ends_on": "2026-05-31"}, "结束日期不能早于开始日期"),
    ({"starts_on": "2020-01-01", "ends_on": "2035-01-01"}, "协议期最长 10 年"),
    ({"starts_on": "1900-01-01"}, "日期不能早于"),
    ({"promised_count": "99999999999999999999999"}, "须在 1 到 1000 之间"),
    ({"promised_count": "四"}, "请填写整数"),
    ({"promised_count": "0"}, "须在 1 到 1000 之间"),
    ({"pricing": "discount"}, "优惠的请写明折扣或价格"),
    ({"partner_phone": "12345"}, "请填写手机号或带区号的座机号"),
    ({"partner": "社" * 101}, "须为 2 到 100 个字"),
])
def test_a_bad_agreement_is_refused_in_chinese_and_nothing_is_stored(client, world, changes, field_message):
    login(client, world["gangcheng"])
    response = client.post("/stations/gangcheng/agreements/new", data=agreement_data(**changes))
    assert response.status_code == 422 and field_message in text(response)
    assert count(Agreement) == 0


@pytest.fixture
def agreement(client, world):
    login(client, world["gangcheng"])
    client.post("/stations/gangcheng/agreements/new", data=agreement_data())
    return db.session.scalar(select(Agreement))


@pytest.mark.parametrize("changes, message", [
    ({"delivered_on": (date.today() + timedelta(days=2)).isoformat()}, "服务日期不能晚于今天"),
    ({"delivered_on": (date.today() - timedelta(days=400)).isoformat()}, "服务日期须在协议期内"),
    ({"delivered_on": "2026/13/01"}, "日期格式不对"),
    ({"sessions": "0"}, "须在 1 到 1000 之间"),
    ({"sessions": "1e9"}, "请填写整数"),
    ({"people": "-1"}, "须在 0 到 100000 之间"),
    ({"description": ""}, "请写明提供了什么服务"),
    ({"description": "课" * 301}, "最多 300 个字"),
])
def test_a_bad_delivery_is_refused_in_chinese_and_nothing_is_stored(client, agreement, changes, message):
    data = {"delivered_on": (today() - timedelta(days=1)).isoformat(), "sessions": "1", "people": "10",
            "description": "法律咨询"}
    data.update(changes)
    response = client.post(f"/stations/gangcheng/agreements/{agreement.id}/deliveries", data=data)
    assert response.status_code == 422 and message in text(response)
    assert count(Delivery) == 0


def test_what_people_type_is_escaped(client, world):
    login(client, world["gangcheng"])
    client.post("/stations/gangcheng/agreements/new",
                data=agreement_data(partner="<script>alert(1)</script>", service="<b>粗体</b>"))
    agreement = db.session.scalar(select(Agreement))
    for url in ("/stations/gangcheng", f"/stations/gangcheng/agreements/{agreement.id}"):
        page = text(client.get(url))
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<b>粗体</b>" not in page


# -- who may do what -------------------------------------------------------------------------------

READERS = {"gangcheng", "dispatcher", "org_admin", "sys_admin"}
EDITORS = {"gangcheng", "org_admin", "sys_admin"}
PEOPLE = ("anonymous", "resident", "handler", "brand_lead", "heyun", "gangcheng", "dispatcher", "org_admin",
          "sys_admin")


def test_every_station_view_checks_the_role(app):
    endpoints = [e for e in app.view_functions if e.startswith("stations.")]
    assert len(endpoints) == 10
    for endpoint in endpoints:
        assert getattr(app.view_functions[endpoint], "allowed_roles", None), f"{endpoint} has no role check"


def test_every_station_page_by_every_role(app, world):
    """GET pages of station gangcheng: who gets in, who is turned away (another station's account too)."""
    client = app.test_client()
    login(client, world["gangcheng"])
    inspect(app, client)
    client.post("/stations/gangcheng/agreements/new", data=agreement_data())
    import io
    client.post("/stations/gangcheng/inspections/1/photos", data={"photo": (io.BytesIO(PNG), "a.png")},
                content_type="multipart/form-data")
    inspection, agreement = db.session.scalar(select(Inspection)), db.session.scalar(select(Agreement))
    photo = db.session.scalar(select(InspectionPhoto))
    pages = {"/stations/gangcheng": READERS, f"/stations/gangcheng/inspections/{inspection.id}": READERS,
             f"/stations/gangcheng/inspections/{inspection.id}/photos/{photo.id}": READERS,
             f"/stations/gangcheng/agreements/{agreement.id}": READERS,
             "/stations/gangcheng/inspections/new": EDITORS, "/stations/gangcheng/agreements/new": EDITORS,
             "/stations/gangcheng/profile": EDITORS}
    wrong = []
    for url, allowed in pages.items():
        for who in PEOPLE:
            logout(client)
            if who != "anonymous":
                login(client, world[who])
            response = client.get(url)
            response.close()
            assert response.status_code < 500
            got = "allow" if response.status_code == 200 else "deny"
            if who == "anonymous":
                assert response.status_code == 302 and "/login" in response.headers["Location"]
            elif got == "deny":
                assert response.status_code == 403 and "没有权限" in text(response) or "只能" in text(response)
            if got != ("allow" if who in allowed else "deny"):
                wrong.append(f"{url} as {who}: {got}")
    assert not wrong, "\n".join(wrong)


def test_another_stations_account_can_neither_see_nor_change_this_station(app, client, world):
    login(client, world["gangcheng"])
    inspect(app, client)
    client.post("/stations/gangcheng/agreements/new", data=agreement_data())
    inspection, agreement = db.session.scalar(select(Inspection)), db.session.scalar(select(Agreement))
    login(client, world["heyun"])
    assert client.get("/stations/").status_code == 303  # straight to their own station
    assert "港城" not in text(client.get("/stations/heyun"))
    for url, data in (("/stations/gangcheng/inspections/new", form_data(current_checklist().compiled,
                                                                          checklist_answers(app))),
                      ("/stations/gangcheng/agreements/new", agreement_data()),
                      (f"/stations/gangcheng/agreements/{agreement.id}/deliveries",
                       {"delivered_on": today().isoformat(), "sessions": "1", "description": "x"}),
                      (f"/stations/gangcheng/inspections/{inspection.id}/photos", {}),
                      ("/stations/gangcheng/profile", profile_data(app, "station-new-profile"))):
        assert client.post(url, data=data).status_code == 403, url
    # Their own station's address with the other station's record: as if it did not exist.
    assert client.get(f"/stations/heyun/inspections/{inspection.id}").status_code == 404
    assert client.get(f"/stations/heyun/agreements/{agreement.id}").status_code == 404
    assert client.post(f"/stations/heyun/agreements/{agreement.id}/deliveries", data={
        "delivered_on": today().isoformat(), "sessions": "1", "description": "x"}).status_code == 404
    assert client.get("/stations/nowhere").status_code == 404
    assert (count(Inspection), count(Agreement), count(Delivery), count(StationProfile)) == (1, 1, 0, 0)


def test_a_dispatcher_reads_but_does_not_record(app, client, world):
    login(client, world["dispatcher"])
    page = text(client.get("/stations/"))
    assert "港城工业园区群团服务站" in page and "和韵家园群团服务站" in page
    assert "开始“七有”检查" not in text(client.get("/stations/gangcheng"))
    assert inspect(app, client).status_code == 403
    assert client.post("/stations/gangcheng/agreements/new", data=agreement_data()).status_code == 403
    assert count(Inspection) == count(Agreement) == 0


def test_residents_are_refused(app, client, world):
    login(client, world["resident"])
    for url in ("/stations/", "/stations/gangcheng", "/stations/gangcheng/inspections/new"):
        response = client.get(url)
        assert response.status_code == 403 and "没有权限" in text(response)
    assert client.post("/stations/gangcheng/agreements/new", data=agreement_data()).status_code == 403
    assert count(Agreement) == 0


def test_station_forms_are_csrf_protected(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.session.add(Station(code="gangcheng", name="港城工业园区群团服务站", community="港城社区", kind="new",
                               lead_organization="union"))
        db.session.commit()
        switch("station-new")
        staff = make_user("station_staff", station_code="gangcheng")
        client = app.test_client()
        login(client, staff)
        for url in ("/stations/gangcheng/inspections/new", "/stations/gangcheng/agreements/new",
                    "/stations/gangcheng/profile"):
            assert 'name="csrf_token"' in text(client.get(url)), url
        for url, data in (("/stations/gangcheng/agreements/new", agreement_data()),
                          ("/stations/gangcheng/inspections/new", {"inspectionDate": today().isoformat()}),
                          ("/stations/gangcheng/profile", {"leadOrganization": "union"})):
            response = client.post(url, data=data)
            assert response.status_code == 400 and "页面已过期" in text(response), url
        assert count(Agreement) == count(Inspection) == count(StationProfile) == 0


def test_a_photo_above_the_app_wide_limit_gets_through_the_csrf_check(make_app):
    """CSRF protection reads the whole form before the view runs: the photo's own limit must already hold."""
    import io
    import re
    app = make_app(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=64 * 1024, INSPECTION_PHOTO_MAX_BYTES=300 * 1024)
    with app.app_context():
        db.session.add(Station(code="gangcheng", name="港城工业园区群团服务站", community="港城社区", kind="new",
                               lead_organization="union"))
        db.session.commit()
        client = app.test_client()
        login(client, make_user("station_staff", station_code="gangcheng"))
        page = text(client.get("/stations/gangcheng/inspections/new"))
        data = form_data(current_checklist().compiled, checklist_answers(app))
        data["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/stations/gangcheng/inspections/new", data=data).status_code == 303
        inspection = db.session.scalar(select(Inspection))
        photo = PNG + b"\x00" * (200 * 1024)
        response = client.post(f"/stations/gangcheng/inspections/{inspection.id}/photos", content_type="multipart/form-data",
                               data={"csrf_token": data["csrf_token"], "photo": (io.BytesIO(photo), "大.png")})
        assert response.status_code == 303 and count(InspectionPhoto) == 1
        too_big = client.post(f"/stations/gangcheng/inspections/{inspection.id}/photos",
                              content_type="multipart/form-data",
                              data={"csrf_token": data["csrf_token"],
                                    "photo": (io.BytesIO(PNG + b"\x00" * (301 * 1024)), "更大.png")})
        assert too_big.status_code == 303 and "文件不能超过 0.3 MB" in flashes(client)
        # Elsewhere the app-wide limit still holds.
        assert client.post("/stations/gangcheng/agreements/new", data={"note": "x" * 100 * 1024}).status_code == 413
        assert count(InspectionPhoto) == 1


def test_the_staff_home_links_to_the_station_pages(client, world):
    login(client, world["gangcheng"])
    assert 'href="/stations/"' in text(client.get("/staff/")) and "本站建设" in text(client.get("/staff/"))
    login(client, world["handler"])
    assert 'href="/stations/"' not in text(client.get("/staff/"))


# -- demo ------------------------------------------------------------------------------------------

def test_the_demo_creates_the_three_stations_with_profiles_an_inspection_and_an_agreement_each(app, ctx):
    from qunti.demo import load_demo
    from qunti.stations.profiles import staffing_of

    load_demo()
    stations = {s.code: s for s in db.session.scalars(select(Station))}
    assert {code: (s.kind, s.lead_organization) for code, s in stations.items()} == {
        "gangcheng": ("new", "union"), "shizishan": ("new", "league"), "heyun": ("center", "women")}
    for model in (StationProfile, Inspection, Agreement):
        assert sorted(db.session.scalars(select(model.station_code))) == ["gangcheng", "heyun", "shizishan"]
    assert count(Delivery) > 0
    status = {code: staffing_of(s) for code, s in stations.items()}
    assert {code: s.status for code, s in status.items()} == {"gangcheng": "ok", "heyun": "ok", "shizishan": "flagged"}
    assert [f.message for f in status["shizishan"].flags] == [
        "进驻单位仅 7 家，“一家牵头、八家进入”要求 8 家（同一单位只算一家）。"]
    before = [count(m) for m in (StationProfile, Inspection, InspectionItem, Agreement, Delivery)]
    load_demo()
    assert [count(m) for m in (StationProfile, Inspection, InspectionItem, Agreement, Delivery)] == before
    client = app.test_client()
    from qunti.accounts.models import User
    login(client, db.session.scalar(select(User).where(User.username == "station-heyun")))
    page = text(client.get("/stations/heyun"))
    assert "符合“1+3+N”" in page and "江北区和美家庭服务中心" in page and "有标识" in page


def test_the_demo_keeps_an_operators_choice_to_switch_a_station_kind_off(app, ctx):
    from qunti.demo import load_demo
    from qunti.plugins import enabled_ids

    set_enabled("station-center", False, changed_by="运维")
    load_demo()
    assert "station-center" not in enabled_ids() and "station-new" in enabled_ids()
    assert sorted(db.session.scalars(select(StationProfile.station_code))) == ["gangcheng", "shizishan"]


def test_the_statistics_read_the_inspections_recorded_on_the_station_pages(app, client, world):
    from qunti.stats.figures import qiyou

    login(client, world["gangcheng"])
    answers = checklist_answers(app, venue="fail", plaque="partial")
    answers["inspectionDate"] = (today() - timedelta(days=3)).isoformat()
    inspect(app, client, answers=answers)
    inspect(app, client, answers=copy.deepcopy(checklist_answers(app, venue="fail")) | {
        "inspectionDate": (today() - timedelta(days=9)).isoformat()})  # an older visit, recorded later
    rows = {r.station_code: r for r in qiyou(list(db.session.scalars(select(Station).order_by(Station.code))))}
    assert (rows["gangcheng"].passed, rows["gangcheng"].items) == (5, 7)
    assert rows["gangcheng"].inspected_on == (today() - timedelta(days=3)).isoformat()
    assert (rows["heyun"].inspection_id, rows["heyun"].items) == (None, 0)
