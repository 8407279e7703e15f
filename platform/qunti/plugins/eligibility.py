"""Plugin rule sets: conditions on the answers of a plugin's form, as JSON Logic.

Two uses, one format: who may sign up for a brand's activity (eligibility), and whether a station's
staffing meets its model (a station plugin's staffing check over the station profile form).

A rule set (a plugin's ``rules/*.json`` or a ``qunti_rules()`` result) lists rules, each tied to one
form: ``when`` must hold, otherwise the person reads ``message`` -- or, when the rule has a
``reason`` (JSON Logic giving a sentence, e.g. ``{"cat": ["群团联络员仅 ", …, " 名"]}``), that
sentence. Rules read ``answers.<field>`` (checked against the form when loaded) and ``activity.date``,
``activity.type``, ``activity.organization``. The file's ``tests`` run when it is loaded, and every
rule must be shown refusing at least once, so a rule that can never fail is caught early; a test may
also say which sentence a refusing rule must give (``reasons``).
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qunti.definitions import DefinitionError, digest, pointer
from qunti.forms.compiler import compile_form
from qunti.plugins import shapes
from qunti.rules.context import has_path
from qunti.rules.engine import CompiledRule, DataLogicError, check, truthy

log = logging.getLogger(__name__)

ACTIVITY_FIELDS = ("date", "type", "organization")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    form: str
    message: str
    when: CompiledRule
    owner: str  # plugin id
    ruleset: str
    reason: CompiledRule | None = None  # computes the sentence shown instead of ``message``


@dataclass(frozen=True)
class RuleSet:
    id: str
    title: str
    digest: str
    source: str
    owner: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Refusal:
    rule: str
    title: str
    message: str


def context(answers: Mapping[str, Any], activity: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule reads: the answers and the activity's date, type and organization."""
    return {"answers": dict(answers), "activity": {key: activity.get(key) for key in ACTIVITY_FIELDS}}


def reason_of(rule: Rule, data: Any) -> str:
    """The sentence a broken ``rule`` gives for ``data``: its ``reason`` if that yields words, else ``message``."""
    if rule.reason is None:
        return rule.message
    try:
        text = rule.reason(data)
    except DataLogicError:
        log.exception("插件 %s 的规则 %s/%s 的说明无法计算，改用固定说明", rule.owner, rule.ruleset, rule.id)
        return rule.message
    return text.strip() if isinstance(text, str) and text.strip() else rule.message


def refusals(rules: Iterable[Rule], answers: Mapping[str, Any], activity: Mapping[str, Any]) -> list[Refusal]:
    """The rules ``answers`` break. A rule that cannot be evaluated is logged and not held against
    the resident: a plugin's mistake must not lock people out."""
    data = context(answers, activity)
    found = []
    for rule in rules:
        try:
            held = truthy(rule.when(data))
        except DataLogicError:
            log.exception("插件 %s 的规则 %s/%s 无法计算，已跳过", rule.owner, rule.ruleset, rule.id)
            continue
        if not held:
            found.append(Refusal(rule.id, rule.title, reason_of(rule, data)))
    return found


