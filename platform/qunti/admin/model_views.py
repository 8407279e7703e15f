"""The model view every admin table page is built on: who may open it, which rows they see, and an
audit entry for every change, written in the same transaction as the change.

A view says three things about the signed-in user: ``roles`` (who may open it), :meth:`scope` (a
WHERE clause: the rows they may see and touch; None = all) and :meth:`fields_for` (which form
fields they may change). The same clause filters the list, the count, the one row an edit or a
delete loads, and the row after a change: an edit that would move a row out of the editor's own
scope is refused and rolled back.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from typing import Any


from flask import abort, g
from flask_admin.babel import gettext as admin_gettext
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from sqlalchemy import false, inspect, select
from wtforms.validators import ValidationError

from qunti.accounts.access import binding_problem
from qunti.admin import audit
from qunti.admin.base import RoleMixin
from qunti.db import db


def jsonable(value: Any) -> Any:
    """A column value as the audit log stores it."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def allow_inline_handlers(*texts: str) -> None:
    """Let exactly these inline handlers (or ``javascript:`` URLs) run on this response: the CSP
    header (qunti.web) lists their hashes, so nothing else written inline can run."""
    hashes = g.setdefault("csp_hashes", set())
    for text in texts:
        hashes.add("sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii"))


class DirectRun:
    """Run a view as written: Flask-Admin retries one that raised TypeError with other arguments,
    which hides the real error behind "unexpected keyword argument 'cls'"."""

    def _run_view(self, fn, *args: Any, **kwargs: Any):
        return fn(self, *args, **kwargs)


class PermissionMixin(DirectRun):
    """A page the user's permissions do not include answers 403, where Flask-Admin would quietly
    redirect: a refusal is then the same everywhere, and the role matrix test can see it.

    Also lets Flask-Admin's few inline handlers of its list pages run under our CSP (a delete asks
    for confirmation; the filter menu opens) instead of loosening the policy with 'unsafe-inline'.
    """

    def render(self, template: str, **kwargs: Any) -> str:
        allow_inline_handlers(
            "javascript:void(0)", "return false;",
            f"return faHelpers.safeConfirm('{admin_gettext('Are you sure you want to delete this record?')}');",
            *(f"return modelActions.execute('{name}');" for name, _ in getattr(self, "_actions", ())))
        return super().render(template, **kwargs)

    _NEEDS = {"create_view": "can_create", "edit_view": "can_edit", "ajax_update": "can_edit",
              "delete_view": "can_delete", "details_view": "can_view_details", "export": "can_export"}

    def _handle_view(self, name: str, **kwargs: Any):
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        needed = self._NEEDS.get(name)
        if needed is not None and not getattr(self, needed):
            abort(403)
        if name == "ajax_update" and not self.column_editable_list:  # no in-list editing anywhere
            abort(403)
        return None


