"""The dispatch rules in the admin console, through HTTP with JavaScript off: the row editor, the
try-it box, checks and self-tests before publishing, versions in the database, and that the
dispatcher and the evaluate API use a published version at once (on every host)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from qunti import create_app
from qunti.db import db
from qunti.rules import published
from qunti.rules.published import RuleSetVersion

from admin_helpers import audit_entries, press, resubmit, signed_in, text
from browser import browser_post, elements, one
from order_helpers import order, submit
from users import make_user

URL = "/admin/rules/"


@pytest.fixture
def admin(ctx):
    return make_user("sys_admin")


@pytest.fixture
def browser(app, admin):
    return signed_in(app, admin)


def rows() -> list[dict]:
    return published.current_ruleset("dispatch").document["rows"]


def at(row_id: str) -> int:
    """The editor's index of a row of the running rule set."""
    return next(i for i, row in enumerate(rows()) if row["id"] == row_id)


def matched(response) -> str:
    """The row the try-it box says the order matched."""
    found = re.search(r"命中 <strong>([^<]+)</strong>", response.get_data(as_text=True))
    assert found, text(response)
    return found.group(1)


def version_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(RuleSetVersion))


def running_digest() -> str:
    db.session.expire_all()
    return published.current("dispatch").digest


# ---------------------------------------------------------------- the editor and try-it


def test_the_editor_shows_every_row_and_a_sample_order(browser):
    page = browser.get(URL)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for i, row in enumerate(rows()):
        assert one(html, "input", name=f"row-{i}-id")["value"] == row["id"]
    assert "文件中的规则集" in text(page)  # nothing published yet
    context = json.loads(browser_post(html)["context"])
    assert context["item"]["code"] == "S11" and "answers" in context


def test_try_it_shows_the_matched_row_the_reason_and_every_row(browser):
    response = press(browser, URL, op="try")
    assert response.status_code == 200
    shown = text(response)
    # The sample: 12 workers owed wages, 2 similar open cases — an individual case, not a mass one.
    assert matched(response) == "wage-arrears"
    assert "answers.issueType" in shown and "成立" in shown
    explain = one(response.get_data(as_text=True), "tr", **{"class": "table-primary"})
    assert explain is not None
    for row in rows():
        assert row["id"] in shown
    assert version_count() == 0


def test_try_it_runs_the_edited_rows_before_anything_is_published(browser):
    i = at("wage-arrears-mass")
    # Lower the threshold to 10 workers: the sample (12) now counts as a mass case.
    when = json.dumps({"and": [{"==": [{"var": "answers.issueType"}, "wage_arrears"]},
                               {">=": [{"var": ["answers.affectedWorkers", 1]}, 10]}]})
    response = press(browser, URL, {f"row-{i}-when": when}, op="try")
    assert matched(response) == "wage-arrears-mass"
    assert version_count() == 0


def test_a_self_test_can_be_loaded_into_the_try_it_box_and_a_tried_order_saved_as_one(browser):
    loaded = press(browser, URL, {"sample": "0"}, op="sample")
    first = published.current_ruleset("dispatch").document["tests"][0]
    assert json.loads(browser_post(loaded.get_data(as_text=True))["context"]) == first["context"]
    tried = resubmit(browser, URL, loaded, op="try")
    saved = resubmit(browser, URL, tried, {"test_name": "试一试存下的用例"}, op="save-test")
    tests = json.loads(browser_post(saved.get_data(as_text=True))["tests"])
    assert tests[-1] == {"name": "试一试存下的用例", "context": first["context"], "expect": first["expect"]}
    assert "已加入自测用例" in text(saved)


@pytest.mark.parametrize("context, message", [
    ('{"item": {"code": "S11"}', "试一试的订单上下文不是有效的 JSON"),
    ('{"item": {"code": "S11"}, "weather": "rain"}', "试一试的订单上下文有误"),
])
def test_a_bad_try_it_context_is_explained(browser, context, message):
    response = press(browser, URL, {"context": context}, op="try")
    assert message in text(response)


def test_rows_are_added_moved_and_removed_and_the_default_row_stays_last(browser):
    first, second = rows()[0]["id"], rows()[1]["id"]
    added = press(browser, URL, op="add-0")
    html = added.get_data(as_text=True)
    assert one(html, "input", name="row-1-id")["value"] == "new-row-1"
    down = resubmit(browser, URL, added, op="down-0")
    html = down.get_data(as_text=True)
    assert [one(html, "input", name=f"row-{i}-id")["value"] for i in range(3)] == ["new-row-1", first, second]
    removed = resubmit(browser, URL, down, op="del-0")
    html = removed.get_data(as_text=True)
    assert one(html, "input", name="row-0-id")["value"] == first
    last = len(rows()) - 1
    refused = resubmit(browser, URL, removed, op=f"del-{last}")
    assert "默认行必须留在最后" in text(refused)
    assert one(refused.get_data(as_text=True), "input", name=f"row-{last}-id")["value"] == "default"
    assert version_count() == 0


