"""Dispatch rule sets: what loading refuses (and where it points), how decisions are made, the API."""
from __future__ import annotations

import copy
import dataclasses
import json
import types
from pathlib import Path

import pytest
from flask import Flask

from qunti.api import errors as api_errors
from qunti.definitions import DefinitionError, digest, read_json
from qunti.rules import engine
from qunti.rules.api import MAX_BODY, rules_api
from qunti.rules.ruleset import load_ruleset, load_units, validate_ruleset, validate_units

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "rules"


# ---------------------------------------------------------------- fixtures


def forms_in(folder: Path) -> dict:
    # A form's id is its file name, as the service menu refers to it.
    return {path.stem: read_json(path) for path in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="module")
def env():
    """The small forms, menu and units the test rule sets run against."""
    return {"forms": forms_in(DATA / "forms"),
            "menu_items": {item["code"]: item for item in read_json(DATA / "menu.json")["items"]},
            "units": load_units(DATA / "units.json")}


@pytest.fixture
def doc():
    """A fresh copy of the valid test rule set, to break in one place per test."""
    return read_json(DATA / "base.json")


@pytest.fixture
def ruleset(env, doc):
    return validate_ruleset(doc, source="base.json", **env)


def refused(doc, env, **extra) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        validate_ruleset(doc, source="edited.json", **env, **extra)
    assert caught.value.source == "edited.json"
    return caught.value


def row_index(doc, row_id: str) -> int:
    return next(i for i, row in enumerate(doc["rows"]) if row["id"] == row_id)


def order(code: str, **context) -> dict:
    return {"item": {"code": code}, **context}


# ---------------------------------------------------------------- the shipped rule set


@pytest.fixture(scope="module")
def shipped():
    menu = read_json(ROOT / "forms" / "menu" / "service-menu.json")
    return load_ruleset(ROOT / "rules" / "dispatch.json", forms=forms_in(ROOT / "forms"),
                        menu_items={item["code"]: item for item in menu["items"]},
                        units=load_units(ROOT / "rules" / "units.json"), source="rules/dispatch.json")


def test_shipped_dispatch_rules_load_and_their_self_tests_pass(shipped):
    assert shipped.id == "dispatch"
    assert shipped.digest == digest(read_json(ROOT / "rules" / "dispatch.json"))
    assert shipped.rows[-1].default


def test_shipped_self_tests_reach_every_row(shipped):
    expected = {case["expect"] for case in shipped.document["tests"]}
    assert [row.id for row in shipped.rows if row.id not in expected] == []


def test_shipped_self_tests_are_what_decide_returns(shipped):
    # Loading already ran them; run them again through the public API to prove they mean something.
    for case in shipped.document["tests"]:
        assert shipped.decide(case["context"]).row_id == case["expect"], case["name"]


def test_shipped_rows_stay_within_the_menu(shipped):
    codes = {item["code"] for item in read_json(ROOT / "forms" / "menu" / "service-menu.json")["items"]}
    for row in shipped.rows:
        assert row.items is None or row.items <= codes


def test_shipped_units_cover_the_organizations_and_subdistricts():
    units = load_units(ROOT / "rules" / "units.json")
    assert {"union", "league", "women"} <= {c for c, u in units.items() if u["kind"] == "organization"}
    assert units["joint-meeting"]["kind"] == "meeting" and units["district"]["kind"] == "district"
    assert len([u for u in units.values() if u["kind"] == "subdistrict"]) == 12
    assert len([u for u in units.values() if u["kind"] == "social"]) >= 2


# ---------------------------------------------------------------- refusals, with the exact pointer


def test_unknown_operator_is_refused_at_its_pointer(env, doc):
    doc["rows"][0]["when"]["and"][1] = {"foo": [{"var": "counts.similarOpenInCommunity"}, 4]}
    error = refused(doc, env)
    assert error.path == "/rows/0/when/and/1"
    assert "未知的运算符 'foo'" in error.reason


def test_deeply_nested_unknown_operator_points_inside(env, doc):
    doc["rows"][2]["when"]["or"][0] = {"==": [{"vra": "answers.employer.subdistrict"}, "寸滩街道"]}
    error = refused(doc, env)
    assert error.path == "/rows/2/when/or/0/==/0"
    assert "'vra'" in error.reason


