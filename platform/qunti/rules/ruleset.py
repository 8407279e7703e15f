"""Rule sets as data: an ordered decision list (first match wins), checked when loaded, then run.

A rule set is a JSON document (``rules/dispatch.json``): ``rows`` each hold a JSON Logic ``when`` over
the order context (:mod:`qunti.rules.context`), an optional ``items`` filter and a ``route``; the last
row is the ``default``. Its ``tests`` are examples that must come out as written before the rule set
is accepted. Loading refuses anything that could go wrong later, naming the file and JSON pointer.

Compiled once: a :class:`RuleSet` is immutable and holds every ``when`` compiled. A changed document
is a new RuleSet with a new digest; nothing is cached across documents, so nothing goes stale.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema

from qunti.definitions import DefinitionError, canonical, digest, pointer, read_json
from qunti.rules.context import ORDER_CONTEXT, context_paths, has_path
from qunti.rules.engine import CompiledRule, DataLogicError, check, make_engine, prepare, truthy
from qunti.rules.units import check_shape, load_units, validate_units

__all__ = ["Decision", "RuleSet", "Row", "load_ruleset", "load_units", "validate_ruleset", "validate_units"]

# Which kinds of unit each route class may name; None is the joint meeting's own manual dispatch.
ROUTE_UNIT_KINDS: Mapping[str | None, frozenset[str]] = MappingProxyType({
    "escalate": frozenset({"district"}),
    "handle": frozenset({"organization"}),
    "purchase": frozenset({"social"}),
    "transfer": frozenset({"department", "subdistrict"}),
    None: frozenset({"meeting"}),
})
CLASS_NAMES = MappingProxyType({
    "escalate": "作为民生实事报区委区政府", "handle": "由群团组织承办", "purchase": "向社会组织购买服务",
    "transfer": "转交区级部门或街镇", None: "交联席会人工派单",
})
KIND_NAMES = MappingProxyType({
    "organization": "群团组织", "department": "区级部门", "subdistrict": "街镇", "social": "社会组织",
    "district": "区委区政府", "meeting": "联席会",
})
# Proposing a 民生实事 and the joint meeting's own dispatch are decisions people make, never automatic.
MANUAL_ONLY = frozenset({"escalate", None})

NO_MATCH_REASON = "前面各行的条件均未满足，按默认行处理"

_context_validator = jsonschema.Draft202012Validator(ORDER_CONTEXT)


def context_problem(context: Any) -> tuple[str, str] | None:
    """The first way ``context`` breaks the order-context description, as (pointer, message), or None."""
    error = jsonschema.exceptions.best_match(_context_validator.iter_errors(context))
    if error is None:
        return None
    return pointer(error.absolute_path), f"派单上下文不符合格式：{error.message}"


@dataclass(frozen=True)
class Row:
    """One compiled row. ``parts`` are the sub-conditions of a top-level ``and``/``or``, for reasons."""

    id: str
    title: str
    route: Mapping[str, Any]
    items: frozenset[str] | None = None
    when: CompiledRule | None = None
    parts: tuple[CompiledRule, ...] | None = None
    default: bool = False


class Decision:
    """Which row an order matched, where it goes, and why. Built on the dispatcher's hot path, so
    everything derived (the route copy, the reasons) is worked out only when read."""

    __slots__ = ("_row", "ruleset_id", "ruleset_digest", "errors", "_explain", "_reason")

    def __init__(self, row: Row, ruleset_id: str, ruleset_digest: str, errors: list[dict[str, str]],
                 explain: Callable[[], list[dict[str, Any]]]) -> None:
        self._row, self.ruleset_id, self.ruleset_digest = row, ruleset_id, ruleset_digest
        # Rows skipped because their condition failed to evaluate on this context (e.g. comparing
        # text with a number); never silently: the dispatcher records them with the decision.
        self.errors = errors
        self._explain, self._reason = explain, None

    @property
    def row_id(self) -> str:
        return self._row.id

    @property
    def row_title(self) -> str:
        return self._row.title

    @property
    def route(self) -> dict[str, Any]:
        return dict(self._row.route)

    @property
    def reason(self) -> list[dict[str, Any]]:
        """The conditions of the matched row with their values."""
        if self._reason is None:
            self._reason = self._explain()
        return self._reason

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset_id, "digest": self.ruleset_digest,
                "row": {"id": self.row_id, "title": self.row_title},
                "route": self.route, "reason": self.reason, "errors": self.errors}


def _item_code(context: Any) -> Any:
    try:
        return context["item"]["code"]
    except (KeyError, TypeError, IndexError):
        return None


def _evaluate(rule: CompiledRule, data: Any) -> tuple[Any, str | None]:
    try:
        return rule.evaluate_prepared(data), None
    except DataLogicError as exc:
        return None, str(exc)


def _reason(condition: CompiledRule, value: Any, error: str | None) -> dict[str, Any]:
    # A copy: the logic belongs to the compiled row, and reasons are read only on demand.
    entry = {"condition": copy.deepcopy(condition.logic), "value": value, "held": error is None and truthy(value)}
    if error is not None:
        entry["error"] = error
    return entry


@dataclass(frozen=True)
class RuleSet:
    """A checked, compiled rule set. Build it with :func:`load_ruleset` or :func:`validate_ruleset`."""

    id: str
    title: str
    digest: str
    rows: tuple[Row, ...]
    source: str
    _text: str = field(repr=False)
    # (row, items, evaluate) per row, flattened once so the decide loop does no attribute lookups.
    _plan: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", tuple(
            (row, row.items, None if row.default else row.when.evaluate_prepared) for row in self.rows))

    @property
    def document(self) -> dict[str, Any]:
        """A fresh copy of the document this rule set was built from."""
        return json.loads(self._text)

    def _prepare(self, context: Any) -> Any:
        try:
            return prepare(context if context is not None else {})
        except DataLogicError as exc:
            raise ValueError(f"派单上下文不是 JSON 数据：{exc}") from None

    def decide(self, context: Any) -> Decision:
        """The first row whose items include the order's item and whose ``when`` holds.

        A missing key reads as null. A context that is not JSON data raises ValueError.
        """
        data = self._prepare(context)
        code = _item_code(context)
        errors: list[dict[str, str]] = []
        for row, items, evaluate in self._plan:
            if evaluate is None:  # the default row
                return self._decision(row, lambda: [
                    {"condition": None, "value": None, "held": True, "text": NO_MATCH_REASON}], errors)
            if items is not None and code not in items:
                continue
            try:
                value = evaluate(data)
            except DataLogicError as exc:
                errors.append({"row": row.id, "message": str(exc)})
                continue
            # JSON Logic truthiness, inline: this loop is the dispatcher's hot path.
            if value if not isinstance(value, (list, dict, str)) else len(value) > 0:
                if row.parts is None:
                    return self._decision(row, lambda row=row, value=value: [_reason(row.when, value, None)], errors)
                return self._decision(
                    row, lambda row=row: [_reason(part, *_evaluate(part, data)) for part in row.parts], errors)
        raise AssertionError("a checked rule set always ends with its default row")

    def explain(self, context: Any) -> list[dict[str, Any]]:
        """Every row's outcome on ``context`` (not only the first match), for the admin console."""
        data = self._prepare(context)
        code = _item_code(context)
        trace = []
        for row in self.rows:
            entry: dict[str, Any] = {"row": row.id, "title": row.title}
            if row.default:
                entry.update(applies=True, held=True)
            elif row.items is not None and code not in row.items:
                entry.update(applies=False, held=False)
            else:
                value, error = _evaluate(row.when, data)
                entry.update(applies=True, held=error is None and truthy(value), value=value)
                if error is not None:
                    entry["error"] = error
            trace.append(entry)
        return trace

    def _decision(self, row: Row, explain: Callable[[], list[dict[str, Any]]],
                  errors: list[dict[str, str]]) -> Decision:
        return Decision(row, self.id, self.digest, errors, explain)


