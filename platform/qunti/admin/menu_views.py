"""The catalog admins keep up to date: the service menu, stations, handling units, the four
organizations and the holiday calendar; plus links to the 七有 checklist, plugins and activities.

Who sees what: a system administrator everything; an organization administrator their
organization's service items, its own unit and the stations it leads; station staff the profile of
their own station. Nothing orders point at is ever deleted: service items and units are switched off.
"""
from __future__ import annotations

import re
from typing import Any

from flask import current_app, request, url_for
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_admin.menu import MenuLink
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.routing import BuildError
from wtforms import BooleanField, DateField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from qunti.admin.base import RoleView
from qunti.admin.model_views import AuditedModelView, DirectRun, choice_label, yes_no
from qunti.catalog import MENU_SCHEMA
from qunti.db import db
from qunti.definitions import read_json
from qunti.directory.models import UNIT_KINDS, CalendarDay, Station, Unit
from qunti.forms.models import Form
from qunti.menu.models import ORGANIZATIONS, ServiceItem

CATEGORY = "服务菜单与站点"
QIYOU_FORM = "station-checklist-qiyou"
ITEM_CODE = re.compile(r"^[A-Z][A-Z0-9-]{1,15}$")
PLAIN_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
STATION_KINDS = {"center": "依托党群服务中心（1+3+N）", "new": "新建（一家牵头、八家进入）"}


def six_functions() -> list[str]:
    """The 六位一体 functions, as the service-menu schema lists them."""
    return read_json(MENU_SCHEMA)["$defs"]["item"]["properties"]["functions"]["items"]["enum"]


def rules_still_hold(changed: set[str], watched: set[str]) -> None:
    """Refuse a change to ``watched`` columns that would leave a running rule set failing its checks."""
    from qunti.rules.published import check_still_valid

    if not changed & watched:
        return
    problem = check_still_valid()
    if problem is not None:
        raise ValidationError(f"这样修改后，正在使用的派单规则不再成立（{problem.path or '/'}：{problem.reason}）。"
                              "请先在“派单规则”中修改相关的行，再来修改这里。")


def _org_choices(user) -> dict[str, str]:
    # Choices are value -> label dicts throughout (WTForms' shorthand; tuple lists are deprecated).
    if user.role == "sys_admin":
        return dict(ORGANIZATIONS)
    return {user.organization: ORGANIZATIONS.get(user.organization, user.organization)}


class MultiChoice(SelectMultipleField):
    """Several of the offered values; anything else is refused in Chinese (WTForms' own message
    for this is untranslated in its Chinese catalog)."""

    def pre_validate(self, form) -> None:
        offered = {choice.value for choice in self.iter_choices()}
        unknown = [value for value in self.data or [] if value not in offered]
        if unknown:
            raise ValidationError(f"不是可选的值：{'、'.join(map(str, unknown))}")


# ---------------------------------------------------------------- service items


class ServiceItemForm(BaseForm):
    code = StringField("事项编码", [InputRequired("请填写事项编码"), Regexp(
        ITEM_CODE, message="事项编码须以大写字母开头，由 2–16 位大写字母、数字或“-”组成，如 S14")],
        description="居民和规则用它指称这个事项，创建后不能修改。")
    name = StringField("事项名称", [InputRequired("请填写事项名称"), Length(2, 20, "事项名称须为 2–20 个字")])
    form_id = SelectField("关联表单", [InputRequired("请选择关联表单")], choices={},
                          description="居民点这个事项时填写的表单；只能选已有的表单。")
    organization = SelectField("牵头组织", choices=dict(ORGANIZATIONS))
    time_limit_days = IntegerField("办理时限（工作日）", [InputRequired("请填写办理时限（1–90 的整数）"),
                                                  NumberRange(1, 90, "办理时限须在 1 到 90 个工作日之间")])
    functions = MultiChoice("对应的“六位一体”功能", [DataRequired("请至少选择一项功能")], choices={})
    summary = StringField("一句话说明", [Length(max=60, message="一句话说明最多 60 个字")])
    position = IntegerField("排序（数字小的排在前面）", [InputRequired("请填写排序号"),
                                                NumberRange(0, 9999, "排序号须在 0 到 9999 之间")])
    enabled = BooleanField("启用（停用后居民看不到、也不能再点这个事项；已有订单不受影响）", default=True)


