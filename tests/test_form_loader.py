"""Loading form documents: what is refused, exactly where, in Chinese; and every shipped form loads."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from qunti.definitions import DefinitionError, digest
from qunti.forms.compiler import compile_form
from qunti.forms.loader import FormDocument, load_form, validate_form
from qunti.forms.nodes import WIDGETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "forms"
SHIPPED = sorted((ROOT / "forms").glob("*.json"))
CJK = re.compile(r"[\u4e00-\u9fff]")

BASE = {
    "type": "object",
    "title": "测试表单",
    "properties": {
        "phone": {"type": "string", "title": "手机号"},
        "age": {"type": "integer", "title": "年龄"},
        "employer": {"type": "object", "title": "单位", "properties": {"name": {"type": "string"}}},
        "members": {"type": "array", "title": "成员",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    },
}


def with_change(change) -> dict:
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


def props(schema: dict) -> dict:
    return schema["properties"]


def refusal(schema, form_id="test") -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        validate_form(form_id, schema, "forms/test.json")
    error = caught.value
    assert error.source == "forms/test.json"
    assert CJK.search(error.reason), f"not Chinese: {error.reason}"
    return error


def test_the_base_document_is_accepted():
    validate_form("test", BASE, "forms/test.json")
    compile_form(BASE, "test")


REFUSALS = [
    # x-ui against x-ui.schema.json
    ("unknown widget", lambda s: props(s)["phone"].update({"x-ui": {"widget": "slider"}}),
     "/properties/phone/x-ui/widget", f"未知的控件类型 'slider'，可用：{'、'.join(WIDGETS)}"),
    ("unknown x-ui key", lambda s: props(s)["phone"].update({"x-ui": {"color": "red"}}),
     "/properties/phone/x-ui/color", "x-ui 不认识 'color'"),
    ("unknown root x-ui key", lambda s: s.update({"x-ui": {"help": "说明"}}), "/x-ui/help", "x-ui 不认识 'help'"),
    ("x-ui not an object", lambda s: props(s)["phone"].update({"x-ui": "tel"}), "/properties/phone/x-ui", "x-ui 应为对象"),
    ("submitLabel not text", lambda s: s.update({"x-ui": {"submitLabel": 3}}), "/x-ui/submitLabel", "应为文字"),
    ("order names a missing field", lambda s: s.update({"x-ui": {"order": ["phone", "fax"]}}),
     "/x-ui/order/1", "order 中的 'fax' 不在 properties 里"),
    ("row order names a missing field", lambda s: props(s)["members"].update({"x-ui": {"order": ["name", "x"]}}),
     "/properties/members/x-ui/order/1", "order 中的 'x' 不在 properties 里"),
    # widgets that do not fit
    ("checkboxes on a string", lambda s: props(s)["phone"].update({"x-ui": {"widget": "checkboxes"}}),
     "/properties/phone/x-ui/widget", "控件 'checkboxes' 不适用于文本（string）字段"),
    ("textarea on an integer", lambda s: props(s)["age"].update({"x-ui": {"widget": "textarea"}}),
     "/properties/age/x-ui/widget", "控件 'textarea' 不适用于整数（integer）字段"),
    ("date widget without format date", lambda s: props(s)["phone"].update({"x-ui": {"widget": "date"}}),
     "/properties/phone/x-ui/widget", "控件 'date' 不适用于"),
    ("widget on a group", lambda s: props(s)["members"].update({"x-ui": {"widget": "select"}}),
     "/properties/members/x-ui/widget", "x-ui 的 widget 不能用于重复组"),
    ("rows without textarea", lambda s: props(s)["phone"].update({"x-ui": {"rows": 3}}),
     "/properties/phone/x-ui/rows", "rows 只能用于 textarea"),
    ("addLabel on a text field", lambda s: props(s)["phone"].update({"x-ui": {"addLabel": "加"}}),
     "/properties/phone/x-ui/addLabel", "addLabel 不能用于文本"),
    # visibleIf
    ("visibleIf unknown operator", lambda s: props(s)["phone"].update({"x-ui": {"visibleIf": {"foo": [1]}}}),
     "/properties/phone/x-ui/visibleIf", "visibleIf 使用了未知的运算符 'foo'"),
    ("visibleIf reads a missing field",
     lambda s: props(s)["phone"].update({"x-ui": {"visibleIf": {"==": [{"var": "nope"}, 1]}}}),
     "/properties/phone/x-ui/visibleIf", "visibleIf 引用了不存在的字段 'nope'"),
    ("visibleIf reads a missing nested field",
     lambda s: props(s)["phone"].update({"x-ui": {"visibleIf": {"var": "employer.size"}}}),
     "/properties/phone/x-ui/visibleIf", "visibleIf 引用了不存在的字段 'employer.size'"),
    ("visibleIf reads into a group", lambda s: props(s)["phone"].update({"x-ui": {"visibleIf": {"var": "members.name"}}}),
     "/properties/phone/x-ui/visibleIf", "指向重复组内部"),
    ("visibleIf reads itself", lambda s: props(s)["phone"].update({"x-ui": {"visibleIf": {"var": "phone"}}}),
     "/properties/phone/x-ui/visibleIf", "visibleIf 不能引用字段自身"),
    ("visibleIf reads its own group",
     lambda s: props(s)["employer"]["properties"]["name"].update({"x-ui": {"visibleIf": {"var": "employer"}}}),
     "/properties/employer/properties/name/x-ui/visibleIf", "visibleIf 不能引用字段自身或包含它的分组"),
    ("visibleIf on each row", lambda s: props(s)["members"]["items"].update({"x-ui": {"visibleIf": {"var": "age"}}}),
     "/properties/members/items/x-ui/visibleIf", "请设在重复组上"),
    # what the compiler cannot render
    ("patternProperties", lambda s: s.update({"patternProperties": {"^x": {"type": "string"}}}),
     "/patternProperties", "不支持 patternProperties"),
    ("additionalProperties as a schema", lambda s: props(s)["employer"].update({"additionalProperties": {"type": "string"}}),
     "/properties/employer/additionalProperties", "additionalProperties 只能是 true 或 false"),
    ("anyOf", lambda s: props(s)["phone"].update({"anyOf": [{"maxLength": 3}]}), "/properties/phone/anyOf", "不支持 anyOf"),
    ("allOf", lambda s: s.update({"allOf": [{"required": ["phone"]}]}), "/allOf", "不支持 allOf"),
    ("not", lambda s: props(s)["age"].update({"not": {"const": 3}}), "/properties/age/not", "不支持 not"),
    ("prefixItems", lambda s: props(s).update({"pair": {"type": "array", "prefixItems": [{"type": "string"}]}}),
     "/properties/pair/prefixItems", "不支持按位置定义的数组"),
    ("Draft 7 tuple items",
     lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"})
     or props(s).update({"pair": {"type": "array", "items": [{"type": "string"}]}}),
     "/properties/pair/items", "不支持按位置定义的数组（items 为数组）"),
    ("array of booleans", lambda s: props(s).update({"flags": {"type": "array", "items": {"type": "boolean"}}}),
     "/properties/flags/items", "数组的 items 必须是"),
    ("non-local $ref", lambda s: props(s)["phone"].update({"$ref": "https://example.com/phone.json"}),
     "/properties/phone/$ref", "只支持指向本文档的 $ref"),
    ("unresolvable $ref", lambda s: props(s)["phone"].update({"$ref": "#/$defs/missing"}),
     "/properties/phone/$ref", "找不到 $ref 指向的定义 '#/$defs/missing'"),
    ("recursive $ref",
     lambda s: s.update({"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}})
     or props(s).update({"tree": {"$ref": "#/$defs/node"}}),
     "/$defs/node/properties/child/$ref", "$ref 循环引用 '#/$defs/node'"),
    ("$ref to the whole form", lambda s: props(s).update({"whole": {"$ref": "#"}}),
     "/properties/whole/$ref", "$ref 循环引用 '#'"),
    ("type union", lambda s: props(s)["phone"].update({"type": ["string", "null"]}),
     "/properties/phone/type", "type 只能是一个类型"),
    ("missing type", lambda s: props(s)["phone"].pop("type"), "/properties/phone", "缺少 type"),
    ("unsupported format", lambda s: props(s)["phone"].update({"format": "ipv4"}),
     "/properties/phone/format", "不支持的格式 'ipv4'"),
    ("enum of the wrong type", lambda s: props(s)["age"].update({"enum": [1, "2"]}),
     "/properties/age/enum/1", "不是 integer 类型"),
    ("oneOf that is not a list of options",
     lambda s: props(s)["age"].update({"oneOf": [{"const": 1, "title": "一"}, {"minimum": 2}]}),
     "/properties/age/oneOf/1", "oneOf 只能用于选项列表"),
    ("nested $id", lambda s: props(s)["employer"].update({"$id": "https://example.com/e"}),
     "/properties/employer/$id", "只有表单根节点可以有 $id"),
    # the root
    ("root not an object", lambda s: s.update({"type": "array"}), "/type", '表单根节点的 type 必须是 "object"'),
    ("no title", lambda s: s.pop("title"), "", "缺少表单标题 title"),
    ("no properties", lambda s: s.pop("properties"), "", "缺少 properties"),
    ("required names a missing field", lambda s: s.update({"required": ["phone", "fax"]}),
     "/required/1", "required 中的 'fax' 不在 properties 里"),
    ("then requires a missing field",
     lambda s: s.update({"if": {"properties": {"phone": {"const": "1"}}}, "then": {"required": ["fax"]}}),
     "/then/required/0", "条件中 required 的 'fax' 不在 properties 里"),
    ("dependentRequired names a missing field", lambda s: s.update({"dependentRequired": {"phone": ["fax"]}}),
     "/dependentRequired/phone/0", "dependentRequired 中的 'fax' 不在 properties 里"),
]
# Refused by the meta-schema of the document's draft (the compiler trusts a loaded document).
META_REFUSALS = [
    ("negative minLength", lambda s: props(s)["phone"].update({"minLength": -1}),
     "/properties/phone/minLength", "minLength 不能是负数"),
    ("unknown type name", lambda s: props(s)["phone"].update({"type": "strin"}),
     "/properties/phone/type", "未知的类型 'strin'"),
    ("invalid regular expression", lambda s: props(s)["phone"].update({"pattern": "(unclosed"}),
     "/properties/phone/pattern", "'(unclosed' 不是有效的正则表达式"),
    ("unsupported $schema", lambda s: s.update({"$schema": "http://json-schema.org/draft-04/schema#"}),
     "/$schema", "不支持的 $schema 'http://json-schema.org/draft-04/schema#'"),
]


ALL_REFUSALS = REFUSALS + META_REFUSALS


@pytest.mark.parametrize("change, path, reason", [r[1:] for r in ALL_REFUSALS], ids=[r[0] for r in ALL_REFUSALS])
def test_refused_with_the_pointer_of_the_problem(change, path, reason):
    error = refusal(with_change(change))
    assert error.path == path
    assert reason in error.reason


@pytest.mark.parametrize("change, path", [r[1:3] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_the_compiler_refuses_the_same_never_dropping_it(change, path):
    with pytest.raises(DefinitionError) as caught:
        compile_form(with_change(change), "test")
    assert caught.value.path == path


@pytest.mark.parametrize("form_id", ["Bad_Id", "1form", "form_x", "", "表单"])
def test_form_id_pattern(form_id):
    error = refusal(BASE, form_id)
    assert error.path == ""
    assert "表单编号" in error.reason


def test_a_pointer_escapes_slashes_in_names():
    schema = with_change(lambda s: props(s).update({"a/b": {"type": "string", "x-ui": {"widget": "slider"}}}))
    assert refusal(schema).path == "/properties/a~1b/x-ui/widget"


def test_load_form_reads_a_file():
    path = DATA / "sample-join.json"
    document = load_form(path, "tests/data/forms/sample-join.json")
    assert isinstance(document, FormDocument)
    schema = json.loads(path.read_text("utf-8"))
    assert (document.id, document.source, document.title) == \
        ("sample-join", "tests/data/forms/sample-join.json", "入会申请（测试）")
    assert document.schema == schema
    assert document.digest == digest(schema)


def test_draft_7_loads():
    document = load_form(DATA / "draft7-sample.json", "draft7-sample.json")
    compiled = compile_form(document.schema, document.id)
    assert compiled.check(document.schema["examples"][0]) == []


def test_json_syntax_error_names_the_line():
    with pytest.raises(DefinitionError) as caught:
        load_form(DATA / "broken.json", "tests/data/forms/broken.json")
    assert caught.value.path == ""
    assert "不是有效的 JSON" in caught.value.reason and "行" in caught.value.reason


def test_file_name_must_be_a_form_id():
    with pytest.raises(DefinitionError) as caught:
        load_form(DATA / "Bad_Name.json", "tests/data/forms/Bad_Name.json")
    assert "表单编号 'Bad_Name'" in caught.value.reason


def test_validate_form_needs_no_file_and_refuses_non_objects():
    assert refusal(["not", "a", "form"]).path == ""
    assert "JSON 对象" in refusal("text").reason


def test_there_are_shipped_forms():
    assert SHIPPED, "forms/ has no *.json: nothing would be tested below"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_form_loads_compiles_and_its_example_passes(path):
    document = load_form(path, f"forms/{path.name}")
    compiled = compile_form(document.schema, document.id)
    examples = document.schema.get("examples")
    assert examples, f"{path.name} has no examples"
    assert compiled.check(examples[0]) == []
