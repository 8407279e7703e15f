"""The form tree: a JSON Schema document checked, resolved and turned into the nodes a form renders.

:func:`build_tree` serves both the loader (which refuses a document with the JSON Pointer of the
problem) and the compiler (which renders the tree). Whatever cannot be rendered is refused here,
never dropped: a resident must never get a form that quietly lost a question or a rule.
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

from flask_wtf import FlaskForm
from jsonschema import Draft202012Validator

from qunti import rules
from qunti.definitions import DefinitionError, pointer


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""No value (distinct from ``None``, which JSON can carry)."""

XUI_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).with_name("schemas") / "x-ui.schema.json").read_text(encoding="utf-8"))
WIDGETS: tuple[str, ...] = tuple(XUI_SCHEMA["$defs"]["field"]["properties"]["widget"]["enum"])
_FORM_UI = Draft202012Validator({**XUI_SCHEMA, "$ref": "#/$defs/form"})
_FIELD_UI = Draft202012Validator({**XUI_SCHEMA, "$ref": "#/$defs/field"})

# The string formats the validator checks, each with the widget that enters it.
FORMAT_WIDGETS = {"email": "email", "date": "date", "date-time": "datetime", "time": "time", "uri": "url"}

# Which widgets can render which kind of node; the first is the default.
_KIND_WIDGETS = {
    "string": ("text", "textarea", "email", "tel", "url", "hidden"),
    "integer": ("number", "text", "hidden"),
    "number": ("number", "text", "hidden"),
    "boolean": ("checkbox", "radio", "select"),
    "choice": ("select", "radio", "hidden"),
    "multi": ("checkboxes",),
}
_KIND_NAMES = {
    "string": "文本（string）", "integer": "整数（integer）", "number": "数字（number）",
    "boolean": "是/否（boolean）", "choice": "单选（enum/oneOf）", "multi": "多选（数组 + enum）",
    "object": "分组（object）", "group": "重复组（对象数组）",
}
# Which x-ui keys mean something on which kind of node.
_LEAF_UI = {"widget", "placeholder", "help", "visibleIf", "rows", "autocomplete", "inputmode"}
_KIND_UI = {
    "string": _LEAF_UI, "integer": _LEAF_UI, "number": _LEAF_UI,
    "boolean": {"widget", "help", "visibleIf"},
    "choice": {"widget", "help", "visibleIf", "placeholder"},
    "multi": {"widget", "help", "visibleIf"},
    "object": {"help", "visibleIf", "order"},
    "group": {"help", "visibleIf", "order", "addLabel", "removeLabel"},
    "row": {"order"},
}
# Keywords that would need a renderer the compiler does not have.
_UNRENDERABLE = {
    "patternProperties": "不支持 patternProperties：表单只能显示 properties 中列出的字段",
    "anyOf": "不支持 anyOf：表单无法据此生成输入项，请改用 properties、enum、oneOf 选项或 if/then",
    "allOf": "不支持 allOf：表单无法据此生成输入项，请把条件合并到 properties，或改用 if/then",
    "not": "不支持 not：表单无法据此生成输入项，请改用 enum、oneOf 选项或 if/then",
    "prefixItems": "不支持按位置定义的数组（prefixItems）：每一行必须是同一种结构",
    "additionalItems": "不支持按位置定义的数组（additionalItems）：每一行必须是同一种结构",
    "unevaluatedItems": "不支持 unevaluatedItems",
    "$dynamicRef": "不支持 $dynamicRef",
    "$recursiveRef": "不支持 $recursiveRef",
    "$anchor": "不支持 $anchor：请用 #/$defs/名称 形式的 $ref",
    "$dynamicAnchor": "不支持 $dynamicAnchor",
    "$recursiveAnchor": "不支持 $recursiveAnchor",
}
_NAME_KEYS = {"name", "full_name", "fullname", "real_name", "realname"}
ROW_MARKER = "row_"
"""The hidden field each repeatable-group row carries, so a row whose inputs are all unchecked
still comes back with the form."""
# Field names WTForms or Flask-WTF already use on a form, or take as keyword arguments.
_RESERVED = frozenset(dir(FlaskForm)) | {"csrf_token", "meta", "obj", "prefix", "formdata", ROW_MARKER}
_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Choice(NamedTuple):
    key: str        # what the HTML form sends
    value: Any      # the JSON value
    label: str


