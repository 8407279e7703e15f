"""The dispatch decision list as the admin console edits it, row by row.

A :class:`Draft` holds exactly what the admin typed (conditions as JSON text), so a page sent back
with a mistake shows their text, not a reformatted or lost one. It comes from a rule-set document
or from a posted form, moves rows about, and turns into a document (:meth:`Draft.document`) with
every parse problem named by row and field. The full checks are the rule sets' own
(:mod:`qunti.rules.published`); :func:`locate` says where their DefinitionError points, in Chinese.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from qunti import jsontext
from qunti.definitions import DefinitionError
from qunti.rules.ruleset import CLASS_NAMES, NO_MATCH_REASON, RuleSet, context_problem

# Route classes in the order the editor offers them; "" is the joint meeting's manual dispatch (null).
ROUTE_CLASSES = (("handle", CLASS_NAMES["handle"]), ("transfer", CLASS_NAMES["transfer"]),
                 ("purchase", CLASS_NAMES["purchase"]), ("escalate", CLASS_NAMES["escalate"]),
                 ("", CLASS_NAMES[None]))
MODES = (("auto", "自动派出"), ("manual", "联席会确认后派出"))
ROW_FIELDS = {"id": "行编号", "title": "标题", "description": "说明", "items": "适用的服务事项", "when": "条件",
              "default": "默认行", "route": "去向"}
ROUTE_FIELDS = {"class": "去向类别", "unit": "办单单位", "mode": "派单方式", "timeLimitDays": "办理时限"}
TEST_FIELDS = {"name": "名称", "context": "上下文", "expect": "期望命中的行"}
TOP_FIELDS = {"id": "编号", "title": "标题", "description": "说明", "rows": "行", "tests": "自测用例"}
MAX_ROWS = 200

# A realistic order to try a rule set on: a migrant worker reporting wage arrears at a station.
SAMPLE_CONTEXT = {
    "item": {"code": "S11", "organization": "union", "functions": ["保障权益服务平台"]},
    "answers": {"issueType": "wage_arrears", "affectedWorkers": 12, "amountOwed": 86000},
    "station": {"code": "gangcheng", "kind": "center", "community": "港城社区", "leadOrganization": "union"},
    "applicant": {"category": "migrant_worker"},
    "channel": "station",
    "counts": {"similarOpenInCommunity": 2, "openByApplicant": 1},
}
NEW_ROW_WHEN = {"==": [{"var": "item.organization"}, "women"]}


@dataclass
class Problem:
    """One thing wrong, for the admin: where (Chinese), what, and the JSON path it is at."""

    message: str
    row: int | None = None
    path: str = ""


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def condition_layout(logic: Any, depth: int = 0) -> str:
    """A condition as the rule files write it: each part of an and/or on its own line, the rest on one."""
    if isinstance(logic, dict) and len(logic) == 1:
        (op, args), = logic.items()
        if op in ("and", "or") and isinstance(args, list) and args:
            pad = "  " * (depth + 1)
            parts = ",\n".join(pad + condition_layout(arg, depth + 1) for arg in args)
            return f"{{{json.dumps(op)}: [\n{parts}\n{'  ' * depth}]}}"
    return json.dumps(logic, ensure_ascii=False)


def compact(value: Any) -> str:
    """One-line JSON for tables (the template escapes it like any other text)."""
    return json.dumps(value, ensure_ascii=False)


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）"


@dataclass
class RowDraft:
    id: str = ""
    title: str = ""
    description: str = ""
    items: list[str] = field(default_factory=list)
    when: str = ""
    route_class: str = ""
    unit: str = ""
    mode: str = "manual"
    limit: str = ""
    default: bool = False

    @classmethod
    def from_row(cls, raw: dict[str, Any]) -> RowDraft:
        route = raw.get("route") or {}
        limit = route.get("timeLimitDays")
        return cls(id=raw.get("id", ""), title=raw.get("title", ""), description=raw.get("description", ""),
                   items=list(raw.get("items") or []), when=condition_layout(raw["when"]) if "when" in raw else "",
                   route_class=route.get("class") or "", unit=route.get("unit", ""), mode=route.get("mode", "manual"),
                   limit="" if limit is None else str(limit), default=bool(raw.get("default")))

    def label(self, index: int) -> str:
        return f"第 {index + 1} 行（{self.id or '未填编号'}）"

    def to_row(self, index: int, problems: list[Problem]) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id.strip(), "title": self.title.strip()}
        if self.description.strip():
            row["description"] = self.description.strip()
        if self.default:
            row["default"] = True
        else:
            if self.items:
                row["items"] = list(self.items)
            try:
                row["when"] = jsontext.loads(self.when)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"{self.label(index)}的条件{_json_error(exc)}", index, f"/rows/{index}/when"))
        limit: int | None = None
        if self.limit.strip():
            try:
                limit = int(self.limit.strip())
            except ValueError:
                problems.append(Problem(f"{self.label(index)}的办理时限须为整数（工作日），留空表示用服务事项的默认时限",
                                        index, f"/rows/{index}/route/timeLimitDays"))
        row["route"] = {"class": self.route_class or None, "unit": self.unit, "mode": self.mode, "timeLimitDays": limit}
        return row


@dataclass
class Draft:
    ruleset_id: str
    title: str
    description: str
    rows: list[RowDraft]
    tests: str
    base: str                       # digest of the version the edit started from
    context: str = ""               # the try-it box
    note: str = ""
    test_name: str = ""

    @classmethod
    def from_document(cls, document: dict[str, Any], base: str) -> Draft:
        return cls(ruleset_id=document["id"], title=document.get("title", ""),
                   description=document.get("description", ""),
                   rows=[RowDraft.from_row(row) for row in document.get("rows", [])],
                   tests=tests_text(document.get("tests", [])), base=base, context=pretty(SAMPLE_CONTEXT))

    @classmethod
    def from_form(cls, ruleset_id: str, form) -> Draft:
        try:
            count = min(int(form.get("rows", "0")), MAX_ROWS)
        except ValueError:
            count = 0
        rows = []
        for i in range(count):
            def get(name: str, default: str = "") -> str:
                return form.get(f"row-{i}-{name}", default)
            rows.append(RowDraft(id=get("id"), title=get("title"), description=get("description"),
                                 items=form.getlist(f"row-{i}-items"), when=get("when"),
                                 route_class=get("class"), unit=get("unit"), mode=get("mode", "manual"),
                                 limit=get("limit"), default=get("default") == "1"))
        return cls(ruleset_id=ruleset_id, title=form.get("title", ""), description=form.get("description", ""),
                   rows=rows, tests=form.get("tests", ""), base=form.get("base", ""),
                   context=form.get("context", ""), note=form.get("note", ""), test_name=form.get("test_name", ""))

    # ---------------------------------------------------------------- row moves

    def _movable(self, index: int) -> bool:
        return 0 <= index < len(self.rows) and not self.rows[index].default

    def apply(self, op: str) -> str | None:
        """Apply a row operation (``up-3``, ``down-3``, ``del-3``, ``add-3``); the problem, or None."""
        match = re.fullmatch(r"(up|down|del|add)-(\d+)", op)
        if match is None:
            return "未知的操作"
        action, index = match.group(1), int(match.group(2))
        if action == "add":
            if len(self.rows) >= MAX_ROWS:
                return f"一套规则最多 {MAX_ROWS} 行"
            # A new row goes after the given one, and never below the default row.
            at = min(index + 1, self._default_index())
            self.rows.insert(at, RowDraft(id=self._new_id(), title="新规则（请修改标题、条件和去向）",
                                          when=condition_layout(NEW_ROW_WHEN), route_class="handle", unit="women",
                                          mode="auto"))
            return None
        if not self._movable(index):
            return "默认行必须留在最后，不能移动或删除" if 0 <= index < len(self.rows) else "没有这一行"
        if action == "del":
            del self.rows[index]
        elif action == "up" and index > 0:
            self.rows[index - 1], self.rows[index] = self.rows[index], self.rows[index - 1]
        elif action == "down" and self._movable(index + 1):
            self.rows[index + 1], self.rows[index] = self.rows[index], self.rows[index + 1]
        return None

    def _default_index(self) -> int:
        for i, row in enumerate(self.rows):
            if row.default:
                return i
        return len(self.rows)

    def _new_id(self) -> str:
        taken = {row.id for row in self.rows}
        n = 1
        while f"new-row-{n}" in taken:
            n += 1
        return f"new-row-{n}"

    # ---------------------------------------------------------------- to a document

    def document(self) -> tuple[dict[str, Any], list[Problem]]:
        """The rule-set document this draft stands for, and what could not be read (JSON text)."""
        problems: list[Problem] = []
        document: dict[str, Any] = {"id": self.ruleset_id, "title": self.title.strip()}
        if self.description.strip():
            document["description"] = self.description.strip()
        document["rows"] = [row.to_row(i, problems) for i, row in enumerate(self.rows)]
        tests = self.parsed_tests(problems)
        if tests:
            document["tests"] = tests
        return document, problems

    def parsed_tests(self, problems: list[Problem]) -> list[Any]:
        if not self.tests.strip():
            return []
        try:
            tests = jsontext.loads(self.tests)
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"自测用例{_json_error(exc)}", None, "/tests"))
            return []
        if not isinstance(tests, list):
            problems.append(Problem("自测用例须是一个 JSON 数组：[ {…}, {…} ]", None, "/tests"))
            return []
        return tests

    def parsed_context(self) -> tuple[Any, str | None]:
        try:
            context = jsontext.loads(self.context)
        except json.JSONDecodeError as exc:
            return None, f"试一试的订单上下文{_json_error(exc)}"
        problem = context_problem(context)
        if problem is not None:
            return None, f"试一试的订单上下文有误（{problem[0] or '/'}）：{problem[1]}"
        return context, None

    def add_test(self, name: str, context: Any, expect: str) -> None:
        tests = self.parsed_tests([])
        tests.append({"name": name, "context": context, "expect": expect})
        self.tests = tests_text(tests)


def tests_text(tests: list[Any]) -> str:
    """Self-tests as the editor shows them: one test per line, easy to scan and to copy."""
    if not tests:
        return "[]"
    return "[\n" + ",\n".join(json.dumps(test, ensure_ascii=False) for test in tests) + "\n]"


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def locate(exc: DefinitionError, document: dict[str, Any]) -> Problem:
    """Say in Chinese which row (or self-test) and field a DefinitionError points at."""
    parts = [_unescape(p) for p in exc.path.split("/")[1:]] if exc.path else []
    rows, tests = document.get("rows") or [], document.get("tests") or []
    where, row_index = "规则集", None
    if len(parts) >= 2 and parts[0] == "rows" and parts[1].isdigit():
        row_index = int(parts[1])
        row = rows[row_index] if row_index < len(rows) and isinstance(rows[row_index], dict) else {}
        where = f"第 {row_index + 1} 行（{row.get('id') or '未填编号'}）"
        rest = parts[2:]
        if rest:
            name = ROW_FIELDS.get(rest[0], rest[0])
            if rest[0] == "route" and len(rest) > 1:
                name = ROUTE_FIELDS.get(rest[1], rest[1])
            elif rest[0] == "when" and len(rest) > 1:
                name = f"条件中的 /{'/'.join(rest[1:])}"
            elif rest[0] == "items" and len(rest) > 1 and rest[1].isdigit():
                name = f"适用的服务事项第 {int(rest[1]) + 1} 项"
            where += f"的{name}"
    elif len(parts) >= 2 and parts[0] == "tests" and parts[1].isdigit():
        index = int(parts[1])
        test = tests[index] if index < len(tests) and isinstance(tests[index], dict) else {}
        where = f"自测第 {index + 1} 条「{test.get('name', '')}」"
        if len(parts) > 2:
            where += f"的{TEST_FIELDS.get(parts[2], parts[2])}"
            if len(parts) > 3:
                where += " /" + "/".join(parts[3:])
    elif parts:
        where = f"规则集的{TOP_FIELDS.get(parts[0], parts[0])}"
    return Problem(f"{where}：{exc.reason}（JSON 路径 {exc.path or '/'}）", row_index, exc.path)


@dataclass
class TestResult:
    name: str
    expect: str
    got: str | None
    ok: bool
    error: str = ""


def run_tests(ruleset: RuleSet, tests: list[Any]) -> list[TestResult]:
    """Every self-test on a compiled draft, not only up to the first failure."""
    results = []
    for case in tests:
        if not isinstance(case, dict):
            results.append(TestResult("（格式有误）", "", None, False, "自测用例须是 {name, context, expect}"))
            continue
        name, expect, context = str(case.get("name", "")), str(case.get("expect", "")), case.get("context")
        problem = context_problem(context)
        if problem is not None:
            results.append(TestResult(name, expect, None, False, f"上下文有误（{problem[0] or '/'}）：{problem[1]}"))
            continue
        try:
            decision = ruleset.decide(context)
        except ValueError as exc:
            results.append(TestResult(name, expect, None, False, str(exc)))
            continue
        error = "；".join(f"行 {e['row']} 的条件出错：{e['message']}" for e in decision.errors)
        results.append(TestResult(name, expect, decision.row_id, decision.row_id == expect and not error, error))
    return results


def trial(ruleset: RuleSet, context: Any) -> dict[str, Any]:
    """What the try-it box shows: the matched row, its route, why, and every row's outcome."""
    decision = ruleset.decide(context)
    return {"decision": decision, "reason": decision.reason, "explain": ruleset.explain(context),
            "no_match_reason": NO_MATCH_REASON}
