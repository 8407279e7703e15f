"""The forms part of the admin console: forms and their versions, the JSON editor and the simple
editor (both with a preview of exactly what residents get), the diff of two versions, and rollback.

Every change is published through :mod:`qunti.admin.form_publish`. Nothing here needs JavaScript:
each button posts the page and the server renders it again. The preview is the resident page's own
HTML (``render_form``) in a sandboxed ``iframe srcdoc``, so no script and no form in it can run.

Who may edit what: a system admin every form; an organization admin the forms whose service items
all belong to their organization, and the forms of their organization's brand plugins. Forms of
joint (群团联合) items are shared by three organizations, so only a system admin edits them.
"""
from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qunti import jsontext
from qunti.accounts.access import binding_problem
from qunti.admin import form_edits
from qunti.admin.base import RoleView
from qunti.admin.diff import field_summary, line_diff
from qunti.admin.form_publish import Refused, Unchanged, author, authors, check_form, check_with_rules, publish
from qunti.catalog import state
from qunti.db import db
from qunti.definitions import DefinitionError, digest, parse_json
from qunti.definitions_io import dump_form
from qunti.forms.compiler import CompiledForm
from qunti.forms.models import Form, FormVersion
from qunti.forms.registry import compiled_version
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.menu.queries import item_for_form

EDIT_ROLES = ("sys_admin", "org_admin")
NEW_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "新表单",
    "type": "object",
    "properties": {"name": {"type": "string", "title": "姓名", "maxLength": 20}},
    "required": ["name"],
    "additionalProperties": False,
}


# -- who may edit which form -----------------------------------------------------------------------

def _item_organizations() -> dict[str, set[str]]:
    """Form id -> organizations of the service items that use it (disabled items included)."""
    found: dict[str, set[str]] = {}
    for form_id, organization in db.session.execute(select(ServiceItem.form_id, ServiceItem.organization)):
        found.setdefault(form_id, set()).add(organization)
    return found


def _plugin_of(form: Form) -> Any:
    if not form.origin.startswith("plugin:"):
        return None
    plugins = state().catalog.plugins
    return plugins.get(form.origin.removeprefix("plugin:")) if plugins is not None else None


def may_edit(user: Any, form: Form, organizations: dict[str, set[str]] | None = None) -> bool:
    if user.role == "sys_admin":
        return True
    if user.role != "org_admin" or not user.organization:
        return False
    plugin = _plugin_of(form)
    if plugin is not None:
        return plugin.kind == "brand" and plugin.organization == user.organization
    used_by = (organizations if organizations is not None else _item_organizations()).get(form.id, set())
    return used_by == {user.organization}


def origin_name(form: Form) -> str:
    if form.origin == "file":
        return "定义文件"
    plugin = _plugin_of(form)
    if plugin is not None:
        return f"插件：{plugin.name}"
    return "管理后台" if form.origin == "admin" else form.origin


# -- helpers ---------------------------------------------------------------------------------------

def _source(form_id: str) -> str:
    return f"表单 {form_id}"


def _preview(compiled: CompiledForm | None, form_id: str) -> str | None:
    """The resident page of ``compiled`` (blank), for the preview frame."""
    if compiled is None:
        return None
    return render_template("admin/forms/preview.html", compiled=compiled, item=item_for_form(form_id),
                           form=compiled.bind(meta={"csrf": False}))


def _compiled(form_id: str, schema: dict[str, Any]) -> CompiledForm | None:
    try:
        return check_form(form_id, schema, _source(form_id))
    except DefinitionError:
        return None


