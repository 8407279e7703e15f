"""Reading definition files (forms, rules, menus, plugin manifests) and reporting what is wrong.

Every problem found while loading a definition is a :class:`DefinitionError` naming the file, the
JSON path inside it and a plain-language reason, so a non-programmer can find and fix it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qunti import jsontext


class DefinitionError(Exception):
    """A definition that cannot be used. ``path`` is a JSON Pointer ("" for the whole document)."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source, self.path, self.reason = str(source), path, reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "/"
        return f"{self.source}：{where}：{self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.source, "path": self.path or "/", "message": self.reason}


def pointer(parts: Iterable[Any]) -> str:
    """A JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def parse_json(text: str, source: str) -> Any:
    """Parse JSON text; a syntax error names the line and column."""
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(source, "", f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）") from None


def read_json(path: Path, source: str | None = None) -> Any:
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DefinitionError(source, "", "文件不是 UTF-8 编码") from None
    return parse_json(text, source)


def canonical(document: Any) -> str:
    """The one serialisation used for digests: key order and whitespace never make a new version."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(document: Any) -> str:
    return hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()
