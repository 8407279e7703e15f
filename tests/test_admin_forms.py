"""The forms part of the admin console, through HTTP with JavaScript off: who may edit which form,
the JSON editor with its preview, the simple editor, versions, diff, rollback, stale edits, and that
nothing an admin types can run as script on a resident's page."""
from __future__ import annotations

import html as htmllib
import json
import re

import pytest
from sqlalchemy import func, select

from qunti.admin.models import AuditEntry
from qunti.db import db
from qunti.forms.models import Form, FormVersion, Submission

from browser import browser_post, elements, one, page
from helpers import example_answers
from users import login, make_user

FORM, ITEM = "legal-consultation", "S05"        # a union item
BASE = "/admin/forms"


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


@pytest.fixture
def admin(ctx):
    return make_user("sys_admin")


@pytest.fixture
def browser(app, admin):
    return signed_in(app, admin)


def versions(form_id=FORM):
    db.session.expire_all()
    return list(db.session.scalars(select(FormVersion).where(FormVersion.form_id == form_id)
                                   .order_by(FormVersion.number)))


def current(form_id=FORM):
    db.session.expire_all()
    form = db.session.get(Form, form_id)
    return db.session.get(FormVersion, form.current_version_id)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def editor_text(html: str) -> str:
    return dict(page(html).sent)["schema"]


def json_post(browser, schema_text: str, action: str, form_id=FORM):
    """Type ``schema_text`` into the JSON editor of ``form_id`` and press a button."""
    html = text_of(browser.get(f"{BASE}/{form_id}/edit"))
    return browser.post(f"{BASE}/{form_id}/edit", data=browser_post(html, {"schema": schema_text}, action=action))


def edited(change, form_id=FORM) -> str:
    schema = current(form_id).schema
    change(schema)
    return json.dumps(schema, ensure_ascii=False, indent=2)


def srcdoc(html: str) -> str:
    """The resident page inside the preview frame, as the frame's browser parses it."""
    return one(html, "iframe")["srcdoc"]


def audit_entries(action=None):
    query = select(AuditEntry).where(AuditEntry.object_type == "form").order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


# -- who may open what ------------------------------------------------------------------------------