class AuditedModelView(PermissionMixin, RoleMixin, ModelView):
    """A role-checked, row-scoped, audited table page. Deleting is off unless ``delete_roles`` says."""

    object_type = ""                    # the audit log's object type
    audit_fields: tuple[str, ...] = ()  # the columns an entry records before and after
    create_roles: tuple[str, ...] = ("sys_admin",)
    edit_roles: tuple[str, ...] = ("sys_admin",)
    delete_roles: tuple[str, ...] = ()

    can_view_details = False
    can_export = False
    can_set_page_size = False
    page_size = 50

    def __init__(self, model, **kwargs: Any) -> None:
        super().__init__(model, db, **kwargs)

    # ------------------------------------------------------------------ who, what, which rows

    def is_accessible(self) -> bool:
        return super().is_accessible() and binding_problem(current_user) is None

    def _role_in(self, roles: tuple[str, ...]) -> bool:
        return current_user.is_authenticated and current_user.role in roles

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return self._role_in(self.create_roles)

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return self._role_in(self.edit_roles)

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return self._role_in(self.delete_roles)

    def scope(self, user) -> Any:
        """The rows ``user`` may see and change, as a WHERE clause; None means every row."""
        return None if user.role == "sys_admin" else false()

    def fields_for(self, user, form, is_created: bool) -> set[str] | None:
        """The form fields ``user`` may change (None: all of them)."""
        return None

    def prepare_form(self, form, is_created: bool) -> None:
        """Fill choices that depend on the database or on the user (called on every form)."""

    def check_change(self, form, model, is_created: bool) -> None:
        """Refuse a change with ``ValidationError("…")`` (shown in Chinese; nothing is saved)."""

    def check_after_flush(self, model, is_created: bool, changed: set[str]) -> None:
        """Checks that need the change in the database (e.g. the running rule sets still hold);
        ``changed`` names the audited columns the edit changed."""

    def check_delete(self, model) -> None:
        """Refuse a delete with ``ValidationError("…")``."""

    def audit_extra(self, model, is_created: bool) -> dict[str, Any]:
        """More for the audit entry's "after" (e.g. that a password was set, never the password)."""
        return {}

    @staticmethod
    def taken(column, value) -> bool:
        """Whether a saved row already has ``value`` in ``column``. Without autoflush: the row being
        created is in the session already and must not find itself."""
        with db.session.no_autoflush:
            return db.session.scalar(select(column).where(column == value).limit(1)) is not None

    def _scoped(self, query):
        clause = self.scope(current_user)
        return query if clause is None else query.filter(clause)

    def get_query(self):
        return self._scoped(super().get_query())

    def get_count_query(self):
        return self._scoped(super().get_count_query())

    def _pk_column(self):
        return getattr(self.model, self._primary_key)

    def _pk_value(self, raw: str) -> Any:
        python_type = self._pk_column().type.python_type
        try:
            if python_type is date:
                return date.fromisoformat(raw)
            return python_type(raw)
        except (TypeError, ValueError):
            return None

    def get_one(self, id: str):
        """The row ``id`` if it is in the user's scope, else None (Flask-Admin says it does not exist)."""
        value = self._pk_value(id)
        if value is None:
            return None
        return self.get_query().filter(self._pk_column() == value).one_or_none()

    # ------------------------------------------------------------------ forms

    def _limit(self, form, is_created: bool):
        self.prepare_form(form, is_created)
        allowed = self.fields_for(current_user, form, is_created)
        if allowed is not None:
            # A field not on the form is neither shown, nor read from the request, nor written.
            for name in list(form._fields):
                if name not in allowed:
                    del form[name]
        return form

    def create_form(self, obj: Any = None):
        return self._limit(super().create_form(obj), True)

    def edit_form(self, obj: Any = None):
        return self._limit(super().edit_form(obj), False)

    # ------------------------------------------------------------------ changes and the audit log

    def _changes(self, model, is_created: bool) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        state = inspect(model)
        if is_created:
            return None, {name: jsonable(getattr(model, name)) for name in self.audit_fields}
        before, after = {}, {}
        for name in self.audit_fields:
            history = state.attrs[name].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                before[name], after[name] = jsonable(old), jsonable(new)
        return before, after

    def _in_scope(self, model) -> bool:
        clause = self.scope(current_user)
        if clause is None:
            return True
        key = getattr(model, self._primary_key)
        return db.session.query(self.model).filter(self._pk_column() == key, clause).count() == 1

    def on_model_change(self, form, model, is_created: bool) -> None:
        self.check_change(form, model, is_created)
        before, after = self._changes(model, is_created)
        after.update(self.audit_extra(model, is_created))
        db.session.flush()
        if not self._in_scope(model):
            raise ValidationError("不能这样保存：保存后这条记录将不在您的管理范围内（例如改成了别的组织）。")
        self.check_after_flush(model, is_created, set(after) if not is_created else set())
        if is_created or after:
            audit.record("create" if is_created else "update", self.object_type,
                         str(getattr(model, self._primary_key)), before=before, after=after)

    def on_model_delete(self, model) -> None:
        self.check_delete(model)
        audit.record("delete", self.object_type, str(getattr(model, self._primary_key)),
                     before={name: jsonable(getattr(model, name)) for name in self.audit_fields})


def choice_label(mapping: dict[str, str]):
    """A list-column formatter showing the Chinese name of a code."""
    def format(view, context, model, name):
        value = getattr(model, name)
        return mapping.get(value, value)
    return format


def yes_no(view, context, model, name):
    return "是" if getattr(model, name) else "否"