def test_check_runs_every_self_test(browser):
    response = press(browser, URL, op="check")
    assert "检查通过" in text(response)
    assert f"{len(published.current_ruleset('dispatch').document['tests'])} 条自测全部通过" in text(response)


# ---------------------------------------------------------------- publishing


def publish(browser, fill=None, note="测试发布"):
    return press(browser, URL, {"note": note, **(fill or {})}, op="publish")


def test_publishing_stores_a_version_audits_it_and_dispatch_uses_it_at_once(app, browser):
    old = running_digest()
    i = at("wage-arrears")
    response = publish(browser, {f"row-{i}-unit": "civil-affairs", f"row-{i}-limit": "12"})
    assert response.status_code == 303
    assert "已发布第 1 版" in text(browser.get(URL))
    stored = published.version("dispatch", 1)
    assert stored.note == "测试发布" and stored.digest == running_digest() != old
    assert stored.document["rows"][i]["route"] == {"class": "transfer", "unit": "civil-affairs", "mode": "auto",
                                                   "timeLimitDays": 12}
    entry, = audit_entries("ruleset", "dispatch")
    assert entry.action == "publish" and entry.before == {"version": 0, "digest": old}
    assert entry.after["version"] == 1 and entry.after["changes"]["changed"] == ["wage-arrears"]

    # An order submitted after the publish is routed by the new version and records its digest.
    number = submit(app, "S11", issueType="wage_arrears", affectedWorkers=3)
    routed = order(number)
    assert routed.ruleset_digest == stored.digest
    assert routed.rule_row_id == "wage-arrears" and routed.unit_code == "civil-affairs"
    assert routed.time_limit_days == 12


def test_the_evaluate_api_uses_the_published_version(app, browser):
    i = at("wage-arrears")
    publish(browser, {f"row-{i}-unit": "civil-affairs"})
    context = {"item": {"code": "S11"}, "answers": {"issueType": "wage_arrears"}}
    body = app.test_client().post("/api/v1/rules/dispatch/evaluate", json={"context": context}).get_json()
    assert body["digest"] == running_digest() == published.version("dispatch", 1).digest
    assert body["route"]["unit"] == "civil-affairs"


def test_another_host_uses_the_published_version_on_its_next_request(app, browser, database_url, tmp_path):
    other = create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "other"),
                        "SECRET_KEY": "test-secret", "TESTING": True, "SERVER_NAME": "qunti.test"})
    with other.app_context():
        before = published.current_ruleset("dispatch").digest
    publish(browser, {f"row-{at('wage-arrears')}-limit": "9"})
    with other.app_context():
        after = published.current_ruleset("dispatch")
        assert after.digest != before and after.digest == published.version("dispatch", 1).digest
        db.session.remove()
        db.engine.dispose()


def refused(response, *fragments):
    """The draft came back with these words in the problem list, and nothing was published."""
    assert response.status_code == 200
    alert = text(response)
    assert "没有保存" in alert, alert
    for fragment in fragments:
        assert fragment in alert, alert
    assert version_count() == 0


def test_a_failing_self_test_refuses_the_publish_and_the_running_version_keeps_serving(app, browser):
    before = running_digest()
    i = at("wage-arrears-mass")
    # 20 similar open cases before a mass case: the self-test "同社区已有 5 件…" no longer holds.
    when = json.dumps({"and": [{"==": [{"var": "answers.issueType"}, "wage_arrears"]},
                               {">=": [{"var": ["counts.similarOpenInCommunity", 0]}, 20]}]})
    response = publish(browser, {f"row-{i}-when": when})
    refused(response, "自测「同社区已有 5 件欠薪未办结，报民生实事」", "期望命中 wage-arrears-mass", "实际命中 wage-arrears")
    assert "未通过" in text(response)  # the self-test table marks it
    assert running_digest() == before


def test_an_unknown_operator_is_refused_naming_the_row_and_path(browser):
    i = at("wage-arrears")
    response = publish(browser, {f"row-{i}-when": '{"frobnicate": [{"var": "answers.issueType"}, 1]}'})
    refused(response, f"第 {i + 1} 行（wage-arrears）的条件", "未知的运算符 'frobnicate'", f"/rows/{i}/when")


def test_a_field_missing_from_the_form_is_refused(browser):
    i = at("wage-arrears")
    response = publish(browser, {f"row-{i}-when": '{"==": [{"var": "answers.salaryColour"}, "red"]}'})
    refused(response, f"第 {i + 1} 行（wage-arrears）", "answers.salaryColour", "不存在")


