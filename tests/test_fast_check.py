"""The fast check (jsonschema-rs) never passes an answer jsonschema would refuse.

Every shipped form (the district's and the plugins') is judged both ways on its examples and on
hundreds of answers made from them: each field dropped, emptied, given the wrong type, a number out
of range or not a multiple, a string too long, a pattern almost matched (a trailing newline, which
Python's ``$`` accepts and Rust's does not), a bad date, e-mail or URL. The two must agree on every
one. The direction that matters is a pass jsonschema would refuse; a refusal jsonschema would pass
only costs time (jsonschema judges it again), but it would show the two drifting apart.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from qunti.forms.compiler import compile_form
from qunti.forms.validation import make_fast_check, make_validator

ROOT = Path(__file__).resolve().parents[1]
FORMS = sorted([*(ROOT / "forms").glob("*.json"), *(ROOT / "plugins").glob("*/*/forms/*.json")])

ODD_VALUES: list[Any] = [
    None, True, 0, -1, 1.5, 12.345, 10**30, "", " ", "x" * 5001, "13800138000\n", "１３８００１３８０００",
    "a\x1cb", "2026-02-30", "2026-02-28", "2026-02-28T08:00:00+08:00", "08:00:00", "25:00:00+08:00",
    "a@b", "someone@example.com", "http://", "https://example.com/x", "javascript:alert(1)", [], [1, 1],
    {}, {"x": 1}, "employee", "union",
]


def _variants(answers: dict[str, Any], schema: dict[str, Any]):
    """The example, then each top-level and nested field dropped or replaced by every odd value."""
    yield answers

    def paths(value: Any, prefix: tuple) -> list[tuple]:
        out = []
        if isinstance(value, dict):
            for key, item in value.items():
                out.append((*prefix, key))
                out += paths(item, (*prefix, key))
        elif isinstance(value, list):
            for index, item in enumerate(value[:2]):
                out.append((*prefix, index))
                out += paths(item, (*prefix, index))
        return out

    for path in paths(answers, ()):
        for replacement in [..., *ODD_VALUES]:
            changed = copy.deepcopy(answers)
            parent = changed
            for part in path[:-1]:
                parent = parent[part]
            if replacement is ...:
                if isinstance(parent, dict):
                    del parent[path[-1]]
                else:
                    continue
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
            yield changed
    for name in (schema.get("properties") or {}):
        if name not in answers:
            for value in ODD_VALUES:
                yield {**answers, name: value}


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.stem)
def test_fast_check_agrees_with_jsonschema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    fast = make_fast_check(schema)
    assert fast is not None, f"{path.name}: the fast check could not be built"
    validator = make_validator(schema)
    examples = schema.get("examples") or [{}]
    judged = 0
    for example in examples:
        for answers in _variants(example, schema):
            slow_ok = not any(True for _ in validator.iter_errors(answers))
            fast_ok = fast(answers)
            assert fast_ok == slow_ok, (f"{path.name}: jsonschema-rs {'passed' if fast_ok else 'refused'} what "
                                        f"jsonschema {'refuses' if fast_ok else 'passes'}: {answers!r}")
            judged += 1
    assert judged > len(examples)


def test_answers_the_fast_check_refuses_get_jsonschemas_messages() -> None:
    schema = json.loads((ROOT / "forms" / "establish-organization.json").read_text(encoding="utf-8"))
    compiled = compile_form(schema, "establish-organization")
    good = schema["examples"][0]
    assert compiled.judge(good)[1] == []
    errors = compiled.judge({**good, "phone": "12345"})[1]
    assert [e.path for e in errors] == ["/phone"] and errors[0].message  # the Chinese message


@pytest.mark.parametrize("case", [
    ({"type": "number", "multipleOf": 0.01}, 12.34, True),   # decimals, not binary floats
    ({"type": "number", "multipleOf": 0.01}, 12.345, False),
    ({"type": "string", "pattern": "^1[3-9]\\d{9}$"}, "13800138000\n", True),  # Python's $
    ({"type": "string", "pattern": "^\\S+$"}, "a\x1cb", False),  # Python's \s knows \x1c
    ({"type": "string", "format": "email"}, "someone@", False),
    ({"type": "string", "format": "date"}, "2026-02-30", False),
])
def test_the_fast_check_runs_the_same_python_checks(case) -> None:
    schema, value, expected = case
    document = {"type": "object", "properties": {"v": schema}}
    assert make_fast_check(document)({"v": value}) is expected
    assert (not any(True for _ in make_validator(document).iter_errors({"v": value}))) is expected


def test_regular_expressions_on_property_names_are_left_to_jsonschema() -> None:
    assert make_fast_check({"type": "object", "patternProperties": {"^x": {"type": "string"}}}) is None
    assert make_fast_check({"$schema": "http://json-schema.org/draft-07/schema#"}) is None