def test_wrong_argument_count_is_refused(env, doc):
    doc["rows"][1]["when"] = {"==": [{"var": "answers.issueType"}]}
    assert refused(doc, env).path == "/rows/1/when"


def test_answers_var_missing_from_the_form_names_field_and_form(env, doc):
    doc["rows"][1]["when"] = {"==": [{"var": "answers.issueKind"}, "wage_arrears"]}
    error = refused(doc, env)
    assert error.path == "/rows/1/when"
    assert "answers.issueKind" in error.reason and "wages（W01）" in error.reason


def test_answers_var_must_exist_in_every_listed_items_form(env, doc):
    doc["rows"][1]["items"] = ["W01", "C01"]
    doc["rows"][1]["when"] = {">=": [{"var": "answers.workers"}, 10]}
    error = refused(doc, env)
    assert error.path == "/rows/1/when"
    assert "counsel（C01）" in error.reason.split("中不存在")[0]
    assert "wages（W01）" not in error.reason.split("中不存在")[0]


def test_answers_var_shared_by_every_listed_form_is_accepted(env, doc):
    doc["rows"][1]["items"] = ["W01", "C01"]  # both forms have issueType
    validate_ruleset(doc, **env)


def test_nested_answers_follow_local_refs_and_conditional_branches(env, doc):
    doc["rows"][1]["when"] = {"and": [{"var": "answers.employer.name"}, {"var": "answers.arrearsSince"}]}
    doc["tests"] = []
    validate_ruleset(doc, **env)
    doc["rows"][1]["when"] = {"var": "answers.employer.phone"}
    error = refused(doc, env)
    assert error.path == "/rows/1/when" and "answers.employer.phone" in error.reason


def test_answers_var_without_items_is_refused(env, doc):
    at = row_index(doc, "women-items")
    doc["rows"][at]["when"] = {"==": [{"var": "answers.serviceType"}, "legal_aid"]}
    error = refused(doc, env)
    assert error.path == f"/rows/{at}/when"
    assert "items" in error.reason and "answers.serviceType" in error.reason


def test_var_not_in_the_order_context_is_refused(env, doc):
    at = row_index(doc, "women-items")
    doc["rows"][at]["when"] = {">": [{"var": "counts.similarOpen"}, 1]}
    error = refused(doc, env)
    assert error.path == f"/rows/{at}/when"
    assert "counts.similarOpen" in error.reason and "counts.similarOpenInCommunity" in error.reason


@pytest.mark.parametrize("path", ["station.community", "station", "applicant.category", "channel",
                                  "counts.openByApplicant", "item.functions"])
def test_every_declared_context_path_may_be_read(env, doc, path):
    doc["rows"][row_index(doc, "women-items")]["when"] = {"var": path}
    doc["tests"] = []
    validate_ruleset(doc, **env)


def test_computed_var_paths_are_refused(env, doc):
    at = row_index(doc, "women-items")
    doc["rows"][at]["when"] = {"var": {"cat": ["answers.", {"var": "channel"}]}}
    error = refused(doc, env)
    assert error.path == f"/rows/{at}/when" and "固定" in error.reason


def test_unknown_unit_is_refused(env, doc):
    doc["rows"][1]["route"]["unit"] = "labor"
    error = refused(doc, env)
    assert error.path == "/rows/1/route/unit" and "'labor'" in error.reason


@pytest.mark.parametrize(("row", "cls", "unit"), [
    ("women-items", "handle", "labour"),       # a department cannot "handle"; only organizations do
    ("legal-aid", "purchase", "women"),        # purchase is from social organizations
    ("wages", "transfer", "legal-sw"),         # transfer goes to departments and sub-districts
    ("wages", "transfer", "district"),
])
def test_unit_of_the_wrong_kind_for_the_class_is_refused(env, doc, row, cls, unit):
    at = row_index(doc, row)
    doc["rows"][at]["route"].update({"class": cls, "unit": unit})
    error = refused(doc, env)
    assert error.path == f"/rows/{at}/route/unit" and f"'{unit}'" in error.reason


