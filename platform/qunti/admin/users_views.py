"""Users and roles: who may sign in, in which role, bound to which organization, unit or station.

System administrators manage every account. An organization administrator manages the handlers of
their organization's own unit and the brand leads of their organization, and nothing else. A
password is only ever written (hashed); no page shows a hash.
"""
from __future__ import annotations

import re
from typing import Any

from flask_admin.form import BaseForm
from flask_login import current_user
from sqlalchemy import and_, false, inspect, or_, select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from qunti.accounts.models import ROLE_BINDING, ROLES, User
from qunti.admin.model_views import AuditedModelView, choice_label, yes_no
from qunti.db import db
from qunti.directory.models import Station, Unit
from qunti.menu.models import ORGANIZATIONS

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,59}$")
BINDING_FIELDS = ("organization", "unit_code", "station_code")
BINDING_NAMES = {"organization": "群团组织", "unit_code": "办单单位", "station_code": "服务站"}
# What an organization administrator may make of the accounts they manage.
ORG_ADMIN_ROLES = ("handler", "brand_lead")
NOT_BOUND = {"": "（不绑定）"}


def _none_if_blank(value: Any) -> Any:
    return value or None


def _changed(model: Any, name: str) -> bool:
    history = inspect(model).attrs[name].history
    return bool(history.deleted) and history.deleted[0] != getattr(model, name)


class WriteOnlyPassword(PasswordField):
    """Never rendered back; when filled in, stored as a hash through ``User.set_password``."""

    def populate_obj(self, obj: Any, name: str) -> None:
        if self.data:
            obj.set_password(self.data)


class UserForm(BaseForm):
    username = StringField("用户名", [InputRequired("请填写用户名"), Regexp(
        USERNAME, message="用户名须为 3–60 位字母、数字或 _ . @ -，以字母或数字开头")],
        description="登录用，创建后不能修改。")
    display_name = StringField("姓名", [InputRequired("请填写姓名"), Length(1, 60, "姓名最多 60 个字")])
    role = SelectField("角色", choices=dict(ROLES))
    organization = SelectField("所属群团组织", choices={}, coerce=_none_if_blank,
                               description="组织管理员、品牌负责人必须绑定。")
    unit_code = SelectField("所属办单单位", choices={}, coerce=_none_if_blank, description="办单人员必须绑定。")
    station_code = SelectField("所属服务站", choices={}, coerce=_none_if_blank, description="站点工作人员必须绑定。")
    phone = StringField("手机号", [Optional(), Regexp(r"^1\d{10}$", message="手机号须为 11 位数字")],
                        filters=[lambda value: (value or "").strip() or None])
    active = BooleanField("启用（停用后不能登录，已有记录保留）", default=True)
    password = WriteOnlyPassword("密码", [Optional(), Length(8, 128, "密码须为 8–128 个字符")],
                                 description="新建账号必须设置；修改账号时留空表示不改密码。")


class UserView(AuditedModelView):
    roles = create_roles = edit_roles = ("sys_admin", "org_admin")
    object_type = "user"
    audit_fields = ("username", "display_name", "role", "organization", "unit_code", "station_code", "phone",
                    "active")
    form = UserForm
    list_template = "admin/qunti_list.html"
    intro = "账号不能删除（订单和审计日志记着经办人），不再使用时请停用。密码只能重设，任何页面都不显示。"
    column_list = ("username", "display_name", "role", "organization", "unit_code", "station_code", "active",
                   "created_at")
    column_labels = {"username": "用户名", "display_name": "姓名", "role": "角色", "organization": "群团组织",
                     "unit_code": "办单单位", "station_code": "服务站", "active": "启用", "created_at": "创建时间"}
    column_formatters = {"role": choice_label(ROLES), "organization": choice_label(ORGANIZATIONS), "active": yes_no}
    column_default_sort = "username"
    column_searchable_list = ("username", "display_name")
    column_filters = ("active",)

    def scope(self, user):
        if user.role == "sys_admin":
            return None
        if user.role == "org_admin":
            return or_(and_(User.role == "handler", User.unit_code == user.organization),
                       and_(User.role == "brand_lead", User.organization == user.organization))
        return false()

    def fields_for(self, user, form, is_created):
        return None if is_created else set(form._fields) - {"username"}

    def prepare_form(self, form, is_created):
        me = current_user
        # Choices are value -> label dicts (WTForms' shorthand; tuple lists are deprecated).
        units = {code: f"{name}（{code}）" for code, name in
                 db.session.execute(select(Unit.code, Unit.name).order_by(Unit.code))}
        stations = {code: f"{name}（{code}）" for code, name in
                    db.session.execute(select(Station.code, Station.name).order_by(Station.code))}
        if me.role == "sys_admin":
            form.role.choices = dict(ROLES)
            form.organization.choices = {**NOT_BOUND, **ORGANIZATIONS}
            form.unit_code.choices = {**NOT_BOUND, **units}
            form.station_code.choices = {**NOT_BOUND, **stations}
        else:
            mine = {me.organization: ORGANIZATIONS.get(me.organization, me.organization)}
            form.role.choices = {role: ROLES[role] for role in ORG_ADMIN_ROLES}
            form.organization.choices = {**NOT_BOUND, **mine}
            form.unit_code.choices = {**NOT_BOUND, **{code: name for code, name in units.items() if code in mine}}
            form.station_code.choices = dict(NOT_BOUND)

    def check_change(self, form, model, is_created):
        if is_created:
            if not form.password.data:
                raise ValidationError("新建账号必须设置密码（至少 8 个字符）。")
            if self.taken(User.username, model.username):
                raise ValidationError(f"用户名 {model.username} 已被使用，请换一个。")
        binding = ROLE_BINDING.get(model.role)
        if binding and not getattr(model, binding):
            raise ValidationError(f"{ROLES.get(model.role, model.role)}必须绑定{BINDING_NAMES[binding]}，请选择。")
        # A role keeps only its own binding, so a changed role never leaves a stale one behind.
        for name in BINDING_FIELDS:
            if name != binding:
                setattr(model, name, None)
        if model.id is not None and model.id == current_user.id and (_changed(model, "role") or not model.active):
            raise ValidationError("不能修改自己的角色或停用自己的账号，请由另一位系统管理员操作。")

    def audit_extra(self, model, is_created):
        return {"password": "已设置"} if inspect(model).attrs.password_hash.history.has_changes() else {}


def views() -> list[Any]:
    return [UserView(User, name="用户与角色", endpoint="admin_users", url="/admin/users")]
