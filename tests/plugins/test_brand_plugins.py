"""The four shipped brand plugins: their activity types, forms, rules and hooks."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from qunti.forms.compiler import compile_form
from qunti.plugins import checklist_items, menu_entries, order_event
from qunti.plugins.defaults import age_on
from qunti.plugins.eligibility import refusals

from plugin_helpers import BRANDS, SHIPPED_DIRS, enable

# DOMAIN.md, "Brands": the activity types each brand offers, in its order.
BRANDS_IN_DOMAIN = {
    "union-care": ("情系职工", "union", ["能工巧匠", "劳模工作室创建", "法律援助", "四季帮扶"]),
    "youth-hub": ("新青荟", "league", ["婚恋交友", "能力增值", "公益接力", "私人订制"]),
    "women-bridge": ("巾帼桥", "women", ["巾帼建功兴业", "女性素质提升", "优良家风传承", "困难妇女帮扶", "女性权益维护"]),
    "startup-dream": ("三创圆梦", "joint", ["创业培训", "政策扶持", "项目孵化", "法律援助"]),
}
FORM_PREFIX = {"union": "union-", "league": "league-", "women": "women-", "joint": "joint-"}
FIELD_UI = {"widget", "placeholder", "help", "visibleIf", "order", "rows", "autocomplete", "inputmode", "addLabel",
            "removeLabel"}
ROOT_UI = {"order", "submitLabel"}


@pytest.fixture
def brand_app(make_app):
    return make_app(PLUGINS_DIRS=SHIPPED_DIRS)


def brand_forms():
    return sorted(BRANDS.glob("*/forms/*.json"))


@pytest.mark.parametrize("plugin_id", sorted(BRANDS_IN_DOMAIN))
def test_each_brand_offers_the_activity_types_of_the_domain(brand_app, plugin_id):
    name, organization, types = BRANDS_IN_DOMAIN[plugin_id]
    plugins = brand_app.extensions["qunti"].catalog.plugins
    plugin = plugins.get(plugin_id)
    assert (plugin.name, plugin.organization, plugin.kind) == (name, organization, "brand")
    offered = plugins.types_of(plugin_id)
    assert [t.name for t in offered] == types
    assert all(t.form in plugin.forms for t in offered), "each type has its own form in the plugin"
    assert len({t.form for t in offered}) == len(offered)
    assert all(form.startswith(FORM_PREFIX[organization]) for form in plugin.forms)


def walk_ui(node, path="#"):
    """Every (path, x-ui mapping) below the root."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-ui" and path != "#":
                yield path, value
            elif isinstance(value, (dict, list)):
                yield from walk_ui(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_ui(value, f"{path}/{index}")


@pytest.mark.parametrize("path", brand_forms(), ids=lambda p: p.stem)
def test_every_brand_form_is_complete_and_its_example_is_valid(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["title"] and schema["examples"], "a title and a valid example answer"
    assert set(schema["x-ui"]) <= ROOT_UI and schema["x-ui"]["submitLabel"]
    assert set(schema["x-ui"]["order"]) == set(schema["properties"])
    for where, ui in walk_ui(schema):
        assert set(ui) <= FIELD_UI, f"{where} uses x-ui keys {set(ui) - FIELD_UI}"
    assert {"name", "phone", "consent"} <= set(schema["properties"])
    compiled = compile_form(schema, path.stem)
    assert compiled.check(schema["examples"][0]) == []
    broken = dict(schema["examples"][0], phone="12345")
    assert [e.path for e in compiled.check(broken)] == ["/phone"]


def test_form_ids_are_unique_across_the_whole_tree(brand_app):
    from plugin_helpers import ROOT
    ids = [p.stem for p in (ROOT / "forms").glob("*.json")] + [p.stem for p in brand_forms()]
    assert len(ids) == len(set(ids))


def test_every_brand_ships_eligibility_rules_that_passed_their_own_tests(brand_app):
    plugins = brand_app.extensions["qunti"].catalog.plugins
    brands = {p.id for p in plugins if p.kind == "brand"}
    assert {r.owner for r in plugins.rulesets.values() if r.owner in brands} == set(BRANDS_IN_DOMAIN)


@pytest.mark.parametrize("form_id, changes, date, refused", [
    ("league-matchmaking-signup", {}, "2026-12-12", []),
    ("league-matchmaking-signup", {"birthDate": "2008-01-01"}, "2026-12-12", ["matchmaking-age"]),
    ("league-matchmaking-signup", {"birthDate": "2006-12-13"}, "2026-12-12", ["matchmaking-age"]),
    ("league-matchmaking-signup", {"birthDate": "2006-12-12"}, "2026-12-12", []),
    ("union-four-seasons-aid", {"monthlyHouseholdIncome": 9999, "hardshipTypes": ["单亲家庭"]}, "2026-12-12",
     ["four-seasons-income"]),
    ("women-hardship-aid", {"monthlyHouseholdIncome": 20000}, "2026-12-12", ["hardship-income"]),
    ("joint-policy-support", {"registered": False}, "2026-12-12", ["loan-needs-licence"]),
    ("joint-startup-training", {"birthDate": "1960-01-01"}, "2026-12-12", ["training-age"]),
])
def test_brand_rules_refuse_who_they_should(brand_app, form_id, changes, date, refused):
    plugins = brand_app.extensions["qunti"].catalog.plugins
    answers = dict(plugins.forms[form_id].schema["examples"][0], **changes)
    rules = plugins.eligibility_rules(form_id, set(BRANDS_IN_DOMAIN))
    assert [r.rule for r in refusals(rules, answers, {"date": date})] == refused
    assert all(r.message for r in refusals(rules, answers, {"date": date}))


def test_age_on_counts_full_years():
    assert age_on("2000-02-29", "2026-02-28") == 25
    assert age_on("2000-02-29", "2026-03-01") == 26
    assert age_on("1990-06-15", "2026-06-15") == 36
    assert age_on("not a date", "2026-06-15") is None


def hardship_order(**changes):
    fields = {"number": "JB1", "service_item_code": "S10", "state": "completed", "community": "港城社区",
              "applicant_category": "migrant_worker", "channel": "online", "unit_code": "union",
              "route_class": "handle", "round": 1}
    fields.update(changes)
    return SimpleNamespace(**fields)


COMPLETED = SimpleNamespace(action="complete", from_state="in_progress", to_state="completed", actor_label="办单员",
                            reason=None, at=None)


@pytest.mark.parametrize("order, event, expected", [
    (hardship_order(), COMPLETED, ["union-care"]),
    (hardship_order(applicant_category="youth"), COMPLETED, []),
    (hardship_order(service_item_code="S05"), COMPLETED, []),
    (hardship_order(), SimpleNamespace(**{**vars(COMPLETED), "to_state": "accepted"}), []),
])
def test_union_follows_up_completed_hardship_orders_of_workers(brand_app, order, event, expected):
    enable(brand_app, "union-care")
    with brand_app.app_context():
        assert [owner for owner, _ in order_event(order, event)] == expected


def test_union_checklist_item_only_while_enabled(brand_app):
    with brand_app.test_request_context("/"):
        assert checklist_items() == []
    enable(brand_app, "union-care")
    with brand_app.test_request_context("/"):
        assert [i["code"] for i in checklist_items()] == ["union-care-worker-home"]


def test_brand_menu_entries_follow_the_switch(brand_app):
    with brand_app.test_request_context("/"):
        assert menu_entries() == []  # nothing enabled: not even the core's activity link
    enable(brand_app, "youth-hub", "women-bridge")
    with brand_app.test_request_context("/"):
        entries = menu_entries()
    assert [e["title"] for e in entries] == ["品牌活动报名", "巾帼桥", "新青荟"]
    assert entries[2]["url"] == "/activities/brands/youth-hub" and entries[2]["plugin"] == "youth-hub"
    resident = SimpleNamespace(role="resident")
    with brand_app.test_request_context("/"):
        assert menu_entries(resident)[2]["summary"].startswith("看看本周的青年活动")
