"""The audit log, read-only: who changed what in the console, when, and what it was before and after.

Nothing here writes: there is no create, edit or delete, and the model refuses updates and deletes
anyway (:mod:`qunti.admin.models`). Filters: user, action, object type, object id, date range.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import DateBetweenFilter, FilterEqual, FilterLike
from markupsafe import Markup, escape

from qunti.admin.base import RoleMixin
from qunti.admin.model_views import PermissionMixin
from qunti.admin.models import AuditEntry
from qunti.db import db

ACTIONS = {"create": "新建", "update": "修改", "delete": "删除", "publish": "发布", "rollback": "回滚",
           "enable": "启用", "disable": "停用"}
OBJECT_TYPES = {"service_item": "服务事项", "station": "服务站", "unit": "办单单位", "calendar_day": "节假日",
                "ruleset": "派单规则", "user": "用户", "form": "表单", "plugin": "插件"}


class LocalDateRange(DateBetweenFilter):
    """Between two dates inclusive, as days in the district's time zone (``2026-01-01 to 2026-01-31``)."""

    def apply(self, query, value, alias=None):
        zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
        start = datetime.combine(value[0], time(), zone).astimezone(timezone.utc)
        end = datetime.combine(value[1] + timedelta(days=1), time(), zone).astimezone(timezone.utc)
        column = self.get_column(alias)
        return query.filter(column >= start, column < end)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def changes(view, context, model: AuditEntry, name: str) -> Markup:
    """Before → after, one line per changed field (every value escaped)."""
    before, after = model.before or {}, model.after or {}
    lines = []
    for key in list(dict.fromkeys([*before, *after])):
        old, new = before.get(key), after.get(key)
        if key in before and key in after:
            lines.append(Markup("{}：{} → {}").format(key, _text(old), _text(new)))
        elif key in after:
            lines.append(Markup("{}：{}").format(key, _text(new)))
        else:
            lines.append(Markup("{}：{}（删除前）").format(key, _text(old)))
    return Markup("<br>").join(lines)


def pretty_json(view, context, model: AuditEntry, name: str) -> Markup:
    value = getattr(model, name)
    if value is None:
        return Markup("—")
    return Markup("<pre>{}</pre>").format(json.dumps(value, ensure_ascii=False, indent=2))


class AuditView(PermissionMixin, RoleMixin, ModelView):
    roles = ("sys_admin",)
    can_create = can_edit = can_delete = False
    can_view_details = True
    can_export = False
    page_size = 50
    column_list = ("at", "user_label", "action", "object_type", "object_id", "changes")
    column_details_list = ("at", "user_label", "action", "object_type", "object_id", "before", "after")
    column_labels = {"at": "时间", "user_label": "操作人", "action": "操作", "object_type": "对象类型",
                     "object_id": "对象", "changes": "改动（改前 → 改后）", "before": "改前", "after": "改后"}
    column_formatters = {
        "at": lambda v, c, m, n: _local(m.at),
        "action": lambda v, c, m, n: ACTIONS.get(m.action, m.action),
        "object_type": lambda v, c, m, n: OBJECT_TYPES.get(m.object_type, m.object_type),
        "changes": changes,
    }
    column_formatters_detail = {**column_formatters, "before": pretty_json, "after": pretty_json}
    column_default_sort = ("id", True)
    column_sortable_list = ("at", "user_label", "action", "object_type")
    column_filters = (
        FilterLike(AuditEntry.user_label, "操作人"),
        FilterEqual(AuditEntry.action, "操作", options=list(ACTIONS.items())),
        FilterEqual(AuditEntry.object_type, "对象类型", options=list(OBJECT_TYPES.items())),
        FilterEqual(AuditEntry.object_id, "对象"),
        LocalDateRange(AuditEntry.at, "日期"),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(AuditEntry, db, **kwargs)


def _local(moment: datetime | None) -> str:
    from qunti.staff.present import when
    return when(moment, "%Y-%m-%d %H:%M:%S")


def views() -> list[Any]:
    return [AuditView(name="审计日志", endpoint="admin_audit", url="/admin/audit")]
