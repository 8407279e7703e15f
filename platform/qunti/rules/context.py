"""The order context a dispatch rule reads, declared once as a JSON Schema, and path look-ups in schemas.

The dispatcher builds one context per order; rule rows may read any path declared here. ``answers``
is open: what it holds depends on the service item's form, so those paths are checked against the
form schemas instead (see :func:`has_path`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHANNELS = ("online", "qr", "station", "phone")
ORGANIZATIONS = ("union", "league", "women", "joint")

_NULLABLE_STRING = {"type": ["string", "null"]}

ORDER_CONTEXT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "派单上下文",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "item": {
            "title": "服务事项",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "code": {"title": "事项编码", "type": "string"},
                "organization": {"title": "牵头组织", "enum": list(ORGANIZATIONS)},
                "functions": {"title": "对应的六位一体功能", "type": "array", "items": {"type": "string"}},
            },
        },
        "answers": {"title": "表单填写内容（按服务事项的表单检查）", "type": "object"},
        "station": {
            "title": "受理站点（线上下单时为 null）",
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "code": {"title": "站点编码", "type": "string"},
                "kind": {"title": "站点类型", "type": "string"},
                "community": {"title": "所在社区", "type": "string"},
                "leadOrganization": {"title": "牵头组织", **_NULLABLE_STRING},
            },
        },
        "applicant": {
            "title": "服务对象",
            "type": "object",
            "additionalProperties": False,
            "properties": {"category": {"title": "人员类别", "type": "string"}},
        },
        "channel": {"title": "下单渠道", "enum": list(CHANNELS)},
        "counts": {
            "title": "由派单程序统计的数量",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # Open orders of the same service item in the same community, this one included or not
                # as the dispatcher decides; rules compare it with a threshold.
                "similarOpenInCommunity": {"title": "同社区同事项未办结件数", "type": "integer", "minimum": 0},
                "openByApplicant": {"title": "本人未办结件数", "type": "integer", "minimum": 0},
            },
        },
    },
}

# Where a path may continue inside a schema besides "properties": every branch a form may use to
# declare a field conditionally counts as declaring it.
_BRANCH_LISTS = ("allOf", "anyOf", "oneOf")
_BRANCH_ONES = ("then", "else")


def _resolve(schema: Any, root: dict[str, Any], seen: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The schema itself, what its local ``$ref`` points to, and its branches, flattened."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        found += _resolve(target, root, seen | {ref})
    for key in _BRANCH_LISTS:
        for branch in schema.get(key) or ():
            found += _resolve(branch, root, seen)
    for key in _BRANCH_ONES:
        found += _resolve(schema.get(key), root, seen)
    for branch in (schema.get("dependentSchemas") or {}).values():
        found += _resolve(branch, root, seen)
    return found


def has_path(schema: dict[str, Any], parts: Sequence[str]) -> bool:
    """Whether the object ``schema`` declares the nested property ``parts`` (``[]`` is the whole)."""
    current = [schema]
    for part in parts:
        following = []
        for candidate in current:
            for node in _resolve(candidate, schema):
                child = (node.get("properties") or {}).get(part)
                if child is not None:
                    following.append(child)
        if not following:
            return False
        current = following
    return True


def context_paths(schema: dict[str, Any] = ORDER_CONTEXT, prefix: str = "") -> list[str]:
    """Every dotted path the context declares, for error messages and the admin console's pickers."""
    paths = []
    for name, child in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        paths.append(path)
        paths += context_paths(child, path + ".")
    return paths
