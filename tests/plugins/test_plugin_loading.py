"""Finding plugins and refusing broken ones at start-up, with the plugin and the file named."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qunti import create_app
from qunti.catalog import load_forms
from qunti.definitions import DefinitionError
from qunti.plugins.manager import load_plugins

from plugin_helpers import BRANDS, ROOT, SHIPPED_DIRS, sample_form, write_plugin

SHIPPED = {"union-care", "youth-hub", "women-bridge", "startup-dream"}


@pytest.fixture(scope="module")
def core_forms():
    return load_forms(ROOT / "forms")


def load(core_forms, *dirs):
    return load_plugins({"PLUGINS_DIRS": [str(d) for d in dirs]}, core_forms)


def refused(core_forms, *dirs) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load(core_forms, *dirs)
    return caught.value


def test_shipped_brand_plugins_are_found_with_their_contributions(core_forms):
    plugins = load_plugins({"PLUGINS_DIRS": SHIPPED_DIRS}, core_forms)
    assert SHIPPED <= set(plugins.plugins)
    assert all(plugins.get(p).kind == "brand" and plugins.get(p).origin == "folder" for p in SHIPPED)
    assert {plugins.get(p).organization for p in SHIPPED} == {"union", "league", "women", "joint"}
    assert {fid: owner for fid, owner in plugins.form_owner.items() if owner in SHIPPED} == {
        fid: owner for owner in SHIPPED for fid in plugins.get(owner).forms}
    assert "age_on" in plugins.operations
    assert not set(plugins.forms) & set(core_forms)


def test_data_only_plugin_loads(core_forms, tmp_path):
    write_plugin(tmp_path, "data-only", forms={"data-only-form": sample_form()},
                 activityTypes=[{"id": "data-only-type", "name": "测试活动", "form": "data-only-form",
                                 "description": "只有数据的插件。"}])
    plugins = load(core_forms, tmp_path)
    assert list(plugins.plugins) == ["data-only"]
    assert plugins.get("data-only").module is None
    assert plugins.form_owner == {"data-only-form": "data-only"}
    assert plugins.activity_types["data-only-type"].plugin_id == "data-only"


def test_hidden_and_private_folders_are_not_plugins(core_forms, tmp_path):
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / ".git").mkdir()
    assert len(load(core_forms, tmp_path)) == 0


def test_duplicate_plugin_ids_are_refused(core_forms, tmp_path):
    write_plugin(tmp_path / "a", "twin")
    write_plugin(tmp_path / "b", "twin")
    error = refused(core_forms, tmp_path / "a", tmp_path / "b")
    assert "twin" in str(error) and "重复" in error.reason
    assert str(tmp_path / "a" / "twin") in error.reason  # names the other copy


def test_manifest_id_must_match_the_folder(core_forms, tmp_path):
    write_plugin(tmp_path, "folder-name", id="other-name")
    error = refused(core_forms, tmp_path)
    assert "folder-name" in error.source and "plugin.json" in error.source
    assert error.path == "/id"


@pytest.mark.parametrize("change, path, words", [
    ({"kind": "shop"}, "/kind", "brand"),
    ({"organization": None}, "", "organization"),
    ({"version": "v1"}, "/version", "写法不对"),
    ({"surprise": True}, "", "不认识的键"),
    ({"activityTypes": [{"id": "Bad Id", "name": "x", "form": "x", "description": "x"}]}, "/activityTypes/0/id", "写法不对"),
])
def test_invalid_manifest_is_refused_naming_plugin_file_and_path(core_forms, tmp_path, change, path, words):
    write_plugin(tmp_path, "broken-manifest", **change)
    error = refused(core_forms, tmp_path)
    assert "broken-manifest" in error.source and error.source.endswith("plugin.json")
    assert error.path == path and words in error.reason


def test_folder_without_manifest_is_refused(core_forms, tmp_path):
    (tmp_path / "no-manifest" / "forms").mkdir(parents=True)
    error = refused(core_forms, tmp_path)
    assert "no-manifest" in error.source and "plugin.json" in error.reason


def test_hook_with_no_spec_is_refused_naming_plugin_and_hook(core_forms, tmp_path):
    write_plugin(tmp_path, "typo-hook", hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_menu_entrys(user):
            return []
    """)
    error = refused(core_forms, tmp_path)
    assert "typo-hook" in error.source and error.source.endswith("hooks.py")
    assert "qunti_menu_entrys" in error.reason and "未声明" in error.reason


def test_hook_function_without_the_marker_is_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "unmarked", hooks="""
        def qunti_menu_entries(user):
            return []
    """)
    error = refused(core_forms, tmp_path)
    assert "unmarked" in error.source and "@hookimpl" in error.reason


