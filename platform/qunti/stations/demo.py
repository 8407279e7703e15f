"""Demo content of the three demo stations (declared in qunti.accounts.demo.STATIONS): a profile
for the station's kind, one 七有 inspection and one resource agreement with its delivery log.

Idempotent like the demo accounts: each piece is created only if the station has none. The station
kind plugins are switched on if nobody ever switched them (an operator's choice is kept), so the
profiles and their staffing checks show.
"""
from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from qunti.accounts.demo import STATIONS
from qunti.catalog import state
from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.registry import compiled_version, current_version
from qunti.orders.calendar import today
from qunti.plugins import current, enabled_ids, set_enabled
from qunti.plugins.models import PluginState
from qunti.stations.agreements import add_agreement, add_delivery
from qunti.stations.checklist import current_checklist
from qunti.stations.inspections import record_inspection
from qunti.stations.models import Agreement, Inspection, StationProfile
from qunti.stations.profiles import kind_of, save_profile

# The profile of each demo station; None takes the example of the kind's profile form (the examples
# describe 和韵家园 and 港城). 石子山 has only seven entering units, so its staffing check shows a flag.
PROFILES: dict[str, dict[str, Any] | None] = {
    "gangcheng": None,
    "heyun": None,
    "shizishan": {
        "leadOrganization": "league",
        "leadContact": {"name": "罗一帆", "phone": "13908300301"},
        "enteringUnits": [
            {"name": "区总工会", "category": "群团组织", "staffName": "彭涛", "schedule": "每周二"},
            {"name": "区妇联", "category": "群团组织", "staffName": "谢婷", "schedule": "每周四"},
            {"name": "区人力社保局", "category": "区级部门", "staffName": "唐磊", "schedule": "每周一、三"},
            {"name": "区科技局", "category": "区级部门", "staffName": "韩雪", "schedule": "每月第二周周五"},
            {"name": "五里店街道办事处", "category": "街镇", "staffName": "邓超", "schedule": "工作日"},
            {"name": "江北区青创孵化服务中心", "category": "社会组织", "staffName": "许诺", "schedule": "每周二至周六"},
            {"name": "重庆农商行江北支行", "category": "企事业单位", "staffName": "程亮", "schedule": "每周三下午"},
        ],
        "openHours": "周一至周六 9:30—21:00",
        "areaSqm": 410,
        "note": "青年创业社区，晚间活动多；第八家进驻单位（市场监管所）正在对接。",
    },
}

# Days before today, item results other than 符合 (with notes), inspector, the station's overall verdict.
INSPECTIONS = {
    "gangcheng": (20, {"plaque": ("partial", "妇联组织牌子尚未悬挂，要求两周内补挂"),
                       "atmosphere": ("partial", "宣传栏内容未及时更新")}, "区群团工作联席会办公室 李红、周涛", "rectify"),
    "shizishan": (35, {"activities": ("partial", "晚间青年活动有记录，白天活动偏少")}, "团区委 王俊", "qualified"),
    "heyun": (10, {"signage": ("fail", "门头标识被小区广告牌遮挡，须移位")}, "区妇联 赵敏", "rectify"),
}

# exchange, partner, contact, phone, offered, service, pricing, note, days ago it started, months,
# count, frequency; then deliveries: (days ago, sessions, people, what).
AGREEMENTS = {
    "gangcheng": (("space", "江北区益职社会工作服务中心", "孔丹", "13908300401",
                   "园区综合楼一楼培训室，每周三、周六全天免费使用",
                   "为园区职工、农民工开展技能培训和心理疏导，每月 4 次", "free", "", 150, 12, 4, "month"),
                  [(140, 2, 45, "叉车操作安全培训"), (110, 4, 96, "夜班职工心理疏导小组"),
                   (75, 4, 88, "电工证考前辅导"), (30, 3, 61, "农民工劳动合同讲座")]),
    "shizishan": (("resource", "江北区青创孵化服务中心", "许诺", "13908300402",
                   "向社区创业青年推介其孵化服务（以服务站的青年资源换资源）",
                   "每季度为创业青年办 1 场创业沙龙，孵化服务费优惠", "discount", "孵化服务费八折", 100, 12, 1, "quarter"),
                  [(80, 1, 35, "“从 0 到 1”创业沙龙")]),
    "heyun": (("space", "江北区和美家庭服务中心", "田甜", "13908300403",
               "党群服务中心二楼亲子活动室，每周二、四下午",
               "为安置房小区妇女儿童开展家庭教育讲座和“四点半课堂”，每周 2 次", "free", "", 60, 12, 2, "week"),
              [(56, 2, 30, "四点半课堂"), (49, 2, 28, "四点半课堂"), (42, 1, 22, "家庭教育讲座：青春期沟通"),
               (21, 2, 31, "四点半课堂"), (7, 2, 26, "四点半课堂")]),
}