def test_every_role_outside_the_admins_is_turned_away(app, ctx):
    anonymous = app.test_client().get(f"{BASE}/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for role in ("resident", "station_staff", "dispatcher", "handler", "brand_lead"):
        client = signed_in(app, make_user(role))
        for path in (f"{BASE}/", f"{BASE}/{FORM}/", f"{BASE}/{FORM}/edit", f"{BASE}/{FORM}/fields"):
            assert client.get(path).status_code == 403, (role, path)
        assert client.post(f"{BASE}/{FORM}/edit", data={"schema": "{}", "action": "publish"}).status_code == 403
    unbound = signed_in(app, make_user("org_admin", organization=None))
    assert unbound.get(f"{BASE}/").status_code == 403


def test_a_system_admin_sees_every_form(browser, ctx):
    html = text_of(browser.get(f"{BASE}/"))
    for form_id in db.session.scalars(select(Form.id)):
        assert f'href="{BASE}/{form_id}/"' in html
    assert f'href="{BASE}/new"' in html


def test_an_organization_admin_edits_only_its_own_items_and_brand_forms(app, ctx):
    client = signed_in(app, make_user("org_admin", organization="union"))
    html = text_of(client.get(f"{BASE}/"))
    links = [a.get("href", "") for a in elements(html, "a")]
    listed = {href.split("/")[3] for href in links if re.fullmatch(rf"{BASE}/[a-z0-9-]+/", href)}
    # Union items (S05 S06 S11) and the forms of the union's brand plugin; no joint, women or league form.
    assert {"legal-consultation", "skills-training", "rights-protection"} <= listed
    assert {"union-legal-aid", "union-four-seasons-aid"} <= listed
    assert not listed & {"establish-organization", "hardship-assistance", "matchmaking", "demand-survey",
                         "women-career-mentoring"}
    assert client.get(f"{BASE}/legal-consultation/edit").status_code == 200
    assert client.get(f"{BASE}/union-legal-aid/fields").status_code == 200
    for other in ("hardship-assistance", "establish-organization"):
        assert client.get(f"{BASE}/{other}/edit").status_code == 403
        assert client.post(f"{BASE}/{other}/fields", data={"op": "publish"}).status_code == 403
        assert client.post(f"{BASE}/{other}/versions/1/rollback", data={"base_version": 1}).status_code == 403
    assert client.get(f"{BASE}/new").status_code == 403
    assert client.get(f"{BASE}/no-such-form/").status_code == 404


# -- versions -------------------------------------------------------------------------------------

def test_the_form_page_lists_versions_and_each_version_is_viewable(browser, admin, ctx):
    assert json_post(browser, edited(lambda s: s["properties"]["name"].update(title="申请人姓名")), "publish"
                     ).status_code == 302
    html = text_of(browser.get(f"{BASE}/{FORM}/"))
    rows = re.findall(r"<tr[^>]*>\s*<td>第 (\d) 版.*?</tr>", html, re.S)
    assert rows == ["2", "1"]
    assert admin.display_name in html and "文件同步" in html and "管理后台编辑（JSON）" in html
    first = text_of(browser.get(f"{BASE}/{FORM}/versions/1"))
    assert '"title": "姓名"' in htmllib.unescape(first) and "申请人姓名" not in srcdoc(first)
    second = text_of(browser.get(f"{BASE}/{FORM}/versions/2"))
    assert '"title": "申请人姓名"' in htmllib.unescape(second) and "申请人姓名" in srcdoc(second)
    assert browser.get(f"{BASE}/{FORM}/versions/9").status_code == 404


# -- the JSON editor ------------------------------------------------------------------------------

def test_the_editor_shows_the_current_document_and_its_preview(browser, ctx):
    html = text_of(browser.get(f"{BASE}/{FORM}/edit"))
    assert json.loads(editor_text(html)) == current().schema
    assert one(html, "input", name="base_version")["value"] == "1"
    frame = one(html, "iframe")
    assert "sandbox" in frame and frame["srcdoc"].lstrip().startswith("<!doctype html>")
    assert "法律咨询" in frame["srcdoc"] and 'name="phone"' in frame["srcdoc"]


def test_preview_shows_the_edit_and_changes_nothing(browser, app, ctx):
    response = json_post(browser, edited(lambda s: s["properties"]["name"].update(title="申请人姓名")), "preview")
    assert response.status_code == 200
    assert "申请人姓名" in srcdoc(text_of(response))
    assert [v.number for v in versions()] == [1]
    assert "申请人姓名" not in text_of(app.test_client().get(f"/services/{ITEM}"))


def test_publish_makes_a_new_current_version_and_old_submissions_keep_theirs(browser, app, admin, ctx):
    old = current()
    earlier = Submission(tracking_number="JB-ADMIN-1", form_version_id=old.id, service_item_code=ITEM,
                         answers=example_answers(app, FORM))
    db.session.add(earlier)
    db.session.commit()
    response = json_post(browser, edited(lambda s: s["properties"]["name"].update(title="申请人姓名")), "publish")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{BASE}/{FORM}/")
    assert "已发布第 2 版" in text_of(browser.get(response.headers["Location"]))
    new = current()
    assert new.number == 2 and new.schema["properties"]["name"]["title"] == "申请人姓名"
    assert "申请人姓名" in text_of(app.test_client().get(f"/services/{ITEM}"))
    assert db.session.get(Submission, earlier.id).form_version.number == 1
    entry, = audit_entries("publish")
    assert (entry.object_id, entry.user_id) == (FORM, admin.id)
    assert entry.before == {"version": 1, "digest": old.digest, "title": old.schema["title"], "note": old.note}
    assert entry.after["version"] == 2 and entry.after["digest"] == new.digest


def test_publishing_the_same_content_makes_no_version(browser, ctx):
    response = json_post(browser, json.dumps(current().schema, ensure_ascii=False), "publish")
    assert response.status_code == 200 and "内容与当前版本（第 1 版）相同" in text_of(response)
    assert len(versions()) == 1 and not audit_entries()


@pytest.mark.parametrize("text,where,reason", [
    ('{\n  "title": "法律咨询",\n  "type": "object",,\n}', "/", "不是有效的 JSON（第 3 行第 20 列"),
    ("[1, 2]", "/", "表单必须是一个 JSON 对象"),
    ('{"title": "法律咨询", "type": "object",\n "properties": {"n": {"type": "number", "maximum": Infinity}}}', "/",
     "不是有效的 JSON（第 2 行第 52 列：Infinity 不是 JSON 里的数"),
])
def test_broken_json_is_refused_with_where_and_the_running_version_keeps_serving(browser, app, ctx, text, where,
                                                                                 reason):
    response = json_post(browser, text, "publish")
    assert response.status_code == 422
    html = text_of(response)
    assert reason in htmllib.unescape(html) and "没有保存" in html and f"<code>{where}</code>" in html
    assert editor_text(html) == text                  # what was typed stays, to be fixed
    assert len(versions()) == 1
    assert app.test_client().get(f"/services/{ITEM}").status_code == 200


@pytest.mark.parametrize("change,where,reason", [
    (lambda s: s["properties"]["name"].update(anyOf=[{"minLength": 2}]), "/properties/name/anyOf", "不支持 anyOf"),
    (lambda s: s["properties"]["name"].update(type="strng"), "/properties/name/type", "未知的类型 'strng'"),
    (lambda s: s["properties"]["name"]["x-ui"].update(widget="slider"), "/properties/name/x-ui/widget",
     "未知的控件类型 'slider'"),
    (lambda s: s["required"].append("nickname"), "/required/8", "required 中的 'nickname' 不在 properties 里"),
])
def test_an_unrenderable_schema_is_refused_in_chinese_with_its_path(browser, app, ctx, change, where, reason):
    response = json_post(browser, edited(change), "preview")
    assert response.status_code == 422
    html = htmllib.unescape(text_of(response))
    assert f"出错位置：{where}" in re.sub(r"</?code>", "", html) and reason in html
    assert "暂时无法预览" in html
    assert len(versions()) == 1


def without_case_category(schema):
    del schema["properties"]["caseCategory"]
    schema["required"].remove("caseCategory")
    schema["x-ui"]["order"].remove("caseCategory")


def test_a_change_that_would_break_a_dispatch_rule_is_refused(browser, ctx):
    # rules/dispatch.json routes S05 by answers.caseCategory.
    response = json_post(browser, edited(without_case_category), "publish")
    assert response.status_code == 422
    html = htmllib.unescape(text_of(response))
    assert "正在使用的规则集 dispatch" in html and "answers.caseCategory" in html
    assert len(versions()) == 1


# -- two admins at once ---------------------------------------------------------------------------

def test_a_stale_edit_is_refused_instead_of_overwriting(app, ctx):
    first, second = make_user("sys_admin"), make_user("org_admin", organization="union")
    a, b = signed_in(app, first), signed_in(app, second)
    page_a = text_of(a.get(f"{BASE}/{FORM}/edit"))
    page_b = text_of(b.get(f"{BASE}/{FORM}/edit"))
    mine = edited(lambda s: s["properties"]["name"].update(title="甲改的标题"))
    theirs = edited(lambda s: s["properties"]["name"].update(title="乙改的标题"))
    published = a.post(f"{BASE}/{FORM}/edit", data=browser_post(page_a, {"schema": mine}, action="publish"))
    assert published.status_code == 302
    refused = b.post(f"{BASE}/{FORM}/edit", data=browser_post(page_b, {"schema": theirs}, action="publish"))
    assert refused.status_code == 409
    html = text_of(refused)
    assert f"该表单已被 {first.display_name}（{first.username}） 于 " in html
    assert "发布了新版本（第 2 版），请在最新版本上修改" in html
    assert "乙改的标题" in editor_text(html)          # the loser's work is still on the page
    assert [v.number for v in versions()] == [1, 2]
    assert current().schema["properties"]["name"]["title"] == "甲改的标题"
    # A rollback carries the version its page showed as well.
    assert a.post(f"{BASE}/{FORM}/versions/1/rollback", data={"base_version": 2}).status_code == 302
    late = b.post(f"{BASE}/{FORM}/versions/1/rollback", data={"base_version": 2}, follow_redirects=True)
    assert "该表单已被" in text_of(late) and "（第 3 版）" in text_of(late)
    assert [v.number for v in versions()] == [1, 2, 3]


def test_an_edit_without_its_starting_version_is_refused(browser, ctx):
    html = text_of(browser.get(f"{BASE}/{FORM}/edit"))
    posted = browser_post(html, {"schema": edited(lambda s: s.update(title="新标题"))}, action="publish")
    posted.poplist("base_version")
    response = browser.post(f"{BASE}/{FORM}/edit", data=posted)
    assert response.status_code == 409 and "请在最新版本上修改" in text_of(response)
    assert len(versions()) == 1


def test_the_stale_check_also_holds_when_the_simple_editor_publishes(app, ctx):
    a, b = signed_in(app, make_user("sys_admin")), signed_in(app, make_user("sys_admin"))
    page_b = text_of(b.get(f"{BASE}/{FORM}/fields"))
    page_a = text_of(a.get(f"{BASE}/{FORM}/fields"))
    assert a.post(f"{BASE}/{FORM}/fields", data=browser_post(page_a, {"f-name-title": "甲"}, op="publish")
                  ).status_code == 302
    response = b.post(f"{BASE}/{FORM}/fields", data=browser_post(page_b, {"f-name-title": "乙"}, op="publish"))
    assert response.status_code == 409 and "请在最新版本上修改" in text_of(response)
    assert current().schema["properties"]["name"]["title"] == "甲"


# -- diff and rollback ----------------------------------------------------------------------------

def test_diff_shows_lines_and_fields(browser, ctx):
    def change(s):
        s["properties"]["name"]["title"] = "申请人姓名"
        s["properties"]["opposingParty"]["title"] = "对方"
        s["required"].append("opposingParty")
        del s["properties"]["consultMode"]
        s["x-ui"]["order"].remove("consultMode")
        s["properties"]["wechat"] = {"type": "string", "title": "微信号"}
    assert json_post(browser, edited(change), "publish").status_code == 302
    html = htmllib.unescape(text_of(browser.get(f"{BASE}/{FORM}/diff?from=1&to=2")))
    assert "新增字段：微信号" in html and "删除字段：咨询方式" in html
    assert "修改字段：申请人姓名" in html and "标题：姓名 → 申请人姓名" in html
    assert "修改字段：对方" in html and "改为必填" in html and "显示顺序" not in html
    assert '-      "title": "姓名",' in html and '+      "title": "申请人姓名",' in html
    same = text_of(browser.get(f"{BASE}/{FORM}/diff?from=2&to=2"))
    assert "两个版本的内容完全相同" in same
    assert browser.get(f"{BASE}/{FORM}/diff?from=1&to=7").status_code == 404


def test_rollback_publishes_the_old_content_as_a_new_version(browser, app, ctx):
    assert json_post(browser, edited(lambda s: s["properties"]["name"].update(title="申请人姓名")), "publish"
                     ).status_code == 302
    response = browser.post(f"{BASE}/{FORM}/versions/1/rollback", data={"base_version": 2}, follow_redirects=True)
    assert "已把第 1 版的内容发布为第 3 版" in text_of(response)
    first, second, third = versions()
    assert third.digest == first.digest and current().number == 3
    assert "申请人姓名" not in text_of(app.test_client().get(f"/services/{ITEM}"))
    entry, = audit_entries("rollback")
    assert entry.before["version"] == 2 and entry.after == {"version": 3, "digest": first.digest,
                                                            "title": first.schema["title"], "note": "回滚到第 1 版"}
    again = browser.post(f"{BASE}/{FORM}/versions/1/rollback", data={"base_version": 3}, follow_redirects=True)
    assert "相同，没有发布新版本" in text_of(again) and len(versions()) == 3


# -- a new form -----------------------------------------------------------------------------------

def test_a_system_admin_creates_a_form_and_a_duplicate_id_is_refused(browser, ctx):
    html = text_of(browser.get(f"{BASE}/new"))
    document = editor_text(html)
    duplicate = browser.post(f"{BASE}/new", data=browser_post(html, {"form_id": FORM}, action="publish"))
    assert duplicate.status_code == 422 and f"表单编号 &#39;{FORM}&#39; 已存在" in text_of(duplicate)
    bad = browser.post(f"{BASE}/new", data=browser_post(html, {"form_id": "Bad_Id"}, action="publish"))
    assert bad.status_code == 422 and "只能用小写字母、数字和连字符" in text_of(bad)
    created = browser.post(f"{BASE}/new", data=browser_post(html, {"form_id": "volunteer-signup"}, action="publish"))
    assert created.status_code == 302
    form = db.session.get(Form, "volunteer-signup")
    assert form.origin == "admin" and current("volunteer-signup").schema == json.loads(document)
    assert audit_entries("create")[0].object_id == "volunteer-signup"


# -- the simple editor ----------------------------------------------------------------------------

def simple(browser, fill=None, tick=(), html=None, form_id=FORM, **pressed):
    """Type ``fill`` into the simple editor (as shown in ``html``, else freshly opened), tick the
    checkboxes named in ``tick`` and press a button."""
    html = html or text_of(browser.get(f"{BASE}/{form_id}/fields"))
    posted = browser_post(html, fill or {}, **pressed)
    for name in tick:
        posted.setlist(name, ["1"])
    return browser.post(f"{BASE}/{form_id}/fields", data=posted)


def draft_of(response) -> dict:
    return json.loads(one(text_of(response), "input", name="draft")["value"])


def test_adding_a_required_text_field_then_publishing(browser, app, ctx):
    added = simple(browser, {"new_key": "wechat", "new_title": "微信号", "new_type": "text",
                             "new_help": "方便工作人员联系", "new_maxlength": "40"}, tick=["new_required"], op="add")
    assert added.status_code == 200
    html = text_of(added)
    assert "有尚未发布的修改" in html and len(versions()) == 1
    frame = srcdoc(html)
    assert "微信号" in frame and "方便工作人员联系" in frame and 'maxlength="40"' in frame
    draft = draft_of(added)
    assert draft["properties"]["wechat"] == {"type": "string", "title": "微信号", "maxLength": 40,
                                             "x-ui": {"help": "方便工作人员联系"}}
    assert draft["required"][-1] == "wechat" and draft["x-ui"]["order"][-1] == "wechat"
    published = simple(browser, html=html, op="publish")
    assert published.status_code == 302
    assert current().schema == draft
    resident = app.test_client().post(f"/services/{ITEM}", data={"name": "王小明"})
    assert resident.status_code == 422 and "微信号：必填" in text_of(resident)


@pytest.mark.parametrize("fill,message", [
    ({"new_key": "1st", "new_title": "第一"}, "字段名只能用英文字母、数字和下划线，且以字母开头"),
    ({"new_key": "we-chat", "new_title": "微信"}, "字段名只能用英文字母、数字和下划线"),
    ({"new_key": "name", "new_title": "又一个姓名"}, "字段名 &#39;name&#39; 已存在"),
    ({"new_key": "wechat", "new_title": "  "}, "请填写字段标题"),
    ({"new_key": "size", "new_title": "人数", "new_type": "choice", "new_choices": "\n"}, "请至少填写一个选项"),
    ({"new_key": "size", "new_title": "人数", "new_type": "choice", "new_choices": "一人\n一人"}, "选项“一人”重复"),
    ({"new_key": "wechat", "new_title": "微信", "new_maxlength": "many"}, "最大长度应为 1 到 10000 之间的整数"),
])
def test_a_bad_new_field_is_refused_in_chinese_and_keeps_what_was_typed(browser, ctx, fill, message):
    response = simple(browser, fill, op="add")
    assert response.status_code == 422
    html = text_of(response)
    assert message in html
    assert one(html, "input", name="new_title")["value"] == fill["new_title"]
    assert draft_of(response) == current().schema and len(versions()) == 1


def test_each_field_type_makes_the_same_kind_of_schema(browser, ctx):
    response = None
    for key, title, kind, extra in (("visitDate", "上门日期", "date", {}), ("people", "人数", "number", {}),
                                    ("agree", "同意回访", "checkbox", {}),
                                    ("channel", "了解渠道", "choice", {"new_choices": "社区\n朋友介绍\n微信公众号\n"})):
        html = text_of(response) if response is not None else None
        response = simple(browser, {"new_key": key, "new_title": title, "new_type": kind, **extra},
                          tick=["new_required"] if kind == "checkbox" else [], html=html, op="add")
        assert response.status_code == 200, text_of(response)
    props = draft_of(response)["properties"]
    assert props["visitDate"] == {"type": "string", "title": "上门日期", "format": "date"}
    assert props["people"] == {"type": "number", "title": "人数"}
    assert props["agree"] == {"type": "boolean", "title": "同意回访", "const": True}
    values = [option["const"] for option in props["channel"]["oneOf"]]
    assert [option["title"] for option in props["channel"]["oneOf"]] == ["社区", "朋友介绍", "微信公众号"]
    assert all(re.fullmatch(r"opt_[0-9a-f]{8}", v) for v in values) and len(set(values)) == 3
    frame = srcdoc(text_of(response))
    assert 'type="date"' in frame and "微信公众号" in frame


def test_edit_titles_help_required_choices_and_length_in_place(browser, app, ctx):
    response = simple(browser, {
        "f-name-title": "申请人姓名", "f-name-help": "与身份证一致", "f-name-maxlength": "30",
        "f-caseCategory-choices": "劳动争议（欠薪、解除合同等）\n工伤赔偿\n婚姻家庭\n妇女权益\n其他问题"},
        tick=["f-opposingParty-required"], op="apply")
    assert response.status_code == 200, text_of(response)
    draft = draft_of(response)
    name = draft["properties"]["name"]
    assert name["title"] == "申请人姓名" and name["x-ui"]["help"] == "与身份证一致" and name["maxLength"] == 30
    assert name["x-ui"]["widget"] == "text"                      # the other hints stay
    options = draft["properties"]["caseCategory"]["oneOf"]
    kept = {o["title"]: o["const"] for o in options}
    # Existing titles keep their values (rules and old answers use them); a new one gets a fresh value.
    assert kept["工伤赔偿"] == "work_injury" and kept["婚姻家庭"] == "marriage_family"
    assert kept["其他问题"].startswith("opt_") and len(options) == 5
    assert "opposingParty" in draft["required"]
    assert simple(browser, html=text_of(response), op="publish").status_code == 302
    resident = text_of(app.test_client().get(f"/services/{ITEM}"))
    assert "申请人姓名" in resident and "与身份证一致" in resident and "其他问题" in resident


def test_a_bad_row_edit_is_refused_and_its_field_stays_open(browser, ctx):
    response = simple(browser, {"f-phone-title": " ", "f-name-maxlength": "0"}, op="publish")
    assert response.status_code == 422
    html = text_of(response)
    assert "字段 <code>name</code>：最大长度应为 1 到 10000 之间的整数" in html
    assert "open" in one(html, "details", id="field-name")
    assert one(html, "input", name="f-phone-title")["value"] == " "
    assert len(versions()) == 1


def test_unticking_required_and_clearing_help(browser, ctx):
    html = text_of(browser.get(f"{BASE}/{FORM}/fields"))
    posted = browser_post(html, {"f-phone-help": ""}, op="apply")
    posted.poplist("f-phone-required")
    draft = draft_of(browser.post(f"{BASE}/{FORM}/fields", data=posted))
    assert "phone" not in draft["required"]
    assert "description" not in draft["properties"]["phone"]      # the description was its help text


def test_move_and_remove_fields(browser, ctx):
    order = current().schema["x-ui"]["order"]
    moved = simple(browser, op="down:name")
    assert draft_of(moved)["x-ui"]["order"][:2] == [order[1], "name"]
    up = simple(browser, html=text_of(moved), op="up:name")
    assert draft_of(up)["x-ui"]["order"] == order
    top = simple(browser, html=text_of(up), op=f"up:{order[0]}")
    assert draft_of(top)["x-ui"]["order"] == order                # the first field stays first
    removed = simple(browser, html=text_of(top), op="remove:opposingParty")
    draft = draft_of(removed)
    assert "opposingParty" not in draft["properties"] and "opposingParty" not in draft["x-ui"]["order"]
    assert "opposingParty" not in draft["examples"][0]
    assert 'name="opposingParty"' not in srcdoc(text_of(removed))
    assert simple(browser, html=text_of(simple(browser, html=text_of(removed), op="down:name")), op="publish"
                  ).status_code == 302
    html = htmllib.unescape(text_of(browser.get(f"{BASE}/{FORM}/diff")))
    assert "删除字段：对方当事人" in html and "字段的显示顺序有调整" in html


def test_removing_a_field_a_rule_reads_is_refused_and_nothing_typed_is_lost(browser, ctx):
    response = simple(browser, {"f-name-title": "申请人姓名"}, op="remove:serviceType")
    assert response.status_code == 422
    html = htmllib.unescape(text_of(response))
    assert "'serviceType' 不在 properties 里" in html
    assert one(text_of(response), "input", name="f-name-title")["value"] == "申请人姓名"
    assert "serviceType" in draft_of(response)["properties"]
    dispatch = simple(browser, op="remove:caseCategory")
    assert dispatch.status_code == 422 and "answers.caseCategory" in text_of(dispatch)


def test_a_tampered_draft_reopens_the_current_version(browser, ctx):
    response = browser.post(f"{BASE}/{FORM}/fields", data={"draft": "{not json", "base_version": 1, "op": "publish"})
    assert response.status_code == 400 and "页面内容不完整" in text_of(response)
    response = browser.post(f"{BASE}/{FORM}/fields", data={"draft": json.dumps({"type": "object"}), "base_version": 1,
                                                          "op": "publish"})
    assert response.status_code == 400 and len(versions()) == 1


# -- nothing typed runs as script -----------------------------------------------------------------

SCRIPT = "<script>alert('title')</script>"
LINK = '<a href="javascript:alert(1)">点我</a>'
IMAGE = "<img src=x onerror=alert(1)>"


def assert_inert(html: str) -> None:
    for raw in ("<script>alert", "<img src=x", 'href="javascript:alert', "href='javascript:alert"):
        assert raw not in html


def test_what_an_admin_types_is_escaped_on_the_resident_page_and_in_the_preview(browser, app, ctx):
    response = simple(browser, {"new_key": "evil", "new_title": SCRIPT, "new_type": "choice",
                                "new_help": LINK, "new_choices": f"{IMAGE}\n正常选项"}, op="add")
    assert response.status_code == 200, text_of(response)
    admin_page = text_of(response)
    assert_inert(admin_page)
    frame = srcdoc(admin_page)                  # what the preview frame's browser gets
    assert_inert(frame)
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in frame
    assert "&lt;a href=&#34;javascript:alert(1)&#34;&gt;" in frame
    assert "&lt;img src=x onerror=alert(1)&gt;" in frame
    assert simple(browser, html=admin_page, op="publish").status_code == 302
    resident = text_of(app.test_client().get(f"/services/{ITEM}"))
    assert_inert(resident)
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in resident
    assert "&lt;img src=x onerror=alert(1)&gt;" in resident
    # Option values are generated, never taken from the label.
    values = [o["value"] for o in elements(resident, "input", type="radio") if o["name"] == "evil"]
    assert values and all(re.fullmatch(r"opt_[0-9a-f]{8}", v) for v in values)
    for path in (f"{BASE}/{FORM}/", f"{BASE}/{FORM}/versions/2", f"{BASE}/{FORM}/diff?from=1&to=2",
                 f"{BASE}/{FORM}/edit", f"{BASE}/"):
        shown = text_of(browser.get(path))
        assert_inert(shown)


def test_a_script_in_the_form_title_is_escaped_everywhere(browser, app, ctx):
    assert json_post(browser, edited(lambda s: s.update(title=SCRIPT, description=LINK)), "publish").status_code == 302
    for html in (text_of(app.test_client().get(f"/services/{ITEM}")), text_of(browser.get(f"{BASE}/")),
                 text_of(browser.get(f"{BASE}/{FORM}/"))):
        assert_inert(html)


# -- CSRF -----------------------------------------------------------------------------------------

def test_every_post_needs_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = signed_in(app, make_user("sys_admin"))
        html = text_of(client.get(f"{BASE}/{FORM}/edit"))
        token = one(html, "input", name="csrf_token")["value"]
        posted = browser_post(html, action="preview")
        assert client.post(f"{BASE}/{FORM}/edit", data={k: v for k, v in posted.items() if k != "csrf_token"}
                           ).status_code == 400
        assert client.post(f"{BASE}/{FORM}/versions/1/rollback", data={"base_version": 1}).status_code == 400
        assert client.post(f"{BASE}/{FORM}/edit", data=posted).status_code == 200
        published = client.post(f"{BASE}/{FORM}/edit", data=browser_post(
            html, {"schema": edited(lambda s: s.update(title="新标题"))}, action="publish"))
        assert published.status_code == 302
        # Every form that posts carries the token: the editors and each rollback button.
        for path in (f"{BASE}/{FORM}/", f"{BASE}/{FORM}/fields", f"{BASE}/{FORM}/versions/1", f"{BASE}/new"):
            shown = text_of(client.get(path))
            posting = [f for f in elements(shown, "form") if f.get("method") == "post" and "nav-logout" not in
                       f.get("class", "")]
            assert posting and len(posting) == len(elements(shown, "input", name="csrf_token", value=token)), path
        assert db.session.scalar(select(func.count(FormVersion.id)).where(FormVersion.form_id == FORM)) == 2
