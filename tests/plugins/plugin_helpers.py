"""Helpers for the plugin tests: throwaway plugin folders, switching plugins, posting form answers."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from helpers import form_data  # noqa: F401  (re-exported: the plugin tests post generated forms)

# No conftest.py in this folder: a second module named "conftest" would shadow tests/conftest.py for
# the tests that import from it. Shared fixtures live here and are imported by name.
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIRS = [str(ROOT / "plugins" / "brands"), str(ROOT / "plugins" / "stations")]
BRANDS = ROOT / "plugins" / "brands"


def sample_form(title: str = "测试插件表单") -> dict[str, Any]:
    """A small valid form document with its example answer."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": "姓名", "minLength": 2, "maxLength": 20},
            "phone": {"type": "string", "title": "手机号", "pattern": "^1[3-9]\\d{9}$", "x-ui": {"widget": "tel"}},
            "age": {"type": "integer", "title": "年龄", "minimum": 1, "maximum": 120},
        },
        "required": ["name", "phone"],
        "additionalProperties": False,
        "examples": [{"name": "测试人", "phone": "13800001111", "age": 30}],
    }


def write_plugin(root: Path, plugin_id: str, *, forms: dict[str, Any] | None = None,
                 rules: dict[str, Any] | None = None, hooks: str | None = None, **manifest: Any) -> Path:
    """A plugin folder ``root/plugin_id`` with a manifest (fields overridable), forms, rules, hooks.py."""
    folder = root / plugin_id
    (folder / "forms").mkdir(parents=True, exist_ok=True)
    document = {"id": plugin_id, "name": f"测试插件{plugin_id}", "kind": "brand", "organization": "union",
                "version": "0.1.0", "description": "测试用的插件。"}
    document.update(manifest)
    document = {k: v for k, v in document.items() if v is not None}
    (folder / "plugin.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    for form_id, schema in (forms or {}).items():
        text = schema if isinstance(schema, str) else json.dumps(schema, ensure_ascii=False)
        (folder / "forms" / f"{form_id}.json").write_text(text, encoding="utf-8")
    if rules:
        (folder / "rules").mkdir(exist_ok=True)
        for name, document in rules.items():
            (folder / "rules" / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    if hooks is not None:
        (folder / "hooks.py").write_text(textwrap.dedent(hooks), encoding="utf-8")
    return folder


def enable(app, *plugin_ids: str, on: bool = True) -> None:
    from qunti.plugins import set_enabled
    with app.app_context():
        for plugin_id in plugin_ids:
            set_enabled(plugin_id, on, changed_by="test")
