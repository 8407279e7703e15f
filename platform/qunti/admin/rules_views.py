"""The dispatch rules in the admin console: edit the decision list row by row, try it on an order
("试一试"), check it, publish it as a new version, and look back at earlier versions.

Nothing is saved until a publish passes every check the file loader makes plus the rule set's own
tests; until then the running version keeps serving. Every button posts the whole draft, so the
page works without JavaScript and a refused draft comes back exactly as typed.
"""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from qunti.admin.base import RoleView
from qunti.admin.model_views import DirectRun
from qunti.admin.rules_editor import (MODES, ROUTE_CLASSES, Draft, Problem, compact, locate, pretty, run_tests,
                                      tests_text, trial)
from qunti.db import db
from qunti.definitions import DefinitionError
from qunti.directory.models import UNIT_KINDS, Unit
from qunti.menu.models import ServiceItem
from qunti.rules import published
from qunti.rules.context import context_paths

RULESET = "dispatch"
ROW_OPS = ("up-", "down-", "del-", "add-")


class RulesView(DirectRun, RoleView):
    """派单规则. The whole district's routing: system administrators only."""

    roles = ("sys_admin",)

    def _choices(self) -> dict[str, Any]:
        units: dict[str, list[Unit]] = {}
        for unit in db.session.scalars(select(Unit).order_by(Unit.code)):
            units.setdefault(unit.kind, []).append(unit)
        items = db.session.execute(select(ServiceItem.code, ServiceItem.name, ServiceItem.enabled)
                                   .order_by(ServiceItem.position, ServiceItem.code)).all()
        return {"units_by_kind": [(UNIT_KINDS.get(kind, kind), units[kind]) for kind in UNIT_KINDS if kind in units],
                "unit_names": {u.code: u.name for group in units.values() for u in group},
                "items": items, "classes": ROUTE_CLASSES, "modes": MODES, "context_paths": context_paths(),
                "class_names": dict(ROUTE_CLASSES), "mode_names": dict(MODES), "compact": compact}

    def _page(self, draft: Draft, *, problems: list[Problem] = (), results=None, tried=None, passed: str = "",
              loaded_from: int | None = None):
        running = published.current(RULESET)
        row_problems: dict[int, list[str]] = {}
        for problem in problems:
            if problem.row is not None:
                row_problems.setdefault(problem.row, []).append(problem.message)
        samples = [case.get("name", "") for case in draft.parsed_tests([]) if isinstance(case, dict)]
        return self.render("admin/rules_edit.html", draft=draft, running=running, problems=problems,
                           row_problems=row_problems, results=results, tried=tried, passed=passed,
                           samples=samples, loaded_from=loaded_from, broken=published.broken(RULESET),
                           **self._choices())

    @expose("/", methods=("GET", "POST"))
    def index(self):
        if request.method == "GET":
            return self._open()
        draft = Draft.from_form(RULESET, request.form)
        op = request.form.get("op", "")
        if op.startswith(ROW_OPS):
            problem = draft.apply(op)
            return self._page(draft, problems=[Problem(problem)] if problem else [])
        if op == "sample":
            return self._load_sample(draft)
        if op in ("try", "save-test", "check", "publish"):
            return self._run(draft, op)
        abort(400)

    def _open(self):
        running = published.current(RULESET)
        if running is None:
            abort(404)
        number = request.args.get("from", type=int)
        loaded_from = None
        if number is not None:
            stored = published.version(RULESET, number)
            if stored is None:
                abort(404)
            document, loaded_from = stored.document, number
        else:
            document = published.current_ruleset(RULESET).document
        return self._page(Draft.from_document(document, running.digest), loaded_from=loaded_from)

    def _load_sample(self, draft: Draft):
        tests = draft.parsed_tests([])
        index = request.form.get("sample", type=int)
        if index is None or not 0 <= index < len(tests) or not isinstance(tests[index], dict):
            return self._page(draft, problems=[Problem("请先选择一条自测用例")])
        draft.context = pretty(tests[index].get("context"))
        return self._page(draft)

    def _run(self, draft: Draft, op: str):
        document, problems = draft.document()
        if problems:
            return self._page(draft, problems=problems)
        try:
            compiled = published.check(document, RULESET, with_tests=False)
        except DefinitionError as exc:
            return self._page(draft, problems=[locate(exc, document)])
        results = run_tests(compiled, document.get("tests", []))
        tried = None
        if op in ("try", "save-test"):
            context, problem = draft.parsed_context()
            if problem is not None:
                return self._page(draft, problems=[Problem(problem, None, "")], results=results)
            tried = trial(compiled, context)
            if op == "save-test":
                name = draft.test_name.strip()
                if not name:
                    return self._page(draft, problems=[Problem("请给这条自测用例起个名字")], results=results,
                                      tried=tried)
                draft.add_test(name, context, tried["decision"].row_id)
                draft.test_name = ""
                results = run_tests(compiled, draft.parsed_tests([]))
                return self._page(draft, results=results, tried=tried,
                                  passed=f"已加入自测用例「{name}」（期望命中 {tried['decision'].row_id}），发布时一并保存。")
            return self._page(draft, results=results, tried=tried)
        failed = [r for r in results if not r.ok]
        if op == "check":
            if failed:
                return self._page(draft, problems=[Problem(f"有 {len(failed)} 条自测没有通过，见下方自测结果")],
                                  results=results)
            return self._page(draft, results=results, passed=f"检查通过：写法、字段、服务事项和办单单位都没有问题，"
                                                             f"{len(results)} 条自测全部通过。")
        return self._publish(draft, document, results)

    def _publish(self, draft: Draft, document: dict[str, Any], results):
        try:
            version = published.publish(RULESET, document, base_digest=draft.base, note=draft.note,
                                        user=current_user)
        except DefinitionError as exc:
            return self._page(draft, problems=[locate(exc, document)], results=results)
        except published.PublishError as exc:
            return self._page(draft, problems=[Problem(str(exc))], results=results)
        flash(f"已发布第 {version.number} 版派单规则，新订单立即按新版本派单。", "success")
        return redirect(url_for(".index"), code=303)

    @expose("/versions/")
    def versions(self):
        running = published.current(RULESET)
        return self.render("admin/rules_versions.html", versions=published.versions(RULESET), running=running,
                           file_digest=self._file_digest())

    def _file_digest(self) -> str | None:
        from qunti.catalog import state

        ruleset = state().rulesets.get(RULESET)
        return ruleset.digest if ruleset is not None else None

    @expose("/versions/<int:number>")
    def version(self, number: int):
        stored = published.version(RULESET, number)
        if stored is None:
            abort(404)
        return self.render("admin/rules_version.html", version=stored, text=pretty(stored.document),
                           tests=tests_text(stored.document.get("tests", [])),
                           running=published.current(RULESET))


def views() -> list[Any]:
    return [RulesView(name="派单规则", endpoint="admin_rules", url="/admin/rules")]
