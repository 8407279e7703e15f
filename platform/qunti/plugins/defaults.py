"""Qunti's own contributions through the plugin hooks: registered before any plugin and always on,
so the core uses the same hooks it offers (and a plugin may read them as working examples)."""
from __future__ import annotations

from datetime import date

from qunti.hookspecs import hookimpl

NAME = "qunti.defaults"


def age_on(birth_date, on_date):
    """Full years from ``birth_date`` to ``on_date`` (both "YYYY-MM-DD"); null if either is not a date."""
    try:
        born, day = date.fromisoformat(str(birth_date)), date.fromisoformat(str(on_date))
    except ValueError:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@hookimpl
def qunti_jsonlogic_operations():
    return {"age_on": age_on}


@hookimpl
def qunti_menu_entries(user):
    from qunti.plugins import current, enabled_ids

    enabled = enabled_ids()
    if not any(p.kind == "brand" and p.id in enabled for p in current()):
        return None  # no brand is on: there would be no activities to list
    return [{"title": "品牌活动报名", "endpoint": "activities.index",
             "summary": "情系职工、新青荟、巾帼桥、三创圆梦等品牌近期活动，扫码或在线报名。"}]


@hookimpl
def qunti_admin_views():
    return [
        {"title": "插件管理", "endpoint": "plugins.index", "roles": ["sys_admin", "brand_lead"]},
        {"title": "品牌活动", "endpoint": "activities.manage", "roles": ["brand_lead", "org_admin", "sys_admin"]},
        {"title": "活动签到", "endpoint": "activities.checkin",
         "roles": ["station_staff", "brand_lead", "org_admin", "sys_admin"]},
    ]
