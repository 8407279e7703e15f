"""Qunti's JSON Logic engine gives the standard answers: the official suite and the community suites.

The suites live in the shared folder beside the repository (``../shared``), not in the repository; a
clone without it skips these tests and says why.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qunti import rules
from qunti.rules.engine import default_engine, prepare

SUITES = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "jsonlogic"
ABSENT = f"the shared JSON Logic suites are not here ({SUITES})"

# Community-suite operators datalogic-py 5.9 does not have. A case using one anywhere in its rule may
# fail. `preserve` (return the argument unevaluated) is a newer extension; Qunti rules never need it.
UNSUPPORTED_OPERATORS = {"preserve"}

# Cases where datalogic-py 5.9 answers differently from the community suites, on purpose or by its
# design. Each group says why Qunti can live with it. A listed case that starts passing fails the
# test, so the list only ever shrinks.
KNOWN_DIFFERENCES: dict[str, list[tuple[str, str]]] = {
    # An object with no keys is falsy here (as in Python). qunti.rules.truthy agrees, so a decision
    # and its reason never disagree; order contexts are never compared as bare `{}`.
    "empty object is falsy": [
        ("control/if.json", "Objects are always truthy, even without keys."),
        ("control/if.json", "Returns first truthy value, some conditions truthy (8)"),
        ("control/not.json", "NOT empty object returns false"),
        ("control/doublebang.json", "Double bang on empty object returns true"),
        ("truthiness.json", "Truthy: {}"),
        ("truthiness.json", "Truthy: Zero Key Object"),
    ],
    # `and`/`or` of nothing give null, which is just as falsy as false.
    "empty and/or give null": [
        ("control/and.json", "And with no arguments should return false"),
        ("control/or.json", "Empty OR returns false"),
    ],
    # Iterators treat a null or missing array as empty instead of raising: a rule reading an answer
    # the resident left blank sees "none" rather than an error.
    "iterators accept null": [
        ("array/map.json", "Map with null mapper should throw"),
        ("array/map.json", "Map with null array should throw"),
        ("array/filter.json", "Filter with null predicate should throw"),
        ("array/filter.json", "Filter with null array should throw"),
        ("array/all.json", "Null array should throw"),
        ("array/all.json", "Missing array returns error"),
        ("array/some.json", "Null array should throw"),
        ("array/some.json", "Missing array returns error"),
        ("array/none.json", "Null array should throw"),
        ("array/none.json", "Missing array returns error"),
    ],
    # `merge` drops null items rather than keeping them.
    "merge drops null": [
        ("array/merge.json", "Merge with null should be ignored"),
    ],
}
_DIFFERENCE_OF = {case: why for why, cases in KNOWN_DIFFERENCES.items() for case in cases}


def same(got: Any, expected: Any) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but true is not 1."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        return got == expected
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in got)
    return type(got) is type(expected) and got == expected


def error_type(exc: rules.DataLogicError) -> Any:
    """The suite's error ``type`` of an engine error: a thrown payload's type, or the invalid-argument kind."""
    message = str(exc)
    thrown = re.fullmatch(r"(?s)Thrown: (.*) \(in operator: [^)]*\)", message)
    if thrown:
        payload = json.loads(thrown.group(1))
        return payload.get("type") if isinstance(payload, dict) else payload
    invalid = re.fullmatch(r"(?s)Invalid arguments: (.*) \(in operator: [^)]*\)", message)
    return invalid.group(1) if invalid else f"{exc.error_type}: {message}"


def uses_operator(rule: Any, names: set[str]) -> bool:
    if isinstance(rule, dict):
        return any(key in names or uses_operator(value, names) for key, value in rule.items())
    if isinstance(rule, list):
        return any(uses_operator(value, names) for value in rule)
    return False


def official_cases() -> list[Any]:
    path = SUITES / "tests.json"
    if not path.exists():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    triples = [case for case in json.loads(path.read_text(encoding="utf-8")) if not isinstance(case, str)]
    return [pytest.param(*case, id=f"case{i:03d}") for i, case in enumerate(triples)]


def community_files() -> list[Any]:
    path = SUITES / "community" / "index.json"
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    return [pytest.param(name, id=name) for name in json.loads(path.read_text(encoding="utf-8"))]


def community_cases(name: str) -> list[dict[str, Any]]:
    return [c for c in json.loads((SUITES / "community" / name).read_text(encoding="utf-8")) if isinstance(c, dict)]


@pytest.mark.parametrize(("rule", "data", "expected"), official_cases())
def test_official_suite(rule, data, expected):
    compiled = rules.compile(rule)
    answers = {"evaluate": rules.evaluate(rule, data), "compile": compiled(data),
               "compile, prepared data": compiled.evaluate_prepared(prepare(data))}
    for how, got in answers.items():
        assert same(got, expected), f"{how}: {rule!r} on {data!r} gave {got!r}, expected {expected!r}"


def outcome(case: dict[str, Any]) -> str | None:
    """None when ``case`` passes, else what went wrong; evaluated once directly and once compiled."""
    compiled = None
    for attempt in ("evaluate", "compile"):
        try:
            if attempt == "evaluate":
                got = rules.evaluate(case["rule"], case.get("data"))
            else:
                compiled = compiled or rules.compile(case["rule"])
                got = compiled(case.get("data"))
        except rules.DataLogicError as exc:
            if "error" not in case:
                return f"{attempt}: raised {exc}"
            if error_type(exc) != case["error"].get("type"):
                return f"{attempt}: raised {error_type(exc)!r}, expected {case['error']!r}"
            continue
        if "error" in case:
            return f"{attempt}: gave {got!r}, expected error {case['error']!r}"
        if not same(got, case["result"]):
            return f"{attempt}: gave {got!r}, expected {case['result']!r}"
    return None


@pytest.mark.parametrize("name", community_files())
def test_community_suite(name):
    unexpected, stale = [], []
    for case in community_cases(name):
        allowed = _DIFFERENCE_OF.get((name, case["description"])) or (
            "unsupported operator" if uses_operator(case["rule"], UNSUPPORTED_OPERATORS) else None)
        problem = outcome(case)
        if problem and not allowed:
            unexpected.append(f"{case['description']}: {problem}")
        elif allowed and not problem and allowed != "unsupported operator":
            stale.append(f"{case['description']} (listed as '{allowed}') now passes: remove it")
    assert not unexpected, "\n".join(unexpected)
    assert not stale, "\n".join(stale)


def test_every_known_difference_names_a_real_case():
    if not (SUITES / "community" / "index.json").exists():
        pytest.skip(ABSENT)
    names = {param.values[0] for param in community_files()}
    present = {(name, case["description"]) for name in names for case in community_cases(name)}
    missing = [case for case in _DIFFERENCE_OF if case not in present]
    assert not missing, f"allow-listed cases not in the suites: {missing}"


def test_unsupported_operators_really_are_unsupported():
    # If the engine learns an operator, its cases must start counting: drop it from the list.
    known = {name for op in default_engine().operators() for name in [op["name"], *op["aliases"]]}
    assert not UNSUPPORTED_OPERATORS & known
