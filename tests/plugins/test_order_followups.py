"""Plugins hear of order transitions once they are committed; their follow-ups stay with the order."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from qunti.accounts.models import User
from qunti.db import db
from qunti.orders.models import Order, OrderFollowup
from qunti.orders.transitions import perform, staff_actor

from plugin_helpers import SHIPPED_DIRS, enable, write_plugin
from users import login, make_order, make_user

RAISING_HOOKS = """
from qunti import hookimpl

@hookimpl
def qunti_order_event(order, event):
    raise RuntimeError("this plugin is broken")
"""

RECORDING_HOOKS = """
from qunti import hookimpl

HEARD = []

@hookimpl
def qunti_order_event(order, event):
    HEARD.append((order["number"], event["action"]))
    return {"title": "记下了", "text": order["number"] + " " + event["to_state"]}
"""


@pytest.fixture
def followup_app(make_app, tmp_path):
    extra = tmp_path / "more-plugins"
    write_plugin(extra, "raising-plugin", hooks=RAISING_HOOKS)
    write_plugin(extra, "recording-plugin", hooks=RECORDING_HOOKS)
    return make_app(PLUGINS_DIRS=[*SHIPPED_DIRS, str(extra)])


def _complete_hardship_order(app, **fields):
    """A 困难帮扶 order of a migrant worker, closed (销号) by its handler; returns its id."""
    with app.app_context():
        order = make_order("S10", state="in_progress", unit_code="justice",
                           applicant_category=fields.pop("applicant_category", "migrant_worker"), **fields)
        handler = make_user("handler", unit_code="justice")
        perform(order, "complete", staff_actor(handler), result_note="已发放帮扶金。")
        return order.id, handler.id


def _followups(app, order_id):
    with app.app_context():
        return [(f.plugin_id, f.title) for f in db.session.scalars(
            select(OrderFollowup).where(OrderFollowup.order_id == order_id).order_by(OrderFollowup.id))]


def test_a_completed_hardship_order_gets_the_union_followup_and_staff_see_it(followup_app):
    enable(followup_app, "union-care")
    order_id, handler_id = _complete_hardship_order(followup_app)
    assert _followups(followup_app, order_id) == [("union-care", "情系职工·四季帮扶回访")]

    client = followup_app.test_client()
    with followup_app.app_context():
        login(client, db.session.get(User, handler_id))
    page = client.get(f"/staff/orders/{order_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "跟进事项" in text and "情系职工·四季帮扶回访" in text and "情系职工" in text


def test_a_disabled_plugin_hears_nothing(followup_app):
    order_id, _ = _complete_hardship_order(followup_app)
    assert _followups(followup_app, order_id) == []


def test_a_raising_plugin_neither_breaks_the_transition_nor_silences_the_others(followup_app, caplog):
    enable(followup_app, "union-care", "raising-plugin", "recording-plugin")
    order_id, _ = _complete_hardship_order(followup_app)
    with followup_app.app_context():
        assert db.session.get(Order, order_id).state == "completed"
    assert sorted(_followups(followup_app, order_id)) == [("recording-plugin", "记下了"),
                                                         ("union-care", "情系职工·四季帮扶回访")]
    assert any("raising-plugin" in r.getMessage() for r in caplog.records)


def test_plugins_hear_only_of_committed_transitions(followup_app):
    enable(followup_app, "recording-plugin")
    with followup_app.app_context():
        order = make_order("S10", state="in_progress", unit_code="justice")
        order_id = order.id
        handler = make_user("handler", unit_code="justice")
        perform(order, "complete", staff_actor(handler), commit=False, result_note="写了一半")
        db.session.rollback()
        db.session.commit()  # a later, unrelated commit must not deliver the rolled-back event
        assert db.session.get(Order, order_id).state == "in_progress"
    assert _followups(followup_app, order_id) == []


def test_new_orders_are_announced_with_their_first_events(followup_app):
    from helpers import example_answers
    enable(followup_app, "recording-plugin")
    with followup_app.app_context():
        from qunti import intake
        from qunti.forms.registry import current_version
        from qunti.menu.models import ServiceItem
        item = db.session.get(ServiceItem, "S05")
        submission = intake.accept(current_version(item.form_id), example_answers(followup_app, item.form_id),
                                   service_item_code="S05")
        order_id = db.session.scalar(select(Order.id).where(Order.number == submission.tracking_number))
    titles = _followups(followup_app, order_id)
    assert len(titles) >= 2 and {plugin for plugin, _ in titles} == {"recording-plugin"}


def test_orders_submitted_through_the_api_are_announced_too(followup_app):
    # On PostgreSQL such a submission is written outside the session (qunti.revision.optimistic):
    # no session commit tells the plugins, so the write does, once it is committed.
    from helpers import example_answers
    enable(followup_app, "recording-plugin")
    with followup_app.app_context():
        from qunti.menu.models import ServiceItem
        form_id = db.session.get(ServiceItem, "S05").form_id
    response = followup_app.test_client().post(f"/api/v1/forms/{form_id}/submissions",
                                               json=example_answers(followup_app, form_id))
    assert response.status_code == 201, response.get_json()
    with followup_app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.number == response.get_json()["trackingNumber"]))
    titles = _followups(followup_app, order_id)
    assert len(titles) >= 2 and {plugin for plugin, _ in titles} == {"recording-plugin"}