def test_hook_with_wrong_arguments_is_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "bad-args", hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_menu_entries(user, request):
            return []
    """)
    error = refused(core_forms, tmp_path)
    assert "bad-args" in error.source and "request" in error.reason


def test_hooks_module_that_fails_to_import_is_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "import-error", hooks="import no_such_module_here\n")
    error = refused(core_forms, tmp_path)
    assert "import-error" in error.source and "no_such_module_here" in error.reason


def test_start_up_hook_that_raises_is_refused_naming_the_plugin(core_forms, tmp_path):
    write_plugin(tmp_path, "raising", hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_activity_types():
            raise RuntimeError("boom")
    """)
    error = refused(core_forms, tmp_path)
    assert "raising" in error.source and "qunti_activity_types" in error.reason and "boom" in error.reason


def test_invalid_plugin_form_is_refused_naming_plugin_file_and_path(core_forms, tmp_path):
    form = sample_form()
    form["properties"]["phone"]["x-ui"] = {"widget": "slider"}
    write_plugin(tmp_path, "bad-form", forms={"bad-form-apply": form})
    error = refused(core_forms, tmp_path)
    assert "bad-form" in error.source and error.source.endswith("forms/bad-form-apply.json")
    assert error.path == "/properties/phone/x-ui/widget"


def test_plugin_form_that_is_not_json_is_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "not-json", forms={"not-json-form": "{oops"})
    error = refused(core_forms, tmp_path)
    assert "not-json" in error.source and "JSON" in error.reason


def test_plugin_form_reusing_a_core_form_id_is_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "copycat", forms={"matchmaking": sample_form()})
    error = refused(core_forms, tmp_path)
    assert "copycat" in error.source and "matchmaking" in error.reason and "forms/matchmaking.json" in error.reason


def test_two_plugins_with_one_form_id_are_refused(core_forms, tmp_path):
    write_plugin(tmp_path, "first", forms={"shared-form": sample_form()})
    write_plugin(tmp_path, "second", forms={"shared-form": sample_form()})
    error = refused(core_forms, tmp_path)
    assert "second" in error.source and "插件 first" in error.reason


def test_hook_forms_are_checked_like_files(core_forms, tmp_path):
    write_plugin(tmp_path, "hook-forms", hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_forms():
            return [("hook-forms-pair", {"title": "二元组表单", "type": "object",
                                         "properties": {"x": {"type": "string", "title": "甲", "x-ui": {"rows": 0}}}})]
    """)
    error = refused(core_forms, tmp_path)
    assert "hook-forms" in error.source and "qunti_forms()[0]" in error.source
    assert error.path == "/properties/x/x-ui/rows"


def test_hook_forms_as_path_and_pair_join_the_plugin(core_forms, tmp_path):
    folder = write_plugin(tmp_path, "hook-forms", hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_forms():
            return ["extra/hook-forms-file.json", ("hook-forms-pair", {"title": "二元组表单", "type": "object",
                                                  "properties": {"x": {"type": "string", "title": "甲"}}})]
    """)
    (folder / "extra").mkdir()
    (folder / "extra" / "hook-forms-file.json").write_text(json.dumps(sample_form()), encoding="utf-8")
    plugins = load(core_forms, tmp_path)
    assert plugins.get("hook-forms").forms == ("hook-forms-file", "hook-forms-pair")


def test_activity_type_must_name_an_existing_form(core_forms, tmp_path):
    write_plugin(tmp_path, "typeless", activityTypes=[{"id": "t1", "name": "甲", "form": "nowhere", "description": "x"}])
    error = refused(core_forms, tmp_path)
    assert "typeless" in error.source and error.path == "/activityTypes/0/form" and "nowhere" in error.reason


def test_activity_type_ids_are_unique_across_plugins(core_forms, tmp_path):
    kind = [{"id": "same-type", "name": "甲", "form": "matchmaking", "description": "x"}]
    write_plugin(tmp_path, "one", activityTypes=kind)
    write_plugin(tmp_path, "two", activityTypes=kind)
    error = refused(core_forms, tmp_path)
    assert "two" in error.source and "same-type" in error.reason and "one" in error.reason


def eligibility(**rule):
    base = {"id": "age-rule", "form": "elig-form", "title": "年龄", "when": {">=": [{"var": "answers.age"}, 18]},
            "message": "须年满 18 岁"}
    base.update(rule)
    return {"id": "elig-rules", "title": "测试条件", "rules": [base],
            "tests": [{"name": "17 岁", "form": "elig-form", "changes": {"age": 17}, "expect": ["age-rule"]}]}


def test_eligibility_rules_load_and_their_tests_run(core_forms, tmp_path):
    write_plugin(tmp_path, "elig", forms={"elig-form": sample_form()}, rules={"eligibility": eligibility()})
    plugins = load(core_forms, tmp_path)
    assert [r.id for r in plugins.eligibility_rules("elig-form", {"elig"})] == ["age-rule"]
    assert plugins.eligibility_rules("elig-form", set()) == []  # only while the plugin is enabled


