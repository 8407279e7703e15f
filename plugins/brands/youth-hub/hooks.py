"""新青荟: its service-menu entry, which points signed-in young people straight at the activities."""
from flask import url_for

from qunti import hookimpl
from qunti.plugin_api import menu_entry


@hookimpl
def qunti_menu_entries(user):
    summary = "婚恋交友、能力增值、公益接力、私人订制"
    if user is not None and getattr(user, "role", None) == "resident":
        summary = "看看本周的青年活动：" + summary
    return [menu_entry("新青荟", url_for("activities.brand", plugin_id="youth-hub"), summary)]
