"""API keys and the interconnection API: issued once and stored as a hash, revoked, scoped, rate
limited across workers; orders listed, read, filed and moved through the cycle by key; the OpenAPI
document is valid and describes every route."""
from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from qunti.cli import main
from qunti.db import db
from qunti.integration import keys as api_keys
from qunti.integration.models import ApiKey, ApiRateWindow
from qunti.orders.models import Order, OrderEvent

from helpers import example_answers
from users import ensure_unit, login, make_order, make_user


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def issue(user, *scopes: str, name: str = "市级平台") -> str:
    return api_keys.issue(user, name, scopes)[1]


@pytest.fixture
def handler(ctx):
    return make_user("handler", unit_code="justice")


# --- issuing and revoking ---------------------------------------------------------------------

def test_the_admin_page_shows_a_key_once_and_stores_only_its_hash(client, ctx, handler):
    login(client, make_user("sys_admin"))
    response = client.post("/integration/keys", data={"name": "市级群众服务平台", "username": handler.username,
                                                      "scope": ["orders:read", "orders:update"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    key = page.split('<p class="secret">', 1)[1].split("</p>", 1)[0]
    row = db.session.scalar(select(ApiKey))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key.startswith("qk_" + row.prefix)
    assert row.scopes == ["orders:read", "orders:update"]
    stored = " ".join(str(v) for v in db.session.execute(select(ApiKey.__table__)).one())
    assert key not in stored
    assert key not in client.get("/integration/keys").get_data(as_text=True)
    assert client.get("/api/v1/interop/orders", headers=bearer(key)).status_code == 200
    client.post(f"/integration/keys/{row.id}/revoke")
    response = client.get("/api/v1/interop/orders", headers=bearer(key))
    assert response.status_code == 401 and response.get_json()["error"] == "API 密钥已被吊销。"


def test_only_the_system_admin_manages_keys_and_a_key_needs_a_usable_account(client, ctx, handler):
    login(client, make_user("dispatcher"))
    assert client.get("/integration/keys").status_code == 403
    with pytest.raises(api_keys.KeyRefused, match="不认识的权限范围"):
        api_keys.issue(handler, "x", ["orders:delete"])
    with pytest.raises(api_keys.KeyRefused, match="工作人员账号"):
        api_keys.issue(make_user("resident"), "x", ["orders:read"])
    with pytest.raises(api_keys.KeyRefused, match="至少选择一个"):
        api_keys.issue(handler, "x", [])


def test_the_command_line_issues_lists_and_revokes(app, ctx, handler):
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["apikeys", "issue", "--user", handler.username, "--name", "市级平台",
                                 "--scope", "orders:read,orders:create"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    row = db.session.scalar(select(ApiKey))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.prefix in runner.invoke(main, ["apikeys", "list"]).output
    assert runner.invoke(main, ["apikeys", "revoke", row.prefix]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(ApiKey, row.id).revoked_at is not None
    assert "已吊销" in runner.invoke(main, ["apikeys", "list"]).output
    assert runner.invoke(main, ["apikeys", "issue", "--user", "nobody", "--name", "x", "--scope", "orders:read"]).exit_code == 1


# --- authentication and scopes -------------------------------------------------------------------

def test_missing_wrong_and_revoked_keys_are_401(client, ctx, handler):
    assert client.get("/api/v1/interop/orders").status_code == 401
    assert client.get("/api/v1/interop/orders", headers=bearer("qk_nope_nope")).status_code == 401
    assert client.get("/api/v1/interop/orders", headers={"Authorization": "Basic abc"}).status_code == 401
    row, key = api_keys.issue(handler, "x", ["orders:read"])
    api_keys.revoke(row)
    assert client.get("/api/v1/interop/orders", headers=bearer(key)).status_code == 401
    handler_two = make_user("handler", unit_code="justice")
    key = issue(handler_two, "orders:read")
    handler_two.active = False
    db.session.commit()
    assert client.get("/api/v1/interop/orders", headers=bearer(key)).status_code == 403


def test_each_scope_opens_only_its_own_doors(app, client, ctx, handler):
    order = make_order("S05", unit_code="justice", state="dispatched")
    read, create, update = (issue(handler, scope) for scope in ("orders:read", "orders:create", "orders:update"))
    answers = example_answers(app, "legal-consultation")
    new_order = {"serviceItem": "S05", "answers": answers}
    assert client.get("/api/v1/interop/orders", headers=bearer(read)).status_code == 200
    assert client.get(f"/api/v1/interop/orders/{order.number}", headers=bearer(read)).status_code == 200
    assert client.get("/api/v1/interop/statistics", headers=bearer(read)).status_code == 200
    for key in (create, update):
        response = client.get("/api/v1/interop/orders", headers=bearer(key))
        assert response.status_code == 403 and "orders:read" in response.get_json()["error"]
    assert client.post("/api/v1/interop/orders", json=new_order, headers=bearer(read)).status_code == 403
    assert client.post("/api/v1/interop/orders", json=new_order, headers=bearer(update)).status_code == 403
    assert client.post(f"/api/v1/interop/orders/{order.number}/actions/accept", json={},
                       headers=bearer(read)).status_code == 403
    assert client.post(f"/api/v1/interop/orders/{order.number}/actions/accept", json={},
                       headers=bearer(update)).status_code == 200
    assert client.post("/api/v1/interop/orders", json=new_order, headers=bearer(create)).status_code == 201
    for key in (read, create, update):  # any key reads the menu and the forms
        assert client.get("/api/v1/interop/services", headers=bearer(key)).status_code == 200
        assert client.get("/api/v1/interop/forms/legal-consultation", headers=bearer(key)).status_code == 200


# --- rate limit -----------------------------------------------------------------------------------

def test_the_rate_limit_is_counted_in_the_database_across_workers(make_app, monkeypatch, tmp_path):
    app = make_app(API_RATE_LIMIT=3, API_RATE_WINDOW_SECONDS=60)
    # A second "worker": its own app and connection pool on the same database.
    other = make_app(fresh=False, INSTANCE_PATH=str(tmp_path / "other"), API_RATE_LIMIT=3, API_RATE_WINDOW_SECONDS=60)
    now = [1_800_000_010.0]
    monkeypatch.setattr(api_keys.time, "time", lambda: now[0])
    with app.app_context():
        key = issue(make_user("dispatcher"), "orders:read")
    first, second = app.test_client(), other.test_client()
    assert [first.get("/api/v1/interop/orders", headers=bearer(key)).status_code,
            second.get("/api/v1/interop/orders", headers=bearer(key)).status_code,
            first.get("/api/v1/interop/orders", headers=bearer(key)).status_code] == [200, 200, 200]
    response = second.get("/api/v1/interop/orders", headers=bearer(key))
    assert response.status_code == 429 and response.headers["Retry-After"] == "50"
    assert "每 60 秒最多 3 次" in response.get_json()["error"]
    now[0] += 50  # the next window
    assert first.get("/api/v1/interop/orders", headers=bearer(key)).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.sum(ApiRateWindow.count))) == 5
        assert api_keys.prune_rate_windows(older_than_seconds=0) == 1  # the finished window
    with other.app_context():
        db.engine.dispose()


# --- the orders API ---------------------------------------------------------------------------------

def test_the_list_is_the_key_accounts_scope_paged_by_cursor(client, ctx, handler):
    ensure_unit("women", kind="organization")
    mine = [make_order("S05", unit_code="justice") for _ in range(5)]
    make_order("S10", unit_code="women")
    key = issue(handler, "orders:read")
    seen, cursor = [], None
    while True:
        body = client.get("/api/v1/interop/orders", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=bearer(key)).get_json()
        seen += [o["number"] for o in body["orders"]]
        assert len(body["orders"]) <= 2
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [o.number for o in reversed(mine)]
    body = client.get("/api/v1/interop/orders", query_string={"state": "completed"}, headers=bearer(key)).get_json()
    assert body == {"orders": [], "nextCursor": None}
    assert client.get("/api/v1/interop/orders", query_string={"state": "bogus"}, headers=bearer(key)).status_code == 400
    women = make_order("S10", unit_code="women")
    assert client.get(f"/api/v1/interop/orders/{women.number}", headers=bearer(key)).status_code == 404


def test_filing_an_order_checks_the_answers_and_records_the_key(app, client, ctx):
    station_staff = make_user("station_staff", station_code="gangcheng")
    key = issue(station_staff, "orders:create", "orders:read", name="市级平台")
    answers = example_answers(app, "legal-consultation")
    response = client.post("/api/v1/interop/orders", json={"serviceItem": "S05", "answers": {**answers, "phone": "1"}},
                           headers=bearer(key))
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "/answers/phone"
    response = client.post("/api/v1/interop/orders", json={"serviceItem": "S99", "answers": answers},
                           headers=bearer(key))
    assert response.status_code == 422
    response = client.post("/api/v1/interop/orders", json={"serviceItem": "S05", "answers": answers, "channel": "phone"},
                           headers=bearer(key))
    assert response.status_code == 201
    number = response.get_json()["number"]
    order = db.session.scalar(select(Order).where(Order.number == number))
    assert (order.channel, order.station_code, order.filed_by_user_id) == ("phone", "gangcheng", station_staff.id)
    events = client.get(f"/api/v1/interop/orders/{number}/events", headers=bearer(key)).get_json()["events"]
    assert events[0]["action"] == "submit" and len(events) >= 2  # filed, then routed


def test_moving_an_order_goes_through_the_transitions_with_an_api_actor(client, ctx, handler):
    order = make_order("S05", unit_code="justice", state="dispatched", deadline=date.today() + timedelta(days=10))
    key = issue(handler, "orders:update", name="区网格平台")
    response = client.post(f"/api/v1/interop/orders/{order.number}/actions/accept",
                           json={"expectedVersion": order.lock_version}, headers=bearer(key))
    assert response.status_code == 200 and response.get_json()["state"] == "accepted"
    event = db.session.scalar(select(OrderEvent).where(OrderEvent.order_id == order.id))
    assert "接口：区网格平台" in event.actor_label and event.actor_user_id == handler.id
    stale = client.post(f"/api/v1/interop/orders/{order.number}/actions/plan",
                        json={"expectedVersion": 1, "plan": {}}, headers=bearer(key))
    assert stale.status_code == 409
    wrong = client.post(f"/api/v1/interop/orders/{order.number}/actions/rate", json={"level": 5}, headers=bearer(key))
    assert wrong.status_code == 403  # residents rate, not keys
    assert client.post(f"/api/v1/interop/orders/{order.number}/actions/fly", json={},
                       headers=bearer(key)).status_code == 404


# --- OpenAPI ---------------------------------------------------------------------------------------

def test_the_openapi_document_is_valid_and_describes_every_route(app, client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/interop", "/open311/v2")):
            path = rule.rule.replace("<", "{").replace(">", "}").replace("{form_id}", "{formId}") \
                .replace("{code}", "{service_code}")
            if path.startswith("/open311/v2/requests/{number}"):
                path = path.replace("{number}", "{service_request_id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routed.add((path, method))
                view = app.view_functions[rule.endpoint]
                operation = document["paths"][path][method.lower()]
                if hasattr(view, "api_scope"):
                    assert operation["x-scope"] == view.api_scope, (path, method)
    assert routed == documented
    page = client.get("/api/v1/docs").get_data(as_text=True)
    for path, method in documented:
        assert path in page
    assert "<script" not in page
