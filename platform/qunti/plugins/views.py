"""The /plugins page: which plugins are installed, and switching them on or off.

A system administrator sees and switches every plugin; a brand lead sees and switches only the
brand plugins of their own organization. Switching takes effect at the next request everywhere.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from qunti.accounts.access import forbidden, login_required_role
from qunti.menu.models import ORGANIZATIONS
from qunti.plugins import current, enabled_ids, set_enabled
from qunti.plugins.manager import Plugin

bp = Blueprint("plugins", __name__, url_prefix="/plugins")
log = logging.getLogger("qunti.plugins")

ROLES = ("sys_admin", "brand_lead")


def may_switch(user, plugin: Plugin) -> bool:
    if user.role == "sys_admin":
        return True
    return user.role == "brand_lead" and plugin.kind == "brand" and plugin.organization == user.organization


@bp.get("/")
@login_required_role(*ROLES)
def index():
    shown = [p for p in current() if may_switch(current_user, p)]
    return render_template("plugins/index.html", plugins=shown, enabled=enabled_ids(),
                           organizations=ORGANIZATIONS, types=current().types_of)


@bp.post("/<plugin_id>/<any(enable, disable):action>")
@login_required_role(*ROLES)
def switch(plugin_id: str, action: str):
    plugin = current().get(plugin_id)
    if plugin is None:
        abort(404)
    if not may_switch(current_user, plugin):
        forbidden("您只能启用或停用本组织的品牌插件。")
    on = action == "enable"
    if set_enabled(plugin_id, on, changed_by=current_user.username):
        log.info("插件 %s 已被 %s %s", plugin_id, current_user.username, "启用" if on else "停用")
    flash(f"“{plugin.name}”已{'启用' if on else '停用'}。" + ("" if on else "它的表单、活动和页面已对居民隐藏，数据都保留着。"),
          "info")
    return redirect(url_for(".index"), code=303)
