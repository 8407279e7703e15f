"""The shipped station plugins: two station kinds with their profile forms and staffing checks, and
the checks a station kind's data must pass when it loads."""
from __future__ import annotations

import copy
import json
import re

import pytest

from qunti.catalog import load_forms
from qunti.definitions import DefinitionError
from qunti.forms.compiler import compile_form
from qunti.plugins.eligibility import refusals
from qunti.plugins.manager import load_plugins

from plugin_helpers import ROOT, SHIPPED_DIRS, write_plugin

STATIONS = ROOT / "plugins" / "stations"
CJK = re.compile(r"[\u4e00-\u9fff]")
# DOMAIN.md, "Staffing models": the two kinds of station and how each is staffed.
KINDS = {"center": ("station-center", "1+3+N", "station-center-profile"),
         "new": ("station-new", "一家牵头、八家进入", "station-new-profile")}


@pytest.fixture(scope="module")
def core_forms():
    return load_forms(ROOT / "forms")


@pytest.fixture(scope="module")
def shipped(core_forms):
    return load_plugins({"PLUGINS_DIRS": SHIPPED_DIRS}, core_forms)


def station_forms():
    return sorted(STATIONS.glob("*/forms/*.json"))


def test_the_two_station_kinds_of_the_domain_are_station_plugins(shipped):
    assert {code: (k.plugin_id, k.staffing_model, k.profile_form) for code, k in shipped.station_kinds.items()} == KINDS
    for plugin_id, _, form in KINDS.values():
        plugin = shipped.get(plugin_id)
        assert plugin.kind == "station" and plugin.origin == "folder" and plugin.module is None  # data only
        assert plugin.forms == (form,)
        assert [r.owner for r in shipped.rulesets.values() if r.owner == plugin_id] == [plugin_id]
    assert {p.id for p in shipped if p.kind == "station"} == {p for p, _, _ in KINDS.values()}


@pytest.mark.parametrize("path", station_forms(), ids=lambda p: p.stem)
def test_every_station_form_is_complete_in_chinese_and_its_example_is_valid(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert CJK.search(schema["title"]) and CJK.search(schema["description"])
    assert set(schema["x-ui"]["order"]) == set(schema["properties"]) and schema["x-ui"]["submitLabel"]

    def titles(node):
        for key, child in (node.get("properties") or {}).items():
            yield key, child.get("title", "")
            yield from titles(child)
        for child in (node.get("$defs") or {}).values():
            yield from titles(child)
    assert all(CJK.search(title) for _, title in titles(schema)), "every field has a Chinese title"
    compiled = compile_form(schema, path.stem)
    assert compiled.check(schema["examples"][0]) == []
    broken = copy.deepcopy(schema["examples"][0])
    broken["areaSqm"] = 10 ** 12
    assert [e.path for e in compiled.check(broken)] == ["/areaSqm"]


def staffing(shipped, kind: str, **changes):
    """(rule id, reason) of the staffing rules the kind's example profile with ``changes`` breaks."""
    plugin_id, _, form = KINDS[kind]
    answers = dict(shipped.forms[form].schema["examples"][0], **changes)
    return [(r.rule, r.message) for r in refusals(shipped.eligibility_rules(form, {plugin_id}), answers, {})]


def liaisons(*organizations):
    return [{"organization": org, "name": f"联络员{n}", "phone": f"1390830010{n}"} for n, org in enumerate(organizations)]


def test_a_1_3_n_station_with_two_liaisons_is_flagged_with_the_reason(shipped):
    assert staffing(shipped, "center") == []
    assert staffing(shipped, "center", liaisons=liaisons("union", "women")) == [
        ("center-liaison-count", "群团联络员仅 2 名，1+3+N 要求 3 名（工会、共青团、妇联各 1 名）。"),
        ("center-liaison-organizations", "缺少【共青团】联络员，1+3+N 要求工会、共青团、妇联各 1 名。")]


@pytest.mark.parametrize("changes, flagged", [
    ({"liaisons": liaisons("union", "league", "women", "union")}, []),  # more than three is fine
    ({"liaisons": liaisons("union", "union", "union")}, ["center-liaison-organizations"]),
    ({"liaisons": []}, ["center-liaison-count", "center-liaison-organizations"]),
    ({"head": {"name": "陈静", "phone": "13908300101", "fullTime": False}}, ["center-head-full-time"]),
    ({"volunteers": 0, "socialWorkers": 0}, ["center-n"]),
    ({"volunteers": 0, "socialWorkers": 1}, []),
])
def test_1_3_n_staffing_rules(shipped, changes, flagged):
    assert [rule for rule, _ in staffing(shipped, "center", **changes)] == flagged


def test_a_new_station_needs_eight_different_entering_units(shipped):
    units = shipped.forms["station-new-profile"].schema["examples"][0]["enteringUnits"]
    assert len(units) == 8 and staffing(shipped, "new") == []
    assert staffing(shipped, "new", enteringUnits=units[:7]) == [
        ("new-entering-count", "进驻单位仅 7 家，“一家牵头、八家进入”要求 8 家（同一单位只算一家）。")]
    twice = units[:7] + [dict(units[3], staffName="另一人")]
    assert [rule for rule, _ in staffing(shipped, "new", enteringUnits=twice)] == ["new-entering-count"]
    unscheduled = units[:7] + [{k: v for k, v in units[7].items() if k != "schedule"}]
    assert [rule for rule, _ in staffing(shipped, "new", enteringUnits=unscheduled)] == ["new-entering-schedule"]
    assert [rule for rule, _ in staffing(shipped, "new", enteringUnits=units + [dict(units[0], name="第九家")])] == []


# -- what a station kind must get right to load --------------------------------------------------

def profile_form():
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "测试站点档案", "type": "object",
            "properties": {"staff": {"type": "integer", "title": "在岗人数", "minimum": 0, "maximum": 100}},
            "required": ["staff"], "additionalProperties": False, "examples": [{"staff": 3}]}