def _base(value: Any) -> int:
    """The version number an edit started from; a page without one matches no version, so a
    tampered or truncated post is refused as stale rather than published over someone else's."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class FormsView(RoleView):
    roles = EDIT_ROLES

    def is_accessible(self) -> bool:
        return super().is_accessible() and binding_problem(current_user) is None

    def _run_view(self, fn, *args, **kwargs):
        # Flask-Admin calls a view again with other arguments when it raises TypeError, which
        # hides the real error behind "unexpected keyword argument 'cls'".
        return fn(self, *args, **kwargs)

    # -- loading ------------------------------------------------------------------------------------

    def _form(self, form_id: str) -> Form:
        form = db.session.get(Form, form_id)
        if form is None or form.current_version_id is None:
            abort(404)
        if not may_edit(current_user, form):
            abort(403)
        return form

    @staticmethod
    def _version(form: Form, number: int | None) -> FormVersion:
        version = db.session.scalar(select(FormVersion).where(
            FormVersion.form_id == form.id, FormVersion.number == number)) if number is not None else None
        if version is None:
            abort(404)
        return version

    @staticmethod
    def _current(form: Form) -> FormVersion:
        return db.session.get(FormVersion, form.current_version_id)

    # -- pages --------------------------------------------------------------------------------------

    @expose("/")
    def index(self):
        organizations = _item_organizations()
        forms = [f for f in db.session.scalars(select(Form).where(Form.current_version_id.is_not(None))
                                               .order_by(Form.id))
                 if may_edit(current_user, f, organizations)]
        versions = {v.id: v for v in db.session.scalars(
            select(FormVersion).where(FormVersion.id.in_([f.current_version_id for f in forms])))}
        items: dict[str, list[ServiceItem]] = {}
        for item in db.session.scalars(select(ServiceItem).order_by(ServiceItem.position)):
            items.setdefault(item.form_id, []).append(item)
        return self.render("admin/forms/index.html", forms=forms, versions=versions, items=items,
                           origin_name=origin_name, can_create=current_user.role == "sys_admin")

    @expose("/<form_id>/")
    def detail(self, form_id: str):
        form = self._form(form_id)
        versions = list(db.session.scalars(select(FormVersion).where(FormVersion.form_id == form.id)
                                           .order_by(FormVersion.number.desc())))
        known = authors(form.id)
        items = list(db.session.scalars(select(ServiceItem).where(ServiceItem.form_id == form.id)
                                        .order_by(ServiceItem.position)))
        return self.render("admin/forms/detail.html", form=form, versions=versions, current=self._current(form),
                           author=lambda v: author(v, known), items=items, organizations=ORGANIZATIONS,
                           origin=origin_name(form))

    @expose("/<form_id>/versions/<int:number>")
    def version(self, form_id: str, number: int):
        form = self._form(form_id)
        version = self._version(form, number)
        return self.render("admin/forms/version.html", form=form, version=version, current=self._current(form),
                           author=author(version, authors(form.id)), text=dump_form(version.schema),
                           preview=_preview(compiled_version(version), form.id))

    @expose("/<form_id>/diff")
    def diff(self, form_id: str):
        form = self._form(form_id)
        current = self._current(form)
        new_number = request.args.get("to", current.number, type=int)
        old_number = request.args.get("from", max(new_number - 1, 1), type=int)
        old, new = self._version(form, old_number), self._version(form, new_number)
        numbers = list(db.session.scalars(select(FormVersion.number).where(FormVersion.form_id == form.id)
                                          .order_by(FormVersion.number.desc())))
        return self.render("admin/forms/diff.html", form=form, old=old, new=new, numbers=numbers,
                           lines=line_diff(old.schema, new.schema, f"第 {old.number} 版", f"第 {new.number} 版"),
                           summary=field_summary(old.schema, new.schema))

    @expose("/<form_id>/versions/<int:number>/rollback", methods=("POST",))
    def rollback(self, form_id: str, number: int):
        form = self._form(form_id)
        version = self._version(form, number)
        try:
            new = publish(form, version.schema, base_number=_base(request.form.get("base_version")),
                          note=f"回滚到第 {number} 版", action="rollback", user=current_user)
        except DefinitionError as exc:
            flash(f"无法回滚到第 {number} 版：{exc}", "error")
        except Unchanged as exc:
            flash(exc.message, "info")
        except Refused as exc:
            flash(exc.message, "error")
        else:
            flash(f"已把第 {number} 版的内容发布为第 {new.number} 版，居民现在看到的是它。", "success")
        return redirect(url_for(".detail", form_id=form.id))

    # -- the JSON editor ----------------------------------------------------------------------------

    @expose("/<form_id>/edit", methods=("GET", "POST"))
    def edit(self, form_id: str):
        form = self._form(form_id)
        current = self._current(form)
        if request.method == "GET":
            return self._editor(form, current, dump_form(current.schema), current.number,
                                preview=_preview(compiled_version(current), form.id))
        base = _base(request.form.get("base_version"))
        text, note = request.form.get("schema", ""), request.form.get("note", "").strip()
        try:
            schema = parse_json(text, _source(form.id))
            compiled = check_with_rules(form.id, schema, _source(form.id))
        except DefinitionError as exc:
            return self._editor(form, current, text, base, note=note, problem=exc), 422
        if request.form.get("action") == "publish":
            try:
                version = publish(form, schema, base_number=base, note=note or "管理后台编辑（JSON）",
                                  user=current_user, checked=True)
            except Unchanged as exc:
                return self._editor(form, current, text, base, note=note, message=exc.message,
                                    preview=_preview(compiled, form.id))
            except Refused as exc:
                return self._editor(form, current, text, base, note=note, refused=exc.message,
                                    preview=_preview(compiled, form.id)), 409
            flash(f"已发布第 {version.number} 版，居民现在看到的是新版本。", "success")
            return redirect(url_for(".detail", form_id=form.id))
        return self._editor(form, current, text, base, note=note, preview=_preview(compiled, form.id))

    def _editor(self, form: Form | None, current: FormVersion | None, text: str, base: int | None, **page: Any):
        page.setdefault("note", "")
        return self.render("admin/forms/edit.html", form=form, current=current, text=text, base=base,
                           new_id=page.pop("new_id", ""), **page)

    @expose("/new", methods=("GET", "POST"))
    def new(self):
        if current_user.role != "sys_admin":
            abort(403)
        if request.method == "GET":
            return self._editor(None, None, dump_form(NEW_FORM), None)
        form_id, text = request.form.get("form_id", "").strip(), request.form.get("schema", "")
        note = request.form.get("note", "").strip()
        page = {"new_id": form_id, "note": note}
        try:
            if form_id and (db.session.get(Form, form_id) is not None or form_id in state().catalog.forms):
                raise DefinitionError(_source(form_id), "", f"表单编号 '{form_id}' 已存在，请换一个编号，或打开该表单修改")
            schema = parse_json(text, _source(form_id))
            compiled = check_with_rules(form_id, schema, _source(form_id))
        except DefinitionError as exc:
            return self._editor(None, None, text, None, problem=exc, **page), 422
        if request.form.get("action") != "publish":
            return self._editor(None, None, text, None, preview=_preview(compiled, form_id), **page)
        try:
            form = Form(id=form_id, title=schema["title"].strip(), origin="admin")
            db.session.add(form)
            db.session.flush()
            publish(form, schema, base_number=None, note=note or "管理后台新建", action="create",
                    user=current_user, checked=True)
        except IntegrityError:
            db.session.rollback()
            problem = DefinitionError(_source(form_id), "", f"表单编号 '{form_id}' 已存在，请换一个编号")
            return self._editor(None, None, text, None, problem=problem, **page), 422
        except Refused as exc:
            return self._editor(None, None, text, None, refused=exc.message, **page), 409
        flash(f"已新建表单 {form_id}（第 1 版）。", "success")
        return redirect(url_for(".detail", form_id=form_id))

    # -- the simple editor --------------------------------------------------------------------------

    @expose("/<form_id>/fields", methods=("GET", "POST"))
    def fields(self, form_id: str):
        form = self._form(form_id)
        current = self._current(form)
        if request.method == "GET":
            return self._simple(form, current, current.schema, current.number, compiled_version(current))
        base = _base(request.form.get("base_version"))
        note = request.form.get("note", "").strip()
        try:
            # The page's own copy of the work so far; checked in full once edited, below.
            draft = jsontext.loads(request.form.get("draft", ""))
            rows = form_edits.rows(draft)
        except (ValueError, DefinitionError):
            # Only a tampered or truncated page gets here.
            return self._simple(form, current, current.schema, current.number, compiled_version(current),
                                refused="页面内容不完整，已重新打开当前版本，请重新修改。"), 400
        op, _, key = request.form.get("op", "apply").partition(":")
        try:
            edited = _row_edits(draft, rows, request.form)
            if op == "add":
                edited = form_edits.add_field(
                    edited, request.form.get("new_key", ""), request.form.get("new_title", ""),
                    request.form.get("new_type", ""), required="new_required" in request.form,
                    help=request.form.get("new_help", ""), max_length=request.form.get("new_maxlength", ""),
                    choices=request.form.get("new_choices", ""))
            elif op == "remove":
                edited = form_edits.remove_field(edited, key)
            elif op in ("up", "down"):
                edited = form_edits.move_field(edited, key, -1 if op == "up" else 1)
            new_compiled = check_with_rules(form.id, edited, _source(form.id))
        except (form_edits.EditError, DefinitionError) as exc:
            # Keep the work so far and everything typed; show the draft's preview.
            kind = "edit_error" if isinstance(exc, form_edits.EditError) else "problem"
            return self._simple(form, current, draft, base, _compiled(form.id, draft), note=note,
                                posted=request.form, **{kind: exc}), 422
        if op == "publish":
            try:
                version = publish(form, edited, base_number=base, note=note or "管理后台编辑（简单编辑器）",
                                  user=current_user, checked=True)
            except Unchanged as exc:
                return self._simple(form, current, edited, base, new_compiled, note=note, message=exc.message)
            except Refused as exc:
                return self._simple(form, current, edited, base, new_compiled, note=note, refused=exc.message), 409
            flash(f"已发布第 {version.number} 版，居民现在看到的是新版本。", "success")
            return redirect(url_for(".detail", form_id=form.id))
        focus = key if op in ("up", "down") else request.form.get("new_key", "").strip() if op == "add" else ""
        return self._simple(form, current, edited, base, new_compiled, note=note, focus=focus)

    def _simple(self, form: Form, current: FormVersion, draft: dict[str, Any], base: int | None,
                compiled: CompiledForm | None, **page: Any):
        page.setdefault("note", "")
        page.setdefault("posted", {})
        page.setdefault("focus", "")
        return self.render("admin/forms/fields.html", form=form, current=current, base=base,
                           draft=json.dumps(draft, ensure_ascii=False),
                           rows=form_edits.rows(draft, compiled.tree if compiled is not None else None),
                           types=form_edits.TYPES, changed=digest(draft) != current.digest,
                           preview=_preview(compiled, form.id), **page)


def _row_edits(draft: dict[str, Any], rows: list[form_edits.FieldRow], posted: Any) -> dict[str, Any]:
    """Apply what was typed into each field's row (every button press keeps what was typed)."""
    edits = {}
    for row in rows:
        name = f"f-{row.key}-"
        if name + "title" in posted:
            edits[row.key] = form_edits.RowEdit(
                title=posted[name + "title"], help=posted.get(name + "help", row.help),
                required=name + "required" in posted,
                max_length=posted.get(name + "maxlength") if row.max_length is not None else None,
                choices=posted.get(name + "choices") if row.choices is not None else None)
    return form_edits.edit_rows(draft, edits)


def views() -> list[BaseView]:
    return [FormsView(name="表单", endpoint="admin_forms", url="/admin/forms")]