class _Checker:
    def __init__(self, source: str, owner: str, forms: Mapping[str, Mapping[str, Any]], engine: Any) -> None:
        self.source, self.owner, self.forms, self.engine = source, owner, forms, engine
        self.compiled: dict[str, Any] = {}

    def fail(self, parts: list[Any], reason: str) -> DefinitionError:
        return DefinitionError(self.source, pointer(parts), reason)

    def form(self, at: list[Any], form_id: str) -> Mapping[str, Any]:
        schema = self.forms.get(form_id)
        if schema is None:
            raise self.fail(at, f"表单 '{form_id}' 不存在")
        return schema

    def logic(self, at: list[Any], logic: Any, schema: Mapping[str, Any], form_id: str) -> CompiledRule:
        """``logic`` checked (operators, and every field it reads exists) and compiled."""
        what = "说明" if at[-1] == "reason" else "条件"
        for problem in check(logic, self.engine):
            reason = (f"未知的运算符 '{problem.get('operator')}'" if problem.get("code") == "UnknownOperator"
                      else f"{what}写法有误：{problem.get('message')}")
            raise DefinitionError(self.source, pointer(at) + (problem.get("pointer") or ""), reason)
        try:
            compiled = CompiledRule(logic, self.engine)
        except DataLogicError as exc:
            raise self.fail(at, f"{what}无法编译：{exc}") from None
        facts = compiled.facts()
        # Custom operations make the engine unsure of completeness; their arguments are still plain reads.
        if facts.get("computed_reads") or (not facts.get("reads_complete", True) and not facts.get("custom_operators")):
            raise self.fail(at, f"{what}读取的字段路径须写成固定文字，加载时才能检查它们是否存在")
        for path in facts["reads"]:
            parts = [str(p) for p in path]
            if parts[:1] == ["answers"] and len(parts) > 1:
                if not has_path(dict(schema), parts[1:]):
                    raise self.fail(at, f"表单 '{form_id}' 中没有字段 '{'.'.join(parts[1:])}'")
            elif not (len(parts) == 2 and parts[0] == "activity" and parts[1] in ACTIVITY_FIELDS):
                raise self.fail(at, f"字段 '{'.'.join(parts)}' 不可读取（可用：answers.<表单字段>、"
                                    f"{'、'.join('activity.' + f for f in ACTIVITY_FIELDS)}）")
        return compiled

    def rule(self, index: int, raw: dict[str, Any], ruleset_id: str) -> Rule:
        at = ["rules", index]
        schema = self.form([*at, "form"], raw["form"])
        when = self.logic([*at, "when"], raw["when"], schema, raw["form"])
        reason = self.logic([*at, "reason"], raw["reason"], schema, raw["form"]) if "reason" in raw else None
        return Rule(id=raw["id"], title=raw["title"], form=raw["form"], message=raw["message"], when=when,
                    owner=self.owner, ruleset=ruleset_id, reason=reason)

    def run_test(self, index: int, case: dict[str, Any], rules: tuple[Rule, ...]) -> set[str]:
        at = ["tests", index]
        schema = self.form([*at, "form"], case["form"])
        if "answers" in case:
            answers = copy.deepcopy(case["answers"])
        else:
            examples = schema.get("examples") or []
            if not examples:
                raise self.fail(at, f"表单 '{case['form']}' 没有 examples，自测须写出 answers")
            answers = copy.deepcopy(examples[0])
        answers.update(copy.deepcopy(case.get("changes", {})))
        # Judged exactly as a submission is: fields hidden by visibleIf are dropped, not required.
        compiled = self.compiled.get(case["form"])
        if compiled is None:
            compiled = self.compiled[case["form"]] = compile_form(dict(schema), case["form"])
        problems = compiled.check(answers)
        if problems:
            raise self.fail(at, f"自测「{case['name']}」的填写内容不符合表单 '{case['form']}'："
                                f"{problems[0].path or '/'} {problems[0].message}")
        answers = compiled.prune_hidden(answers)
        known = {rule.id for rule in rules}
        for j, rule_id in enumerate(case["expect"]):
            if rule_id not in known:
                raise self.fail([*at, "expect", j], f"规则 '{rule_id}' 不存在")
        applicable = [rule for rule in rules if rule.form == case["form"]]
        data = context(answers, case.get("activity", {}))
        failed = set()
        for rule in applicable:
            try:
                if not truthy(rule.when(data)):
                    failed.add(rule.id)
            except DataLogicError as exc:
                raise self.fail(at, f"自测「{case['name']}」运行规则 '{rule.id}' 时出错：{exc}") from None
        if failed != set(case["expect"]):
            raise self.fail(at, f"自测「{case['name']}」：期望不满足 {sorted(case['expect']) or '（无）'}，"
                                f"实际不满足 {sorted(failed) or '（无）'}")
        for rule in applicable:
            if rule.id not in failed or rule.reason is None:
                continue
            try:
                text = rule.reason(data)
            except DataLogicError as exc:
                raise self.fail(at, f"自测「{case['name']}」计算规则 '{rule.id}' 的说明时出错：{exc}") from None
            if not isinstance(text, str) or not text.strip():
                raise self.fail(at, f"自测「{case['name']}」：规则 '{rule.id}' 的说明须算出一句话，实际是 {text!r}")
        for rule_id, expected in case.get("reasons", {}).items():
            rule = next((r for r in applicable if r.id == rule_id), None)
            if rule is None or rule_id not in failed:
                raise self.fail([*at, "reasons", rule_id], f"规则 '{rule_id}' 在这个自测中并不拒绝，无说明可比")
            actual = reason_of(rule, data)
            if actual != expected:
                raise self.fail([*at, "reasons", rule_id], f"自测「{case['name']}」：规则 '{rule_id}' 的说明应为"
                                                           f"「{expected}」，实际是「{actual}」")
        return failed


def validate_ruleset(document: Any, *, forms: Mapping[str, Mapping[str, Any]], engine: Any, source: str,
                     owner: str) -> RuleSet:
    """Check an eligibility rule set against ``forms`` (id -> JSON Schema) and run its tests.

    ``engine`` knows the JSON Logic operations plugins add. Raises DefinitionError naming ``source``.
    """
    shapes.check(document, shapes.validator("eligibility.schema.json"), source, "插件规则集")
    checker = _Checker(source, owner, forms, engine)
    seen: dict[str, int] = {}
    rules = []
    for index, raw in enumerate(document["rules"]):
        if raw["id"] in seen:
            raise checker.fail(["rules", index, "id"], f"规则编号 '{raw['id']}' 重复（另见 /rules/{seen[raw['id']]}）")
        seen[raw["id"]] = index
        rules.append(checker.rule(index, raw, document["id"]))
    compiled = tuple(rules)
    shown_refusing: set[str] = set()
    for index, case in enumerate(document["tests"]):
        shown_refusing |= checker.run_test(index, case, compiled)
    for index, rule in enumerate(compiled):
        if rule.id not in shown_refusing:
            raise checker.fail(["rules", index], f"规则 '{rule.id}' 没有一个自测用例说明它会拒绝什么样的报名")
    return RuleSet(id=document["id"], title=document["title"], digest=digest(document), source=source,
                   owner=owner, rules=compiled)