class ServiceItemView(AuditedModelView):
    roles = create_roles = edit_roles = ("sys_admin", "org_admin")
    object_type = "service_item"
    audit_fields = ("code", "name", "form_id", "organization", "time_limit_days", "functions", "summary",
                    "position", "enabled")
    form = ServiceItemForm
    list_template = "admin/qunti_list.html"
    intro = ("服务菜单是居民点单的入口。调整排序、启用或停用事项、改关联表单和办理时限后立即生效。"
             "事项不能删除（已有订单引用它们），不再提供时请停用。“七有”检查项在表单编辑器里维护。")
    column_list = ("position", "code", "name", "organization", "form_id", "time_limit_days", "enabled")
    column_labels = {"position": "排序", "code": "编码", "name": "名称", "organization": "牵头组织",
                     "form_id": "关联表单", "time_limit_days": "时限（工作日）", "enabled": "启用"}
    column_formatters = {"organization": choice_label(ORGANIZATIONS), "enabled": yes_no}
    column_default_sort = "position"
    column_searchable_list = ("code", "name")
    column_filters = ("enabled",)

    def scope(self, user):
        return None if user.role == "sys_admin" else ServiceItem.organization == user.organization

    def fields_for(self, user, form, is_created):
        return None if is_created else set(form._fields) - {"code"}

    def prepare_form(self, form, is_created):
        form.form_id.choices = {form_id: f"{title}（{form_id}）" for form_id, title in
                                db.session.execute(select(Form.id, Form.title).order_by(Form.id))}
        form.functions.choices = {name: name for name in six_functions()}
        form.organization.choices = _org_choices(current_user)
        if is_created and request.method == "GET":
            form.position.data = (db.session.scalar(select(func.max(ServiceItem.position))) or 0) + 1

    def check_change(self, form, model, is_created):
        if is_created and self.taken(ServiceItem.code, model.code):
            raise ValidationError(f"事项编码 {model.code} 已经存在，请换一个。")
        # In the schema's order, whatever order they were ticked in: the same set is the same value.
        model.functions = [name for name in six_functions() if name in (model.functions or [])]

    def check_after_flush(self, model, is_created, changed):
        rules_still_hold(changed, {"form_id"})


# ---------------------------------------------------------------- units


class UnitForm(BaseForm):
    code = StringField("单位编码", [InputRequired("请填写单位编码"), Regexp(
        PLAIN_CODE, message="单位编码须以小写字母开头，由 2–40 位小写字母、数字或“-”组成，如 civil-affairs")],
        description="派单规则用它指称这个单位，创建后不能修改。")
    name = StringField("单位名称", [InputRequired("请填写单位名称"), Length(2, 100, "单位名称须为 2–100 个字")])
    kind = SelectField("类型", choices=dict(UNIT_KINDS),
                       description="派单规则按类型核对去向：群团组织承办、转交部门或街镇、购买社会组织服务…")
    active = BooleanField("启用（停用后，规则派往这个单位的订单改由联席会人工派单）", default=True)


class UnitView(AuditedModelView):
    roles = edit_roles = ("sys_admin", "org_admin")
    object_type = "unit"
    audit_fields = ("code", "name", "kind", "active")
    form = UnitForm
    list_template = "admin/qunti_list.html"
    intro = "办单单位是订单派往的去处。单位不能删除（订单和账号引用它们），不再承接时请停用。"
    column_list = ("code", "name", "kind", "active")
    column_labels = {"code": "编码", "name": "名称", "kind": "类型", "active": "启用"}
    column_formatters = {"kind": choice_label(UNIT_KINDS), "active": yes_no}
    column_default_sort = "code"
    column_searchable_list = ("code", "name")
    column_filters = ("active",)

    def scope(self, user):
        # An organization's own unit has the organization's code (units.json: union, league, women).
        return None if user.role == "sys_admin" else Unit.code == user.organization

    def fields_for(self, user, form, is_created):
        if user.role != "sys_admin":
            return {"name", "active"}
        return None if is_created else set(form._fields) - {"code"}

    def check_change(self, form, model, is_created):
        if is_created and self.taken(Unit.code, model.code):
            raise ValidationError(f"单位编码 {model.code} 已经存在，请换一个。")

    def check_after_flush(self, model, is_created, changed):
        rules_still_hold(changed, {"kind"})


