"""Open311 GeoReport v2: services, service definitions from the forms, service requests listed,
read and posted; every response checked field by field against the GeoReport v2 field lists."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from sqlalchemy import select

from qunti.db import db
from qunti.directory.models import Unit
from qunti.integration import keys as api_keys
from qunti.integration.openapi import document
from qunti.orders.models import Order

from users import ensure_unit, make_order, make_user

# GeoReport v2, field by field.
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
ATTRIBUTE_FIELDS = {"variable", "code", "datatype", "required", "datatype_description", "order", "description"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}
CREATED_FIELDS = {"service_request_id", "token", "service_notice", "account_id"}


def iso8601_with_zone(text: str) -> bool:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.tzinfo is not None


def schema(name: str, *, array: bool = False) -> dict:
    """A schema of the OpenAPI document (or an array of it), resolvable on its own."""
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {**({"type": "array", "items": ref} if array else ref), "components": document()["components"]}


@pytest.fixture
def handler_key(ctx):
    return api_keys.issue(make_user("handler", unit_code="justice"), "市级平台", ["orders:read"])[1]


@pytest.fixture
def creator_key(ctx):
    return api_keys.issue(make_user("dispatcher"), "市级平台", ["orders:create", "orders:read"])[1]


def test_services_list_every_enabled_item_with_exactly_the_georeport_fields(client, ctx):
    services = client.get("/open311/v2/services.json").get_json()
    assert [s["service_code"] for s in services][:3] == ["S01", "S02", "S03"]
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] is True and service["type"] == "realtime"
        assert all(isinstance(service[k], str) and service[k] for k in SERVICE_FIELDS - {"metadata"})
    legal = next(s for s in services if s["service_code"] == "S05")
    assert (legal["service_name"], legal["group"]) == ("法律咨询/法律援助", "区总工会")
    jsonschema.validate(services, schema("Open311Service", array=True))


def test_a_service_definition_is_its_form_with_types_choices_and_order(client, ctx):
    body = client.get("/open311/v2/services/S05.json").get_json()
    assert set(body) == {"service_code", "attributes"} and body["service_code"] == "S05"
    attributes = {a["code"]: a for a in body["attributes"]}
    for attribute in body["attributes"]:
        assert ATTRIBUTE_FIELDS <= set(attribute) <= ATTRIBUTE_FIELDS | {"values"}
        assert attribute["datatype"] in DATATYPES and attribute["variable"] is True
        assert ("values" in attribute) == (attribute["datatype"] in ("singlevaluelist", "multivaluelist"))
        for value in attribute.get("values", []):
            assert set(value) == {"key", "name"}
    assert [a["order"] for a in body["attributes"]] == list(range(1, len(body["attributes"]) + 1))
    assert attributes["name"]["required"] is True and attributes["name"]["description"] == "姓名"
    assert attributes["description"]["datatype"] == "text"  # a textarea
    assert attributes["householdSize"]["datatype"] == "number"
    assert attributes["appointmentDate"]["datatype"] == "datetime"
    assert attributes["evidence"]["datatype"] == "multivaluelist"
    assert {"key": "legal_aid", "name": "申请法律援助"} in attributes["serviceType"]["values"]
    assert attributes["consent"]["values"] == [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}]
    assert attributes["idNumber"]["required"] is False  # required only when shown (visibleIf)
    nested = client.get("/open311/v2/services/S11.json").get_json()
    assert "employer.name" in {a["code"] for a in nested["attributes"]}
    jsonschema.validate(body, schema("Open311ServiceDefinition"))
    response = client.get("/open311/v2/services/S99.json")
    assert response.status_code == 404 and set(response.get_json()[0]) == {"code", "description"}


def post(client, key: str, **fields):
    data = {"api_key": key, "service_code": "S05", "first_name": "德福", "last_name": "张", "phone": "13594112233",
            "description": "2025年3月在工地搬运钢筋时摔伤，公司拒付一次性伤残补助金。", "attribute[community]": "郭家沱社区",
            "attribute[applicantCategory]": "migrant_worker", "attribute[serviceType]": "consultation",
            "attribute[caseCategory]": "work_injury", "attribute[consent]": "true",
            "attribute[evidence][]": ["考勤记录", "劳动合同"], "attribute[householdSize]": "4"}
    data.update(fields)
    return client.post("/open311/v2/requests.json", data={k: v for k, v in data.items() if v is not None})


def test_posting_a_request_maps_the_fields_onto_the_form_and_files_an_order(client, creator_key):
    response = post(client, creator_key)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert isinstance(created, list) and len(created) == 1
    assert {"service_request_id", "service_notice"} <= set(created[0]) <= CREATED_FIELDS
    jsonschema.validate(created, schema("Open311Created"))
    order = db.session.scalar(select(Order).where(Order.number == created[0]["service_request_id"]))
    answers = order.submission.answers
    assert answers["name"] == "张德福" and answers["phone"] == "13594112233"
    assert answers["description"] == "2025年3月在工地搬运钢筋时摔伤，公司拒付一次性伤残补助金。"
    assert answers["evidence"] == ["考勤记录", "劳动合同"] and answers["consent"] is True
    assert answers["serviceType"] == "consultation" and answers["community"] == "郭家沱社区"
    assert "householdSize" not in answers  # shown only for legal aid: pruned, as on the form page


def test_posting_errors_come_back_in_the_open311_shape(client, creator_key, handler_key):
    def errors(response, status):
        assert response.status_code == status
        body = response.get_json()
        assert isinstance(body, list) and body and all(set(e) == {"code", "description"} and e["code"] == status
                                                       for e in body)
        jsonschema.validate(body, schema("Open311Errors"))
        return " ".join(e["description"] for e in body)

    assert "手机号" in errors(post(client, creator_key, phone="123"), 400)
    assert "description" in errors(post(client, creator_key, description=None), 400)
    assert "没有这些属性" in errors(post(client, creator_key, **{"attribute[nosuch]": "x"}), 400)
    for not_a_number in ("四", "nan", "inf", "1e400"):  # Python's float() would take the last three
        assert "须是数字" in errors(post(client, creator_key, **{"attribute[householdSize]": not_a_number}), 400)
    assert "service_code" in errors(post(client, creator_key, service_code=""), 400)
    errors(post(client, creator_key, service_code="S99"), 404)
    errors(post(client, "qk_wrong_key"), 401)
    assert "orders:create" in errors(post(client, handler_key), 403)


def test_requests_are_listed_filtered_and_read_within_the_keys_scope(client, handler_key, ctx):
    ensure_unit("women", kind="organization")
    now = datetime.now(timezone.utc)
    open_order = make_order("S05", unit_code="justice", created_at=now - timedelta(days=2))
    closed = make_order("S11", unit_code="justice", state="completed", result_note="已调解", created_at=now - timedelta(days=1))
    old = make_order("S05", unit_code="justice", created_at=now - timedelta(days=120))
    other_unit = make_order("S10", unit_code="women")

    def ids(**args):
        response = client.get("/open311/v2/requests.json", query_string=args, headers={"Authorization": f"Bearer {handler_key}"})
        assert response.status_code == 200
        body = response.get_json()
        for request in body:
            assert set(request) == REQUEST_FIELDS
            assert request["status"] in ("open", "closed")
            assert iso8601_with_zone(request["requested_datetime"]) and iso8601_with_zone(request["updated_datetime"])
        jsonschema.validate(body, schema("Open311Request", array=True))
        return [r["service_request_id"] for r in body]

    assert ids() == [closed.number, open_order.number]  # newest first; 90 days by default; own unit only
    assert ids(status="closed") == [closed.number]
    assert ids(status="open") == [open_order.number]
    assert ids(service_code="S05") == [open_order.number]
    assert ids(start_date=(now - timedelta(days=200)).isoformat()) == [closed.number, open_order.number, old.number]
    assert ids(end_date=(now - timedelta(days=100)).isoformat()) == [old.number]
    assert ids(service_request_id=f"{old.number},{other_unit.number}") == [old.number]
    response = client.get(f"/open311/v2/requests/{closed.number}.json", query_string={"api_key": handler_key})
    body = response.get_json()
    assert len(body) == 1 and body[0]["status"] == "closed" and body[0]["status_notes"] == "已调解"
    assert body[0]["agency_responsible"] == db.session.get(Unit, "justice").name
    assert "张" not in body[0]["description"]  # no answers: the item and the community only
    assert client.get(f"/open311/v2/requests/{other_unit.number}.json",
                      query_string={"api_key": handler_key}).status_code == 404
    assert client.get("/open311/v2/requests.json").status_code == 401
    assert client.get("/open311/v2/requests.json", query_string={"api_key": handler_key,
                                                                 "status": "pending"}).status_code == 400
