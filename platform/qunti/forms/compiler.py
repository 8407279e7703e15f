"""The form engine: a JSON Schema document in, a compiled form out (a WTForms class to render and
coerce HTML input, one cached jsonschema validator to judge answers, visibility rules compiled once).

Compiling is pure and deterministic. Callers cache a CompiledForm by the document's digest (see
``qunti.forms.registry``); nothing here is re-parsed or rebuilt per request.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import Form

from qunti import rules
from qunti.definitions import pointer
from qunti.forms import fields
from qunti.forms.messages import FieldError, Located, field_errors
from qunti.forms.nodes import MISSING, Node, build_tree
from qunti.forms.validation import make_fast_check, make_validator

__all__ = ["CompiledForm", "FieldError", "SubmitResult", "compile_form", "ADD", "REMOVE"]

ADD = "__add__"         # button name: value is the group's JSON Pointer, e.g. "/members"
REMOVE = "__remove__"   # button name: value is "<group pointer>:<row index>", e.g. "/members:1"
CSRF_MESSAGE = "页面已过期或来源不明，请刷新页面后重新提交"


@dataclass
class SubmitResult:
    """What one press of a button on the form did.

    ``action`` is "submit", or "add"/"remove" for the row buttons of a repeatable group (never ok:
    the page is shown again with one row more or less and every answer kept).
    """

    action: str
    ok: bool
    answers: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    form: Any = None


def compile_form(schema: dict[str, Any], form_id: str = "") -> CompiledForm:
    """Compile a form document (checked by ``loader.validate_form``); DefinitionError if it cannot
    be rendered."""
    return CompiledForm(copy.deepcopy(schema), form_id)


class CompiledForm:
    """One form version, ready to render, bind, coerce and validate. Immutable once built."""

    def __init__(self, schema: dict[str, Any], form_id: str = "") -> None:
        self.schema = schema
        self.form_id = form_id
        self.tree: Node = build_tree(schema, form_id or "表单")
        self.title: str = self.tree.title
        self.description: str = schema.get("description", "") if isinstance(schema.get("description"), str) else ""
        self.submit_label: str = self.tree.ui.get("submitLabel", "提交")
        self.form_class: type[FlaskForm] = fields.form_class(
            self.tree, FlaskForm, "Form_" + (form_id.replace("-", "_") or "anonymous"))
        self.validator = make_validator(schema)
        self._fast_check = make_fast_check(schema)
        # Every visibleIf, compiled once by build_tree, in display order.
        self._rules: tuple[tuple[Node, rules.CompiledRule], ...] = tuple(
            (node, node.rule) for node in self.tree.walk() if node.rule is not None)
        self.has_visibility: bool = bool(self._rules)
        self.has_groups: bool = any(node.kind == "group" for node in self.tree.walk())

    def __repr__(self) -> str:
        return f"<CompiledForm {self.form_id or self.title!r}>"

    # -- binding --------------------------------------------------------------------------------

    def bind(self, formdata: Any = None, data: Mapping[str, Any] | None = None, locked: Iterable[str] = (),
             *, meta: dict[str, Any] | None = None) -> FlaskForm:
        """A bound form. Without ``formdata`` it shows ``data`` (JSON answers) over the schema's
        defaults; with it, what was sent. ``locked`` fields (property names, dotted paths or JSON
        Pointers; unknown names are ignored) render read-only and keep their value from ``data``,
        as ``readOnly`` fields keep their const/default."""
        if formdata is not None and not hasattr(formdata, "getlist"):
            formdata = MultiDict(formdata)
        if formdata is None:
            initial = fields.to_form_data(self.tree, fields.with_defaults(self.tree, data or {}))
            form = self.form_class(formdata=None, data=initial, meta=meta or {})
        else:
            form = self.form_class(formdata=formdata, meta=meta or {})
        self._force(form, self.tree, data if isinstance(data, Mapping) else {}, self.locked_nodes(locked))
        return form

    def locked_nodes(self, locked: Iterable[str]) -> frozenset[Node]:
        """The nodes the given names lock (a locked object or group locks everything in it)."""
        found: set[Node] = set()
        for name in (locked,) if isinstance(locked, str) else locked:
            parts = name[1:].split("/") if name.startswith("/") else name.split(".")
            node: Node | None = self.tree
            for part in parts:
                node = node.child(part) if node is not None and node.kind in ("object", "row") else None
            if node is not None:
                found.update(node.walk())
        return frozenset(found)

    def mark_locked(self, form: Form, locked: Iterable[str]) -> str:
        """Render the ``locked`` fields of a bound form read-only (for the template; their value is
        what :meth:`bind` gave them, so pass the same names there). Returns ""."""
        nodes = self.locked_nodes(locked)
        for node, f in _walk_fields(self.tree, form):
            if node in nodes:
                f.readonly = True
        return ""

    def _force(self, form: Form, node: Node, data: Any, locked: frozenset[Node]) -> None:
        """Read-only and locked fields: mark them and set the value they must have."""
        given = data if isinstance(data, Mapping) else {}
        for child in node.children:
            f = form[child.name]
            value = given.get(child.key, MISSING)
            if child.kind == "object":
                self._force(f.form, child, value, locked)
            elif child.kind == "group":
                item = child.item
                assert item is not None
                rows = value if isinstance(value, list) else []
                f.readonly = child.readonly or child in locked
                for i, entry in enumerate(f.entries):
                    row = rows[i] if i < len(rows) else MISSING
                    if item.kind == "row":
                        self._force(entry.form, item, row, locked)
                    elif item in locked or item.readonly:
                        self._force_leaf(entry, item, row)
            elif child in locked or child.readonly:
                self._force_leaf(f, child, value)

    @staticmethod
    def _force_leaf(f: Any, node: Node, value: Any) -> None:
        constant = node.readonly and node.fixed is not MISSING
        forced = node.fixed if constant else value
        f.readonly, f.forced, f.constant = True, forced, constant
        f.process_data(fields.field_data(node, forced) if forced is not MISSING else None)
        if node.kind == "boolean":
            f.data = forced is True

    # -- submitting -----------------------------------------------------------------------------

    def submit(self, formdata: Any, data: Mapping[str, Any] | None = None, locked: Iterable[str] = (),
               *, meta: dict[str, Any] | None = None) -> SubmitResult:
        """Handle a POST of the form: a row button, or a submission to coerce and validate.

        ``answers`` are typed JSON with empty and hidden fields left out; each error is also
        attached to its field of ``form`` so rendering it again shows the message in place.
        """
        if not hasattr(formdata, "getlist"):
            formdata = MultiDict(formdata or {})
        form = self.bind(formdata, data, locked, meta=meta)
        for action, value in ((ADD, formdata.get(ADD)), (REMOVE, formdata.get(REMOVE))):
            if value:
                self._row_action(form, action, value)
                if locked or data:
                    self._force(form, self.tree, data or {}, self.locked_nodes(locked))
                answers = self.prune_hidden(fields.read_form(self.tree, form))
                return SubmitResult(action.strip("_"), False, answers, [], form)
        self._drop_blank_rows(form, self.tree)
        answers = fields.read_form(self.tree, form)
        hidden = self._hidden(answers)
        answers = self._prune(answers, self.tree, hidden)
        located = self._errors(answers, hidden)
        if not self._csrf_ok(form):
            located.insert(0, Located(FieldError("", CSRF_MESSAGE), None, (), ()))
        errors = [item.error for item in located]
        self._attach(form, located)
        return SubmitResult("submit", not errors, answers, errors, form)

    def answers_from(self, formdata: Any) -> dict[str, Any]:
        """The answers in ``formdata``, coerced but neither validated nor pruned (for visibility)."""
        form = self.bind(formdata if formdata is not None else MultiDict(), meta={"csrf": False})
        return fields.read_form(self.tree, form)

    def _row_action(self, form: Form, action: str, value: str) -> None:
        target, _, index = value.rpartition(":") if action == REMOVE else (value, "", "")
        rows = self._field_at(form, _parts(target))
        if not isinstance(rows, fields.RowsField):
            return
        item = rows.node.item
        assert item is not None
        if action == ADD and rows.can_add:
            if item.kind == "row":
                rows.append_entry(fields.to_form_data(item, fields.with_defaults(item, {})))
                self._force(rows.entries[-1].form, item, {}, frozenset())
            else:
                rows.append_entry(fields.field_data(item, item.default) if item.default is not MISSING else None)
        elif action == REMOVE and rows.can_remove and index.isdigit() and int(index) < len(rows.entries):
            rows.pop_entry(int(index))

    def _drop_blank_rows(self, form: Form, node: Node) -> None:
        # Rows left blank are not answers; dropping them keeps row numbers in errors and in the
        # answers the same as on the page shown again.
        for child in node.children:
            f = form[child.name]
            if child.kind == "object":
                self._drop_blank_rows(f.form, child)
            elif child.kind == "group":
                item = child.item
                assert item is not None
                for i in reversed(range(len(f.entries))):
                    if fields.entry_blank(item, f.entries[i]):
                        f.pop_entry(i)
                    elif item.kind == "row":
                        self._drop_blank_rows(f.entries[i].form, item)

    @staticmethod
    def _csrf_ok(form: FlaskForm) -> bool:
        if not form.meta.csrf:
            return True
        token = form._fields.get(form.meta.csrf_field_name)
        ok = token is not None and token.validate(form)
        if token is not None:
            token.errors = []    # Flask-WTF's reasons are English; the form says it in Chinese
        return ok

    def _attach(self, form: FlaskForm, located: list[Located]) -> None:
        form.form_errors = []
        summary = []
        for item in located:
            target = self._field_at(form, item.parts) if item.node is not None else None
            if target is None or item.node is self.tree or item.node.widget == "hidden":
                form.form_errors.append(item.error.message)
                summary.append((item.error.message, None))
                continue
            if not isinstance(target.errors, list):
                target.errors = []
            target.errors.append(item.error.message)
            summary.append((item.error.message, _anchor(target)))
        form.error_summary = summary

    def _field_at(self, form: Form, parts: Iterable[Any]) -> Any:
        """The bound field at a path of the answers (row numbers are positions), or None."""
        node, current, f = self.tree, form, None
        for part in parts:
            if node.kind in ("object", "row"):
                child = node.child(part)
                if child is None:
                    return None
                f, node = current[child.name], child
                if child.kind == "object":
                    current = f.form
            elif node.kind == "group":
                i = int(part) if isinstance(part, int) or (isinstance(part, str) and part.isdigit()) else -1
                if not 0 <= i < len(f.entries):
                    return None
                f, node = f.entries[i], node.item
                if node.kind == "row":
                    current = f.form
            else:
                return None
        return f

    # -- validating -----------------------------------------------------------------------------

    def check(self, answers: Any) -> list[FieldError]:
        """Errors in JSON ``answers`` (for the JSON API): hidden fields are dropped first, exactly
        as a submitted form's are, and the messages are the same."""
        return self.judge(answers)[1]

    def judge(self, answers: Any) -> tuple[Any, list[FieldError]]:
        """``prune_hidden(answers)`` and ``check(answers)`` at once, running the visibility rules
        once: what to store if there are no errors, and the errors."""
        hidden = self._hidden(answers)
        pruned = self._prune(answers, self.tree, hidden)
        if self._fast_check is not None and self._fast_check(pruned):
            return pruned, []  # valid as it stands: no error to find, hidden or not
        return pruned, [item.error for item in self._errors(pruned, hidden)]

    def _errors(self, answers: Any, hidden: frozenset[Node]) -> list[Located]:
        located = field_errors(self.validator.iter_errors(answers), self.tree)
        # A hidden field is not asked, so it is not required either (its value is already gone).
        return [item for item in located
                if item.node is None or not any(n in hidden for n in item.node.lineage())]

    # -- visibility -----------------------------------------------------------------------------

    def _hidden(self, answers: Any) -> frozenset[Node]:
        """The nodes whose visibleIf is false. A hidden field's answer does not count for other
        rules: evaluate on pruned answers until nothing changes (bounded, so it always ends)."""
        if not self._rules:
            return frozenset()
        hidden: frozenset[Node] = frozenset()
        for _ in range(len(self._rules) + 1):
            data = self._prune(answers, self.tree, hidden) if hidden else answers
            now = frozenset(node for node, rule in self._rules if not _shown(rule, data))
            if now == hidden:
                break
            hidden = now
        return hidden

    def prune_hidden(self, answers: Any) -> dict[str, Any]:
        """``answers`` without the fields their visibleIf hides (a new dict; the input is kept)."""
        return self._prune(answers, self.tree, self._hidden(answers))

    def _prune(self, value: Any, node: Node, hidden: frozenset[Node]) -> Any:
        if node.kind in ("object", "row") and isinstance(value, dict):
            out = {}
            for key, item in value.items():
                child = node.child(key)
                if child is None:
                    out[key] = item          # not a field: the validator says so
                elif child not in hidden:
                    out[key] = self._prune(item, child, hidden)
            return out
        if node.kind == "group" and isinstance(value, list):
            assert node.item is not None
            return [self._prune(row, node.item, hidden) for row in value]
        return value

    def visibility(self, answers: Any) -> dict[str, bool]:
        """Whether each field with a visibleIf is shown, by JSON Pointer (rows of the answers)."""
        hidden = self._hidden(answers)
        return {pointer(parts): shown for parts, shown in self._visible_paths(self.tree, (), answers, hidden)}

    def visibility_of(self, form: Form) -> dict[str, bool]:
        """Like :meth:`visibility` for a bound form, with a path for every row on the page."""
        hidden = self._hidden(fields.read_form(self.tree, form))
        return {pointer(parts): shown for parts, shown in self._visible_form_paths(self.tree, (), form, hidden)}

    def _visible_paths(self, node: Node, parts: tuple[Any, ...], value: Any, hidden: frozenset[Node]
                       ) -> Iterator[tuple[tuple[Any, ...], bool]]:
        given = value if isinstance(value, dict) else {}
        for child in node.children:
            here = (*parts, child.key)
            if child.rule is not None:
                yield here, not any(n in hidden for n in child.lineage())
            if child.kind == "object":
                yield from self._visible_paths(child, here, given.get(child.key), hidden)
            elif child.kind == "group" and child.item is not None and child.item.kind == "row":
                rows = given.get(child.key)
                for i, row in enumerate(rows if isinstance(rows, list) else []):
                    yield from self._visible_paths(child.item, (*here, i), row, hidden)

    def _visible_form_paths(self, node: Node, parts: tuple[Any, ...], form: Form, hidden: frozenset[Node]
                            ) -> Iterator[tuple[tuple[Any, ...], bool]]:
        for child in node.children:
            here, f = (*parts, child.key), form[child.name]
            if child.rule is not None:
                yield here, not any(n in hidden for n in child.lineage())
            if child.kind == "object":
                yield from self._visible_form_paths(child, here, f.form, hidden)
            elif child.kind == "group" and child.item is not None and child.item.kind == "row":
                for i, entry in enumerate(f.entries):
                    yield from self._visible_form_paths(child.item, (*here, i), entry.form, hidden)

    # -- describing -----------------------------------------------------------------------------

    def field_titles(self) -> list[tuple[str, str]]:
        """(JSON Pointer, title) of every answer column in display order: leaves, nested objects
        flattened ("工作单位·单位名称"), a repeatable group as one column."""
        out: list[tuple[str, str]] = []

        def walk(node: Node, prefix: str) -> None:
            for child in node.children:
                title = f"{prefix}·{child.title}" if prefix else child.title
                if child.kind == "object":
                    walk(child, title)
                else:
                    out.append((child.pattern, title))

        walk(self.tree, "")
        return out


def _walk_fields(node: Node, form: Form) -> Iterator[tuple[Node, Any]]:
    for child in node.children:
        f = form[child.name]
        yield child, f
        if child.kind == "object":
            yield from _walk_fields(child, f.form)
        elif child.kind == "group" and child.item is not None:
            for entry in f.entries:
                if child.item.kind == "row":
                    yield from _walk_fields(child.item, entry.form)
                else:
                    yield child.item, entry


def _shown(rule: rules.CompiledRule, data: Any) -> bool:
    try:
        return rules.truthy(rule(data))
    except rules.DataLogicError:
        # A rule that cannot be evaluated shows its field: asking too much beats losing an answer.
        return True


def _parts(path: str) -> list[str]:
    if not path.startswith("/"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _anchor(field: Any) -> str:
    """The id to link to from the error summary: the control, or the first option of a group."""
    if isinstance(field, (fields.RadioChoiceField, fields.CheckboxesField)):
        return f"{field.id}-0"
    return field.id
