"""Checking plugin data (manifests, hook contributions, eligibility rule sets) against schemas/*.json."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from qunti.definitions import DefinitionError, pointer, read_json

FOLDER = Path(__file__).parent / "schemas"

# jsonschema speaks English; the people who write plugin files read these instead.
_MESSAGES = {
    "required": lambda e: f"缺少必填项 '{_missing(e)}'",
    "additionalProperties": lambda e: f"不认识的键（{e.message.split('(')[-1].rstrip(')')}）",
    "enum": lambda e: f"只能是 {'、'.join(map(str, e.validator_value))} 之一，而不是 {e.instance!r}",
    "pattern": lambda e: f"写法不对：{e.instance!r} 须符合 {e.validator_value}",
    "type": lambda e: f"类型不对：应为 {e.validator_value}",
}


def _missing(error: jsonschema.ValidationError) -> str:
    return next((name for name in error.validator_value if name not in error.instance), "?")


@lru_cache(maxsize=None)
def _document(name: str) -> dict[str, Any]:
    schema = read_json(FOLDER / name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@lru_cache(maxsize=None)
def validator(name: str, definition: str | None = None) -> jsonschema.Draft202012Validator:
    """A validator for schema file ``name``, or for a list of its ``$defs`` entry ``definition``."""
    schema = _document(name)
    if definition is not None:
        schema = {"$defs": schema["$defs"], "type": "array", "items": {"$ref": f"#/$defs/{definition}"}}
    return jsonschema.Draft202012Validator(schema)


def check(document: Any, validator_: jsonschema.Draft202012Validator, source: str, what: str,
          base: list[Any] | None = None) -> None:
    """Raise the most relevant violation as a DefinitionError with a Chinese reason."""
    error = jsonschema.exceptions.best_match(validator_.iter_errors(document))
    if error is None:
        return
    explain = _MESSAGES.get(error.validator)
    reason = explain(error) if explain else error.message
    raise DefinitionError(source, pointer([*(base or []), *error.absolute_path]), f"{what}不符合格式：{reason}")
