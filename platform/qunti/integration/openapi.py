"""The OpenAPI 3.1 document of the interconnection API and of Open311 (``/api/v1/openapi.json``) and
a page that reads it to people (``/api/v1/docs``, rendered on the server from the same document)."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, render_template

from qunti.integration.models import SCOPES
from qunti.orders.transitions import STATES, TRANSITIONS

bp = Blueprint("api_docs", __name__)

INTEROP = "/api/v1/interop"
OPEN311 = "/open311/v2"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "请求参数有误"),
    "401": _json(_ref("Error"), "没有提供 API 密钥，或密钥无效、已吊销"),
    "403": _json(_ref("Error"), "密钥没有所需的权限范围，或绑定的账号不可用"),
    "429": {**_json(_ref("Error"), "超过该密钥的请求频率上限"),
            "headers": {"Retry-After": {"description": "多少秒后可以再试", "schema": {"type": "integer"}}}},
}
OPEN311_ERRORS = {code: _json(_ref("Open311Errors"), response["description"])
                  for code, response in ERRORS.items()}


def _param(name: str, where: str, description: str, schema: dict[str, Any] | None = None,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "required": required or where == "path",
            "schema": schema or {"type": "string"}}


NUMBER = _param("number", "path", "订单受理编号")
DATE = {"type": "string", "format": "date"}


def _op(summary: str, scope: str | None, responses: dict[str, Any], *, description: str = "",
        parameters: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        operation_id: str, open311: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": ["Open311" if open311 else "互联互通"],
                          "responses": {**responses, **(OPEN311_ERRORS if open311 else ERRORS)}}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if scope is not None or not open311:
        scopes = [scope] if scope else []
        op["security"] = [{"bearerAuth": scopes}] + ([{"open311Key": scopes}] if open311 else [])
        op["x-scope"] = scope
    else:
        op["security"] = []
        op["x-scope"] = None
        op["responses"] = {k: v for k, v in op["responses"].items() if k not in ("401", "403", "429")}
    return op


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "给人看的中文说明"}}, "additionalProperties": True},
    "FieldErrors": {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["path", "message"],
        "properties": {"path": {"type": "string", "description": "JSON Pointer"}, "message": {"type": "string"}}}}}},
    "OrderSummary": {"type": "object", "required": ["number", "state", "serviceItem", "createdAt"], "properties": {
        "number": {"type": "string"}, "state": {"type": "string", "enum": list(STATES)},
        "stateName": {"type": "string"}, "serviceItem": {"type": "string"},
        "unit": {"type": ["string", "null"]}, "station": {"type": ["string", "null"]},
        "community": {"type": "string"}, "channel": {"type": "string"},
        "deadline": {"type": ["string", "null"], "format": "date"}, "overdue": {"type": "boolean"},
        "round": {"type": "integer"}, "version": {"type": "integer", "description": "并发控制：办理时作为 expectedVersion"},
        "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
        "url": {"type": "string", "format": "uri"}}},
    "OrderList": {"type": "object", "required": ["orders", "nextCursor"], "properties": {
        "orders": {"type": "array", "items": _ref("OrderSummary")},
        "nextCursor": {"type": ["string", "null"], "description": "下一页的 cursor；null 表示没有更多"}}},
    "Order": {"type": "object", "required": ["number", "version", "state"], "description": "订单全貌（工作人员视角），含表单回答、五定、评价和所属问题",
              "properties": {"number": {"type": "string"}, "version": {"type": "integer"},
                             "state": {"type": "string", "enum": list(STATES)}, "answers": {"type": "object"},
                             "plan": {"type": ["object", "null"]},
                             "problem": {"type": ["object", "null"], "properties": {
                                 "id": {"type": "integer"}, "title": {"type": "string"},
                                 "status": {"type": "string"}, "statusName": {"type": "string"}}},
                             "allowedActions": {"type": "array", "items": {"type": "object"}}},
              "additionalProperties": True},
    "Events": {"type": "object", "required": ["number", "events"], "properties": {
        "number": {"type": "string"}, "events": {"type": "array", "items": {"type": "object", "properties": {
            "at": {"type": "string", "format": "date-time"}, "action": {"type": "string"},
            "from": {"type": ["string", "null"]}, "to": {"type": "string"}, "actor": {"type": "string"},
            "reason": {"type": ["string", "null"]}}, "additionalProperties": True}}}},
    "NewOrder": {"type": "object", "required": ["serviceItem", "answers"], "properties": {
        "serviceItem": {"type": "string", "description": "服务事项编号，如 S05"},
        "answers": {"type": "object", "description": "按该事项当前表单填写的回答（见 /forms/{id}）"},
        "channel": {"type": "string", "enum": ["online", "qr", "station", "phone"], "default": "online"}}},
    "Created": {"type": "object", "required": ["number", "state"], "properties": {
        "number": {"type": "string"}, "state": {"type": "string"}, "formVersion": {"type": "integer"},
        "url": {"type": "string", "format": "uri"}}},
    "ActionParams": {"type": "object", "description": "操作的参数（snake_case 或 camelCase），以及可选的 expectedVersion",
                     "properties": {"expectedVersion": {"type": "integer"}, "reason": {"type": "string"},
                                    "plan": {"type": "object"}, "resultNote": {"type": "string"},
                                    "unitCode": {"type": "string"}, "days": {"type": "integer"}},
                     "additionalProperties": True},
    "Services": {"type": "object", "required": ["services"], "properties": {"services": {"type": "array", "items": {
        "type": "object", "required": ["code", "name", "form"], "properties": {
            "code": {"type": "string"}, "name": {"type": "string"}, "organization": {"type": "string"},
            "organizationName": {"type": "string"}, "form": {"type": "string"}, "timeLimitDays": {"type": "integer"},
            "functions": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"},
            "enabled": {"type": "boolean"}}}}}},
    "Forms": {"type": "object", "required": ["forms"], "properties": {"forms": {"type": "array", "items": {
        "type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                         "currentVersion": {"type": "integer"}, "url": {"type": "string"}}}}}},
    "Form": {"type": "object", "required": ["id", "version", "schema", "fields"], "properties": {
        "id": {"type": "string"}, "version": {"type": "integer"}, "digest": {"type": "string"},
        "schema": {"type": "object", "description": "JSON Schema（表单定义）"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "pointer": {"type": "string"}, "title": {"type": "string"}}}},
        "versions": {"type": "array", "items": {"type": "object", "properties": {
            "number": {"type": "integer"}, "createdAt": {"type": "string", "format": "date-time"}}}}}},
    "Figures": {"type": "object", "properties": {
        "orders": {"type": "integer"}, "responseRate": {"type": ["number", "null"]},
        "onTimeRate": {"type": ["number", "null"]}, "satisfactionRate": {"type": ["number", "null"]},
        "averageRating": {"type": ["number", "null"]}, "rated": {"type": "integer"}}, "additionalProperties": True},
    "Statistics": {"type": "object", "required": ["scope", "period", "total"], "properties": {
        "scope": {"type": "object"}, "period": {"type": "object"}, "members": {"type": ["integer", "null"]},
        "stations": {"type": "integer"}, "total": _ref("Figures"),
        "ordersByItem": {"type": "object", "additionalProperties": {"type": "integer"}},
        "ordersByMonth": {"type": "object", "additionalProperties": {"type": "integer"}},
        "breakdown": {"type": "object"}, "qiyou": {"type": "object"}, "activities": {"type": "array"}}},
    "Open311Errors": {"type": "array", "items": {"type": "object", "required": ["code", "description"], "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}}}},
    "Open311Service": {"type": "object", "required": ["service_code", "service_name", "description", "metadata",
                                                      "type", "keywords", "group"], "properties": {
        "service_code": {"type": "string"}, "service_name": {"type": "string"}, "description": {"type": "string"},
        "metadata": {"type": "boolean"}, "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
        "keywords": {"type": "string"}, "group": {"type": "string"}}},
    "Open311ServiceDefinition": {"type": "object", "required": ["service_code", "attributes"], "properties": {
        "service_code": {"type": "string"}, "attributes": {"type": "array", "items": {
            "type": "object", "required": ["variable", "code", "datatype", "required", "datatype_description",
                                           "order", "description"], "properties": {
                "variable": {"type": "boolean"}, "code": {"type": "string"},
                "datatype": {"type": "string", "enum": ["string", "number", "datetime", "text", "singlevaluelist",
                                                        "multivaluelist"]},
                "required": {"type": "boolean"}, "datatype_description": {"type": "string"},
                "order": {"type": "integer"}, "description": {"type": "string"},
                "values": {"type": "array", "items": {"type": "object", "required": ["key", "name"], "properties": {
                    "key": {"type": "string"}, "name": {"type": "string"}}}}}}}}},
    "Open311Request": {"type": "object", "required": ["service_request_id", "status", "service_name", "service_code",
                                                      "requested_datetime", "updated_datetime"], "properties": {
        "service_request_id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": {"type": ["string", "null"]}, "service_name": {"type": "string"},
        "service_code": {"type": "string"}, "description": {"type": ["string", "null"]},
        "agency_responsible": {"type": ["string", "null"]}, "service_notice": {"type": ["string", "null"]},
        "requested_datetime": {"type": "string", "format": "date-time"},
        "updated_datetime": {"type": "string", "format": "date-time"},
        "expected_datetime": {"type": ["string", "null"]}, "address": {"type": ["string", "null"]},
        "address_id": {"type": ["string", "null"]}, "zipcode": {"type": ["string", "null"]},
        "lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]},
        "media_url": {"type": ["string", "null"]}}},
    "Open311Created": {"type": "array", "items": {"type": "object", "required": ["service_request_id"], "properties": {
        "service_request_id": {"type": "string"}, "token": {"type": "string"},
        "service_notice": {"type": "string"}, "account_id": {"type": ["string", "null"]}}}},
}


def _paths() -> dict[str, Any]:
    actions = sorted(a for a, t in TRANSITIONS.items() if t.effect is not None)
    return {
        f"{INTEROP}/orders": {
            "get": _op("订单列表", "orders:read", {"200": _json(_ref("OrderList"), "一页订单，最新的在前")},
                       operation_id="listOrders",
                       description="密钥绑定账号范围内的订单，按受理时间倒序，用 cursor 翻页（键集分页）。",
                       parameters=[_param("state", "query", "订单状态", {"type": "string", "enum": list(STATES)}),
                                   _param("serviceItem", "query", "服务事项编号"),
                                   _param("organization", "query", "服务事项所属组织"),
                                   _param("station", "query", "服务站代码"), _param("unit", "query", "办单单位代码"),
                                   _param("createdFrom", "query", "受理日期起（含，当地日期）", DATE),
                                   _param("createdTo", "query", "受理日期止（含，当地日期）", DATE),
                                   _param("limit", "query", "每页条数", {"type": "integer", "minimum": 1}),
                                   _param("cursor", "query", "上一页返回的 nextCursor")]),
            "post": _op("提交订单（点单）", "orders:create",
                        {"201": _json(_ref("Created"), "已受理并派单"),
                         "422": _json({"oneOf": [_ref("FieldErrors"), _ref("Error")]}, "回答未通过表单校验")},
                        operation_id="createOrder",
                        description="按服务事项当前版本的表单校验回答，受理并按派单规则派单，与居民页面同一流程。",
                        body={"required": True, "content": {"application/json": {"schema": _ref("NewOrder")}}}),
        },
        f"{INTEROP}/orders/{{number}}": {
            "get": _op("订单详情", "orders:read", {"200": _json(_ref("Order"), "订单"),
                                                   "404": _json(_ref("Error"), "没有这个订单或不在范围内")},
                       operation_id="getOrder", parameters=[NUMBER])},
        f"{INTEROP}/orders/{{number}}/events": {
            "get": _op("订单办理记录", "orders:read", {"200": _json(_ref("Events"), "全部事件，按时间先后"),
                                                     "404": _json(_ref("Error"), "没有这个订单或不在范围内")},
                       operation_id="getOrderEvents", parameters=[NUMBER])},
        f"{INTEROP}/orders/{{number}}/actions/{{action}}": {
            "post": _op("办理订单（状态变更）", "orders:update",
                        {"200": _json(_ref("Order"), "办理后的订单"),
                         "404": _json(_ref("Error"), "没有这个订单或操作"),
                         "409": _json(_ref("Error"), "状态不允许，或订单已被他人修改（expectedVersion 不符）"),
                         "422": _json(_ref("Error"), "参数有误")},
                        operation_id="actOnOrder",
                        description="以密钥绑定的账号执行一个办理操作，与工作人员页面同一套规则（角色、单位、状态、参数）。",
                        parameters=[NUMBER, _param("action", "path", "操作", {"type": "string", "enum": actions})],
                        body={"required": False, "content": {"application/json": {"schema": _ref("ActionParams")}}})},
        f"{INTEROP}/services": {
            "get": _op("服务事项", None, {"200": _json(_ref("Services"), "服务菜单")}, operation_id="listServices")},
        f"{INTEROP}/forms": {
            "get": _op("表单列表", None, {"200": _json(_ref("Forms"), "表单")}, operation_id="listForms")},
        f"{INTEROP}/forms/{{formId}}": {
            "get": _op("表单定义", None, {"200": _json(_ref("Form"), "当前版本的 JSON Schema 与字段"),
                                          "404": _json(_ref("Error"), "没有这个表单")},
                       operation_id="getForm", parameters=[_param("formId", "path", "表单编号")])},
        f"{INTEROP}/statistics": {
            "get": _op("基础信息统计", "orders:read", {"200": _json(_ref("Statistics"), "与统计页面相同的数字")},
                       operation_id="getStatistics",
                       parameters=[_param("scope", "query", "统计范围",
                                          {"type": "string", "enum": ["district", "organization", "station"]}),
                                   _param("key", "query", "组织代码或服务站代码"),
                                   _param("from", "query", "订单受理日期起", DATE),
                                   _param("to", "query", "订单受理日期止", DATE)])},
        f"{OPEN311}/services.json": {
            "get": _op("Open311：服务列表", None, {"200": _json({"type": "array", "items": _ref("Open311Service")},
                                                             "服务列表")},
                       operation_id="open311Services", open311=True,
                       parameters=[_param("jurisdiction_id", "query", "（忽略）")])},
        f"{OPEN311}/services/{{service_code}}.json": {
            "get": _op("Open311：服务定义", None, {"200": _json(_ref("Open311ServiceDefinition"), "表单字段即属性"),
                                                 "404": _json(_ref("Open311Errors"), "没有这个服务")},
                       operation_id="open311ServiceDefinition", open311=True,
                       parameters=[_param("service_code", "path", "服务代码（服务事项编号）")])},
        f"{OPEN311}/requests.json": {
            "get": _op("Open311：服务请求列表", "orders:read",
                       {"200": _json({"type": "array", "items": _ref("Open311Request")}, "最多 1000 条")},
                       operation_id="open311Requests", open311=True,
                       parameters=[_param("service_request_id", "query", "逗号分隔的受理编号"),
                                   _param("service_code", "query", "逗号分隔的服务代码"),
                                   _param("status", "query", "open 或 closed"),
                                   _param("start_date", "query", "起始时间（默认 90 天前）", {"type": "string", "format": "date-time"}),
                                   _param("end_date", "query", "截止时间", {"type": "string", "format": "date-time"})]),
            "post": _op("Open311：提交服务请求", "orders:create",
                        {"201": _json(_ref("Open311Created"), "已受理")},
                        operation_id="open311CreateRequest", open311=True,
                        body={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                            "type": "object", "required": ["service_code"], "properties": {
                                "api_key": {"type": "string"}, "service_code": {"type": "string"},
                                "first_name": {"type": "string"}, "last_name": {"type": "string"},
                                "phone": {"type": "string"}, "email": {"type": "string"},
                                "description": {"type": "string"}},
                            "additionalProperties": {"type": "string",
                                                     "description": "attribute[属性代码]，多选为 attribute[代码][]"}}}}})},
        f"{OPEN311}/requests/{{service_request_id}}.json": {
            "get": _op("Open311：服务请求", "orders:read",
                       {"200": _json({"type": "array", "items": _ref("Open311Request")}, "一条服务请求"),
                        "404": _json(_ref("Open311Errors"), "没有或不在范围内")},
                       operation_id="open311Request", open311=True,
                       parameters=[_param("service_request_id", "path", "受理编号")])},
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    scopes = "；".join(f"`{s}` {name}" for s, name in SCOPES.items())
    return {
        "openapi": "3.1.0",
        "info": {"title": "江北区群团之家 互联互通接口", "version": "1",
                 "description": ("供市级群众服务平台等系统对接：订单、服务事项、表单、统计，以及 Open311 GeoReport v2。"
                                 f"认证：请求头 Authorization: Bearer <API 密钥>（由系统管理员签发）。权限范围：{scopes}。"
                                 "每个密钥有请求频率上限，超过返回 429 和 Retry-After。"
                                 "订单事件另可通过 Webhook 推送（签名头 X-Qunti-Signature: sha256=<HMAC-SHA256(密钥, 请求体)>）。")},
        "servers": [{"url": "/"}],
        "tags": [{"name": "互联互通", "description": "JSON 接口"}, {"name": "Open311", "description": "GeoReport v2"}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API 密钥"},
                "open311Key": {"type": "apiKey", "in": "query", "name": "api_key",
                               "description": "Open311 客户端也可用 api_key 参数（POST 时在表单中）"}},
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


@bp.get("/docs")
def docs():
    doc = document()
    operations = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operations.append({"path": path, "method": method.upper(), **op,
                               "body": json.dumps(op["requestBody"], ensure_ascii=False, indent=2)
                               if "requestBody" in op else None})
    schemas = {name: json.dumps(schema, ensure_ascii=False, indent=2) for name, schema in doc["components"]["schemas"].items()}
    return render_template("integration/docs.html", doc=doc, operations=operations, schemas=schemas)