@dataclass(eq=False)
class Node:
    """One property of a form (or the form itself, or a row of a repeatable group)."""

    key: str                      # property name; "" for the root and for a row
    parts: tuple[Any, ...]        # instance path from the root; None stands for a row index
    kind: str                     # object, group, row, string, integer, number, boolean, choice, multi
    schema: dict[str, Any]        # this property's schema with $ref resolved
    title: str
    parent: Node | None = None
    name: str = ""                # WTForms field name
    help: str = ""
    widget: str = ""
    placeholder: str = ""
    required: bool = False        # listed in the parent's "required"
    html_required: bool = False   # safe to mark required in HTML (always shown, always present)
    readonly: bool = False
    fixed: Any = MISSING          # the value a read-only field always has
    default: Any = MISSING
    choices: tuple[Choice, ...] = ()
    children: tuple[Node, ...] = ()
    item: Node | None = None      # what each row of a repeatable group is: a "row" object or a text leaf
    min_rows: int = 0
    max_rows: int | None = None
    rule: rules.CompiledRule | None = None   # x-ui.visibleIf, compiled once
    ui: dict[str, Any] = field(default_factory=dict)
    html: dict[str, Any] = field(default_factory=dict)   # static HTML attributes of the control
    _by_key: dict[str, Node] = field(default_factory=dict, repr=False)
    _by_choice_key: dict[str, Any] = field(default_factory=dict, repr=False)
    _choice_keys: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def pattern(self) -> str:
        """The JSON Pointer of the field with ``*`` for row indexes, e.g. ``/members/*/age``."""
        return pointer("*" if p is None else p for p in self.parts)

    def child(self, key: Any) -> Node | None:
        return self._by_key.get(key) if isinstance(key, str) else None

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, in display order."""
        yield self
        for child in self.children:
            yield from child.walk()
        if self.item is not None:
            yield from self.item.walk()

    def lineage(self) -> Iterator[Node]:
        node: Node | None = self
        while node is not None:
            yield node
            node = node.parent

    @property
    def is_leaf(self) -> bool:
        return self.kind not in ("object", "group", "row")

    def key_of(self, value: Any) -> str:
        """The HTML form value of a choice's JSON value (unknown values keep their text)."""
        return self._choice_keys.get(_tagged(value), value if isinstance(value, str) else json.dumps(value))

    def value_of(self, key: str) -> Any:
        """The JSON value of a submitted choice; an unknown key stays as sent, for the validator."""
        return self._by_choice_key.get(key, key)


def _tagged(value: Any) -> str:
    # True == 1 in Python; tag the JSON type so a boolean and a number never share a choice.
    return f"{type(value).__name__}:{json.dumps(value, ensure_ascii=False, sort_keys=True)}"


def build_tree(schema: Any, source: str) -> Node:
    """Check ``schema`` and return its root node; raise DefinitionError at the first problem."""
    return _Builder(schema, source).build()


def find_var(root: Node, dotted: str) -> Node | None:
    """The node a JSON Logic ``var`` names, or None."""
    node: Node | None = root
    for part in dotted.split("."):
        if node is None or node.kind != "object":
            return None
        node = node.child(part)
    return node


