"""The 七有 checklist an inspector fills in: the 七有 form (setting ``QIYOU_FORM``) with the items
enabled plugins add through ``qunti_station_checklist_items`` appended after its own items.

The form stays the one source of truth for the core items (admins edit it like any form): an item is
a property whose schema is ``{"$ref": "#/$defs/checkItem"}``, answered ``{"result", "note"}``. A
plugin item becomes one more such property, keyed by its code, so the form engine renders, coerces
and validates it exactly like the core items.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from qunti.catalog import state
from qunti.forms.compiler import CompiledForm, compile_form
from qunti.forms.registry import VersionRef, current_version, version_schema
from qunti.plugins import checklist_items
from qunti.stations.models import RESULT_WEIGHTS, RESULTS

log = logging.getLogger(__name__)

CHECK_ITEM = "checkItem"
REF = f"#/$defs/{CHECK_ITEM}"
# Used when an edited 七有 form no longer defines checkItem, so plugin items still have a shape.
DEFAULT_CHECK_ITEM = {
    "type": "object",
    "properties": {
        "result": {"type": "string", "title": "检查结果", "x-ui": {"widget": "radio"},
                   "oneOf": [{"const": code, "title": title} for code, title in RESULTS.items()]},
        "note": {"type": "string", "title": "情况说明", "maxLength": 300, "x-ui": {"widget": "textarea", "rows": 2}},
    },
    "required": ["result"],
    "additionalProperties": False,
    "x-ui": {"order": ["result", "note"]},
}


@dataclass(frozen=True)
class Item:
    code: str  # the answers' key
    title: str
    help: str = ""
    plugin: str | None = None  # the plugin that added it; None for the form's own items


@dataclass(frozen=True)
class Checklist:
    """The checklist as it is asked now: the 七有 form version, its compiled form with the plugin
    items in it, and every item in display order."""

    version: VersionRef
    compiled: CompiledForm
    items: tuple[Item, ...]


def _order(schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties") or {}
    order = [key for key in (schema.get("x-ui") or {}).get("order") or [] if key in properties]
    return order + [key for key in properties if key not in order]


def form_items(schema: dict[str, Any]) -> list[Item]:
    """The checklist items of a 七有 form document, in display order."""
    properties = schema.get("properties") or {}
    return [Item(key, properties[key].get("title", key), (properties[key].get("x-ui") or {}).get("help", ""))
            for key in _order(schema) if properties[key].get("$ref") == REF]


def with_items(schema: dict[str, Any], extra: list[Item]) -> dict[str, Any]:
    """A copy of the 七有 form with ``extra`` items added (required, after the form's own items)."""
    document = copy.deepcopy(schema)
    document.setdefault("$defs", {}).setdefault(CHECK_ITEM, copy.deepcopy(DEFAULT_CHECK_ITEM))
    properties = document.setdefault("properties", {})
    order = _order(document)
    own = [key for key in order if properties[key].get("$ref") == REF]
    at = order.index(own[-1]) + 1 if own else len(order)
    for item in extra:
        properties[item.code] = {"$ref": REF, "title": item.title, **({"x-ui": {"help": item.help}} if item.help else {})}
        document.setdefault("required", []).append(item.code)
        order.insert(at, item.code)
        at += 1
    document.setdefault("x-ui", {})["order"] = order
    return document


def plugin_items(taken: set[str]) -> list[Item]:
    """Items of the enabled plugins (and the core's hook), minus any whose code the form already uses."""
    found = []
    for raw in checklist_items():
        if raw["code"] in taken:
            log.error("插件 %s 的七有检查项 %s 与七有表单的字段重名，已跳过", raw["plugin"], raw["code"])
            continue
        taken.add(raw["code"])
        found.append(Item(raw["code"], raw["title"], raw.get("help", ""), raw["plugin"]))
    return found


def current_checklist() -> Checklist | None:
    """The checklist to fill in now, or None if the 七有 form is missing.

    Compiled once per (form version, enabled plugin items) and kept with the compiled forms
    (``state().compiled``): a new version or a plugin switched on or off makes a new key, so an entry
    never goes stale."""
    version = current_version(current_app.config["QIYOU_FORM"])
    if version is None:
        return None
    raw = checklist_items()
    key = ("qiyou", version.digest, tuple((i["code"], i["title"], i.get("help", ""), i["plugin"]) for i in raw))
    cache = state().compiled
    found = cache.get(key)
    if found is None:
        schema = version_schema(version)
        own = form_items(schema)
        extra = plugin_items(set(schema.get("properties") or {}))
        compiled = compile_form(with_items(schema, extra), version.form_id)
        found = Checklist(version=version, compiled=compiled, items=tuple(own + extra))
        with state().lock:
            cache.setdefault(key, found)
    return found


def results_of(items: tuple[Item, ...], answers: dict[str, Any]) -> list[dict[str, Any]]:
    """Each item's result and note from validated ``answers``."""
    rows = []
    for position, item in enumerate(items):
        answer = answers.get(item.code) or {}
        rows.append({"code": item.code, "title": item.title[:60], "plugin": item.plugin, "position": position,
                     "result": answer.get("result", "fail"), "note": (answer.get("note") or "").strip()})
    return rows


def score(results: list[str]) -> float:
    """0–100: 符合 counts 1, 部分符合 ½, 不符合 0, averaged over the items."""
    if not results:
        return 0.0
    return round(100 * sum(RESULT_WEIGHTS.get(r, 0.0) for r in results) / len(results), 1)