def _enable_station_kinds() -> None:
    for kind in current().station_kinds.values():
        if db.session.get(PluginState, kind.plugin_id) is None:
            set_enabled(kind.plugin_id, True, changed_by="演示数据")


def _profile(station: Station) -> bool:
    kind = kind_of(station)
    if kind is None or kind.plugin_id not in enabled_ids():
        return False  # a switched-off kind has no profile form to fill
    version = current_version(kind.profile_form)
    if version is None or station.code not in PROFILES or db.session.scalar(
            select(StationProfile.id).where(StationProfile.station_code == station.code).limit(1)) is not None:
        return False
    compiled = compiled_version(version)
    answers = copy.deepcopy(PROFILES[station.code] or state().catalog.forms[kind.profile_form].schema["examples"][0])
    if compiled.check(answers):
        return False  # an edited form no longer fits the demo answers: leave the profile to people
    save_profile(station, kind, version.id, answers)
    return True


def _inspection(station: Station, day: date) -> bool:
    checklist = current_checklist()
    if checklist is None or station.code not in INSPECTIONS or db.session.scalar(
            select(Inspection.id).where(Inspection.station_code == station.code).limit(1)) is not None:
        return False
    days_ago, findings, inspector, overall = INSPECTIONS[station.code]
    answers: dict[str, Any] = {"inspectionDate": (day - timedelta(days=days_ago)).isoformat(), "inspector": inspector,
                               "overall": overall, "notes": "演示数据：现场检查记录。"}
    if overall == "rectify":
        answers["rectificationDeadline"] = (day + timedelta(days=14)).isoformat()
    for item in checklist.items:
        result, note = findings.get(item.code, ("pass", ""))
        answers[item.code] = {"result": result, **({"note": note} if note else {})}
    if checklist.compiled.check(answers):
        return False
    record_inspection(station, checklist, answers)
    return True


def _agreement(station: Station, day: date) -> bool:
    if station.code not in AGREEMENTS or db.session.scalar(
            select(Agreement.id).where(Agreement.station_code == station.code).limit(1)) is not None:
        return False
    terms, deliveries = AGREEMENTS[station.code]
    (exchange, partner, contact, phone, offered, service, pricing, pricing_note, started, months, count,
     frequency) = terms
    starts = day - timedelta(days=started)
    agreement = add_agreement(station, {
        "exchange": exchange, "partner": partner, "partner_contact": contact, "partner_phone": phone,
        "offered": offered, "service": service, "pricing": pricing, "pricing_note": pricing_note,
        "starts_on": starts, "ends_on": starts + timedelta(days=round(months * 365 / 12) - 1),
        "promised_count": count, "frequency": frequency, "note": "演示数据"})
    for days_ago, sessions, people, what in deliveries:
        add_delivery(agreement, {"delivered_on": day - timedelta(days=days_ago), "sessions": sessions,
                                 "people": people, "description": what})
    return True


def load_demo_stations() -> int:
    """Create the demo stations' missing profiles, inspections and agreements; returns how many."""
    _enable_station_kinds()
    day = today()
    created = 0
    for demo in STATIONS:
        station = db.session.get(Station, demo.code)
        if station is None:
            continue
        created += _profile(station) + _inspection(station, day) + _agreement(station, day)
    db.session.flush()
    return created