def number_text(value: Any) -> str:
    """A number as people write it: 16 not 16.0, 0.01 not 1e-02."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text
    return str(value)


class _Builder:
    def __init__(self, schema: Any, source: str) -> None:
        self.doc = schema
        self.source = source
        self.pending_vars: list[tuple[Node, list[str], tuple[Any, ...]]] = []

    def refuse(self, loc: tuple[Any, ...], reason: str) -> DefinitionError:
        return DefinitionError(self.source, pointer(loc), reason)

    # -- the root -------------------------------------------------------------------------------

    def build(self) -> Node:
        doc = self.doc
        if not isinstance(doc, dict):
            raise self.refuse((), "表单必须是一个 JSON 对象")
        if doc.get("type") != "object":
            raise self.refuse(("type",) if "type" in doc else (), '表单根节点的 type 必须是 "object"')
        title = doc.get("title")
        if not isinstance(title, str) or not title.strip():
            raise self.refuse(("title",) if "title" in doc else (), "缺少表单标题 title")
        ui = self.ui(doc, (), _FORM_UI)
        root = Node(key="", parts=(), kind="object", schema=doc, title=title.strip(), ui=ui,
                    html_required=True)
        where = {k: () for k in doc}
        self.refuse_unrenderable(doc, where, ())
        self.object_children(root, doc, where, (), ("x-ui", "order"), active=frozenset({()}),
                             readonly=False, conditional=False)
        self.check_vars(root)
        return root

    # -- x-ui -----------------------------------------------------------------------------------

    def ui(self, schema: dict[str, Any], loc: tuple[Any, ...], validator: Any) -> dict[str, Any]:
        if "x-ui" not in schema:
            return {}
        at = (*loc, "x-ui")
        ui = schema["x-ui"]
        for error in sorted(validator.iter_errors(ui), key=lambda e: [str(p) for p in e.absolute_path]):
            where = list(error.absolute_path)
            if error.validator == "additionalProperties" and not where:
                where = [next(k for k in ui if k not in error.schema.get("properties", {}))]
            raise self.refuse((*at, *where), _ui_reason(error, ui))
        return ui

    def check_ui_keys(self, node: Node, ui: dict[str, Any], at: tuple[Any, ...]) -> None:
        allowed = _KIND_UI[node.kind]
        for key in ui:
            if key not in allowed:
                raise self.refuse((*at, key), f"x-ui 的 {key} 不能用于{_KIND_NAMES.get(node.kind, '重复组的行')}")
        if "rows" in ui and node.widget != "textarea":
            raise self.refuse((*at, "rows"), "x-ui 的 rows 只能用于 textarea（多行文本）控件")

    # -- $ref -----------------------------------------------------------------------------------

    def resolve(self, schema: Any, loc: tuple[Any, ...], active: frozenset[tuple[Any, ...]]
                ) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]], frozenset[tuple[Any, ...]]]:
        """The schema with its $ref chain merged (the referring side wins), where each keyword
        was written, and the document locations now being expanded (to catch recursion)."""
        if not isinstance(schema, dict):
            raise self.refuse(loc, "字段的定义必须是一个 JSON 对象")
        merged: dict[str, Any] = {}
        where: dict[str, tuple[Any, ...]] = {}
        current, current_loc = schema, loc
        seen = set(active) | {loc}
        while True:
            for key, value in current.items():
                if key != "$ref" and key not in merged:
                    merged[key], where[key] = value, current_loc
            if "$ref" not in current:
                break
            ref, at = current["$ref"], (*current_loc, "$ref")
            target = self.ref_location(ref, at)
            if target in seen or any(target == s[:len(target)] for s in seen if len(s) >= len(target)):
                raise self.refuse(at, f"$ref 循环引用 '{ref}'：表单无法展开无限嵌套的结构")
            seen.add(target)
            current, current_loc = self.lookup(target, ref, at), target
            if not isinstance(current, dict):
                raise self.refuse(at, f"$ref '{ref}' 指向的不是一个字段定义")
        return merged, where, frozenset(seen)

    def ref_location(self, ref: Any, at: tuple[Any, ...]) -> tuple[Any, ...]:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise self.refuse(at, f"只支持指向本文档的 $ref（形如 #/$defs/名称），不支持 '{ref}'")
        if ref == "#":
            return ()
        return tuple(p.replace("~1", "/").replace("~0", "~") for p in unquote(ref[2:]).split("/"))

    def lookup(self, target: tuple[Any, ...], ref: str, at: tuple[Any, ...]) -> Any:
        node: Any = self.doc
        for part in target:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise self.refuse(at, f"找不到 $ref 指向的定义 '{ref}'")
        return node

    # -- nodes ----------------------------------------------------------------------------------

    def object_children(self, node: Node, schema: dict[str, Any], where: dict[str, tuple[Any, ...]],
                        loc: tuple[Any, ...], order_at: tuple[Any, ...], *, active: frozenset[tuple[Any, ...]],
                        readonly: bool, conditional: bool) -> None:
        props = schema.get("properties")
        props_at = (*where.get("properties", loc), "properties")
        if not isinstance(props, dict) or not props:
            raise self.refuse(loc, "缺少 properties：分组里至少要有一个字段")
        extra = schema.get("additionalProperties", True)
        if not isinstance(extra, bool):
            raise self.refuse((*where["additionalProperties"], "additionalProperties"),
                              "additionalProperties 只能是 true 或 false：表单只能显示 properties 中列出的字段")
        if not isinstance(schema.get("unevaluatedProperties", True), bool):
            raise self.refuse((*where["unevaluatedProperties"], "unevaluatedProperties"),
                              "unevaluatedProperties 只能是 true 或 false")
        required = schema.get("required", [])
        for i, name in enumerate(required):
            if name not in props:
                raise self.refuse((*where["required"], "required", i), f"required 中的 '{name}' 不在 properties 里")
        self.check_conditions(schema, where, props)
        order = node.ui.get("order", [])
        for i, name in enumerate(order):
            if name not in props:
                raise self.refuse((*order_at, i), f"order 中的 '{name}' 不在 properties 里")
        keys = list(order) + [k for k in props if k not in order]
        names = _field_names(keys)
        children = []
        for key in keys:
            child = self.node(props[key], (*props_at, key), parent=node, key=key, name=names[key],
                              required=key in required, active=active, readonly=readonly,
                              conditional=conditional)
            children.append(child)
        node.children = tuple(children)
        node._by_key = {c.key: c for c in children}

    def refuse_unrenderable(self, schema: dict[str, Any], where: dict[str, tuple[Any, ...]],
                            loc: tuple[Any, ...]) -> None:
        for key, reason in _UNRENDERABLE.items():
            if key in schema:
                raise self.refuse((*where[key], key), reason)
        if "$id" in schema and loc != ():
            raise self.refuse((*where["$id"], "$id"), "只有表单根节点可以有 $id")

    def check_conditions(self, schema: dict[str, Any], where: dict[str, tuple[Any, ...]],
                         props: dict[str, Any]) -> None:
        """if/then/else and dependent* are validation only; the fields they name must exist."""
        def names_in(sub: Any, at: tuple[Any, ...]) -> None:
            if not isinstance(sub, dict):
                return
            for i, name in enumerate(sub.get("required", []) if isinstance(sub.get("required"), list) else []):
                if name not in props:
                    raise self.refuse((*at, "required", i), f"条件中 required 的 '{name}' 不在 properties 里")
            for name in sub.get("properties", {}) if isinstance(sub.get("properties"), dict) else {}:
                if name not in props:
                    raise self.refuse((*at, "properties", name), f"条件中的字段 '{name}' 不在 properties 里")

        for key in ("if", "then", "else"):
            if key in schema:
                names_in(schema[key], (*where[key], key))
        for key in ("dependentRequired", "dependentSchemas", "dependencies"):
            if key not in schema or not isinstance(schema[key], dict):
                continue
            at = (*where[key], key)
            for prop, dep in schema[key].items():
                if prop not in props:
                    raise self.refuse((*at, prop), f"{key} 中的 '{prop}' 不在 properties 里")
                if isinstance(dep, list):
                    for i, name in enumerate(dep):
                        if name not in props:
                            raise self.refuse((*at, prop, i), f"{key} 中的 '{name}' 不在 properties 里")
                else:
                    names_in(dep, (*at, prop))

    def node(self, raw: Any, loc: tuple[Any, ...], *, parent: Node, key: str, name: str, required: bool,
             active: frozenset[tuple[Any, ...]], readonly: bool, conditional: bool,
             row: bool = False, group_ui_at: tuple[Any, ...] = ()) -> Node:
        schema, where, active = self.resolve(raw, loc, active)
        self.refuse_unrenderable(schema, where, loc)
        kind = self.kind_of(schema, where, loc)
        if row:
            if kind == "object":
                kind = "row"
            elif kind not in ("string", "integer", "number"):
                raise self.refuse(loc, "重复组的每一项必须是 object，或者一个文字/数字输入框")
        ui_at = (*where.get("x-ui", loc), "x-ui")
        ui = self.ui(schema, where.get("x-ui", loc), _FIELD_UI)
        title = schema.get("title") if isinstance(schema.get("title"), str) and schema["title"].strip() else None
        node = Node(key=key, parts=(*parent.parts, None if row else key), kind=kind, schema=schema,
                    title=(title or "").strip() or (parent.title if row else key), parent=parent, name=name,
                    required=required, ui=ui)
        node.help = ui.get("help") or (schema.get("description") if isinstance(schema.get("description"), str) else "")
        node.readonly = readonly or schema.get("readOnly") is True
        node.default = schema.get("default", MISSING)
        if "visibleIf" in ui:
            if row:
                raise self.refuse((*ui_at, "visibleIf"), "重复组的行不能单独设置 visibleIf，请设在重复组上")
            node.rule = self.compile_rule(node, ui["visibleIf"], (*ui_at, "visibleIf"))
        conditional = conditional or node.rule is not None
        # Shown whenever the parent is, and present whenever the parent is: HTML may say required.
        always = parent.html_required and not conditional
        node.html_required = always if row else required and always
        if kind in ("object", "row"):
            self.check_ui_keys(node, ui, ui_at)
            order_at = (*ui_at, "order")
            if row and "order" in parent.ui:   # a group's x-ui.order orders the fields of its rows
                node.ui = {**ui, "order": parent.ui["order"]}
                order_at = (*group_ui_at, "order")
            self.object_children(node, schema, where, loc, order_at, active=active, readonly=node.readonly,
                                 conditional=conditional)
        elif kind == "group":
            self.check_ui_keys(node, ui, ui_at)
            items_at = (*where["items"], "items")
            # Rows shown at first: minItems, and one for a required group so there is a place to start.
            node.min_rows = max(int(schema.get("minItems", 0)), 1 if required else 0)
            node.max_rows = int(schema["maxItems"]) if "maxItems" in schema else None
            node.item = self.node(schema["items"], items_at, parent=node, key="", name="", required=True,
                                  active=active, readonly=node.readonly, conditional=conditional, row=True,
                                  group_ui_at=ui_at)
            if "order" in ui and node.item.kind != "row":
                raise self.refuse((*ui_at, "order"), "order 只能用于各项为 object 的重复组")
            node.children = ()
        else:
            self.leaf(node, schema, where, loc, ui, ui_at)
        return node

    def kind_of(self, schema: dict[str, Any], where: dict[str, tuple[Any, ...]], loc: tuple[Any, ...]) -> str:
        declared = schema.get("type", MISSING)
        if isinstance(declared, list):
            if len(declared) != 1:
                raise self.refuse((*where["type"], "type"),
                                  f"type 只能是一个类型，不支持 {json.dumps(declared, ensure_ascii=False)}")
            declared = declared[0]
        if declared is MISSING and "properties" in schema:
            declared = "object"
        if declared is MISSING:
            values = self.choice_values(schema, where, loc)
            if values is None and "const" in schema:
                values = [schema["const"]]
            kinds = {_json_type(v) for v in values or []}
            if kinds == {"integer", "number"}:
                kinds = {"number"}
            if len(kinds) != 1:
                raise self.refuse(loc, "缺少 type")
            declared = kinds.pop()
        if declared == "null" or declared not in ("object", "array", "string", "integer", "number", "boolean"):
            raise self.refuse((*where["type"], "type") if "type" in where else loc, f"不支持 type \"{declared}\"")
        if declared == "object":
            return "object"
        if declared == "array":
            items = schema.get("items", MISSING)
            if isinstance(items, list):
                raise self.refuse((*where["items"], "items"), "不支持按位置定义的数组（items 为数组）：每一行必须是同一种结构")
            if items is MISSING:
                raise self.refuse(loc, "数组缺少 items")
            item, item_where, _ = self.resolve(items, (*where["items"], "items"), frozenset())
            if item.get("type") == "object" or ("properties" in item and "type" not in item):
                return "group"
            if "enum" in item or "oneOf" in item:
                return "multi"
            if item.get("type") in ("string", "integer", "number"):
                return "group"   # a list of short answers, one input per row
            raise self.refuse((*where["items"], "items"),
                              "数组的 items 必须是 object（重复组）、文字/数字（可增删的列表），或带 enum 的选项（多选）")
        if "enum" in schema or "oneOf" in schema:
            return "choice"
        ui = schema.get("x-ui")
        if declared == "boolean" and isinstance(ui, dict) and ui.get("widget") in ("radio", "select"):
            return "choice"   # 是/否 as two options
        return declared

    def choice_values(self, schema: dict[str, Any], where: dict[str, tuple[Any, ...]],
                      loc: tuple[Any, ...]) -> list[Any] | None:
        if "enum" in schema:
            return list(schema["enum"])
        if "oneOf" in schema:
            return [value for value, _ in self.one_of(schema, where)]
        return None

    def one_of(self, schema: dict[str, Any], where: dict[str, tuple[Any, ...]]) -> list[tuple[Any, str]]:
        at = (*where["oneOf"], "oneOf")
        options = []
        for i, raw in enumerate(schema["oneOf"]):
            option, _, _ = self.resolve(raw, (*at, i), frozenset())
            if "const" not in option or set(option) - {"const", "title", "description", "$comment"}:
                raise self.refuse((*at, i), "oneOf 只能用于选项列表：每一项只含 const 和 title")
            title = option.get("title")
            options.append((option["const"], title if isinstance(title, str) and title else _label(option["const"])))
        return options

    def leaf(self, node: Node, schema: dict[str, Any], where: dict[str, tuple[Any, ...]],
             loc: tuple[Any, ...], ui: dict[str, Any], ui_at: tuple[Any, ...]) -> None:
        declared = schema.get("type")
        if isinstance(declared, list):
            declared = declared[0]
        fmt = schema.get("format")
        if fmt is not None:
            if declared not in (None, "string") or node.kind not in ("string", "choice"):
                raise self.refuse((*where["format"], "format"), "format 只能用于 string 字段")
            if fmt not in FORMAT_WIDGETS:
                raise self.refuse((*where["format"], "format"),
                                  f"不支持的格式 '{fmt}'，可用：{'、'.join(FORMAT_WIDGETS)}")
        if node.kind == "multi":
            items, item_where, _ = self.resolve(schema["items"], (*where["items"], "items"), frozenset())
            self.refuse_unrenderable(items, item_where, (*where["items"], "items"))
            values_of, values_where = items, item_where
        else:
            values_of, values_where = schema, where
        # Widget: the kind decides which fit.
        widget = ui.get("widget")
        fits = _widgets_for(node.kind, fmt)
        if widget is not None and widget not in fits:
            raise self.refuse((*ui_at, "widget"), f"控件 '{widget}' 不适用于{_KIND_NAMES[node.kind]}"
                                                    f"{f'（format {fmt}）' if fmt else ''}字段，可用：{'、'.join(fits)}")
        # Choices.
        if node.kind in ("choice", "multi"):
            if "enum" in values_of:
                options = [(v, _label(v)) for v in values_of["enum"]]
                at = (*values_where["enum"], "enum")
            elif "oneOf" in values_of:
                options = self.one_of(values_of, values_where)
                at = (*values_where["oneOf"], "oneOf")
            else:  # a boolean shown as 是/否
                options, at = [(True, "是"), (False, "否")], (*ui_at, "widget")
            item_type = values_of.get("type")
            self.set_choices(node, options, item_type if isinstance(item_type, str) else None, at)
            if widget is None:
                widget = "radio" if node.kind == "choice" and len(options) <= 5 else fits[0]
        node.widget = widget or fits[0]
        self.check_ui_keys(node, ui, ui_at)
        # Read-only: const (except a consent checkbox, which the resident must tick) is fixed too.
        consent = declared == "boolean" and schema.get("const") is True
        if "const" in schema and not consent:
            node.readonly = True
        if node.readonly:
            node.fixed = schema["const"] if "const" in schema else schema.get("default", MISSING)
        node.placeholder = ui.get("placeholder", "")
        node.html = _html_hints(node, schema, fmt, consent=consent)

    def set_choices(self, node: Node, options: list[tuple[Any, str]], declared: str | None,
                    at: tuple[Any, ...]) -> None:
        if not options:
            raise self.refuse(at, "选项不能为空")
        choices, by_key, keys = [], {}, {}
        for i, (value, label) in enumerate(options):
            if isinstance(value, (dict, list)) or value is None:
                raise self.refuse((*at, i), "选项只能是文字、数字或是/否")
            if declared and not _fits_type(value, declared):
                raise self.refuse((*at, i), f"选项 {json.dumps(value, ensure_ascii=False)} 不是 {declared} 类型")
            key = value if isinstance(value, str) else json.dumps(value)
            if key in by_key:
                raise self.refuse((*at, i), f"选项 {json.dumps(value, ensure_ascii=False)} 重复")
            by_key[key] = value
            keys[_tagged(value)] = key
            choices.append(Choice(key, value, label))
        node.choices, node._by_choice_key, node._choice_keys = tuple(choices), by_key, keys

    # -- visibleIf ------------------------------------------------------------------------------

    def compile_rule(self, node: Node, logic: Any, at: tuple[Any, ...]) -> rules.CompiledRule:
        for problem in rules.check(logic):
            where = tuple(p for p in problem.get("pointer", "").split("/")[1:])
            if problem.get("code") == "UnknownOperator":
                reason = f"visibleIf 使用了未知的运算符 '{problem.get('operator')}'"
            else:
                reason = f"visibleIf 不是有效的 JSON Logic（{problem.get('message')}）"
            raise self.refuse((*at, *where), reason)
        try:
            rule = rules.compile(logic)
            reads = rule.reads()
        except rules.DataLogicError as exc:
            raise self.refuse(at, f"visibleIf 不是有效的 JSON Logic（{exc}）") from None
        self.pending_vars.append((node, reads, at))
        return rule

    def check_vars(self, root: Node) -> None:
        for node, reads, at in self.pending_vars:
            for var in reads:
                if var == "":
                    raise self.refuse(at, "visibleIf 的 var 必须指明字段名")
                target = find_var(root, var)
                if target is None:
                    head = var.split(".")
                    for i in range(1, len(head)):
                        prefix = find_var(root, ".".join(head[:i]))
                        if prefix is not None and prefix.kind == "group":
                            raise self.refuse(at, f"visibleIf 中的 '{var}' 指向重复组内部；只能引用不在重复组里的字段")
                    raise self.refuse(at, f"visibleIf 引用了不存在的字段 '{var}'")
                if target in set(node.lineage()) or node in set(target.lineage()):
                    raise self.refuse(at, f"visibleIf 不能引用字段自身或包含它的分组（'{var}'）")


# -- helpers ------------------------------------------------------------------------------------

def _widgets_for(kind: str, fmt: str | None) -> tuple[str, ...]:
    if kind == "string" and fmt is not None:
        return (FORMAT_WIDGETS[fmt], "text", "hidden")
    return _KIND_WIDGETS.get(kind, ())


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _fits_type(value: Any, declared: str) -> bool:
    actual = _json_type(value)
    if declared == "number":
        return actual in ("integer", "number")
    if declared == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == declared


def _label(value: Any) -> str:
    if value is True:
        return "是"
    if value is False:
        return "否"
    return number_text(value) if isinstance(value, (int, float)) else str(value)


def _field_names(keys: list[str]) -> dict[str, str]:
    """WTForms field names: the property name when it is a plain identifier WTForms does not
    already use, otherwise ``q<position>``. They only name HTML inputs; answers keep the keys."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for i, key in enumerate(keys):
        name = key if _PLAIN_NAME.match(key) and key not in _RESERVED else f"q{i}"
        while name in taken or name in _RESERVED:
            name += "_"
        names[key] = name
        taken.add(name)
    return names


