"""Plugins at run time: installed is not enabled, switching takes effect at the next request,
a failing hook is isolated, the brand lead's limits, the CLI, and the rules plugins live by."""
from __future__ import annotations

import ast
import logging
import sys
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from qunti import hookspecs
from qunti.cli import main
from qunti.db import db
from qunti.forms.models import Form, Submission
from qunti.plugins import is_enabled, order_event, signup_refusal
from qunti.plugins.manager import iter_hook_names

from plugin_helpers import ROOT, SHIPPED_DIRS, enable, sample_form, write_plugin
from users import login, make_user

DEMO_HOOKS = """
    from flask import Blueprint

    from qunti import hookimpl
    from qunti.plugin_api import menu_entry

    bp = Blueprint("demo_pages", __name__)


    @bp.get("/hello")
    def hello():
        return "你好，插件页面"


    @hookimpl
    def qunti_blueprints():
        return [bp]


    @hookimpl
    def qunti_menu_entries(user):
        return [menu_entry("演示插件入口", "/p/demo-plugin/hello", "测试用的入口")]
"""

RAISING_HOOKS = """
    from qunti import hookimpl


    @hookimpl
    def qunti_menu_entries(user):
        raise RuntimeError("菜单钩子坏了")


    @hookimpl
    def qunti_order_event(order, event):
        raise RuntimeError("订单钩子坏了")


    @hookimpl(tryfirst=True)
    def qunti_signup_refusal(activity, answers):
        raise RuntimeError("报名钩子坏了")
"""

REFUSING_HOOKS = """
    from qunti import hookimpl


    @hookimpl{marker}
    def qunti_signup_refusal(activity, answers):
        return "{text}"
"""


@pytest.fixture
def demo_app(make_app, tmp_path):
    root = tmp_path / "plugins"
    write_plugin(root, "demo-plugin", forms={"demo-plugin-apply": sample_form()}, hooks=DEMO_HOOKS)
    write_plugin(root, "raising-plugin", organization="league", hooks=RAISING_HOOKS)
    # Called in this order: raising-plugin (tryfirst), refuse-first, refuse-later (trylast).
    write_plugin(root, "refuse-first", hooks=REFUSING_HOOKS.format(marker="", text="名额只留给本街道居民。"))
    write_plugin(root, "refuse-later", hooks=REFUSING_HOOKS.format(marker="(trylast=True)", text="第二个拒绝理由"))
    return make_app(PLUGINS_DIRS=[str(root), *SHIPPED_DIRS])


def seen(client) -> tuple:
    listed = {f["id"] for f in client.get("/api/v1/forms").get_json()["forms"]}
    return ("demo-plugin-apply" in listed,
            client.get("/api/v1/forms/demo-plugin-apply").status_code,
            client.post("/forms/demo-plugin-apply/visibility", data={}).status_code,
            client.get("/p/demo-plugin/hello").status_code,
            "演示插件入口" in client.get("/").get_data(as_text=True))


def test_disable_hides_form_page_and_menu_entry_at_once_and_enable_brings_them_back(demo_app):
    client = demo_app.test_client()
    assert seen(client) == (False, 404, 404, 404, False)  # installed is not enabled
    enable(demo_app, "demo-plugin")
    assert seen(client)[:2] == (True, 200) and seen(client)[3:] == (200, True)
    assert client.get("/p/demo-plugin/hello").get_data(as_text=True) == "你好，插件页面"
    made = client.post("/api/v1/forms/demo-plugin-apply/submissions", json=sample_form()["examples"][0])
    assert made.status_code == 201
    enable(demo_app, "demo-plugin", on=False)
    assert seen(client) == (False, 404, 404, 404, False)
    with demo_app.app_context():  # disabling keeps the data
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 1
        assert db.session.get(Form, "demo-plugin-apply").origin == "plugin:demo-plugin"
    enable(demo_app, "demo-plugin")
    assert seen(client)[0] is True and client.get("/api/v1/forms/demo-plugin-apply").status_code == 200


def test_plugin_forms_are_synced_as_versions_with_the_plugin_as_origin(demo_app):
    with demo_app.app_context():
        origins = dict(db.session.execute(select(Form.id, Form.origin)).all())
    assert origins["demo-plugin-apply"] == "plugin:demo-plugin"
    assert origins["union-four-seasons-aid"] == "plugin:union-care"
    assert origins["matchmaking"] == "file"


def test_a_raising_hook_is_logged_with_the_plugin_id_and_the_request_completes(demo_app, caplog):
    enable(demo_app, "demo-plugin", "raising-plugin")
    with caplog.at_level(logging.ERROR, logger="qunti.plugins"):
        response = demo_app.test_client().get("/")
    assert response.status_code == 200
    assert "演示插件入口" in response.get_data(as_text=True)  # the others still contribute
    failures = [r for r in caplog.records if "raising-plugin" in r.getMessage()]
    assert failures and "qunti_menu_entries" in failures[0].getMessage() and failures[0].exc_info


