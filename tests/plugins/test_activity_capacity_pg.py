"""Many residents signing up (and cancelling) at the same moment on real connections: never more
confirmed seats than the capacity, and the waiting list moves up first come, first served.

Each thread pushes its own request context, so it has its own session and connection; a barrier
releases them together. PostgreSQL is the database where this is a real race (row locks); on SQLite
writers queue anyway, so the test runs only when QUNTI_DATABASE_URL points at PostgreSQL.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from qunti.activities import seats
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db
from qunti.forms.registry import current_version

from plugin_helpers import SHIPPED_DIRS, enable

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("QUNTI_DATABASE_URL", "").startswith("postgresql"),
                       reason="needs QUNTI_DATABASE_URL pointing at PostgreSQL"),
]

FORM = "league-skills-upgrade"


@pytest.fixture
def app(make_app):
    # Enough connections that every thread really holds one at the same time.
    app = make_app(PLUGINS_DIRS=SHIPPED_DIRS,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 30, "max_overflow": 0})
    enable(app, "youth-hub")
    return app


def make_activity(app, capacity: int) -> int:
    now = datetime.now(timezone.utc)
    with app.app_context():
        activity = Activity(plugin_id="youth-hub", type_id=FORM, organization="league", title="并发报名测试",
                            starts_at=now + timedelta(days=3), signup_deadline=now + timedelta(days=2),
                            place="石子山", capacity=capacity)
        db.session.add(activity)
        db.session.commit()
        return activity.id


def race(app, jobs) -> list[object]:
    """Run every ``job()`` in its own thread and request context, released together."""
    barrier = threading.Barrier(len(jobs), timeout=30)
    results: list[object] = [None] * len(jobs)

    def thread(index: int) -> None:
        with app.test_request_context("/"):
            try:
                prepare = jobs[index]()
                barrier.wait()
                results[index] = prepare()
            except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return results


def signing_up(app, activity_id: int, phone: str):
    def prepare():
        version = current_version(FORM)
        answers = dict(app.extensions["qunti"].catalog.forms[FORM].schema["examples"][0], phone=phone)
        db.session.commit()  # hold no transaction while waiting at the barrier
        return lambda: seats.sign_up(activity_id, version, answers).status
    return prepare


def cancelling(signup_id: int):
    return lambda: (lambda: ("cancelled", seats.cancel(signup_id)))


def seats_of(app, activity_id: int) -> tuple[int, dict[str, list[int]]]:
    with app.app_context():
        taken = db.session.get(Activity, activity_id).taken
        rows = db.session.execute(select(ActivitySignup.id, ActivitySignup.status)
                                  .where(ActivitySignup.activity_id == activity_id).order_by(ActivitySignup.id)).all()
    by_status: dict[str, list[int]] = {}
    for signup_id, status in rows:
        by_status.setdefault(status, []).append(signup_id)
    return taken, by_status


def test_simultaneous_sign_ups_never_overbook(app):
    activity_id = make_activity(app, capacity=5)
    results = race(app, [signing_up(app, activity_id, f"1391234{i:04d}") for i in range(24)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results.count("confirmed") == 5 and results.count("waiting") == 19
    taken, by_status = seats_of(app, activity_id)
    assert taken == 5 and len(by_status["confirmed"]) == 5 and len(by_status["waiting"]) == 19


def test_cancellations_racing_new_sign_ups_promote_the_waiting_list_in_order(app):
    activity_id = make_activity(app, capacity=3)
    race(app, [signing_up(app, activity_id, f"1382222{i:04d}") for i in range(8)])
    _, before = seats_of(app, activity_id)
    first_waiting = before["waiting"][:3]
    jobs = [cancelling(signup_id) for signup_id in before["confirmed"]]
    jobs += [signing_up(app, activity_id, f"1373333{i:04d}") for i in range(6)]
    results = race(app, jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    taken, after = seats_of(app, activity_id)
    assert taken == 3 and after["confirmed"] == sorted(first_waiting)  # the longest-waiting, nobody else
    assert len(after["cancelled"]) == 3 and len(after["waiting"]) == 2 + 6
    assert results[3:] == ["waiting"] * 6  # newcomers queue behind people already waiting
