"""The simple editor's edits, each a function from a form document to a new one.

Admins who do not write JSON add, remove, move and retitle the top-level fields of a form, set help
text, the required flag, a choice list and a maximum length. Every edit returns a JSON Schema
document that then takes the JSON editor's path (check, preview, publish), so both editors make
exactly the same kind of document. The display order is always written to ``x-ui.order``:
PostgreSQL's JSONB does not keep the order of ``properties``, and the digest ignores key order.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from qunti.forms.nodes import Node, build_tree

KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
# The field types the simple editor adds, and what each is called on the page.
TYPES = {"text": "文字", "number": "数字", "date": "日期", "choice": "单选", "checkbox": "勾选框"}
TITLE_MAX, CHOICE_MAX, MAX_LENGTH_LIMIT = 100, 100, 10000


class EditError(Exception):
    """An edit that cannot be made; ``message`` is for the admin, ``key`` names the field."""

    def __init__(self, message: str, key: str = "") -> None:
        self.message, self.key = message, key
        super().__init__(message)


@dataclass(frozen=True)
class FieldRow:
    """One top-level field as the simple editor shows it; ``None`` means "not editable here"."""

    key: str
    title: str
    type_name: str
    required: bool
    help: str
    max_length: str | None      # "" for no limit
    choices: str | None         # one option title per line


def order(schema: dict[str, Any]) -> list[str]:
    """Top-level field keys in display order (as the form tree builds it)."""
    props = schema.get("properties", {})
    listed = schema.get("x-ui", {}).get("order", []) if isinstance(schema.get("x-ui"), dict) else []
    head = [k for k in listed if k in props]
    return head + [k for k in props if k not in head]


def rows(schema: dict[str, Any], root: Node | None = None) -> list[FieldRow]:
    """The top-level fields of a form document (``root``: its tree, if already built)."""
    root = root if root is not None else build_tree(schema, "")
    return [_row(schema["properties"][node.key], node) for node in root.children]


_WIDGET_NAMES = {"text": "文字", "textarea": "多行文字", "email": "电子邮箱", "tel": "电话", "url": "网址",
                 "date": "日期", "datetime": "日期时间", "time": "时间", "hidden": "隐藏字段"}
_KIND_NAMES = {"integer": "数字", "number": "数字", "boolean": "勾选框", "choice": "单选", "multi": "多选",
               "object": "分组", "group": "重复组"}


def type_name(node: Node) -> str:
    """What a field is called on the admin pages (文字, 日期, 单选…)."""
    if node.kind == "string":
        return _WIDGET_NAMES.get(node.widget, node.widget)
    return _KIND_NAMES.get(node.kind, node.kind)


def _options_home(raw: dict[str, Any], node: Node) -> dict[str, Any] | None:
    """Where a field's options are written, if the simple editor can rewrite them: text options
    listed right in the field (or in its ``items`` for a multiple choice)."""
    home = raw.get("items") if node.kind == "multi" else raw if node.kind == "choice" else None
    if not isinstance(home, dict) or not ("oneOf" in home or "enum" in home):
        return None
    if not all(isinstance(c.value, str) for c in node.choices):
        return None
    return home


def _row(raw: dict[str, Any], node: Node) -> FieldRow:
    plain_text = node.kind == "string" and "format" not in node.schema and node.widget in ("text", "textarea")
    choices = "\n".join(c.label for c in node.choices) if _options_home(raw, node) is not None else None
    max_length = node.schema.get("maxLength")
    return FieldRow(key=node.key, title=node.title, type_name=type_name(node), required=is_required(node),
                    help=node.help, max_length=("" if max_length is None else str(max_length)) if plain_text else None,
                    choices=choices)


def is_required(node: Node) -> bool:
    """Whether the field must be answered. A checkbox always is (ticked or not), so for a checkbox
    this means it must be ticked."""
    return node.schema.get("const") is True if node.kind == "boolean" else node.required


# -- edits ------------------------------------------------------------------------------------------

def add_field(schema: dict[str, Any], key: str, title: str, type_: str, *, required: bool = False,
              help: str = "", max_length: str = "", choices: str = "") -> dict[str, Any]:
    """A new field at the end of the form."""
    key = key.strip()
    if not KEY.match(key):
        raise EditError("字段名只能用英文字母、数字和下划线，且以字母开头（如 contactPhone）")
    if key in schema.get("properties", {}):
        raise EditError(f"字段名 '{key}' 已存在，请换一个")
    if type_ not in TYPES:
        raise EditError(f"请选择字段类型：{'、'.join(TYPES.values())}")
    field: dict[str, Any] = {"type": "string", "title": _title(title)}
    if type_ == "number":
        field["type"] = "number"
    elif type_ == "date":
        field["format"] = "date"
    elif type_ == "choice":
        field["oneOf"] = _options(choices, [])
    elif type_ == "checkbox":
        field["type"] = "boolean"
    if type_ == "text":
        _set_max_length(field, max_length)
    doc = copy.deepcopy(schema)
    doc.setdefault("properties", {})[key] = field
    _set_help(field, help)
    _set_required(doc, key, field, required)
    _set_order(doc, [*order(schema), key])
    return doc


def remove_field(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """The form without field ``key`` (a rule that reads it makes the check refuse the result)."""
    _field(schema, key)
    doc = copy.deepcopy(schema)
    del doc["properties"][key]
    _set_required(doc, key, {}, False)
    _set_order(doc, [k for k in order(schema) if k != key])
    # Examples are sample answers: a removed field would make them invalid.
    for example in doc.get("examples", []) if isinstance(doc.get("examples"), list) else []:
        if isinstance(example, dict):
            example.pop(key, None)
    return doc


def move_field(schema: dict[str, Any], key: str, step: int) -> dict[str, Any]:
    """Field ``key`` one place up (step -1) or down (step 1); at either end nothing moves."""
    _field(schema, key)
    keys = order(schema)
    i = keys.index(key)
    j = i + step
    if not 0 <= j < len(keys):
        return schema
    keys[i], keys[j] = keys[j], keys[i]
    doc = copy.deepcopy(schema)
    _set_order(doc, keys)
    return doc


@dataclass(frozen=True)
class RowEdit:
    """What was typed into one field's row; ``None`` where the row has no such input."""

    title: str
    help: str
    required: bool
    max_length: str | None = None
    choices: str | None = None


