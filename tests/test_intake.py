"""点单 storage: the submission, its order and their first events are written together, as stored."""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone

from sqlalchemy import func, select

from qunti import intake
from qunti.db import db
from qunti.forms.models import Submission
from qunti.orders.models import Order, OrderEvent

from order_helpers import ROUTES, order, submit


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite: naive UTC


def test_the_new_order_is_stored_with_everything_routing_set(ctx):
    code, overrides, row, route_class, unit, _mode = ROUTES["handle"]
    placed = order(submit(ctx, code, **overrides))
    assert (placed.state, placed.route_class, placed.unit_code, placed.rule_row_id) == \
        ("dispatched", route_class, unit, row)
    assert placed.submission.tracking_number == placed.number
    assert placed.suggestion["row"]["id"] == row and placed.ruleset_digest
    assert placed.deadline is not None and placed.accept_by is not None and placed.dispatched_at is not None
    # Columns the intake never sets keep their defaults.
    assert (placed.lock_version, placed.round, placed.overdue, placed.plan) == (1, 1, False, None)
    assert placed.created_at is not None and placed.updated_at is not None
    # A timestamp keeps its instant (PostgreSQL reads the order's from JSON text).
    assert abs((_aware(placed.created_at) - _aware(placed.submission.created_at)).total_seconds()) < 5
    assert [(e.action, e.from_state, e.to_state) for e in placed.events] == \
        [("submit", None, "submitted"), ("dispatch", "submitted", "dispatched")]
    assert placed.events[0].id < placed.events[1].id
    assert placed.events[1].rule_id == row and placed.events[0].data["channel"] == "online"


def test_a_taken_tracking_number_is_drawn_again(ctx, monkeypatch):
    taken = submit(ctx, "S06")
    draws = itertools.chain([taken, taken], (f"JB999999FRESH{n}" for n in itertools.count()))
    monkeypatch.setattr(intake, "new_tracking_number", lambda now=None: next(draws))
    number = submit(ctx, "S06")
    assert number == "JB999999FRESH0"
    placed = order(number)
    assert placed.submission.tracking_number == number and len(placed.events) == 2
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 2
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 4
    # The submission that held the number first is untouched.
    assert order(taken).submission.tracking_number == taken


def test_answers_are_stored_exactly_even_where_the_fast_json_writer_gives_up(ctx):
    # An integer beyond 64 bits (a form without a maximum) and text in any script: intake writes
    # JSON with orjson, and with the standard library for what orjson refuses.
    huge, text = 2 ** 70 + 1, "王小明 ✓ \u2028"
    placed = order(submit(ctx, "S06", note=text, extra={"count": huge, "nested": [huge, 1.5, None]}))
    answers = placed.submission.answers
    assert answers["extra"] == {"count": huge, "nested": [huge, 1.5, None]}
    assert answers["note"] == text
    moment = datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=timezone.utc)
    for row in ({"at": moment}, {"at": moment, "n": huge}):  # orjson; the standard library
        assert json.loads(intake._json(row)) == {**row, "at": "2026-11-27T08:30:15.123456+00:00"}
