"""Telling plugins about order transitions, once they are committed, and keeping what they ask for.

Every place that appends an order event calls :func:`announce` (beside the webhook outbox). It only
takes a snapshot into the session; the plugins hear of it in ``after_commit``, so no plugin ever
reacts to a change that was rolled back, and a plugin that raises or is slow never undoes or blocks
the resident's or the handler's transaction. Their follow-ups are written in a short transaction of
their own, on a separate connection (the session must not run SQL inside its own ``after_commit``).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import has_app_context
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from qunti import plugins
from qunti.db import db, utcnow
from qunti.orders.models import OrderFollowup

log = logging.getLogger("qunti.orders.followups")
_PENDING = "qunti.order_events"
_INSERT = insert(OrderFollowup.__table__)


def announce(order: Any, *order_events: Any, committed: bool = False) -> None:
    """Queue ``order_events`` of ``order`` for the plugins; they hear of them when the session
    commits, or now if they are ``committed`` already (written outside the session)."""
    if not has_app_context():
        return
    listeners = plugins.order_event_listeners()
    if not listeners:
        return  # nobody listens: nothing to snapshot (the common case)
    pending = [(*plugins.order_event_snapshot(order, order_event), listeners) for order_event in order_events]
    if committed:
        _tell(pending)  # their follow-ups in one transaction
    else:
        db.session.info.setdefault(_PENDING, []).extend(pending)


@event.listens_for(Session, "after_commit")
def _tell_plugins(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending and has_app_context():
        _tell(pending)


def _tell(pending: list[tuple]) -> None:
    """Let the listening plugins react to committed events; store the follow-ups they ask for."""
    rows = []
    for order_view, event_view, listeners in pending:
        for owner, item in plugins.order_event(order_view, event_view, listeners):
            rows.append({"order_id": order_view["id"], "event_id": event_view["id"], "plugin_id": owner,
                         "title": item["title"][:100], "text": item["text"], "created_at": utcnow()})
    if not rows:
        return
    try:
        with db.engine.begin() as connection:
            connection.execute(_INSERT, rows)
    except Exception:  # the transition itself is committed and stays so; the log keeps the loss visible
        log.exception("插件跟进事项未能保存：%s", [(r["plugin_id"], r["order_id"], r["title"]) for r in rows])


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def for_order(order_id: int) -> list[OrderFollowup]:
    """The follow-ups plugins asked for on one order, oldest first."""
    return list(db.session.scalars(db.select(OrderFollowup).where(OrderFollowup.order_id == order_id)
                                   .order_by(OrderFollowup.id)))
