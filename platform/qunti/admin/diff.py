"""What changed between two versions of a form: a line diff of the pretty-printed JSON, and the
same change said field by field (added, removed, title, required, type, options, help, length)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from qunti.admin.form_edits import is_required, type_name
from qunti.definitions import DefinitionError
from qunti.definitions_io import dump_form
from qunti.forms.nodes import Node, build_tree


@dataclass(frozen=True)
class Line:
    kind: str   # "add", "del", "hunk" or "same"
    text: str


def line_diff(old: Any, new: Any, old_label: str, new_label: str) -> list[Line]:
    """A unified diff (three lines of context) of the two documents as the editor shows them."""
    lines = []
    for text in difflib.unified_diff(dump_form(old).splitlines(), dump_form(new).splitlines(), old_label, new_label,
                                     lineterm="", n=3):
        if text.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(text[:1], "same")
        lines.append(Line(kind, text))
    return lines


@dataclass
class FieldSummary:
    added: list[tuple[str, str]] = field(default_factory=list)                 # (path, title)
    removed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, list[str]]] = field(default_factory=list)    # (path, title, what)
    reordered: bool = False

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.reordered)


def _fields(schema: Any) -> dict[str, Node]:
    root = build_tree(schema, "")
    return {node.pattern: node for node in root.walk() if node is not root and node.kind != "row"}


def _changes(old: Node, new: Node) -> list[str]:
    said = []
    if old.title != new.title:
        said.append(f"标题：{old.title} → {new.title}")
    if is_required(old) != is_required(new):
        said.append("改为必填" if is_required(new) else "改为选填")
    if type_name(old) != type_name(new):
        said.append(f"类型：{type_name(old)} → {type_name(new)}")
    old_labels, new_labels = [c.label for c in old.choices], [c.label for c in new.choices]
    if old_labels != new_labels:
        gone = [label for label in old_labels if label not in new_labels]
        came = [label for label in new_labels if label not in old_labels]
        parts = ([f"增加 {'、'.join(came)}"] if came else []) + ([f"删除 {'、'.join(gone)}"] if gone else [])
        said.append(f"选项：{'；'.join(parts) or '顺序调整'}")
    if old.help != new.help:
        said.append("说明文字已修改")
    if old.schema.get("maxLength") != new.schema.get("maxLength"):
        said.append(f"最大长度：{old.schema.get('maxLength', '不限')} → {new.schema.get('maxLength', '不限')}")
    return said


def field_summary(old: Any, new: Any) -> FieldSummary | None:
    """Field-level changes from ``old`` to ``new`` (None if either cannot be read as a form)."""
    try:
        before, after = _fields(old), _fields(new)
    except DefinitionError:
        return None
    summary = FieldSummary()
    for path, node in after.items():
        if path not in before:
            summary.added.append((path, node.title))
        else:
            said = _changes(before[path], node)
            if said:
                summary.changed.append((path, node.title, said))
    summary.removed = [(path, node.title) for path, node in before.items() if path not in after]
    kept = [path for path in after if path in before]
    summary.reordered = kept != [path for path in before if path in after]
    return summary