# ---------------------------------------------------------------- stations


class StationForm(BaseForm):
    code = StringField("站点编码", [InputRequired("请填写站点编码"), Regexp(
        PLAIN_CODE, message="站点编码须以小写字母开头，由 2–40 位小写字母、数字或“-”组成，如 gangcheng")],
        description="创建后不能修改。")
    name = StringField("站点名称", [InputRequired("请填写站点名称"), Length(2, 100, "站点名称须为 2–100 个字")])
    community = StringField("所在社区", [InputRequired("请填写所在社区"), Length(2, 60, "所在社区须为 2–60 个字")],
                            description="派单规则按社区判断属地（station.community）。")
    kind = SelectField("建站方式", choices=dict(STATION_KINDS))
    lead_organization = SelectField("牵头组织", choices=dict(ORGANIZATIONS))
    subdistrict_unit = SelectField("所属街镇", [Optional()], choices={}, coerce=lambda value: value or None)
    address = StringField("地址", [Length(max=200, message="地址最多 200 个字")])


class StationView(AuditedModelView):
    roles = edit_roles = ("sys_admin", "org_admin", "station_staff")
    object_type = "station"
    audit_fields = ("code", "name", "community", "kind", "lead_organization", "subdistrict_unit", "address")
    form = StationForm
    column_list = ("code", "name", "community", "kind", "lead_organization", "address")
    column_labels = {"code": "编码", "name": "名称", "community": "所在社区", "kind": "建站方式",
                     "lead_organization": "牵头组织", "address": "地址"}
    column_formatters = {"kind": choice_label(STATION_KINDS), "lead_organization": choice_label(ORGANIZATIONS)}
    column_default_sort = "code"
    column_searchable_list = ("code", "name", "community")

    def scope(self, user):
        if user.role == "sys_admin":
            return None
        if user.role == "station_staff":
            return Station.code == user.station_code
        return Station.lead_organization == user.organization

    def fields_for(self, user, form, is_created):
        if user.role == "station_staff":
            return {"name", "address"}
        return None if is_created else set(form._fields) - {"code"}

    def prepare_form(self, form, is_created):
        if "subdistrict_unit" in form:
            units = db.session.execute(select(Unit.code, Unit.name).where(Unit.kind == "subdistrict")
                                       .order_by(Unit.code))
            form.subdistrict_unit.choices = {"": "（不填）", **{code: name for code, name in units}}
        if "lead_organization" in form:
            form.lead_organization.choices = _org_choices(current_user)

    def check_change(self, form, model, is_created):
        if is_created and self.taken(Station.code, model.code):
            raise ValidationError(f"站点编码 {model.code} 已经存在，请换一个。")


# ---------------------------------------------------------------- holiday calendar


class CalendarDayForm(BaseForm):
    day = DateField("日期", [InputRequired("请填写日期，如 2026-10-01")], description="创建后不能修改；填错请删除后重建。")
    is_workday = BooleanField("调休上班（勾选：这个周末要上班；不勾选：这天放假）")
    name = StringField("名称", [InputRequired("请填写名称，如 国庆节"), Length(1, 40, "名称最多 40 个字")])


class CalendarDayView(AuditedModelView):
    roles = create_roles = edit_roles = delete_roles = ("sys_admin",)
    object_type = "calendar_day"
    audit_fields = ("day", "is_workday", "name")
    form = CalendarDayForm
    list_template = "admin/qunti_list.html"
    intro = ("周一至周五是工作日、周末休息；这里只登记例外：法定节假日（放假），以及调休上班的周末。"
             "办理时限按工作日计算，修改后对新派出的订单生效。")
    column_list = ("day", "is_workday", "name")
    column_labels = {"day": "日期", "is_workday": "调休上班", "name": "名称"}
    column_formatters = {"is_workday": yes_no}
    column_default_sort = ("day", True)
    column_filters = ("day", "is_workday")

    def fields_for(self, user, form, is_created):
        return None if is_created else set(form._fields) - {"day"}

    def check_change(self, form, model, is_created):
        if is_created and self.taken(CalendarDay.day, model.day):
            raise ValidationError(f"{model.day} 已经登记过了，请直接修改那一条。")
        if model.is_workday and model.day.weekday() < 5:
            raise ValidationError(f"{model.day} 本来就是工作日；调休上班日只能是周六或周日。")