def staffing_rules(form="test-profile", **rule_changes):
    rule = {"id": "enough", "form": form, "title": "人数", "when": {">=": [{"var": "answers.staff"}, 3]},
            "message": "在岗人数不足 3 人。", "reason": {"cat": ["在岗仅 ", {"var": "answers.staff"}, " 人"]}}
    rule.update(rule_changes)
    return {"id": f"{form}-staffing", "title": "测试人员配置检查", "rules": [rule],
            "tests": [{"name": "示例", "form": form, "expect": []},
                      {"name": "2 人", "form": form, "changes": {"staff": 2}, "expect": ["enough"],
                       "reasons": {"enough": "在岗仅 2 人"}}]}


def station_plugin(root, plugin_id="test-kind", *, rules=None, form=None, **manifest):
    """A station plugin with a profile form ``<id>-profile``, a staffing rule on it, and a kind
    ``test`` whose profile form is ``form`` (default: that form)."""
    own = f"{plugin_id}-profile"
    fields = {"kind": "station", "organization": "joint",
              "stationKind": {"code": "test", "name": "测试站点", "staffingModel": "1+1", "profileForm": form or own}}
    fields.update(manifest)
    return write_plugin(root, plugin_id, forms={own: profile_form()},
                        rules={"staffing": rules if rules is not None else staffing_rules(own)}, **fields)


def refused(core_forms, root) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load_plugins({"PLUGINS_DIRS": [str(root)]}, core_forms)
    return caught.value


def test_a_station_kind_with_a_reason_loads_and_gives_it(core_forms, tmp_path):
    station_plugin(tmp_path)
    plugins = load_plugins({"PLUGINS_DIRS": [str(tmp_path)]}, core_forms)
    assert plugins.station_kinds["test"].profile_form == "test-kind-profile"
    rules = plugins.eligibility_rules("test-kind-profile", {"test-kind"})
    assert [r.message for r in refusals(rules, {"staff": 1}, {})] == ["在岗仅 1 人"]


@pytest.mark.parametrize("rules, path, words", [
    (staffing_rules("test-kind-profile", reason={"cat": ["在岗仅 ", {"var": "answers.staf"}, " 人"]}),
     "/rules/0/reason", "没有字段 'staf'"),
    (staffing_rules("test-kind-profile", reason={"explain": [1]}), "/rules/0/reason", "未知的运算符 'explain'"),
    (staffing_rules("test-kind-profile", reason={"+": [1, 2]}), "/tests/1", "说明须算出一句话"),
])
def test_a_reason_that_cannot_give_a_sentence_is_refused(core_forms, tmp_path, rules, path, words):
    station_plugin(tmp_path, rules=rules)
    error = refused(core_forms, tmp_path)
    assert "test-kind" in error.source and error.source.endswith("staffing.json")
    assert error.path == path and words in error.reason


def test_a_self_test_expecting_another_reason_is_refused(core_forms, tmp_path):
    rules = staffing_rules("test-kind-profile")
    rules["tests"][1]["reasons"] = {"enough": "在岗仅 3 人"}
    station_plugin(tmp_path, rules=rules)
    error = refused(core_forms, tmp_path)
    assert error.path == "/tests/1/reasons/enough" and "在岗仅 2 人" in error.reason


@pytest.mark.parametrize("setup, path, words", [
    (lambda root: station_plugin(root, kind="brand"), "/stationKind", "只有站点插件"),
    (lambda root: station_plugin(root, form="no-such-form"), "/stationKind/profileForm", "不存在"),
    (lambda root: station_plugin(root, rules=staffing_rules("other-form")), "/rules/0/form", "不存在"),
    (lambda root: (station_plugin(root), station_plugin(root, "twin-kind")), "/stationKind/code", "重复"),
])
def test_broken_station_kinds_stop_start_up_naming_plugin_and_file(core_forms, tmp_path, setup, path, words):
    setup(tmp_path)
    error = refused(core_forms, tmp_path)
    assert error.path == path and words in error.reason


def test_a_station_kind_without_a_staffing_rule_is_refused(core_forms, tmp_path):
    folder = station_plugin(tmp_path)
    (folder / "rules" / "staffing.json").unlink()
    error = refused(core_forms, tmp_path)
    assert "test-kind" in error.source and error.source.endswith("plugin.json")
    assert error.path == "/stationKind/profileForm" and "人员配置检查规则" in error.reason


def test_shipped_staffing_rules_fail_their_own_tests_when_changed(core_forms, tmp_path):
    """The rule files' self-tests can fail: loosen 1+3+N to two liaisons and loading refuses it."""
    import shutil
    target = tmp_path / "station-center"
    shutil.copytree(STATIONS / "station-center", target)
    path = target / "rules" / "staffing.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["rules"][1]["when"][">="][1] = 2
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    error = refused(core_forms, tmp_path)
    assert error.source.endswith("rules/staffing.json") and "center-liaison-count" in error.reason