def test_hook_rules_as_path_and_pair_are_checked_like_files(core_forms, tmp_path):
    folder = write_plugin(tmp_path, "hook-rules", forms={"elig-form": sample_form()}, hooks="""
        import json
        from qunti import hookimpl
        from qunti.plugin_api import plugin_path

        @hookimpl
        def qunti_rules():
            document = json.loads(plugin_path(__file__, "extra", "rules.json").read_text(encoding="utf-8"))
            document["id"] = "pair-rules"
            return ["extra/rules.json", ("pair-rules", document)]
    """)
    (folder / "extra").mkdir()
    (folder / "extra" / "rules.json").write_text(json.dumps(eligibility()), encoding="utf-8")
    plugins = load(core_forms, tmp_path)
    assert plugins.get("hook-rules").rulesets == ("elig-rules", "pair-rules")
    broken = eligibility(when={">=": [{"var": "answers.nope"}, 1]})
    (folder / "extra" / "rules.json").write_text(json.dumps(broken), encoding="utf-8")
    error = refused(core_forms, tmp_path)
    assert "hook-rules" in error.source and error.source.endswith("extra/rules.json") and "nope" in error.reason


@pytest.mark.parametrize("rule, path, words", [
    ({"when": {">=": [{"var": "answers.height"}, 18]}}, "/rules/0/when", "height"),
    ({"when": {"older_than": [{"var": "answers.age"}, 18]}}, "/rules/0/when", "older_than"),
    ({"when": {">=": [{"var": "order.state"}, 18]}}, "/rules/0/when", "order.state"),
    ({"form": "matchmaking"}, "/rules/0/form", "matchmaking"),
    ({"when": {">=": [{"var": "answers.age"}, 10]}}, "/tests/0", "期望不满足"),
])
def test_broken_eligibility_rules_are_refused(core_forms, tmp_path, rule, path, words):
    write_plugin(tmp_path, "elig", forms={"elig-form": sample_form()}, rules={"eligibility": eligibility(**rule)})
    error = refused(core_forms, tmp_path)
    assert "elig" in error.source and error.source.endswith("rules/eligibility.json")
    assert error.path == path and words in error.reason


def test_a_rule_never_shown_refusing_is_refused(core_forms, tmp_path):
    document = eligibility()
    document["tests"] = [{"name": "30 岁", "form": "elig-form", "expect": []}]
    write_plugin(tmp_path, "elig", forms={"elig-form": sample_form()}, rules={"eligibility": document})
    error = refused(core_forms, tmp_path)
    assert error.path == "/rules/0" and "age-rule" in error.reason


@pytest.mark.parametrize("operations, words", [
    ("{'age_on': lambda a, b: 1}", "重复"),
    ("{'if': lambda *a: 1}", "标准运算符"),
    ("{'Bad-Name': lambda *a: 1}", "小写字母"),
    ("{'fine': 42}", "不是函数"),
])
def test_bad_jsonlogic_operations_are_refused(core_forms, tmp_path, operations, words):
    write_plugin(tmp_path, "ops", hooks=f"""
        from qunti import hookimpl

        @hookimpl
        def qunti_jsonlogic_operations():
            return {operations}
    """)
    error = refused(core_forms, tmp_path)
    assert "ops" in error.source and words in error.reason


def test_plugin_operation_is_usable_in_its_rules(core_forms, tmp_path):
    rule = eligibility(when={"doubled_at_least": [{"var": "answers.age"}, 36]})
    write_plugin(tmp_path, "ops", forms={"elig-form": sample_form()}, rules={"eligibility": rule}, hooks="""
        from qunti import hookimpl

        @hookimpl
        def qunti_jsonlogic_operations():
            return {"doubled_at_least": lambda value, floor: value * 2 >= floor}
    """)
    assert "doubled_at_least" in load(core_forms, tmp_path).operations


def test_app_start_up_refuses_a_broken_plugin(tmp_path):
    write_plugin(tmp_path / "plugins", "broken-manifest", kind="shop")
    with pytest.raises(DefinitionError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "PLUGINS_DIRS": [str(tmp_path / "plugins")]})
    assert "broken-manifest" in str(caught.value)


def test_check_command_names_the_broken_plugin(tmp_path):
    form = sample_form()
    form["properties"]["age"]["x-ui"] = {"widget": "slider"}
    write_plugin(tmp_path, "cli-broken", forms={"cli-broken-form": form})
    env = {**os.environ, "QUNTI_PLUGINS_DIRS": json.dumps([str(tmp_path)]),
           "PYTHONPATH": str(ROOT / "platform")}
    out = subprocess.run([sys.executable, "-m", "qunti.cli", "check"], cwd=ROOT, capture_output=True, text=True,
                         env=env)
    assert out.returncode == 1
    assert "cli-broken" in out.stderr and "cli-broken-form.json" in out.stderr
    assert "/properties/age/x-ui/widget" in out.stderr


def test_shipped_plugins_folder_is_where_the_setting_points():
    assert str(BRANDS) in SHIPPED_DIRS
    assert {p.name for p in BRANDS.iterdir() if p.is_dir()} == SHIPPED