class _Checker:
    """Checks one rule-set document against the forms, menu and units it will run with."""

    def __init__(self, source: str, forms: Mapping[str, Any], menu_items: Mapping[str, Mapping[str, Any]],
                 units: Mapping[str, Mapping[str, Any]], operations: Mapping[str, Callable[..., Any]] | None):
        self.source, self.forms, self.menu_items, self.units = source, forms, menu_items, units
        self.engine = make_engine(operations or {})

    def fail(self, parts: list[Any], reason: str) -> DefinitionError:
        return DefinitionError(self.source, pointer(parts), reason)

    def row(self, index: int, raw: dict[str, Any], last: bool) -> Row:
        at = ["rows", index]
        if raw.get("default"):
            if not last:
                raise self.fail([*at, "default"], "默认行必须是最后一行，且只能有一行")
            for key in ("when", "items"):
                if key in raw:
                    raise self.fail([*at, key], f"默认行不能有 {key}：它兜底接住前面各行都没有命中的订单")
        elif "when" not in raw:
            raise self.fail(at, "缺少条件 when（只有最后的默认行可以没有条件）")
        elif last:
            raise self.fail(at, '最后一行必须是默认行（"default": true，没有 when），兜底接住其余订单')
        items = self.items(at, raw.get("items"))
        self.route(at, raw["route"])
        when = parts = None
        if not raw.get("default"):
            when = self.when([*at, "when"], raw["when"], raw.get("items"))
            logic = raw["when"]
            if isinstance(logic, dict) and len(logic) == 1:
                (op, args), = logic.items()
                if op in ("and", "or") and isinstance(args, list) and args:
                    parts = tuple(CompiledRule(arg, self.engine) for arg in args)
        return Row(id=raw["id"], title=raw["title"], route=MappingProxyType(dict(raw["route"])), items=items,
                   when=when, parts=parts, default=bool(raw.get("default")))

    def items(self, at: list[Any], codes: list[str] | None) -> frozenset[str] | None:
        if codes is None:
            return None
        for j, code in enumerate(codes):
            if code not in self.menu_items:
                raise self.fail([*at, "items", j], f"未知的服务事项 '{code}'（服务菜单里没有这个编码）")
            form_id = self.menu_items[code].get("form")
            if form_id not in self.forms:
                raise self.fail([*at, "items", j], f"服务事项 '{code}' 的表单 '{form_id}' 不存在")
        return frozenset(codes)

    def route(self, at: list[Any], route: dict[str, Any]) -> None:
        cls, code = route["class"], route["unit"]
        unit = self.units.get(code)
        if unit is None:
            raise self.fail([*at, "route", "unit"], f"未知的办单单位 '{code}'（units.json 里没有这个编码）")
        allowed = ROUTE_UNIT_KINDS[cls]
        if unit.get("kind") not in allowed:
            kinds = "、".join(KIND_NAMES[k] for k in sorted(allowed))
            raise self.fail([*at, "route", "unit"],
                            f"办单单位 '{code}' 是{KIND_NAMES.get(unit.get('kind'), unit.get('kind'))}，"
                            f"而“{CLASS_NAMES[cls]}”只能派给{kinds}")
        if cls in MANUAL_ONLY and route["mode"] != "manual":
            raise self.fail([*at, "route", "mode"], f"“{CLASS_NAMES[cls]}”须经联席会确认，mode 只能是 manual")

    def when(self, at: list[Any], logic: Any, items: list[str] | None) -> CompiledRule:
        base = pointer(at)
        for problem in check(logic, self.engine):
            if problem.get("code") == "UnknownOperator":
                reason = f"未知的运算符 '{problem.get('operator')}'"
            else:
                reason = f"条件写法有误：{problem.get('message')}"
            raise DefinitionError(self.source, base + (problem.get("pointer") or ""), reason)
        try:
            compiled = CompiledRule(logic, self.engine)
        except DataLogicError as exc:
            raise self.fail(at, f"条件无法编译：{exc}") from None
        facts = compiled.facts()
        # Custom operations only see evaluated arguments, so only a computed path hides a read.
        if facts.get("computed_reads"):
            raise self.fail(at, "条件读取的字段路径须写成固定文字，加载时才能检查它们是否存在")
        for path in facts["reads"]:
            parts = [str(p) for p in path]
            if parts[:1] == ["answers"] and len(parts) > 1:
                self.answer_path(at, parts, items)
            elif not has_path(ORDER_CONTEXT, parts):
                raise self.fail(at, f"字段 '{'.'.join(parts)}' 不在派单上下文中"
                                    f"（可用：{', '.join(context_paths())}，以及 answers.<表单字段>）")
        return compiled

    def answer_path(self, at: list[Any], parts: list[str], items: list[str] | None) -> None:
        dotted = ".".join(parts)
        if not items:
            raise self.fail(at, f"条件读取了表单字段 '{dotted}'，本行须用 items 写明适用的服务事项，"
                                "才能核对这些事项的表单里有这个字段")
        looked = [(code, self.menu_items[code]["form"]) for code in items]
        missing = [f"{form}（{code}）" for code, form in looked if not has_path(self.forms[form], parts[1:])]
        if missing:
            raise self.fail(at, f"表单字段 '{dotted}' 在表单 {'、'.join(missing)} 中不存在"
                                f"（查找过：{'、'.join(f'{form}（{code}）' for code, form in looked)}）")