def _ui_reason(error: Any, ui: Any) -> str:
    path = list(error.absolute_path)
    key = path[0] if path else None
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        unknown = [k for k in error.instance if k not in allowed]
        return f"x-ui 不认识 '{unknown[0] if unknown else ''}'，可用：{'、'.join(allowed)}"
    if key == "widget" and error.validator == "enum":
        return f"未知的控件类型 '{error.instance}'，可用：{'、'.join(WIDGETS)}"
    if error.validator == "enum":
        return f"x-ui 的 {key} 不认识 '{error.instance}'，可用：{'、'.join(map(str, error.validator_value))}"
    if error.validator == "type":
        return f"x-ui{f' 的 {key}' if key else ''} 应为{_TYPE_NAMES.get(str(error.validator_value), '正确的类型')}"
    if error.validator == "uniqueItems":
        return f"x-ui 的 {key} 中有重复的名字"
    if error.validator in ("minLength", "minProperties"):
        return f"x-ui 的 {key} 不能为空"
    if error.validator == "maxLength":
        return f"x-ui 的 {key} 太长（最多 {error.validator_value} 个字）"
    if error.validator in ("minimum", "maximum"):
        return f"x-ui 的 {key} 应在 1 到 30 之间" if key == "rows" else f"x-ui 的 {key} 超出范围"
    return f"x-ui{f' 的 {key}' if key else ''} 取值不正确"


