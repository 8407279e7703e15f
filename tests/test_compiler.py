"""The form engine: JSON Schema in, a WTForms form out; jsonschema judges, in Chinese, per field."""
from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask_wtf.csrf import generate_csrf
from jinja2 import FileSystemLoader
from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from browser import browser_post, elements, one, page  # noqa: F401

import qunti.forms
from qunti.forms import compiler as compiler_module
from qunti.forms import views
from qunti.forms.compiler import CSRF_MESSAGE, FieldError, compile_form

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "platform" / "qunti" / "templates"
SHIPPED_FORMS = sorted((ROOT / "forms").glob("*.json"))


# -- a Flask app of our own, a renderer and a tiny browser ------------------------------------

def make_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": "t", "WTF_CSRF_ENABLED": False, **config})
    app.jinja_loader = FileSystemLoader(str(TEMPLATES))
    app.register_blueprint(views.bp)
    return app


@pytest.fixture
def app():
    return make_app()


@pytest.fixture
def ctx(app):
    with app.test_request_context(method="POST"):
        yield


def render(compiled, form, **kwargs) -> str:
    return render_template_string(
        '{% from "forms/_macros.html" import render_form %}{{ render_form(form, compiled, **kwargs) }}',
        form=form, compiled=compiled, kwargs=kwargs)


def compiled_of(properties: dict, required=(), **root) -> compiler_module.CompiledForm:
    return compile_form({"type": "object", "title": "测试表单", "properties": properties,
                         "required": list(required), **root}, "test-form")


CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{3,}")


# -- rendering and HTML5 hints ----------------------------------------------------------------

PERSON = {
    "name": {"type": "string", "title": "姓名", "minLength": 2, "maxLength": 20},
    "phone": {"type": "string", "title": "手机号", "pattern": "^1[3-9]\\d{9}$",
              "x-ui": {"widget": "tel", "help": "用于联系您", "placeholder": "11位手机号"}},
    "email": {"type": "string", "title": "邮箱", "format": "email"},
}


def test_text_inputs_carry_html5_hints_labels_and_help(ctx):
    compiled = compiled_of(PERSON, required=["name", "phone"])
    html = render(compiled, compiled.bind())
    name = one(html, "input", name="name")
    assert (name["type"], name["maxlength"], name["minlength"], name["autocomplete"]) == ("text", "20", "2", "name")
    assert "required" in name
    phone = one(html, "input", name="phone")
    assert (phone["type"], phone["inputmode"], phone["autocomplete"], phone["placeholder"]) == \
        ("tel", "tel", "tel", "11位手机号")
    assert phone["pattern"] == "1[3-9]\\d{9}"
    assert phone["aria-describedby"] == "phone-help"
    assert one(html, "p", id="phone-help")["class"] == "help"
    assert "用于联系您" in html
    email = one(html, "input", name="email")
    assert (email["type"], email["autocomplete"]) == ("email", "email")
    assert "required" not in email
    assert one(html, "label", **{"for": "phone"})
    assert "novalidate" not in one(html, "form")
    assert one(html, "div", data_path="/phone")["class"] == "field"
    assert not elements(html, "script"), "no script without visibleIf"


@pytest.mark.parametrize("pattern, expected", [
    ("^\\d{6}$", "\\d{6}"),
    ("^(a|b)$", "(a|b)"),
    ("\\d{6}", None),           # JSON Schema searches; HTML would demand the whole value
    ("^a|b$", None),            # top-level alternation means something else once HTML anchors it
    ("^[|]x$", "[|]x"),
])
def test_html_pattern_only_when_it_means_the_same(ctx, pattern, expected):
    compiled = compiled_of({"code": {"type": "string", "title": "编码", "pattern": pattern}})
    assert one(render(compiled, compiled.bind()), "input", name="code").get("pattern") == expected


@pytest.mark.parametrize("schema, attrs", [
    ({"type": "integer", "minimum": 16, "maximum": 120}, {"type": "number", "inputmode": "numeric",
                                                           "min": "16", "max": "120", "step": "1"}),
    ({"type": "number", "minimum": 0, "multipleOf": 0.01}, {"inputmode": "decimal", "min": "0", "step": "0.01"}),
    ({"type": "number"}, {"inputmode": "decimal", "step": "any"}),
    ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}, {"min": "1", "max": "9"}),
    ({"type": "number", "minimum": 0.005, "multipleOf": 0.01}, {"min": "0.005", "step": "any"}),
    ({"type": "integer", "x-ui": {"widget": "text"}}, {"type": "text", "inputmode": "numeric"}),
])
def test_number_inputs_never_stricter_than_the_schema(ctx, schema, attrs):
    compiled = compiled_of({"n": {"title": "数量", **schema}})
    control = one(render(compiled, compiled.bind()), "input", name="n")
    assert {k: control.get(k) for k in attrs} == attrs