def validate_ruleset(document: Any, *, forms: Mapping[str, Any], menu_items: Mapping[str, Mapping[str, Any]],
                     units: Mapping[str, Mapping[str, Any]], source: str = "<规则集>",
                     operations: Mapping[str, Callable[..., Any]] | None = None) -> RuleSet:
    """Check a rule-set document (a dict, e.g. edited in the admin console) and compile it.

    ``forms`` maps form id -> JSON Schema, ``menu_items`` service item code -> menu entry (with
    ``form``), ``units`` unit code -> unit (with ``kind``); ``operations`` are extra named JSON Logic
    operations plugins provide. Raises DefinitionError on the first problem, self-tests included.
    """
    check_shape(document, "ruleset.schema.json", source, "规则集")
    document = copy.deepcopy(document)
    checker = _Checker(source, forms, menu_items, units, operations)
    rows, seen = [], {}
    raw_rows = document["rows"]
    for index, raw in enumerate(raw_rows):
        if raw["id"] in seen:
            raise checker.fail(["rows", index, "id"], f"行编号 '{raw['id']}' 重复（第一次出现在 /rows/{seen[raw['id']]}）")
        seen[raw["id"]] = index
        rows.append(checker.row(index, raw, last=index == len(raw_rows) - 1))
    ruleset = RuleSet(id=document["id"], title=document["title"], digest=digest(document), rows=tuple(rows),
                      source=source, _text=canonical(document))
    for index, case in enumerate(document.get("tests", [])):
        _run_test(checker, ruleset, index, case, seen)
    return ruleset