_TYPE_NAMES = {"object": "对象", "array": "数组", "string": "文字", "integer": "整数", "number": "数字",
               "boolean": "true 或 false"}


def _html_pattern(pattern: Any) -> str | None:
    """The HTML ``pattern`` equal to a JSON Schema ``pattern``, or None when they would differ.

    JSON Schema searches anywhere; HTML matches the whole value. They agree only for a pattern
    anchored at both ends with no alternation outside groups.
    """
    if not isinstance(pattern, str) or not pattern.startswith("^") or not pattern.endswith("$"):
        return None
    inner = pattern[1:-1]
    if (len(inner) - len(inner.rstrip("\\"))) % 2 or "(?P" in inner or "\\A" in inner or "\\Z" in inner:
        return None
    depth, in_class, escaped = 0, False, False
    for ch in inner:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return None
    return inner or None


def _is_multiple(value: Any, step: Any) -> bool:
    try:
        return (Fraction(Decimal(repr(value))) / Fraction(Decimal(repr(step)))).denominator == 1
    except (ArithmeticError, ValueError):
        return False


def _html_hints(node: Node, schema: dict[str, Any], fmt: str | None, *, consent: bool) -> dict[str, Any]:
    """HTML5 attributes that help the browser and the phone keyboard; the server still judges.

    A hint is only given when it is never stricter than the schema, so the browser cannot refuse
    an answer the server would accept.
    """
    html: dict[str, Any] = {}
    if node.widget == "hidden":
        return html
    if node.kind == "boolean":
        # An unticked box is an answer (false), so only a box that must be ticked is required.
        always = node.parent is not None and node.parent.html_required and node.rule is None \
            and all(n.rule is None for n in node.lineage())
        return {"required": True} if consent and always else {}
    if node.html_required and node.kind != "multi":
        html["required"] = True
    if node.kind in ("string", "integer", "number"):
        if node.placeholder:
            html["placeholder"] = node.placeholder
        if node.kind == "string":
            if isinstance(schema.get("maxLength"), int):
                html["maxlength"] = schema["maxLength"]
            if isinstance(schema.get("minLength"), int) and schema["minLength"] > 0:
                html["minlength"] = schema["minLength"]
            html_pattern = _html_pattern(schema.get("pattern"))
            if html_pattern:
                html["pattern"] = html_pattern
            if node.widget == "tel":
                html["inputmode"] = "tel"
            if node.widget == "textarea":
                html["rows"] = node.ui.get("rows", 4)
        else:
            integer = node.kind == "integer"
            html["inputmode"] = "numeric" if integer else "decimal"
            if node.widget == "number":
                html.update(_number_hints(schema, integer))
        autocomplete = _obvious_autocomplete(node, fmt)
        if autocomplete:
            html["autocomplete"] = autocomplete
    if "inputmode" in node.ui:
        html["inputmode"] = node.ui["inputmode"]
    if "autocomplete" in node.ui:
        html["autocomplete"] = node.ui["autocomplete"]
    return html