def test_escalation_must_wait_for_the_joint_meeting(env, doc):
    doc["rows"][0]["route"]["mode"] = "auto"
    assert refused(doc, env).path == "/rows/0/route/mode"


def test_duplicate_row_id_is_refused(env, doc):
    doc["rows"][3]["id"] = "wages"
    error = refused(doc, env)
    assert error.path == "/rows/3/id" and "/rows/1" in error.reason


def test_missing_default_row_is_refused(env, doc):
    del doc["rows"][-1]
    doc["tests"] = []
    error = refused(doc, env)
    assert error.path == f"/rows/{len(doc['rows']) - 1}" and "默认行" in error.reason


def test_default_row_not_last_is_refused(env, doc):
    doc["rows"].insert(2, copy.deepcopy(doc["rows"][-1]) | {"id": "early-default"})
    error = refused(doc, env)
    assert error.path == "/rows/2/default"


def test_two_default_rows_are_refused(env, doc):
    doc["rows"].append(copy.deepcopy(doc["rows"][-1]) | {"id": "second-default"})
    assert refused(doc, env).path == f"/rows/{len(doc['rows']) - 2}/default"


def test_default_row_with_a_condition_is_refused(env, doc):
    doc["rows"][-1]["when"] = True
    assert refused(doc, env).path == f"/rows/{len(doc['rows']) - 1}/when"


def test_row_without_condition_is_refused(env, doc):
    del doc["rows"][1]["when"]
    assert refused(doc, env).path == "/rows/1"


def test_unknown_item_is_refused(env, doc):
    doc["rows"][1]["items"] = ["W01", "S99"]
    error = refused(doc, env)
    assert error.path == "/rows/1/items/1" and "'S99'" in error.reason


def test_failing_self_test_is_refused_with_expected_and_actual(env, doc):
    doc["tests"][1]["context"]["counts"]["similarOpenInCommunity"] = 9
    error = refused(doc, env)
    assert error.path == "/tests/1"
    assert "期望命中 wages，实际命中 mass" in error.reason


def test_self_test_expecting_an_unknown_row_is_refused(env, doc):
    doc["tests"][0]["expect"] = "masses"
    assert refused(doc, env).path == "/tests/0/expect"


def test_self_test_context_must_fit_the_order_context(env, doc):
    doc["tests"][0]["context"]["counts"]["similarOpenInCommunity"] = "four"
    error = refused(doc, env)
    assert error.path == "/tests/0/context/counts/similarOpenInCommunity"


def test_self_test_hitting_a_runtime_error_is_refused(env, doc):
    doc["rows"][1]["when"] = {"and": [{"==": [{"var": "answers.issueType"}, "wage_arrears"]}, {"throw": "boom"}]}
    error = refused(doc, env)
    assert error.path == "/tests/1" and "'wages'" in error.reason


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d["rows"][1].pop("route"), "/rows/1"),
    (lambda d: d["rows"][1]["route"].update({"class": "delegate"}), "/rows/1/route/class"),
    (lambda d: d["rows"][1]["route"].update({"timeLimitDays": "15"}), "/rows/1/route/timeLimitDays"),
    (lambda d: d["rows"][1].update({"colour": "red"}), "/rows/1"),
    (lambda d: d.pop("rows"), ""),
])
def test_shape_errors_point_at_the_problem(env, doc, change, path):
    change(doc)
    assert refused(doc, env).path == path


def test_plugin_operations_are_known_only_when_given(env, doc):
    at = row_index(doc, "women-items")
    doc["rows"][at]["when"] = {"working_hours": [{"var": "channel"}]}
    doc["tests"] = []
    assert "未知的运算符 'working_hours'" in refused(doc, env).reason
    ruleset = validate_ruleset(doc, operations={"working_hours": lambda channel: channel == "station"}, **env)
    assert ruleset.decide(order("C01", channel="station")).row_id == "women-items"
    assert ruleset.decide(order("C01", channel="online")).row_id == "default"