def edit_rows(schema: dict[str, Any], edits: dict[str, RowEdit]) -> dict[str, Any]:
    """The form with what was typed into each field's row; a value equal to the one shown is left
    as written (a description used as help stays a description). The tree is built once."""
    nodes = {node.key: node for node in build_tree(schema, "").children}
    doc = copy.deepcopy(schema)
    for key, edit in edits.items():
        if key not in nodes:
            raise EditError(f"没有字段 '{key}'（可能已被删除），请刷新页面")
        try:
            _edit_row(doc, key, nodes[key], _row(schema["properties"][key], nodes[key]), edit)
        except EditError as exc:
            raise EditError(exc.message, key) from None
    return doc


def _edit_row(doc: dict[str, Any], key: str, node: Node, row: FieldRow, edit: RowEdit) -> None:
    raw = doc["properties"][key]
    if " ".join(edit.title.split()) != row.title:
        raw["title"] = _title(edit.title)
    if edit.help.strip() != row.help:
        if "x-ui" not in raw and node.ui:
            raw["x-ui"] = dict(node.ui)     # x-ui from a $ref: keep its other hints
        _set_help(raw, edit.help, clear_description=True)
    if edit.required != row.required:
        _set_required(doc, key, raw, edit.required)
    if edit.max_length is not None and row.max_length is not None and edit.max_length.strip() != row.max_length:
        _set_max_length(raw, edit.max_length, minimum=node.schema.get("minLength"))
    if edit.choices is not None and row.choices is not None and _lines(edit.choices) != row.choices.splitlines():
        home = _options_home(raw, node)
        assert home is not None
        _set_choices(home, raw, edit.choices, node)


# -- helpers ----------------------------------------------------------------------------------------