def _obvious_autocomplete(node: Node, fmt: str | None) -> str | None:
    if fmt == "email" or node.widget == "email":
        return "email"
    if node.widget == "tel":
        return "tel"
    if node.kind == "string" and (node.key.lower() in _NAME_KEYS or node.title == "姓名"):
        return "name"
    return None


def _number_hints(schema: dict[str, Any], integer: bool) -> dict[str, Any]:
    def num(key: str) -> Any:
        value = schema.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    low, high = num("minimum"), num("maximum")
    ex_low, ex_high = num("exclusiveMinimum"), num("exclusiveMaximum")
    if ex_low is not None:
        bound = math.floor(ex_low) + 1 if integer else ex_low
        low = bound if low is None else max(low, bound)
    if ex_high is not None:
        bound = math.ceil(ex_high) - 1 if integer else ex_high
        high = bound if high is None else min(high, bound)
    step = num("multipleOf")
    # The browser counts steps from min: only say step when min is itself a multiple of it.
    if step is not None and ((integer and not float(step).is_integer())
                             or (low is not None and not _is_multiple(low, step))):
        step = None
    html: dict[str, Any] = {"step": number_text(step) if step is not None else ("1" if integer else "any")}
    if low is not None:
        html["min"] = number_text(low)
    if high is not None:
        html["max"] = number_text(high)
    return html