def test_load_ruleset_names_the_file(env, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"id": "x", "rows": [', encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_ruleset(path, source="rules/broken.json", **env)
    assert caught.value.source == "rules/broken.json" and caught.value.path == ""


def test_units_refusals():
    good = read_json(DATA / "units.json")
    for change, path in [
        (lambda d: d["units"].append(dict(d["units"][0])), "/units/7/code"),
        (lambda d: d["units"][0].update({"code": "Union"}), "/units/0/code"),
        (lambda d: d["units"][1].update({"kind": "ministry"}), "/units/1/kind"),
    ]:
        document = copy.deepcopy(good)
        change(document)
        with pytest.raises(DefinitionError) as caught:
            validate_units(document, "units.json")
        assert caught.value.path == path


# ---------------------------------------------------------------- deciding


def test_first_matching_row_wins(ruleset):
    wage = {"answers": {"issueType": "wage_arrears"}}
    assert ruleset.decide(order("W01", counts={"similarOpenInCommunity": 7}, **wage)).row_id == "mass"
    assert ruleset.decide(order("W01", counts={"similarOpenInCommunity": 1}, **wage)).row_id == "wages"


def test_rows_apply_only_to_their_items(ruleset):
    # Same answers, but the order is for C01: the W01 rows never look at it.
    context = order("C01", answers={"issueType": "wage_arrears"}, counts={"similarOpenInCommunity": 7})
    context["item"]["organization"] = "women"
    assert ruleset.decide(context).row_id == "women-items"


def test_items_filter_runs_before_the_condition(env, doc):
    doc["rows"][0]["when"] = {"throw": "evaluated"}
    doc["tests"] = []
    ruleset = validate_ruleset(doc, **env)
    assert ruleset.decide(order("C01")).errors == []
    # On its own item the failing row is skipped, recorded, and the next row decides.
    decision = ruleset.decide(order("W01", answers={"issueType": "wage_arrears"}))
    assert decision.row_id == "wages"
    assert [e["row"] for e in decision.errors] == ["mass"]


@pytest.mark.parametrize("context", [{}, None, {"item": "W01"}, {"item": {"code": "W01"}, "answers": None},
                                     {"item": {"code": "W01"}, "station": None, "counts": {}}])
def test_missing_or_odd_context_falls_through_to_default(ruleset, context):
    decision = ruleset.decide(context)
    assert decision.row_id == "default" and decision.errors == []


def test_context_that_is_not_json_data_is_a_value_error(ruleset):
    with pytest.raises(ValueError):
        ruleset.decide({"item": {"code": "W01"}, "answers": {"when": object()}})


def test_reason_lists_each_condition_of_a_top_level_and(ruleset, doc):
    decision = ruleset.decide(order("W01", answers={"issueType": "wage_arrears"}, counts={"similarOpenInCommunity": 5}))
    assert decision.row_id == "mass"
    assert [r["condition"] for r in decision.reason] == doc["rows"][0]["when"]["and"]
    assert [(r["value"], r["held"]) for r in decision.reason] == [(True, True), (True, True)]


def test_reason_of_an_or_shows_which_condition_held(ruleset, doc):
    decision = ruleset.decide(order("W01", station={"community": "港城社区"}))
    assert decision.row_id == "local-employer"
    assert [r["condition"] for r in decision.reason] == doc["rows"][2]["when"]["or"]
    assert [r["held"] for r in decision.reason] == [False, True]


def test_reason_of_a_single_condition_is_the_condition(ruleset, doc):
    decision = ruleset.decide(order("W01", answers={"issueType": "wage_arrears"}))
    assert decision.reason == [{"condition": doc["rows"][1]["when"], "value": True, "held": True}]


def test_reason_of_the_default_row_says_nothing_matched(ruleset):
    reason = ruleset.decide(order("J01")).reason
    assert len(reason) == 1 and reason[0]["condition"] is None and "未满足" in reason[0]["text"]


def test_decision_carries_route_and_ruleset_digest(ruleset, doc):
    decision = ruleset.decide(order("C01", answers={"serviceType": "legal_aid"}))
    assert decision.route == doc["rows"][3]["route"]
    assert decision.ruleset_digest == ruleset.digest == digest(doc)
    assert decision.row_title == doc["rows"][3]["title"]


def test_digest_follows_content_not_layout(env, doc):
    same = validate_ruleset(json.loads(json.dumps(doc, indent=4, sort_keys=True)), **env)
    doc["rows"][1]["title"] += "（修订）"
    edited = validate_ruleset(doc, **env)
    assert same.digest == validate_ruleset(read_json(DATA / "base.json"), **env).digest != edited.digest


def test_rule_set_is_immutable(env, doc):
    ruleset = validate_ruleset(doc, **env)
    doc["rows"][1]["route"]["unit"] = "union"  # the caller's dict is not the rule set's
    first = ruleset.decide(order("W01", answers={"issueType": "wage_arrears"}))
    first.route["unit"] = "union"
    first.reason[0]["condition"]["=="][1] = "changed"
    again = ruleset.decide(order("W01", answers={"issueType": "wage_arrears"}))
    assert again.route["unit"] == "labour" and again.reason[0]["condition"]["=="][1] == "wage_arrears"
    assert ruleset.document["rows"][1]["route"]["unit"] == "labour"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.rows = ()
    with pytest.raises(TypeError):
        ruleset.rows[1].route["unit"] = "union"


def test_deciding_never_compiles(ruleset, monkeypatch):
    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled while deciding")
    monkeypatch.setattr(engine.CompiledRule, "__init__", no_compiling)
    assert ruleset.decide(order("W01", answers={"issueType": "wage_arrears"})).row_id == "wages"


def test_explain_reports_every_row(ruleset):
    trace = ruleset.explain(order("W01", answers={"issueType": "wage_arrears"}, counts={"similarOpenInCommunity": 9}))
    assert [(t["row"], t["applies"], t["held"]) for t in trace] == [
        ("mass", True, True), ("wages", True, True), ("local-employer", True, False),
        ("legal-aid", False, False), ("women-items", True, False), ("default", True, True)]


# ---------------------------------------------------------------- the API


@pytest.fixture
def api(ruleset):
    app = Flask(__name__)
    app.config["TESTING"] = True
    app.extensions["qunti"] = types.SimpleNamespace(rulesets={ruleset.id: ruleset})
    api_errors.init_app(app)
    app.register_blueprint(rules_api, url_prefix="/api/v1")
    return app.test_client()


URL = "/api/v1/rules/dispatch/evaluate"


def test_api_evaluates_a_context(api, ruleset):
    context = order("W01", answers={"issueType": "wage_arrears"}, counts={"similarOpenInCommunity": 4})
    response = api.post(URL, json={"context": context})
    assert response.status_code == 200
    body = response.get_json()
    decision = ruleset.decide(context)
    assert body == {"ruleset": "dispatch", "digest": ruleset.digest,
                    "row": {"id": decision.row_id, "title": decision.row_title},
                    "route": decision.route, "reason": decision.reason, "errors": []}
    assert body["row"]["id"] == "mass"


def test_api_unknown_rule_set_is_404(api):
    response = api.post("/api/v1/rules/visibility/evaluate", json={"context": {}})
    assert response.status_code == 404 and "visibility" in response.get_json()["error"]


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "context=1", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": '{"context": {}}', "content_type": "text/plain"}, 415),
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": b"\xff\xfe", "content_type": "application/json"}, 400),
    ({"json": [{"context": {}}]}, 422),
    ({"json": {"ctx": {}}}, 422),
    ({"json": {"context": "W01"}}, 422),
    ({"json": {"context": {"counts": {"similarOpenInCommunity": "many"}}}}, 422),
    ({"json": {"context": {"chanel": "qr"}}}, 422),
    ({"data": json.dumps({"context": {"answers": {"x": "字" * MAX_BODY}}}), "content_type": "application/json"}, 413),
])
def test_api_bad_input_is_a_clear_json_4xx(api, kwargs, status):
    response = api.post(URL, **kwargs)
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]


def test_api_points_at_the_bad_context_field(api):
    response = api.post(URL, json={"context": {"counts": {"similarOpenInCommunity": -1}}})
    assert response.status_code == 422
    assert response.get_json()["path"] == "/context/counts/similarOpenInCommunity"
