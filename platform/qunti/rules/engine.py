"""The one JSON Logic engine of Qunti: compile a rule once, evaluate it many times.

datalogic-py (pinned in setup.cfg) passes the official JSON Logic suite. Two quirks of its Python
binding are smoothed over here so that callers can pass plain Python values:
- a Python ``str`` is read as JSON *text*, so scalar strings are JSON-encoded before they go in;
- an engine holds the custom operations, so each set of operations gets one engine.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import datalogic_py

DataLogicError = datalogic_py.DataLogicError


def _as_input(value: Any) -> Any:
    # The binding parses str arguments as JSON text; a bare string value must be quoted first.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def default_engine() -> datalogic_py.Engine:
    """The engine with the standard operations only; shared, thread-safe."""
    return datalogic_py.Engine()


def make_engine(operations: Mapping[str, Callable[..., Any]]) -> datalogic_py.Engine:
    """An engine that also knows ``operations`` (name -> pure function of the evaluated args)."""
    if not operations:
        return default_engine()

    def wrap(fn: Callable[..., Any]) -> Callable[[str], str]:
        def call(args_json: str) -> str:
            args = json.loads(args_json)
            if not isinstance(args, list):
                args = [args]
            return json.dumps(fn(*args), ensure_ascii=False)
        return call

    return datalogic_py.Engine(custom_operators={name: wrap(fn) for name, fn in operations.items()})


class CompiledRule:
    """A rule compiled once; call it with the data to evaluate."""

    __slots__ = ("logic", "_rule", "evaluate_prepared")

    def __init__(self, logic: Any, engine: datalogic_py.Engine | None = None) -> None:
        self.logic = logic
        self._rule = (engine or default_engine()).compile(_as_input(logic))
        # Bound straight to the engine's method: evaluating prepared data costs no Python frame of ours.
        self.evaluate_prepared = self._rule.evaluate_data

    def __call__(self, data: Any = None) -> Any:
        return self._rule.evaluate(_as_input(data))

    def reads(self) -> list[str]:
        """Dotted paths of every ``var`` the rule reads (as far as the engine can see statically)."""
        return [".".join(str(p) for p in path) for path in self._rule.facts()["reads"]]

    def facts(self) -> dict[str, Any]:
        return self._rule.facts()


def prepare(data: Any) -> datalogic_py.DataHandle:
    """Parse ``data`` once so that several compiled rules can read it without converting it again."""
    return datalogic_py.DataHandle(_as_input(data))


def compile(logic: Any, engine: datalogic_py.Engine | None = None) -> CompiledRule:  # noqa: A001
    """Compile ``logic`` (a JSON Logic rule as Python data) into a callable taking the data."""
    return CompiledRule(logic, engine)


def evaluate(logic: Any, data: Any = None, engine: datalogic_py.Engine | None = None) -> Any:
    """Compile and evaluate in one go; for repeated use, keep the result of :func:`compile`."""
    return CompiledRule(logic, engine)(data)


def truthy(value: Any) -> bool:
    """JSON Logic truthiness (an empty list is false, "0" is true)."""
    if isinstance(value, (list, dict, str)):
        return len(value) > 0
    return bool(value) if value is not None else False


def check(logic: Any, engine: datalogic_py.Engine | None = None) -> list[dict[str, Any]]:
    """Problems the engine sees in ``logic`` before running it (unknown operators, bad arity…)."""
    return [d for d in (engine or default_engine()).check(_as_input(logic)) if d["severity"] == "error"]
