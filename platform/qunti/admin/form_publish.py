"""Publishing a form: the one path every change takes — the JSON editor, the simple editor, a
rollback and ``qunti definitions import``.

A document is checked exactly as a form file is (``validate_form`` + ``compile_form``) and against
the running rule sets (a dispatch rule may read one of its fields). Publishing appends an immutable
version, makes it current and records an audit entry, in one transaction; until the commit the
running version keeps serving, and old submissions stay on theirs.

An edit carries the version number it started from. The form row is claimed with a compare-and-set
UPDATE on ``current_version_id``, so of two admins who started from the same version only the first
publishes; the second is refused, never silently overwrites.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from qunti.admin import audit
from qunti.admin.models import AuditEntry
from qunti.catalog import state
from qunti.db import db
from qunti.definitions import DefinitionError, digest
from qunti.forms.compiler import CompiledForm, compile_form
from qunti.forms.loader import check_id, validate_form
from qunti.forms.models import Form, FormVersion
from qunti.rules.ruleset import validate_ruleset
from qunti.sync import publish_version

# Column sizes (forms.models): a longer value would fail on PostgreSQL, so it is refused first.
ID_MAX, TITLE_MAX, NOTE_MAX = 64, 200, 200


class Refused(Exception):
    """A publish that did not happen; ``message`` tells the admin why, in Chinese."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Conflict(Refused):
    """Someone published a newer version since this edit started."""


class Unchanged(Refused):
    """The content is the current version's: no new version."""


def check_form(form_id: str, schema: Any, source: str) -> CompiledForm:
    """The loader's checks plus what the database needs; DefinitionError at the first problem."""
    check_id(form_id, source)
    if len(form_id) > ID_MAX:
        raise DefinitionError(source, "", f"表单编号太长（最多 {ID_MAX} 个字符）")
    validate_form(form_id, schema, source)
    if len(schema["title"].strip()) > TITLE_MAX:
        raise DefinitionError(source, "/title", f"表单标题太长（最多 {TITLE_MAX} 个字）")
    return compile_form(schema, form_id)


def check_rules(forms: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]] | None = None,
                units: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """The rule sets running now still hold with these forms (and service items, units) in place of
    the database's; DefinitionError otherwise. A dispatch rule may read a form field, so removing or
    retyping a field can break routing: that is refused when the form is saved, not when an order
    comes in."""
    from qunti.rules import published

    context = published.checking_context()
    context["forms"] = {**context["forms"], **forms}
    if items is not None:
        context["menu_items"] = dict(items)
    if units is not None:
        context["units"] = dict(units)
    for ruleset_id in sorted(state().rulesets):
        running = published.current_ruleset(ruleset_id)
        if running is not None:
            validate_ruleset(running.document, source=f"正在使用的规则集 {ruleset_id}", **context)


def check_with_rules(form_id: str, schema: Any, source: str) -> CompiledForm:
    compiled = check_form(form_id, schema, source)
    check_rules({form_id: schema})
    return compiled


def summary(version: FormVersion | None) -> dict[str, Any] | None:
    """What the audit log keeps of a version: the version is immutable, so its number and digest
    name the whole document without copying it."""
    if version is None:
        return None
    return {"version": version.number, "digest": version.digest, "title": version.schema.get("title", ""),
            "note": version.note}


def authors(form_id: str) -> dict[int, str]:
    """Version number -> who published it, from the audit log."""
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "form", AuditEntry.object_id == form_id).order_by(AuditEntry.id))
    found: dict[int, str] = {}
    for entry in entries:
        number = (entry.after or {}).get("version")
        if isinstance(number, int):
            found[number] = entry.user_label
    return found


def author(version: FormVersion, known: Mapping[int, str]) -> str:
    if version.number in known:
        return known[version.number]
    return "文件同步" if version.note.startswith("来自文件") else "系统"


def conflict_message(form: Form) -> str:
    from qunti.staff.present import when

    current = db.session.get(FormVersion, form.current_version_id)
    return (f"该表单已被 {author(current, authors(form.id))} 于 {when(current.created_at)} "
            f"发布了新版本（第 {current.number} 版），请在最新版本上修改。您这次的修改没有保存。")


def publish(form: Form, schema: dict[str, Any], *, base_number: int | None, note: str, action: str = "publish",
            user: Any = None, checked: bool = False, commit: bool = True) -> FormVersion:
    """Publish ``schema`` as the next version of ``form`` and make it current.

    ``base_number`` is the version the edit started from (None: no stale-edit check, e.g. an
    import). Unless ``checked``, the document and the running rule sets are checked first
    (DefinitionError). Raises Conflict when ``base_number`` is no longer current, Unchanged when the
    content is the current version's.
    """
    if len(note) > NOTE_MAX:
        raise Refused(f"版本说明最多 {NOTE_MAX} 个字")
    if not checked:
        check_with_rules(form.id, schema, f"表单 {form.id}")
    current = db.session.get(FormVersion, form.current_version_id) if form.current_version_id else None
    if base_number is not None and current is not None and current.number != base_number:
        raise Conflict(conflict_message(form))
    new_digest = digest(schema)
    if current is not None and current.digest == new_digest:
        raise Unchanged(f"内容与当前版本（第 {current.number} 版）相同，没有发布新版本。")
    if current is not None:
        # Compare-and-set: locks the row and matches nothing if a publish got in since we read it.
        claimed = db.session.execute(
            update(Form).where(Form.id == form.id, Form.current_version_id == current.id)
            .values(current_version_id=Form.current_version_id)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            db.session.rollback()
            raise Conflict(conflict_message(db.session.get(Form, form.id)))
    try:
        version = publish_version(form, schema, new_digest, note)
        audit.record(action, "form", form.id, before=summary(current), after=summary(version), user=user)
        if commit:
            db.session.commit()
    except IntegrityError:
        # A file sync on another host numbered its version at the same moment.
        db.session.rollback()
        raise Refused("保存时该表单正被同时修改，请重新打开后再试。") from None
    return version