# ---------------------------------------------------------------- read-only pages and links


class OrganizationsView(DirectRun, RoleView):
    """The four organizations are fixed (they are the 群团 themselves): a read-only list."""

    roles = ("sys_admin", "org_admin")

    @expose("/")
    def index(self):
        items = dict(db.session.execute(select(ServiceItem.organization, func.count())
                                        .group_by(ServiceItem.organization)).all())
        stations = dict(db.session.execute(select(Station.lead_organization, func.count())
                                           .group_by(Station.lead_organization)).all())
        units = {unit.code: unit for unit in db.session.scalars(select(Unit).where(Unit.code.in_(ORGANIZATIONS)))}
        rows = [{"code": code, "name": name, "items": items.get(code, 0), "stations": stations.get(code, 0),
                 "unit": units.get(code)} for code, name in ORGANIZATIONS.items()]
        return self.render("admin/organizations.html", rows=rows)


def form_editor_url(form_id: str) -> str | None:
    """The form editor's page for ``form_id`` (qunti.admin.forms_views), if it is mounted."""
    try:
        return url_for("admin_forms.detail", form_id=form_id)
    except BuildError:
        return None


class QiyouView(DirectRun, RoleView):
    """The 七有 checklist is a form: this page lists its items and sends admins to the form editor."""

    roles = ("sys_admin",)

    @expose("/")
    def index(self):
        from qunti.forms.registry import current_version, version_schema
        from qunti.plugins import checklist_items

        version = current_version(QIYOU_FORM)
        schema = version_schema(version) if version is not None else {}
        order = (schema.get("x-ui") or {}).get("order") or list(schema.get("properties") or {})
        properties = schema.get("properties") or {}
        items = [{"key": key, "title": properties[key].get("title", key)} for key in order
                 if key in properties and str(properties[key].get("$ref", "")).endswith("/checkItem")]
        try:
            extra = checklist_items()
        except (KeyError, AttributeError):  # plugins not loaded in this app
            extra = []
        return self.render("admin/qiyou.html", form_id=QIYOU_FORM, version=version, items=items, extra=extra,
                           editor_url=form_editor_url(QIYOU_FORM))


class RoleLink(MenuLink):
    """A menu link shown to ``roles`` only, and only when the page it points at is mounted."""

    def __init__(self, name: str, endpoint: str, roles: tuple[str, ...], category: str | None = None) -> None:
        super().__init__(name, endpoint=endpoint, category=category)
        self.roles = roles

    def _url(self) -> str | None:
        try:
            return url_for(self.endpoint)
        except BuildError:
            return None

    def get_url(self) -> str:
        return self._url() or "#"

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.role in self.roles

    def is_visible(self) -> bool:
        return self.endpoint in current_app.view_functions


def views() -> list[Any]:
    return [
        ServiceItemView(ServiceItem, name="服务菜单", category=CATEGORY, endpoint="admin_menu", url="/admin/menu"),
        QiyouView(name="“七有”检查项", category=CATEGORY, endpoint="admin_qiyou", url="/admin/qiyou"),
        StationView(Station, name="服务站", category=CATEGORY, endpoint="admin_stations", url="/admin/stations"),
        UnitView(Unit, name="办单单位", category=CATEGORY, endpoint="admin_units", url="/admin/units"),
        OrganizationsView(name="群团组织", category=CATEGORY, endpoint="admin_organizations",
                          url="/admin/organizations"),
        CalendarDayView(CalendarDay, name="节假日", category=CATEGORY, endpoint="admin_calendar",
                        url="/admin/calendar"),
    ]


def links() -> list[MenuLink]:
    return [
        RoleLink("插件管理", "plugins.index", ("sys_admin", "brand_lead")),
        RoleLink("品牌活动", "activities.manage", ("sys_admin", "org_admin", "brand_lead")),
    ]