def test_order_events_reach_enabled_plugins_and_survive_a_raising_one(demo_app, caplog):
    order = SimpleNamespace(number="JB1", service_item_code="S10", state="completed", community="港城社区",
                            applicant_category="migrant_worker", channel="online", unit_code="union",
                            route_class="handle", round=1)
    event = SimpleNamespace(action="complete", from_state="in_progress", to_state="completed",
                            actor_label="办单员", reason=None, at=None)
    with demo_app.app_context():
        assert order_event(order, event) == []  # nothing enabled yet
        enable(demo_app, "raising-plugin", "union-care")
        with caplog.at_level(logging.ERROR, logger="qunti.plugins"):
            followups = order_event(order, event)
    assert [owner for owner, _ in followups] == ["union-care"]
    assert "四季帮扶" in followups[0][1]["title"]
    assert any("raising-plugin" in r.getMessage() and "qunti_order_event" in r.getMessage() for r in caplog.records)


def test_signup_refusal_is_firstresult_and_skips_a_raising_plugin(demo_app, caplog):
    assert hookspecs.qunti_signup_refusal.qunti_spec["firstresult"] is True
    enable(demo_app, "raising-plugin", "refuse-first", "refuse-later")
    with demo_app.test_request_context("/"), caplog.at_level(logging.ERROR, logger="qunti.plugins"):
        assert signup_refusal({"type": "x"}, {}) == ("refuse-first", "名额只留给本街道居民。")
    assert any("raising-plugin" in r.getMessage() for r in caplog.records)


@pytest.fixture
def switch_app(make_app):
    return make_app(PLUGINS_DIRS=SHIPPED_DIRS)


def test_sys_admin_sees_and_switches_every_plugin(switch_app):
    client = switch_app.test_client()
    with switch_app.app_context():
        login(client, make_user("sys_admin"))
    page = client.get("/plugins/").get_data(as_text=True)
    assert all(name in page for name in ("情系职工", "新青荟", "巾帼桥", "三创圆梦"))
    assert client.post("/plugins/youth-hub/enable").status_code == 303
    with switch_app.app_context():
        assert is_enabled("youth-hub")


def test_brand_lead_sees_and_switches_only_their_own_brand(switch_app):
    client = switch_app.test_client()
    with switch_app.app_context():
        login(client, make_user("brand_lead", organization="union"))
    page = client.get("/plugins/").get_data(as_text=True)
    assert "情系职工" in page and "新青荟" not in page and "三创圆梦" not in page
    refused = client.post("/plugins/youth-hub/enable")
    assert refused.status_code == 403 and "本组织" in refused.get_data(as_text=True)
    assert client.post("/plugins/union-care/enable").status_code == 303
    with switch_app.app_context():
        assert is_enabled("union-care") and not is_enabled("youth-hub")
    assert client.post("/plugins/union-care/disable").status_code == 303
    with switch_app.app_context():
        assert not is_enabled("union-care")


@pytest.mark.parametrize("role", ["resident", "station_staff", "org_admin", "dispatcher"])
def test_other_roles_cannot_open_or_switch_plugins(switch_app, role):
    client = switch_app.test_client()
    with switch_app.app_context():
        login(client, make_user(role))
    assert client.get("/plugins/").status_code == 403
    assert client.post("/plugins/union-care/enable").status_code == 403
    with switch_app.app_context():
        assert not is_enabled("union-care")


