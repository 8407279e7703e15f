"""Loading form documents: a file (or JSON typed into the admin console) checked before anything
uses it. Every refusal is a DefinitionError with the JSON Pointer of the problem and a reason in
Chinese, so the person who wrote the form can find and fix it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for

from qunti.definitions import DefinitionError, digest, pointer, read_json
from qunti.forms.nodes import build_tree

FORM_ID = re.compile(r"^[a-z][a-z0-9-]*$")
# Drafts whose keywords the compiler knows (no $schema means 2020-12).
DRAFTS = (Draft202012Validator, Draft201909Validator, Draft7Validator, Draft6Validator)


@dataclass(frozen=True)
class FormDocument:
    """A checked form document; ``id`` is the file name without ``.json``."""

    id: str
    source: str
    schema: dict[str, Any]
    digest: str
    title: str


def load_form(path: Path, source: str) -> FormDocument:
    """Read and check one form file; ``source`` names it in messages (e.g. "forms/join.json")."""
    form_id = path.stem
    check_id(form_id, source)
    schema = read_json(path, source)
    validate_form(form_id, schema, source)
    return FormDocument(id=form_id, source=source, schema=schema, digest=digest(schema), title=schema["title"].strip())


def check_id(form_id: str, source: str) -> None:
    if not isinstance(form_id, str) or not FORM_ID.match(form_id):
        raise DefinitionError(source, "", f"表单编号 '{form_id}' 不合规：只能用小写字母、数字和连字符，且以字母开头")


def validate_form(form_id: str, schema: Any, source: str) -> None:
    """Check a form document: its id, the JSON Schema meta-schema of its ``$schema``, and that the
    compiler can render all of it (x-ui hints, widgets, visibleIf rules, $ref)."""
    check_id(form_id, source)
    if not isinstance(schema, dict):
        raise DefinitionError(source, "", "表单必须是一个 JSON 对象")
    meta = _meta_validator(schema, source)
    error = best_match(meta.iter_errors(schema))
    if error is not None:
        raise DefinitionError(source, pointer(error.absolute_path), _meta_reason(error))
    build_tree(schema, source)


def _meta_validator(schema: dict[str, Any], source: str) -> Any:
    if "$schema" in schema and not isinstance(schema["$schema"], str):
        raise DefinitionError(source, "/$schema", "$schema 应为文字（元模式的网址）")
    cls = validator_for(schema, default=None) if "$schema" in schema else Draft202012Validator
    if cls not in DRAFTS:
        known = "、".join(draft.META_SCHEMA["$schema"] for draft in DRAFTS)
        raise DefinitionError(source, "/$schema", f"不支持的 $schema '{schema['$schema']}'，可用：{known}")
    return cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)


_TYPES = {"object": "对象", "array": "数组", "string": "文字", "integer": "整数", "number": "数字",
          "boolean": "true 或 false", "null": "null"}
_SIMPLE_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def _meta_reason(error: ValidationError) -> str:
    """The meta-schema's complaint in Chinese (its English detail in brackets for the expert)."""
    path = list(error.absolute_path)
    keyword = path[-1] if path else ""
    if keyword == "type" and isinstance(error.instance, str):
        return f"未知的类型 '{error.instance}'，可用：{'、'.join(_SIMPLE_TYPES)}"
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{keyword or '此处'} 应为{'或'.join(_TYPES.get(t, t) for t in expected)}"
    if error.validator == "format" and error.validator_value == "regex":
        return f"'{error.instance}' 不是有效的正则表达式"
    if error.validator in ("minimum", "exclusiveMinimum"):
        return f"{keyword} 不能是负数" if error.validator_value == 0 else f"{keyword} 太小"
    if error.validator == "uniqueItems":
        return f"{keyword} 中有重复的项"
    if error.validator == "minItems":
        return f"{keyword} 不能为空"
    if error.validator == "enum":
        return f"{keyword} 的取值不在允许范围内"
    return f"不符合 JSON Schema 规范（{error.message}）"
