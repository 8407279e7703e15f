"""The resident's path through HTML: menu → form → receipt → tracking, with JavaScript off."""
from __future__ import annotations

import re

import pytest

from qunti.db import db
from qunti.forms.models import Submission

from browser import browser_post, elements, page
from helpers import example_answers

def menu_items(app):
    return app.extensions["qunti"].catalog.menu


def test_menu_lists_every_enabled_item_grouped_by_organization(client, app):
    html = client.get("/").get_data(as_text=True)
    for item in menu_items(app):
        assert f'href="/services/{item["code"]}"' in html
        assert item["name"] in html
    for heading in ("区总工会", "团区委", "区妇联"):
        assert f"<h2>{heading}</h2>" in html


def example_post(app, code: str, **fill):
    """What a resident's browser posts after typing the form's shipped example into the page,
    with ``fill`` typed over it."""
    from flask import render_template_string

    from qunti.forms.registry import compiled_version, current_version

    item = next(i for i in menu_items(app) if i["code"] == code)
    with app.test_request_context():
        compiled = compiled_version(current_version(item["form"]))
        html = render_template_string(
            '{% from "forms/_macros.html" import render_form %}{{ render_form(form, compiled) }}',
            form=compiled.bind(data=example_answers(app, item["form"])), compiled=compiled)
    return browser_post(html, fill), item


@pytest.mark.parametrize("index", range(13))
def test_every_service_form_renders_and_accepts_its_example(client, app, index):
    item = menu_items(app)[index]
    page = client.get(f"/services/{item['code']}")
    assert page.status_code == 200
    schema = app.extensions["qunti"].catalog.forms[item["form"]].schema
    assert schema["properties"]["phone"]["title"] in page.get_data(as_text=True)
    posted, _ = example_post(app, item["code"])
    response = client.post(f"/services/{item['code']}", data=posted)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    number = response.headers["Location"].rsplit("/", 1)[-1]
    with app.app_context():
        stored = db.session.query(Submission).filter_by(tracking_number=number).one()
        assert stored.service_item_code == item["code"]
        assert stored.answers["phone"] == example_answers(app, item["form"])["phone"]
        assert stored.form_version.number == 1


def _post_example(client, app, code, **fill):
    posted, item = example_post(app, code, **fill)
    return client.post(f"/services/{code}", data=posted), item


def test_invalid_answers_show_chinese_errors_next_to_fields_and_keep_the_rest(client, app):
    response, item = _post_example(client, app, "S05", phone="12345", name="王小明")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    title = app.extensions["qunti"].catalog.forms[item["form"]].schema["properties"]["phone"]["title"]
    assert f"{title}：格式不正确" in html
    assert 'value="王小明"' in html           # other answers stay filled in
    assert 'value="12345"' in html           # and so does the wrong one, to correct it
    with app.app_context():
        assert db.session.query(Submission).count() == 0


def test_receipt_shows_tracking_number_and_qr_and_only_to_the_submitter(client, app, make_app):
    response, _ = _post_example(client, app, "S05")
    assert response.status_code == 303
    receipt = client.get(response.headers["Location"])
    html = receipt.get_data(as_text=True)
    number = re.search(r'class="tracking-number">([A-Z0-9]+)<', html).group(1)
    qr_src = elements(html, "img", **{"class": "qr"})[0]["src"]
    qr = client.get(qr_src)
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    # A stranger's browser neither sees the receipt nor the status without the phone.
    stranger = app.test_client()
    assert stranger.get(response.headers["Location"]).status_code == 404
    status = stranger.get(f"/track/{number}").get_data(as_text=True)
    assert elements(status, "input", name="phone"), "a stranger is asked for the phone number"
    assert "当前状态" not in status


def test_tracking_needs_the_phone_used(client, app):
    response, item = _post_example(client, app, "S05")
    number = response.headers["Location"].rsplit("/", 1)[-1]
    phone = example_answers(app, item["form"])["phone"]
    stranger = app.test_client()
    wrong = stranger.post("/track", data={"number": number, "phone": "13900000000"})
    assert wrong.status_code == 422
    assert "受理编号或手机号不正确" in wrong.get_data(as_text=True)
    unknown = stranger.post("/track", data={"number": "JB000000XXXXXX", "phone": phone})
    # The same message for an unknown number: the page does not confirm which numbers exist.
    assert unknown.status_code == 422 and "受理编号或手机号不正确" in unknown.get_data(as_text=True)
    right = stranger.post("/track", data={"number": number.lower(), "phone": phone})
    assert right.status_code == 200
    assert number in right.get_data(as_text=True)


def test_add_and_remove_rows_work_without_javascript(client, app):
    code = next(i["code"] for i in menu_items(app) if i["form"] == "hardship-assistance")
    html = client.get(f"/services/{code}").get_data(as_text=True)
    add = elements(html, "button", name="__add__")
    assert add, "the household group has an add button"
    def rows(html_):
        return [a["data-path"] for t, a in page(html_).tags
                if re.fullmatch(r"/householdMembers/\d+", a.get("data-path", ""))]

    before = rows(html)
    response = client.post(f"/services/{code}", data=browser_post(html, __add__=add[0]["value"]))
    assert response.status_code == 200
    after_html = response.get_data(as_text=True)
    assert len(rows(after_html)) == len(before) + 1
    remove = elements(after_html, "button", name="__remove__")
    again = client.post(f"/services/{code}", data=browser_post(after_html, __remove__=remove[-1]["value"]))
    assert len(rows(again.get_data(as_text=True))) == len(before)
    assert "请修改" not in after_html  # adding a row is not a failed submission
    with app.app_context():
        assert db.session.query(Submission).count() == 0


@pytest.mark.parametrize("path", ["/services/NOPE", "/services/<script>", "/receipt/XYZ", "/qr/track/%00.svg",
                                  "/track/' OR 1=1 --"])
def test_bad_paths_are_chinese_404s(client, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    if response.status_code == 404:
        assert "找不到" in response.get_data(as_text=True)


def test_missing_csrf_token_is_refused_politely(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/services/S05", data={"name": "x"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)


def test_pages_send_a_strict_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_the_shared_form_page_carries_each_visitors_own_token_and_never_a_signed_in_view(make_app):
    from qunti.extensions import login_manager
    from users import make_user

    app = make_app(WTF_CSRF_ENABLED=True)
    first, second = app.test_client(), app.test_client()
    tokens = []
    for client in (first, second):
        html = client.get("/services/S06").get_data(as_text=True)
        assert "退出" not in html
        tokens.append(re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1))
    assert tokens[0] != tokens[1]
    assert first.post("/services/S06", data={"csrf_token": tokens[0]}).status_code == 422
    assert first.post("/services/S06", data={"csrf_token": tokens[1]}).status_code == 400
    # page_is_shared() tells anonymous visitors by the session alone: no loader may sign anyone in otherwise.
    assert login_manager._request_callback is None and login_manager._header_callback is None
    with app.app_context():
        user = make_user("resident", username="13912345678")
        with second.session_transaction() as s:
            s["_user_id"] = str(user.id)
    assert "退出" in second.get("/services/S06").get_data(as_text=True)
    assert "退出" not in first.get("/services/S06").get_data(as_text=True)