def _field(schema: dict[str, Any], key: str) -> bool:
    if key not in schema.get("properties", {}):
        raise EditError(f"没有字段 '{key}'（可能已被删除），请刷新页面")
    return True


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise EditError("请填写字段标题")
    if len(title) > TITLE_MAX:
        raise EditError(f"字段标题太长（最多 {TITLE_MAX} 个字）")
    return title


def _set_help(field: dict[str, Any], help: str, clear_description: bool = False) -> None:
    help = help.strip()
    ui = field.setdefault("x-ui", {})
    if help:
        ui["help"] = help
    else:
        ui.pop("help", None)
        if clear_description:
            field.pop("description", None)   # shown as help when there is no x-ui.help
    if not ui:
        del field["x-ui"]


def _set_required(doc: dict[str, Any], key: str, field: dict[str, Any], required: bool) -> None:
    listed = [k for k in doc.get("required", []) if k != key]
    if required:
        listed.append(key)
    if listed:
        doc["required"] = listed
    else:
        doc.pop("required", None)
    if field.get("type") == "boolean":
        if required:
            field["const"] = True     # a box that must be ticked
        elif field.get("const") is True:
            del field["const"]


def _set_order(doc: dict[str, Any], keys: list[str]) -> None:
    ui = doc.get("x-ui")
    if not isinstance(ui, dict):
        ui = doc["x-ui"] = {}
    ui["order"] = keys


def _set_max_length(field: dict[str, Any], text: str, minimum: Any = None) -> None:
    text = text.strip()
    if not text:
        field.pop("maxLength", None)
        return
    if not text.isdigit() or not 1 <= int(text) <= MAX_LENGTH_LIMIT:
        raise EditError(f"最大长度应为 1 到 {MAX_LENGTH_LIMIT} 之间的整数，不限制请留空")
    if isinstance(minimum, int) and int(text) < minimum:
        raise EditError(f"最大长度不能小于最小长度 {minimum}")
    field["maxLength"] = int(text)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _const_for(title: str, taken: set[str]) -> str:
    """An option value for a new title: ASCII, stable for the same title, never one in use.
    Values are what submissions store and rules compare, so they never come from the label."""
    hexdigest = hashlib.sha256(title.encode("utf-8")).hexdigest()
    for size in range(8, len(hexdigest) + 1):
        if "opt_" + hexdigest[:size] not in taken:
            return "opt_" + hexdigest[:size]
    raise EditError(f"无法为选项“{title}”生成取值")   # pragma: no cover - needs a sha256 collision


def _options(text: str, existing: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Option titles, one per line, as oneOf entries; an existing title keeps its value."""
    titles = _lines(text)
    if not titles:
        raise EditError("请至少填写一个选项（每行一个）")
    by_title = {title: value for value, title in existing}
    taken = {value for value, _ in existing}
    seen: set[str] = set()
    options = []
    for title in titles:
        if title in seen:
            raise EditError(f"选项“{title}”重复")
        if len(title) > CHOICE_MAX:
            raise EditError(f"选项“{title[:20]}…”太长（最多 {CHOICE_MAX} 个字）")
        seen.add(title)
        value = by_title.get(title)
        if value is None:
            value = _const_for(title, taken)
            taken.add(value)
        options.append({"const": value, "title": title})
    return options


def _set_choices(home: dict[str, Any], raw: dict[str, Any], text: str, node: Node) -> None:
    existing = [(c.value, c.label) for c in node.choices]
    if "enum" in home:
        # Plain enum options are their own labels; keep that style.
        titles = _lines(text)
        _options(text, existing)   # the same checks (empty, duplicate, length)
        home["enum"] = titles
        values = set(titles)
    else:
        home["oneOf"] = _options(text, existing)
        values = {option["const"] for option in home["oneOf"]}
    # A default that is no longer an option would preselect nothing the resident can see.
    default = raw.get("default")
    if isinstance(default, list):
        kept = [v for v in default if v in values]
        if kept != default:
            raw["default"] = kept
    elif default is not None and default not in values:
        raw.pop("default", None)
