"""The handling units (办单单位) rule sets may route orders to: ``rules/units.json``."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from qunti.definitions import DefinitionError, pointer, read_json

SCHEMAS = Path(__file__).parent / "schemas"


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.Draft202012Validator:
    """The checked validator for one of the schemas shipped in ``rules/schemas/``."""
    schema = read_json(SCHEMAS / name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_shape(document: Any, schema_name: str, source: str, what: str) -> None:
    """Raise the most relevant schema violation of ``document`` as a DefinitionError."""
    error = jsonschema.exceptions.best_match(validator(schema_name).iter_errors(document))
    if error is not None:
        raise DefinitionError(source, pointer(error.absolute_path), f"{what}不符合格式：{error.message}")


def validate_units(document: Any, source: str) -> dict[str, dict[str, Any]]:
    """Check a units document; return code -> unit in file order."""
    check_shape(document, "units.schema.json", source, "办单单位清单")
    units: dict[str, dict[str, Any]] = {}
    for index, unit in enumerate(document["units"]):
        if unit["code"] in units:
            raise DefinitionError(source, pointer(["units", index, "code"]), f"单位编码 '{unit['code']}' 重复")
        units[unit["code"]] = dict(unit)
    return units


def load_units(path: Path | str, source: str | None = None) -> dict[str, dict[str, Any]]:
    """Read and check ``rules/units.json``; return code -> unit."""
    path = Path(path)
    source = source or str(path)
    if not path.exists():
        raise DefinitionError(source, "", "找不到办单单位文件")
    return validate_units(read_json(path, source), source)