def test_anonymous_visitors_are_sent_to_log_in(switch_app):
    response = switch_app.test_client().get("/plugins/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_switching_needs_the_csrf_token(make_app):
    app = make_app(PLUGINS_DIRS=SHIPPED_DIRS, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        login(client, make_user("sys_admin"))
    assert client.post("/plugins/union-care/enable").status_code == 400
    with app.app_context():
        assert not is_enabled("union-care")


def test_unknown_plugin_is_404(switch_app):
    client = switch_app.test_client()
    with switch_app.app_context():
        login(client, make_user("sys_admin"))
    assert client.post("/plugins/no-such-plugin/enable").status_code == 404


def test_cli_lists_enables_and_disables(switch_app):
    runner = switch_app.test_cli_runner()
    listed = runner.invoke(main, ["plugins", "list"])
    assert listed.exit_code == 0 and "union-care" in listed.output and "未启用" in listed.output
    assert runner.invoke(main, ["plugins", "enable", "union-care", "youth-hub"]).exit_code == 0
    with switch_app.app_context():
        assert is_enabled("union-care") and is_enabled("youth-hub")
    again = runner.invoke(main, ["plugins", "enable", "union-care"])
    assert "本来就已启用" in again.output
    assert runner.invoke(main, ["plugins", "disable", "--all"]).exit_code == 0
    with switch_app.app_context():
        assert not is_enabled("union-care") and not is_enabled("youth-hub")
    unknown = runner.invoke(main, ["plugins", "enable", "nope"])
    assert unknown.exit_code == 1 and "nope" in unknown.output


def test_third_party_plugin_installed_through_the_entry_point_group(make_app, tmp_path, monkeypatch):
    site = tmp_path / "site"
    package = site / "qunti_thirdparty_demo"
    write_plugin(site, "qunti_thirdparty_demo", forms={"thirdparty-survey": sample_form("第三方问卷")}, id="third-party",
                 organization="women")
    (package / "__init__.py").write_text(
        "from qunti import hookimpl\n\n\n@hookimpl\ndef qunti_station_checklist_items():\n"
        "    return [{'code': 'third-party-corner', 'title': '有第三方服务角'}]\n", encoding="utf-8")
    dist = site / "qunti_thirdparty_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qunti-thirdparty-demo\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[qunti.plugins]\nthird-party = qunti_thirdparty_demo\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    try:
        app = make_app(PLUGINS_DIRS=[])
        plugin = app.extensions["qunti"].catalog.plugins.get("third-party")
        assert plugin.origin == "entry point" and plugin.forms == ("thirdparty-survey",)
        client = app.test_client()
        listed = lambda: {f["id"] for f in client.get("/api/v1/forms").get_json()["forms"]}  # noqa: E731
        assert "thirdparty-survey" not in listed()
        enable(app, "third-party")
        assert "thirdparty-survey" in listed()
        with app.test_request_context("/"):
            from qunti.plugins import checklist_items
            assert [i["code"] for i in checklist_items()] == ["third-party-corner"]
        enable(app, "third-party", on=False)
        assert "thirdparty-survey" not in listed()
        assert client.get("/api/v1/forms/thirdparty-survey").status_code == 404
    finally:
        sys.modules.pop("qunti_thirdparty_demo", None)


def test_entry_point_must_name_a_package_with_a_manifest(make_app, tmp_path, monkeypatch):
    from qunti.definitions import DefinitionError

    site = tmp_path / "site"
    site.mkdir()
    (site / "lonely_module.py").write_text("x = 1\n", encoding="utf-8")
    dist = site / "lonely-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lonely\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[qunti.plugins]\nlonely = lonely_module\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    try:
        with pytest.raises(DefinitionError) as caught:
            make_app(PLUGINS_DIRS=[])
        assert "lonely" in str(caught.value) and "plugin.json" in str(caught.value)
    finally:
        sys.modules.pop("lonely_module", None)


# -- rules every plugin lives by ----------------------------------------------------------------

ALLOWED_IMPORTS = {"qunti.plugin_api"}


def forbidden_imports(source: str) -> list[str]:
    """``qunti`` imports other than ``qunti.plugin_api`` and ``from qunti import hookimpl``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "qunti" and a.name not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qunti":
            if node.module == "qunti":
                found += [f"qunti.{a.name}" for a in node.names if a.name != "hookimpl"]
            elif node.module not in ALLOWED_IMPORTS:
                found.append(node.module)
    return found


def test_the_import_check_catches_internals():
    assert forbidden_imports("from qunti.db import db\nimport qunti.catalog\nfrom qunti import create_app\n") == [
        "qunti.db", "qunti.catalog", "qunti.create_app"]
    assert forbidden_imports("from qunti import hookimpl\nfrom qunti.plugin_api import followup\nimport flask\n") == []


def test_shipped_plugins_import_only_the_public_api():
    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert files, "the brand plugins ship hook modules"
    for path in files:
        assert forbidden_imports(path.read_text(encoding="utf-8")) == [], f"{path} imports qunti internals"


def test_every_hook_is_documented_and_implemented_somewhere():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in [
        *(ROOT / "plugins").rglob("*.py"), ROOT / "platform" / "qunti" / "plugins" / "defaults.py",
        *(ROOT / "tests" / "plugins").glob("*.py")])
    names = list(iter_hook_names())
    assert len(names) >= 10
    for name in names:
        spec = getattr(hookspecs, name)
        assert spec.__doc__ and spec.__doc__.strip(), f"{name} has no docstring"
        assert f"def {name}(" in sources, f"no plugin or test implements {name}"


@pytest.mark.parametrize("role, titles", [
    ("sys_admin", ["插件管理", "品牌活动", "活动签到"]),
    ("brand_lead", ["插件管理", "品牌活动", "活动签到"]),
    ("station_staff", ["活动签到"]),
    ("handler", []),
])
def test_staff_console_links_follow_the_role(switch_app, role, titles):
    client = switch_app.test_client()
    with switch_app.app_context():
        user = make_user(role)
        login(client, user)
    with switch_app.test_request_context("/"):
        from qunti.plugins import admin_links
        assert [link["title"] for link in admin_links(user)] == titles
    page = client.get("/staff/").get_data(as_text=True)
    assert all(title in page for title in titles)


def test_two_plugins_with_one_blueprint_name_stop_start_up(make_app, tmp_path):
    from qunti.definitions import DefinitionError

    hooks = """
        from flask import Blueprint
        from qunti import hookimpl

        @hookimpl
        def qunti_blueprints():
            return Blueprint("same_name", __name__)
    """
    write_plugin(tmp_path / "plugins", "pages-one", hooks=hooks)
    write_plugin(tmp_path / "plugins", "pages-two", hooks=hooks)
    with pytest.raises(DefinitionError) as caught:
        make_app(PLUGINS_DIRS=[str(tmp_path / "plugins")])
    assert "pages-two" in str(caught.value) and "same_name" in str(caught.value)
