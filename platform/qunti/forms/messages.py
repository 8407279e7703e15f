"""jsonschema errors in the words residents read: Chinese, one per field, led by the field's title.

jsonschema's own (English) text never reaches a resident; a keyword without a sentence here gets a
plain "填写有误".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

from qunti.definitions import pointer
from qunti.forms.nodes import Node, number_text


@dataclass(frozen=True)
class FieldError:
    """One problem with one answer. ``path`` is a JSON Pointer into the answers ("" = the form)."""

    path: str
    message: str


@dataclass(frozen=True)
class Located:
    """A FieldError with the node it belongs to and where it sorts in display order."""

    error: FieldError
    node: Node | None
    parts: tuple[Any, ...]
    order: tuple[int, ...]


_FORMATS = {
    "email": "不是有效的电子邮箱",
    "date": "日期格式不正确",
    "date-time": "日期时间格式不正确",
    "time": "时间格式不正确",
    "uri": "不是有效的网址",
}
_TYPES = {
    "integer": "必须是整数",
    "number": "必须是数字",
    "string": "必须是文字",
    "boolean": "必须是“是”或“否”",
    "object": "格式不正确",
    "array": "格式不正确",
    "null": "格式不正确",
}
REQUIRED = "必填"


def _sentence(error: ValidationError, node: Node | None) -> str:
    keyword, value = error.validator, error.validator_value
    kind = node.kind if node is not None else ""
    if keyword == "pattern":
        return "格式不正确"
    if keyword == "minLength":
        return f"长度不能少于 {value} 个字"
    if keyword == "maxLength":
        return f"长度不能超过 {value} 个字"
    if keyword == "minimum":
        return f"不能小于 {number_text(value)}"
    if keyword == "maximum":
        return f"不能大于 {number_text(value)}"
    if keyword == "exclusiveMinimum":
        return f"必须大于 {number_text(value)}"
    if keyword == "exclusiveMaximum":
        return f"必须小于 {number_text(value)}"
    if keyword == "multipleOf":
        return f"必须是 {number_text(value)} 的整数倍"
    if keyword == "format":
        return _FORMATS.get(value, "格式不正确")
    if keyword in ("enum", "const", "oneOf", "anyOf"):
        if kind == "boolean" and keyword == "const" and value is True:
            return "必须勾选"
        return "不在可选范围内"
    if keyword == "uniqueItems":
        return "不能重复填写" if kind == "group" else "不能重复选择"
    if keyword in ("minItems", "maxItems"):
        word = "至少" if keyword == "minItems" else "最多"
        if kind != "group":
            return f"{word}选择 {value} 项"
        rows_are_objects = node is not None and node.item is not None and node.item.kind == "row"
        return f"{word}填写 {value} {'组' if rows_are_objects else '项'}"
    if keyword == "type":
        return _TYPES.get(value, "格式不正确") if isinstance(value, str) else "格式不正确"
    if keyword is None or keyword == "false":
        return "不能填写"
    return "填写有误"


def _missing(error: ValidationError) -> list[str]:
    """The property names a required-like error is about (jsonschema only says so in English)."""
    keyword, value, instance = error.validator, error.validator_value, error.instance
    if not isinstance(instance, dict):
        return []
    if keyword == "required":
        return [name for name in value if name not in instance]
    if keyword in ("dependentRequired", "dependencies"):
        return [name for prop, deps in value.items() if prop in instance and isinstance(deps, list)
                for name in deps if name not in instance]
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        known = error.schema.get("properties", {})
        return [name for name in instance if name not in known]
    return []


def locate(root: Node, parts: list[Any]) -> tuple[Node | None, tuple[Any, ...], tuple[int, ...]]:
    """The field an instance path belongs to, the path cut at that field, and its display order.

    A path below a leaf (an item of a multiple choice) belongs to the leaf; an unknown name keeps
    its place at the end.
    """
    node: Node | None = root
    kept: list[Any] = []
    order: list[int] = []
    for part in parts:
        if node is None or node.is_leaf:
            break
        if node.kind == "group":
            if not isinstance(part, int):
                node = None
                kept.append(part)
                order.append(1 << 30)
                break
            node = node.item
            order.append(part)
        else:
            child = node.child(part)
            order.append(node.children.index(child) if child is not None else 1 << 30)
            node = child
        kept.append(part)
    return node, tuple(kept), tuple(order)


def field_errors(errors: Iterable[ValidationError], root: Node) -> list[Located]:
    """Chinese messages for jsonschema errors, each on its own field, in display order, once each."""
    out: dict[tuple[str, str], Located] = {}
    for error in errors:
        base = list(error.absolute_path)
        names = _missing(error)
        if error.validator in ("required", "dependentRequired", "dependencies") and names:
            targets = [(base + [name], REQUIRED) for name in names]
        elif error.validator in ("additionalProperties", "unevaluatedProperties") and names:
            targets = [(base + [name], "不是本表单的字段") for name in names]
        else:
            targets = [(base, None)]
        for parts, sentence in targets:
            node, kept, order = locate(root, parts)
            text = sentence or _sentence(error, node)
            if node is root:
                message = f"提交的内容{text}" if text in ("格式不正确", "填写有误") else text
            else:
                title = node.title if node is not None else str(kept[-1])
                message = f"{title}：{text}"
            path = pointer(kept)
            out.setdefault((path, message), Located(FieldError(path, message), node, kept, order))
    return sorted(out.values(), key=lambda located: located.order)
