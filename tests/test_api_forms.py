"""The forms JSON API: list, read, submit; and bad input on every route."""
from __future__ import annotations

import json

import pytest

from qunti.db import db
from qunti.forms.models import Submission

from helpers import example_answers, first_item


def test_list_forms_names_every_public_form(client, app):
    body = client.get("/api/v1/forms").get_json()
    ids = {f["id"] for f in body["forms"]}
    catalog = app.extensions["qunti"].catalog
    assert ids == {item["form"] for item in catalog.menu} | {"demand-survey"}
    assert "station-checklist-qiyou" not in ids  # a staff checklist is not for residents


def test_get_form_returns_current_schema(client, app):
    item = first_item(app)
    body = client.get(f"/api/v1/forms/{item['form']}").get_json()
    assert body["version"] == 1
    assert body["schema"] == app.extensions["qunti"].catalog.forms[item["form"]].schema


def test_submit_valid_answers_creates_one_submission(client, app):
    item = first_item(app)
    answers = example_answers(app, item["form"])
    response = client.post(f"/api/v1/forms/{item['form']}/submissions", json=answers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["trackingNumber"].startswith("JB")
    assert response.headers["Location"].endswith(f"/track/{body['trackingNumber']}")
    with app.app_context():
        stored = db.session.get(Submission, body["id"])
        assert stored.tracking_number == body["trackingNumber"]
        assert stored.service_item_code == item["code"]
        assert stored.answers["phone"] == answers["phone"]


def test_submit_invalid_answers_gives_field_errors_in_chinese(client, app):
    item = first_item(app)
    answers = dict(example_answers(app, item["form"]), phone="12345")
    del answers["name"]
    response = client.post(f"/api/v1/forms/{item['form']}/submissions", json=answers)
    assert response.status_code == 422
    errors = {e["path"]: e["message"] for e in response.get_json()["errors"]}
    schema = app.extensions["qunti"].catalog.forms[item["form"]].schema
    assert errors["/phone"] == f"{schema['properties']['phone']['title']}：格式不正确"
    assert errors["/name"] == f"{schema['properties']['name']['title']}：必填"
    with app.app_context():
        assert db.session.query(Submission).count() == 0


@pytest.mark.parametrize("kwargs, status", [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "[1, 2]", "content_type": "application/json"}, 422),
    ({"data": "\"text\"", "content_type": "application/json"}, 422),
    ({"data": b"\xff\xfe", "content_type": "application/json"}, 400),
    # Python's parser reads these; JSON has no such numbers.
    ({"data": "{\"n\": NaN}", "content_type": "application/json"}, 400),
    ({"data": "{\"n\": -Infinity}", "content_type": "application/json"}, 400),
    ({"data": "{\"n\": 1e400}", "content_type": "application/json"}, 400),  # read as infinity
])
def test_malformed_bodies_get_clear_4xx(client, app, kwargs, status):
    item = first_item(app)
    response = client.post(f"/api/v1/forms/{item['form']}/submissions", **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_oversized_body_is_refused(make_app):
    app = make_app(MAX_JSON_BODY=1000)
    item = first_item(app)
    body = json.dumps({"name": "x" * 2000})
    response = app.test_client().post(f"/api/v1/forms/{item['form']}/submissions", data=body,
                                      content_type="application/json")
    assert response.status_code == 413
    assert "过大" in response.get_json()["error"]


def test_unknown_form_and_staff_form_are_404(client):
    assert client.get("/api/v1/forms/nope").status_code == 404
    assert client.post("/api/v1/forms/nope/submissions", json={}).status_code == 404
    response = client.post("/api/v1/forms/station-checklist-qiyou/submissions", json={})
    assert response.status_code == 404
    assert response.get_json()["error"]


def test_wrong_method_is_json_405(client):
    response = client.delete("/api/v1/forms")
    assert response.status_code == 405
    assert response.get_json()["error"]


def test_the_demand_survey_without_an_order_is_stored_through_the_api(client, app):
    # No service item, so no order: on PostgreSQL it is written in the session, not on a connection
    # of its own (qunti.revision.optimistic), and must still be committed.
    answers = example_answers(app, "demand-survey")
    response = client.post("/api/v1/forms/demand-survey/submissions", json=answers)
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        stored = db.session.get(Submission, response.get_json()["id"])
        assert (stored.service_item_code, stored.answers) == (None, answers)
        assert db.session.query(Submission).count() == 1