@pytest.mark.parametrize("fmt, input_type", [
    ("date", "date"), ("date-time", "datetime-local"), ("time", "time"), ("uri", "url"), ("email", "email"),
])
def test_string_formats_pick_their_input_type(ctx, fmt, input_type):
    compiled = compiled_of({"v": {"type": "string", "title": "值", "format": fmt}})
    assert one(render(compiled, compiled.bind()), "input", name="v")["type"] == input_type


def test_textarea_rows_and_hidden_widget(ctx):
    compiled = compiled_of({
        "story": {"type": "string", "title": "经过", "x-ui": {"widget": "textarea", "rows": 7}},
        "source": {"type": "string", "title": "来源", "default": "qr", "x-ui": {"widget": "hidden"}},
    })
    html = render(compiled, compiled.bind())
    assert one(html, "textarea", name="story")["rows"] == "7"
    hidden = one(html, "input", name="source")
    assert (hidden["type"], hidden["value"]) == ("hidden", "qr")
    assert not elements(html, "label", **{"for": "source"})


def test_order_follows_x_ui_then_the_document(ctx):
    compiled = compiled_of({"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}},
                           **{"x-ui": {"order": ["c", "a"], "submitLabel": "提交申请"}})
    html = render(compiled, compiled.bind())
    assert [a["data-path"] for a in elements(html, "div") if "data-path" in a] == ["/c", "/a", "/b"]
    assert compiled.submit_label == "提交申请"
    assert ">提交申请</button>" in html


def test_admin_text_is_escaped(ctx):
    compiled = compile_form({
        "type": "object", "title": "<b>表单</b>",
        "properties": {
            "x": {"type": "string", "title": "<script>alert(1)</script>",
                  "x-ui": {"help": "<img src=x onerror=alert(2)>", "placeholder": "\"><script>"}},
            "y": {"type": "string", "title": "选项", "oneOf": [{"const": "a", "title": "<i>甲</i>"}]},
        },
    })
    html = render(compiled, compiled.bind())
    assert "<script>alert" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert one(html, "input", name="x")["placeholder"] == "\"><script>"


def test_no_inline_script_and_visibility_script_only_with_visible_if(ctx):
    compiled = compiled_of({"a": {"type": "boolean", "title": "有工作"},
                            "b": {"type": "string", "title": "单位", "x-ui": {"visibleIf": {"var": "a"}}}})
    html = render(compiled, compiled.bind())
    scripts = elements(html, "script")
    assert scripts == [{"src": "/static/visibility.js", "defer": None}]
    assert (ROOT / "platform" / "qunti" / "static" / "visibility.js").is_file()
    assert one(html, "form")["data-visibility-url"] == "/forms/test-form/visibility"
    assert "<script>" not in html


# -- coercion: HTML input to typed JSON answers ---------------------------------------------------

CHOICES = {
    "level": {"type": "integer", "title": "等级", "oneOf": [{"const": 1, "title": "一级"}, {"const": 2, "title": "二级"}],
              "x-ui": {"widget": "select"}},
    "size": {"type": "string", "title": "规模", "enum": ["小", "中", "大"]},
    "tags": {"type": "array", "title": "兴趣", "uniqueItems": True,
             "items": {"type": "string", "enum": ["法律", "培训", "就业"]}},
    "member": {"type": "boolean", "title": "是否会员", "x-ui": {"widget": "radio"}},
    "visit": {"type": "boolean", "title": "需要上门"},
}


def test_choices_render_with_labels(ctx):
    compiled = compiled_of(CHOICES, required=["level"])
    html = render(compiled, compiled.bind())
    select = one(html, "select", name="level")
    assert "required" in select
    assert re.search(r'<option value="">请选择</option><option value="1">一级</option><option value="2">二级</option>', html)
    assert [a["value"] for a in elements(html, "input", name="size")] == ["小", "中", "大"]
    assert all(a["type"] == "radio" for a in elements(html, "input", name="size"))
    assert [a["value"] for a in elements(html, "input", name="tags", type="checkbox")] == ["法律", "培训", "就业"]
    assert [a["value"] for a in elements(html, "input", name="member")] == ["true", "false"]
    assert "> 是</label>" in html and "> 否</label>" in html
    assert one(html, "input", name="visit")["type"] == "checkbox"


def test_submit_coerces_to_typed_answers(ctx):
    compiled = compiled_of({
        **CHOICES,
        "age": {"type": "integer", "title": "年龄"},
        "amount": {"type": "number", "title": "金额"},
        "phone": PERSON["phone"],
        "note": {"type": "string", "title": "备注"},
    })
    result = compiled.submit(MultiDict([
        ("level", "2"), ("size", "中"), ("tags", "法律"), ("tags", "就业"), ("member", "false"), ("visit", "y"),
        ("age", " 30 "), ("amount", "12.50"), ("phone", "１３８００００００００"), ("note", "   "),
    ]))
    assert result.action == "submit" and result.ok, result.errors
    assert result.answers == {"level": 2, "size": "中", "tags": ["法律", "就业"], "member": False, "visit": True,
                              "age": 30, "amount": 12.5, "phone": "13800000000"}
    assert isinstance(result.answers["age"], int) and isinstance(result.answers["amount"], float)


def test_unticked_checkbox_is_false_and_blank_answers_are_left_out(ctx):
    compiled = compiled_of({"visit": CHOICES["visit"], "size": CHOICES["size"], "tags": CHOICES["tags"],
                            "age": {"type": "integer"}})
    assert compiled.submit(MultiDict()).answers == {"visit": False}


def test_prefill_from_json_answers_and_defaults(ctx):
    compiled = compiled_of({
        **CHOICES,
        "at": {"type": "string", "title": "时间", "format": "date-time"},
        "clock": {"type": "string", "title": "时刻", "format": "time"},
        "amount": {"type": "number", "title": "金额"},
        "city": {"type": "string", "title": "城市", "default": "重庆"},
    })
    form = compiled.bind(data={"level": 2, "tags": ["培训"], "member": True, "visit": True,
                               "at": "2024-05-01T06:30:00Z", "clock": "09:15:00+08:00", "amount": 1e-05})
    html = render(compiled, form)
    assert one(html, "option", value="2").get("selected", "x") is None
    assert "checked" in one(html, "input", name="tags", value="培训")
    assert "checked" not in one(html, "input", name="tags", value="法律")
    assert "checked" in one(html, "input", name="member", value="true")
    assert "checked" in one(html, "input", name="visit")
    assert one(html, "input", name="at")["value"] == "2024-05-01T14:30"
    assert one(html, "input", name="clock")["value"] == "09:15"
    assert one(html, "input", name="amount")["value"] == "0.00001"
    assert one(html, "input", name="city")["value"] == "重庆"


def test_date_time_and_time_from_a_phone_become_rfc3339_beijing_time(ctx):
    compiled = compiled_of({"at": {"type": "string", "title": "时间", "format": "date-time"},
                            "clock": {"type": "string", "title": "时刻", "format": "time"},
                            "day": {"type": "string", "title": "日期", "format": "date"}})
    result = compiled.submit(MultiDict({"at": "2024-05-01T14:30", "clock": "09:15", "day": "2024-02-29"}))
    assert result.ok, result.errors
    assert result.answers == {"at": "2024-05-01T14:30:00+08:00", "clock": "09:15:00+08:00", "day": "2024-02-29"}
    bad = compiled.submit(MultiDict({"at": "明天", "clock": "25:00", "day": "2023-02-29"}))
    assert bad.errors == [FieldError("/at", "时间：日期时间格式不正确"), FieldError("/clock", "时刻：时间格式不正确"),
                          FieldError("/day", "日期：日期格式不正确")]


# -- validation messages ------------------------------------------------------------------------

MESSAGES = {
    "phone": {"type": "string", "title": "手机号", "pattern": "^1[3-9]\\d{9}$"},
    "age": {"type": "integer", "title": "年龄", "minimum": 16, "maximum": 60},
    "score": {"type": "number", "title": "评分", "exclusiveMinimum": 0, "exclusiveMaximum": 5},
    "name": {"type": "string", "title": "姓名", "minLength": 2, "maxLength": 4},
    "email": {"type": "string", "title": "邮箱", "format": "email"},
    "site": {"type": "string", "title": "网址", "format": "uri"},
    "amount": {"type": "number", "title": "金额", "multipleOf": 0.01},
    "size": CHOICES["size"],
    "tags": {**CHOICES["tags"], "minItems": 2, "maxItems": 2},
    "version": {"type": "string", "title": "版本", "const": "v1"},
}


@pytest.mark.parametrize("answers, expected", [
    ({"phone": "12345"}, FieldError("/phone", "手机号：格式不正确")),
    ({"age": 15}, FieldError("/age", "年龄：不能小于 16")),
    ({"age": 61}, FieldError("/age", "年龄：不能大于 60")),
    ({"age": 16.5}, FieldError("/age", "年龄：必须是整数")),
    ({"age": "abc"}, FieldError("/age", "年龄：必须是整数")),
    ({"score": 0}, FieldError("/score", "评分：必须大于 0")),
    ({"score": 5}, FieldError("/score", "评分：必须小于 5")),
    ({"score": "五"}, FieldError("/score", "评分：必须是数字")),
    ({"name": "张"}, FieldError("/name", "姓名：长度不能少于 2 个字")),
    ({"name": "欧阳小明同学"}, FieldError("/name", "姓名：长度不能超过 4 个字")),
    ({"email": "someone@"}, FieldError("/email", "邮箱：不是有效的电子邮箱")),
    ({"site": "not a url"}, FieldError("/site", "网址：不是有效的网址")),
    ({"amount": 12.345}, FieldError("/amount", "金额：必须是 0.01 的整数倍")),
    ({"size": "特大"}, FieldError("/size", "规模：不在可选范围内")),
    ({"tags": ["法律", "法律"]}, FieldError("/tags", "兴趣：不能重复选择")),
    ({"tags": ["法律", "其他"]}, FieldError("/tags", "兴趣：不在可选范围内")),
    ({"tags": ["法律"]}, FieldError("/tags", "兴趣：至少选择 2 项")),
    ({"tags": ["法律", "培训", "就业"]}, FieldError("/tags", "兴趣：最多选择 2 项")),
    ({"version": "v2"}, FieldError("/version", "版本：不在可选范围内")),
])
def test_each_keyword_has_a_chinese_message(answers, expected):
    errors = compiled_of(MESSAGES).check(answers)
    assert errors == [expected]
    assert not ENGLISH.search(expected.message)


def test_required_errors_sit_on_the_missing_field_in_display_order():
    compiled = compiled_of(MESSAGES, required=["name", "phone", "age"],
                           **{"x-ui": {"order": ["name", "phone", "age"]}})
    assert compiled.check({}) == [FieldError("/name", "姓名：必填"), FieldError("/phone", "手机号：必填"),
                                  FieldError("/age", "年龄：必填")]


def test_answers_that_are_not_an_object_or_carry_unknown_fields():
    compiled = compiled_of({"a": {"type": "string", "title": "甲"}}, additionalProperties=False)
    assert compiled.check([]) == [FieldError("", "提交的内容格式不正确")]
    assert compiled.check({"a": "x", "zz": 1}) == [FieldError("/zz", "zz：不是本表单的字段")]


def test_errors_come_back_on_their_fields_and_every_answer_is_kept(ctx):
    compiled = compiled_of(MESSAGES, required=["name", "phone"])
    result = compiled.submit(MultiDict({"phone": "12345", "age": "15", "email": "a@example.com", "size": "中"}))
    assert not result.ok and result.action == "submit"
    assert result.errors == [FieldError("/phone", "手机号：格式不正确"), FieldError("/age", "年龄：不能小于 16"),
                             FieldError("/name", "姓名：必填")]
    html = render(compiled, result.form)
    alert = one(html, "p", id="phone-error")
    assert (alert["class"], alert["role"]) == ("field-error", "alert")
    assert '<p class="field-error" role="alert" id="phone-error"><span>手机号：格式不正确</span></p>' in html
    phone = one(html, "input", name="phone")
    assert (phone["value"], phone["aria-invalid"], phone["aria-describedby"]) == ("12345", "true", "phone-error")
    assert one(html, "input", name="email")["value"] == "a@example.com"
    assert "checked" in one(html, "input", name="size", value="中")
    assert one(html, "div", role="alert")["class"] == "form-errors"
    assert one(html, "a", href="#phone")


def test_decimal_multiple_of_accepts_money_amounts(ctx):
    # jsonschema alone divides binary floats and refuses 19.99 or 0.3; the form engine must not.
    assert not Draft202012Validator({"multipleOf": 0.01}).is_valid(19.99)
    assert not Draft202012Validator({"multipleOf": 0.1}).is_valid(0.3)
    compiled = compiled_of({"amount": {"type": "number", "title": "金额", "multipleOf": 0.01},
                            "dose": {"type": "number", "title": "剂量", "multipleOf": 0.1}})
    assert compiled.check({"amount": 12.34, "dose": 0.3}) == []
    assert compiled.check({"amount": 19.99, "dose": 0.7}) == []
    assert compiled.check({"amount": 0.07}) == []
    result = compiled.submit(MultiDict({"amount": "1234.56", "dose": "0.7"}))
    assert result.ok and result.answers == {"amount": 1234.56, "dose": 0.7}
    assert compiled.check({"amount": 0.001}) == [FieldError("/amount", "金额：必须是 0.01 的整数倍")]


def test_if_then_puts_required_on_the_then_field():
    compiled = compiled_of({"kind": {"type": "string", "title": "类别", "enum": ["个人", "单位"]},
                            "org": {"type": "string", "title": "单位名称"}},
                           required=["kind"],
                           **{"if": {"properties": {"kind": {"const": "单位"}}},
                              "then": {"required": ["org"]}})
    assert compiled.check({"kind": "个人"}) == []
    assert compiled.check({"kind": "单位"}) == [FieldError("/org", "单位名称：必填")]


def test_dependent_required_marks_the_dependent_field():
    compiled = compiled_of({"card": {"type": "string", "title": "银行卡号"},
                            "bank": {"type": "string", "title": "开户行"}},
                           dependentRequired={"card": ["bank"]})
    assert compiled.check({"card": "6222"}) == [FieldError("/bank", "开户行：必填")]
    assert compiled.check({}) == []


def test_draft7_definitions_and_dependencies():
    schema = json.loads((ROOT / "tests" / "data" / "forms" / "draft7-sample.json").read_text("utf-8"))
    compiled = compile_form(schema, "draft7-sample")
    assert compiled.validator.__class__.__name__ != "Draft202012Validator"
    assert compiled.check({"kind": "法律咨询", "detail": "x"}) == [FieldError("/email", "邮箱：必填")]
    assert compiled.check({"kind": "其他"}) == [FieldError("/kind", "类别：不在可选范围内")]
    assert compiled.check({"kind": "技能培训", "email": "bad"}) == [FieldError("/email", "邮箱：不是有效的电子邮箱")]


def test_ref_to_defs_is_resolved_and_the_referring_title_wins(ctx):
    compiled = compile_form({
        "type": "object", "title": "t",
        "properties": {"home": {"$ref": "#/$defs/phone", "title": "家庭电话"}, "work": {"$ref": "#/$defs/phone"}},
        "$defs": {"phone": {"type": "string", "title": "电话", "pattern": "^\\d{8}$", "x-ui": {"widget": "tel"}}},
    })
    html = render(compiled, compiled.bind())
    assert one(html, "input", name="home")["type"] == "tel"
    assert ">家庭电话</label>" in html and ">电话</label>" in html
    assert compiled.check({"home": "1", "work": "2"}) == [FieldError("/home", "家庭电话：格式不正确"),
                                                          FieldError("/work", "电话：格式不正确")]


def test_consent_checkbox_must_be_ticked(ctx):
    compiled = compiled_of({"agree": {"type": "boolean", "title": "我同意", "const": True}})
    html = render(compiled, compiled.bind())
    box = one(html, "input", name="agree")
    assert "required" in box and "checked" not in box and "readonly" not in box
    assert compiled.submit(MultiDict()).errors == [FieldError("/agree", "我同意：必须勾选")]
    assert compiled.submit(MultiDict({"agree": "y"})).answers == {"agree": True}


# -- read-only and locked fields ------------------------------------------------------------------

def test_read_only_value_is_forced_and_never_taken_from_input(ctx):
    compiled = compiled_of({
        "channel": {"type": "string", "title": "渠道", "readOnly": True, "default": "网上"},
        "version": {"type": "string", "title": "版本", "const": "v1"},
        "kind": {"type": "string", "title": "类别", "enum": ["甲", "乙"], "readOnly": True, "default": "乙"},
    })
    form = compiled.bind()
    html = render(compiled, form)
    channel = one(html, "input", name="channel")
    assert ("readonly" in channel, channel["value"]) == (True, "网上")
    assert "readonly" in one(html, "input", name="version")
    radios = elements(html, "input", name="kind", type="radio")
    assert all("disabled" in r for r in radios)
    assert one(html, "input", name="kind", type="hidden")["value"] == "乙"
    result = compiled.submit(MultiDict({"channel": "伪造", "version": "v9", "kind": "甲"}))
    assert result.ok and result.answers == {"channel": "网上", "version": "v1", "kind": "乙"}


def test_locked_fields_keep_the_prefilled_value(ctx):
    compiled = compiled_of({"station": {"type": "string", "title": "服务站"},
                            "employer": {"type": "object", "title": "单位",
                                         "properties": {"name": {"type": "string", "title": "单位名称"}}},
                            "note": {"type": "string", "title": "备注"}})
    data = {"station": "港城工业园区服务站", "employer": {"name": "港城公司"}}
    form = compiled.bind(data=data, locked=["station", "employer.name"])
    html = render(compiled, form)
    assert "readonly" in one(html, "input", name="station")
    assert "readonly" in one(html, "input", name="employer-name")
    assert "readonly" not in one(html, "input", name="note")
    result = compiled.submit(MultiDict({"station": "别的站", "employer-name": "别的公司", "note": "好"}),
                             data=data, locked=["station", "/employer/name"])
    assert result.answers == {"station": "港城工业园区服务站", "employer": {"name": "港城公司"}, "note": "好"}


def test_render_form_locked_argument_marks_fields_read_only(ctx):
    compiled = compiled_of({"station": {"type": "string", "title": "服务站"}})
    html = render(compiled, compiled.bind(data={"station": "甲站"}), locked=["station"])
    assert "readonly" in one(html, "input", name="station")


# -- visibleIf ----------------------------------------------------------------------------------

VISIBILITY = {
    "employed": {"type": "boolean", "title": "是否在职"},
    "employer": {"type": "string", "title": "工作单位", "x-ui": {"visibleIf": {"var": "employed"}}},
    "size": {"type": "string", "title": "单位规模", "enum": ["小", "大"],
             "x-ui": {"visibleIf": {"==": [{"var": "employer"}, "港城"]}}},
}


def test_hidden_fields_are_not_validated_and_not_stored(ctx):
    compiled = compiled_of(VISIBILITY, required=["employer", "size"])
    result = compiled.submit(MultiDict({"employer": "港城", "size": "大"}))
    assert result.ok, result.errors
    assert result.answers == {"employed": False}
    result = compiled.submit(MultiDict({"employed": "y"}))
    assert result.errors == [FieldError("/employer", "工作单位：必填")]
    result = compiled.submit(MultiDict({"employed": "y", "employer": "港城"}))
    assert result.errors == [FieldError("/size", "单位规模：必填")]


def test_a_hidden_answer_does_not_count_for_other_rules():
    compiled = compiled_of(VISIBILITY)
    # employer says 港城, but employer itself is hidden, so size is hidden too.
    assert compiled.visibility({"employer": "港城"}) == {"/employer": False, "/size": False}
    assert compiled.prune_hidden({"employer": "港城", "size": "大"}) == {}
    assert compiled.visibility({"employed": True, "employer": "港城"}) == {"/employer": True, "/size": True}


def test_check_drops_hidden_fields_before_validating():
    compiled = compiled_of(VISIBILITY, required=["employer"])
    assert compiled.check({"employed": False, "size": "特大"}) == []
    assert compiled.check({"employed": True}) == [FieldError("/employer", "工作单位：必填")]


def test_fields_hidden_at_render_time_get_the_hidden_attribute(ctx):
    compiled = compiled_of(VISIBILITY, required=["employer"])
    html = render(compiled, compiled.bind())
    wrapper = one(html, "div", data_path="/employer")
    assert "data-visible-if" in wrapper and "hidden" in wrapper
    assert "required" not in one(html, "input", name="employer"), "a hidden required input would block submit"
    html = render(compiled, compiled.bind(data={"employed": True}))
    assert "hidden" not in one(html, "div", data_path="/employer")
    assert "data-visible-if" not in one(html, "div", data_path="/employed")


def test_visible_if_inside_rows_applies_to_every_row_on_the_page(ctx):
    compiled = compiled_of({
        "kids": {"type": "boolean", "title": "有子女"},
        "members": {"type": "array", "title": "成员", "items": {"type": "object", "properties": {
            "name": {"type": "string", "title": "姓名"},
            "school": {"type": "string", "title": "学校", "x-ui": {"visibleIf": {"var": "kids"}}}}}},
    })
    form = compiled.bind(data={"members": [{"name": "甲"}, {}]})
    assert compiled.visibility_of(form) == {"/members/0/school": False, "/members/1/school": False}
    assert "hidden" in one(render(compiled, form), "div", data_path="/members/1/school")
    posted = {"members-0-name": "甲", "members-0-school": "一中", "members-0-row_": "1"}
    assert compiled.submit(MultiDict(posted)).answers == {"kids": False, "members": [{"name": "甲"}]}
    assert compiled.submit(MultiDict({**posted, "kids": "y"})).answers == \
        {"kids": True, "members": [{"name": "甲", "school": "一中"}]}
    assert compiled.visibility({"kids": True, "members": [{}, {}]}) == \
        {"/members/0/school": True, "/members/1/school": True}


def test_answers_from_formdata_are_coerced_not_validated(ctx):
    compiled = compiled_of({**VISIBILITY, "age": {"type": "integer", "minimum": 200}})
    assert compiled.answers_from(MultiDict({"employed": "y", "age": "3", "employer": "港城"})) == \
        {"employed": True, "age": 3, "employer": "港城"}


def test_visibility_endpoint_answers_for_the_posted_form(app, monkeypatch):
    compiled = compiled_of(VISIBILITY)
    registry = types.ModuleType("qunti.forms.registry")
    registry.current_compiled = lambda form_id: compiled if form_id == "test-form" else None
    monkeypatch.setitem(sys.modules, "qunti.forms.registry", registry)
    monkeypatch.setattr(qunti.forms, "registry", registry, raising=False)
    client = app.test_client()
    reply = client.post("/forms/test-form/visibility", data={"employed": "y", "employer": "港城"})
    assert reply.status_code == 200
    assert reply.get_json() == {"visible": {"/employer": True, "/size": True}}
    assert client.post("/forms/test-form/visibility", data={}).get_json() == \
        {"visible": {"/employer": False, "/size": False}}
    assert client.post("/forms/nope/visibility", data={}).status_code == 404


def test_visibility_endpoint_wants_the_csrf_token(monkeypatch):
    app = make_app(WTF_CSRF_ENABLED=True)
    compiled = compiled_of(VISIBILITY)
    registry = types.ModuleType("qunti.forms.registry")
    registry.current_compiled = lambda form_id: compiled
    monkeypatch.setitem(sys.modules, "qunti.forms.registry", registry)
    monkeypatch.setattr(qunti.forms, "registry", registry, raising=False)
    reply = app.test_client().post("/forms/test-form/visibility", data={"employed": "y"})
    assert reply.status_code == 400 and CJK.search(reply.get_json()["error"])


# -- nested objects and repeatable groups ----------------------------------------------------------

NESTED = {
    "employer": {"type": "object", "title": "工作单位", "required": ["name"],
                 "properties": {"name": {"type": "string", "title": "单位名称"},
                                "staff": {"type": "integer", "title": "职工人数", "minimum": 1},
                                "union": {"type": "boolean", "title": "已建工会"}}},
}


def test_nested_object_is_a_fieldset_and_a_nested_answer(ctx):
    compiled = compiled_of(NESTED)
    html = render(compiled, compiled.bind())
    fieldset = one(html, "fieldset", data_path="/employer")
    assert fieldset["class"] == "group"
    assert "<legend>工作单位</legend>" in html
    assert one(html, "div", data_path="/employer/name")
    assert "required" not in one(html, "input", name="employer-name"), "the group itself is optional"
    result = compiled.submit(MultiDict({"employer-name": "港城公司", "employer-staff": "35", "employer-union": "y"}))
    assert result.answers == {"employer": {"name": "港城公司", "staff": 35, "union": True}}
    assert compiled.submit(MultiDict({"employer-name": "", "employer-staff": ""})).answers == {}
    result = compiled.submit(MultiDict({"employer-staff": "0"}))
    assert result.errors == [FieldError("/employer/name", "单位名称：必填"),
                             FieldError("/employer/staff", "职工人数：不能小于 1")]
    assert result.form.employer.form.staff.errors == ["职工人数：不能小于 1"]


def test_required_nested_object_left_blank_is_required_on_the_fieldset(ctx):
    compiled = compiled_of(NESTED, required=["employer"])
    result = compiled.submit(MultiDict())
    assert result.errors == [FieldError("/employer", "工作单位：必填")]
    html = render(compiled, result.form)
    assert one(html, "p", id="employer-error")["role"] == "alert"
    assert "required" in one(html, "input", name="employer-name")


MEMBERS = {
    "members": {"type": "array", "title": "家庭成员", "minItems": 1, "maxItems": 3,
                "items": {"type": "object", "title": "成员", "required": ["name"],
                          "properties": {"name": {"type": "string", "title": "姓名"},
                                         "age": {"type": "integer", "title": "年龄", "minimum": 0},
                                         "disabled": {"type": "boolean", "title": "残疾"}}},
                "x-ui": {"addLabel": "添加成员", "removeLabel": "删除此人"}},
}


def test_repeatable_group_starts_with_min_rows_and_an_add_button(ctx):
    compiled = compiled_of(MEMBERS, required=["members"])
    html = render(compiled, compiled.bind())
    assert [a["data-path"] for a in elements(html, "fieldset", **{"class": "row"})] == ["/members/0"]
    assert one(html, "input", name="members-0-name")
    add = one(html, "button", name="__add__")
    assert (add["value"], "formnovalidate" in add) == ("/members", True)
    assert "添加成员</button>" in html
    assert not elements(html, "button", name="__remove__"), "cannot go below minItems"
    assert elements(html, "button", type="submit")[0].get("hidden", "x") is None, \
        "Enter in a field must press the real submit, not the first add button"


def test_add_and_remove_rows_without_javascript(ctx):
    compiled = compiled_of(MEMBERS, required=["members"])
    html = render(compiled, compiled.bind())
    result = compiled.submit(browser_post(html, {"members-0-name": "张三", "members-0-age": "40"}, __add__="/members"))
    assert (result.action, result.ok, result.errors) == ("add", False, [])
    html = render(compiled, result.form)
    assert [a["data-path"] for a in elements(html, "fieldset", **{"class": "row"})] == ["/members/0", "/members/1"]
    assert one(html, "input", name="members-0-name")["value"] == "张三"
    assert [b["value"] for b in elements(html, "button", name="__remove__")] == ["/members:0", "/members:1"]

    result = compiled.submit(browser_post(html, {"members-1-name": "李四"}, __remove__="/members:0"))
    assert (result.action, result.ok, result.errors) == ("remove", False, [])
    html = render(compiled, result.form)
    assert [a["value"] for a in elements(html, "input", type="text") if a["name"].endswith("-name")] == ["李四"]

    result = compiled.submit(browser_post(html))
    assert result.ok and result.answers == {"members": [{"name": "李四", "disabled": False}]}


def test_add_stops_at_max_items(ctx):
    compiled = compiled_of(MEMBERS)
    data = {"members": [{"name": "甲"}, {"name": "乙"}, {"name": "丙"}]}
    html = render(compiled, compiled.bind(data=data))
    assert not elements(html, "button", name="__add__")
    result = compiled.submit(browser_post(html, __add__="/members"))
    assert len(result.form.members.entries) == 3


def test_row_errors_sit_on_their_row_and_blank_rows_are_dropped(ctx):
    compiled = compiled_of(MEMBERS)
    result = compiled.submit(MultiDict({"members-0-name": "", "members-0-row_": "1",
                                        "members-1-age": "-1", "members-1-row_": "1",
                                        "members-2-name": "丙", "members-2-row_": "1"}))
    assert result.errors == [FieldError("/members/0/name", "姓名：必填"), FieldError("/members/0/age", "年龄：不能小于 0")]
    assert result.form.members.entries[0].form.age.errors == ["年龄：不能小于 0"]
    assert len(result.form.members.entries) == 2
    assert compiled.check({"members": []}) == [FieldError("/members", "家庭成员：至少填写 1 组")]


def test_a_row_of_unticked_boxes_still_comes_back(ctx):
    compiled = compiled_of({"list": {"type": "array", "title": "清单", "items": {
        "type": "object", "properties": {"a": {"type": "boolean", "title": "甲"}, "b": {"type": "string"}}}}})
    result = compiled.submit(MultiDict({"list-0-row_": "1", "list-1-row_": "1", "list-1-a": "y", "__add__": "/list"}))
    assert len(result.form.list.entries) == 3


def test_list_of_short_answers(ctx):
    compiled = compiled_of({"links": {"type": "array", "title": "材料链接", "maxItems": 3, "uniqueItems": True,
                                      "items": {"type": "string", "format": "uri"},
                                      "x-ui": {"addLabel": "添加链接"}}})
    html = render(compiled, compiled.bind())
    assert not elements(html, "input", type="url")
    result = compiled.submit(browser_post(html, __add__="/links"))
    html = render(compiled, result.form)
    assert one(html, "input", name="links-0")["type"] == "url"
    result = compiled.submit(MultiDict([("links-0", "https://a.cn/1"), ("links-1", ""), ("links-2", "网盘")]))
    assert result.errors == [FieldError("/links/1", "材料链接：不是有效的网址")]
    assert result.answers == {"links": ["https://a.cn/1", "网盘"]}
    assert compiled.check({"links": ["https://a.cn", "https://a.cn"]}) == [FieldError("/links", "材料链接：不能重复填写")]


def test_field_titles_flatten_leaves_in_display_order():
    compiled = compiled_of({**MEMBERS, **NESTED, "name": {"type": "string", "title": "姓名"}},
                           **{"x-ui": {"order": ["name", "employer"]}})
    assert compiled.field_titles() == [
        ("/name", "姓名"), ("/employer/name", "工作单位·单位名称"), ("/employer/staff", "工作单位·职工人数"),
        ("/employer/union", "工作单位·已建工会"), ("/members", "家庭成员"),
    ]


# -- CSRF, caching, determinism -------------------------------------------------------------------

def test_csrf_is_checked_on_submit():
    app = make_app(WTF_CSRF_ENABLED=True)
    compiled = compiled_of({"a": {"type": "string", "title": "甲"}})
    with app.test_request_context(method="POST"):
        html = render(compiled, compiled.bind())
        token = one(html, "input", name="csrf_token")["value"]
        assert token == generate_csrf()
        assert compiled.submit(MultiDict({"a": "x", "csrf_token": token})).ok
        result = compiled.submit(MultiDict({"a": "x", "csrf_token": "forged"}))
        assert (result.ok, result.errors) == (False, [FieldError("", CSRF_MESSAGE)])
        assert CSRF_MESSAGE in render(compiled, result.form)
        assert compiled.submit(MultiDict({"a": "x"}), meta={"csrf": False}).ok
        assert not hasattr(compiled.form_class(formdata=None, meta={"csrf": False}), "csrf_token")


def test_compiling_is_deterministic_and_requests_reuse_the_compiled_parts(ctx, monkeypatch):
    schema = {"type": "object", "title": "t", "properties": {**MESSAGES, **VISIBILITY}}
    first, second = compile_form(schema, "x"), compile_form(schema, "x")
    assert [f.name for f in first.form_class(formdata=None)] == [f.name for f in second.form_class(formdata=None)]
    assert first.field_titles() == second.field_titles()

    def no_rebuilding(*args, **kwargs):
        raise AssertionError("built per request")

    monkeypatch.setattr(compiler_module, "make_validator", no_rebuilding)
    monkeypatch.setattr(compiler_module, "build_tree", no_rebuilding)
    monkeypatch.setattr("qunti.rules.compile", no_rebuilding)
    monkeypatch.setattr("qunti.forms.validation.make_validator", no_rebuilding)
    assert first.check({"age": 3}) == [FieldError("/age", "年龄：不能小于 16")]
    assert first.submit(MultiDict({"age": "3"})).errors == [FieldError("/age", "年龄：不能小于 16")]
    schema["properties"]["age"]["minimum"] = 1     # the caller's dict is not shared
    assert first.check({"age": 3}) != []


# -- the shipped forms through a browser ----------------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED_FORMS, ids=[p.stem for p in SHIPPED_FORMS])
def test_shipped_form_example_survives_a_round_trip_through_html(ctx, path):
    schema = json.loads(path.read_text("utf-8"))
    compiled = compile_form(schema, path.stem)
    example = schema["examples"][0]
    html = render(compiled, compiled.bind(data=example))
    result = compiled.submit(browser_post(html))
    assert result.errors == []
    assert result.answers == in_choice_order(compiled.tree, compiled.prune_hidden(example))


def in_choice_order(node, value):
    """Answers with each multiple choice in the order its boxes are on the page (as a browser sends)."""
    if node.kind == "multi":
        rank = {c.key: i for i, c in enumerate(node.choices)}
        return sorted(value, key=lambda v: rank[node.key_of(v)])
    if node.kind == "group" and node.item.kind == "row":
        return [in_choice_order(node.item, row) for row in value]
    if node.kind in ("object", "row"):
        return {k: in_choice_order(node.child(k), v) if node.child(k) else v for k, v in value.items()}
    return value
