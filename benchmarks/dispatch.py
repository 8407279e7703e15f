"""Dispatch decisions per second, measured side by side in one run on the same contexts.

1. ``RuleSet.decide`` (what the dispatcher and the evaluate API run: first match, with reasons)
   against the same rows compiled once and evaluated directly with datalogic_py in a bare
   first-match loop. Target: at least 0.8x.
2. The same against an interpreter that re-parses every rule on every call
   (``datalogic_py.apply(rule, data)`` per row per call): the gain of compiling once.

All three must agree on every context's row before anything is timed.

Usage: python benchmarks/dispatch.py
"""
from __future__ import annotations

import copy
import itertools
import json
import sys
from typing import Any

import _util  # noqa: F401  (puts platform/ on sys.path)
import datalogic_py

from qunti import catalog, settings
from qunti.rules.engine import truthy
from qunti.rules.ruleset import context_problem

CATEGORIES = ("migrant_worker", "freelancer", "employee", "youth", "woman", "")
STATIONS = (None, {"code": "gangcheng", "kind": "center", "community": "港城社区", "leadOrganization": "union"},
            {"code": "heyun", "kind": "new", "community": "和韵家园社区", "leadOrganization": "women"})


def contexts(loaded: catalog.Catalog) -> list[dict[str, Any]]:
    """The rule set's own test contexts, plus every menu item's example under varied circumstances."""
    found = [copy.deepcopy(case["context"]) for case in loaded.rulesets["dispatch"].document.get("tests", [])]
    for item, category, station, count in itertools.product(loaded.menu, CATEGORIES, STATIONS, (0, 3, 12)):
        answers = copy.deepcopy(loaded.forms[item["form"]].schema["examples"][0])
        found.append({"item": {"code": item["code"], "organization": item["organization"],
                               "functions": item["functions"]},
                      "answers": answers, "station": station, "applicant": {"category": category},
                      "channel": "station" if station else "online",
                      "counts": {"similarOpenInCommunity": count, "openByApplicant": 1}})
    for context in found:
        assert context_problem(context) is None, context_problem(context)
    return found


def main() -> int:
    loaded = catalog.load(settings.resolve(str(settings.SOURCE_ROOT / "instance")))
    ruleset = loaded.rulesets["dispatch"]
    rows = ruleset.document["rows"]
    engine = datalogic_py.Engine()
    # (row id, items or None, compiled rule or None for the default row), compiled once.
    compiled = [(r["id"], frozenset(r["items"]) if "items" in r else None,
                 engine.compile(json.dumps(r["when"], ensure_ascii=False)) if "when" in r else None) for r in rows]
    reparse = [(r["id"], frozenset(r["items"]) if "items" in r else None, r.get("when")) for r in rows]
    cases = contexts(loaded)

    def direct(context: dict[str, Any]) -> str:
        data = datalogic_py.DataHandle(context)
        code = context["item"]["code"]
        for row_id, items, rule in compiled:
            if rule is None:
                return row_id
            if items is not None and code not in items:
                continue
            if truthy(rule.evaluate_data(data)):
                return row_id
        raise AssertionError("no default row")

    def interpreted(context: dict[str, Any]) -> str:
        code = context["item"]["code"]
        for row_id, items, logic in reparse:
            if logic is None:
                return row_id
            if items is not None and code not in items:
                continue
            if truthy(datalogic_py.apply(logic, context)):
                return row_id
        raise AssertionError("no default row")

    decided = [ruleset.decide(c).row_id for c in cases]
    assert decided == [direct(c) for c in cases] == [interpreted(c) for c in cases], "the three must agree"
    rows_hit = sorted(set(decided))

    def run_decide():
        for c in cases:
            ruleset.decide(c)

    def run_direct():
        for c in cases:
            direct(c)

    def run_interpreted():
        for c in cases:
            interpreted(c)

    n = len(cases)
    decide_rate, direct_rate = _util.compare(run_decide, run_direct)
    _, interpreted_rate = _util.compare(run_decide, run_interpreted, rounds=3)
    decide_rate, direct_rate, interpreted_rate = decide_rate * n, direct_rate * n, interpreted_rate * n
    print(f"contexts: {n}, rows: {len(rows)}, rows hit: {len(rows_hit)} ({', '.join(rows_hit)})")
    print(f"RuleSet.decide: {decide_rate:,.0f} decisions/s")
    print(f"compiled rules, bare first-match loop: {direct_rate:,.0f} decisions/s")
    print(f"re-parse per call (datalogic_py.apply): {interpreted_rate:,.0f} decisions/s")
    vs_direct, vs_interpreted = decide_rate / direct_rate, decide_rate / interpreted_rate
    print(f"ratio decide/compiled loop: {vs_direct:.2f}x (target >= 0.8x)")
    print(f"ratio decide/re-parse interpreter: {vs_interpreted:.1f}x")
    return 0 if vs_direct >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