def _run_test(checker: _Checker, ruleset: RuleSet, index: int, case: dict[str, Any], rows: Mapping[str, int]) -> None:
    at = ["tests", index]
    problem = context_problem(case["context"])
    if problem is not None:
        raise DefinitionError(checker.source, pointer([*at, "context"]) + problem[0], problem[1])
    if case["expect"] not in rows:
        raise checker.fail([*at, "expect"], f"期望命中的行 '{case['expect']}' 不存在")
    decision = ruleset.decide(case["context"])
    if decision.errors:
        first = decision.errors[0]
        raise checker.fail(at, f"自测「{case['name']}」运行时行 '{first['row']}' 的条件出错：{first['message']}")
    if decision.row_id != case["expect"]:
        raise checker.fail(at, f"自测「{case['name']}」：期望命中 {case['expect']}，实际命中 {decision.row_id}")


def load_ruleset(path: Path | str, *, forms: Mapping[str, Any], menu_items: Mapping[str, Mapping[str, Any]],
                 units: Mapping[str, Mapping[str, Any]], source: str | None = None,
                 operations: Mapping[str, Callable[..., Any]] | None = None) -> RuleSet:
    """Read a rule-set file and check it as :func:`validate_ruleset` does."""
    path = Path(path)
    source = source or str(path)
    return validate_ruleset(read_json(path, source), forms=forms, menu_items=menu_items, units=units,
                            source=source, operations=operations)