@pytest.mark.parametrize("typed, reason", [
    ('{"==": [{"var": "answers.issueType"}, "wage_arrears"]', "不是有效的 JSON"),
    # Python's parser reads these; JSON (and PostgreSQL's JSON columns) have no such numbers.
    ('{">": [{"var": "counts.similarOpenInCommunity"}, NaN]}', "NaN 不是 JSON 里的数"),
    ('{">": [{"var": "counts.similarOpenInCommunity"}, 1e400]}', "1e400 超出了数的范围"),
])
def test_invalid_json_in_a_condition_is_refused_and_the_text_is_kept(browser, typed, reason):
    i = at("wage-arrears")
    response = publish(browser, {f"row-{i}-when": typed})
    refused(response, f"第 {i + 1} 行（wage-arrears）的条件不是有效的 JSON", reason)
    assert browser_post(response.get_data(as_text=True))[f"row-{i}-when"] == typed


def test_a_duplicate_row_id_is_refused(browser):
    response = publish(browser, {"row-1-id": rows()[0]["id"]})
    refused(response, "第 2 行", f"行编号 '{rows()[0]['id']}' 重复")


def test_an_unknown_unit_is_refused(browser):
    i = at("wage-arrears")
    page = browser.get(URL)
    data = browser_post(page.get_data(as_text=True), {"note": "x"}, op="publish")
    data.setlist(f"row-{i}-unit", ["no-such-unit"])  # not offered on the page: a tampered post
    refused(browser.post(URL, data=data), f"第 {i + 1} 行（wage-arrears）的办单单位", "未知的办单单位 'no-such-unit'")


def test_a_unit_of_the_wrong_kind_for_the_route_is_refused(browser):
    i = at("wage-arrears")
    refused(publish(browser, {f"row-{i}-unit": "union"}), "办单单位 'union' 是群团组织")


def test_a_stale_publish_is_refused_instead_of_overwriting(app, browser):
    first_page = browser.get(URL).get_data(as_text=True)
    second_page = browser.get(URL).get_data(as_text=True)
    i = at("wage-arrears")
    ok = browser.post(URL, data=browser_post(first_page, {f"row-{i}-limit": "11"}, op="publish"))
    assert ok.status_code == 303
    late = browser.post(URL, data=browser_post(second_page, {f"row-{i}-limit": "13"}, op="publish"))
    assert "在您编辑期间，规则集已有新版本" in text(late)
    assert version_count() == 1
    assert published.current_ruleset("dispatch").document["rows"][i]["route"]["timeLimitDays"] == 11


def test_publishing_the_running_content_again_makes_no_version(browser):
    response = publish(browser)
    assert "完全相同" in text(response) and version_count() == 0


def test_versions_are_listed_viewable_and_an_old_one_can_be_published_again(app, browser):
    i = at("wage-arrears")
    original_limit = rows()[i]["route"]["timeLimitDays"]
    publish(browser, {f"row-{i}-limit": "11"}, note="第一次")
    publish(browser, {f"row-{i}-limit": "12"}, note="第二次")
    listing = text(browser.get(URL + "versions/"))
    assert "第 2 版（正在使用）" in listing and "第一次" in listing and "文件版本" in listing
    assert "第 1 版" in text(browser.get(URL + "versions/1"))
    assert browser.get(URL + "versions/9").status_code == 404
    # Load version 1 into the editor and publish it: it becomes version 3, the same content as 1.
    loaded = browser.get(URL + "?from=1")
    assert "已载入第 1 版的内容" in text(loaded)
    again = browser.post(URL, data=browser_post(loaded.get_data(as_text=True), {"note": "恢复"}, op="publish"))
    assert again.status_code == 303
    assert published.version("dispatch", 3).digest == published.version("dispatch", 1).digest
    assert published.current_ruleset("dispatch").document["rows"][i]["route"]["timeLimitDays"] == 11 != original_limit


def test_a_published_version_that_no_longer_checks_falls_back_to_the_file_and_says_so(app, browser):
    publish(browser, {f"row-{at('wage-arrears')}-limit": "11"})
    assert published.current_ruleset("dispatch").digest == published.version("dispatch", 1).digest
    # Someone changes S11's form behind the console's back: the rules read answers.issueType of it.
    from qunti.menu.models import ServiceItem
    db.session.get(ServiceItem, "S11").form_id = "policy-briefing"
    db.session.commit()
    app.extensions["qunti"].published.clear()
    assert published.current_ruleset("dispatch").digest == app.extensions["qunti"].rulesets["dispatch"].digest
    assert "不再通过检查" in text(browser.get(URL))


def test_an_admin_typed_script_in_a_row_title_is_escaped(browser):
    i = at("wage-arrears")
    publish(browser, {f"row-{i}-title": "<script>alert('x')</script>欠薪"})
    for page in (browser.get(URL), browser.get(URL + "versions/1")):
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert not [tag for tag in elements(browser.get(URL).get_data(as_text=True), "script") if not tag.get("src")]
