"""Enabled or not: as the database has it, so a switch on one host shows on every host at the next
request, without a restart. The set is cached under the definitions revision (``plugin_state`` is a
watched table; see qunti.revision) and kept in ``g`` for the rest of the request."""
from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qunti import revision
from qunti.db import db
from qunti.plugins.models import PluginState

_CACHE = "_qunti_enabled_plugins"
# A Core select, built once: this runs on every resident page, and skipping the ORM's row loading
# makes it about a quarter cheaper.
_ENABLED = select(PluginState.__table__.c.id).where(PluginState.__table__.c.enabled.is_(True))


def enabled_ids() -> frozenset[str]:
    """Ids of the enabled plugins, kept in ``g`` for the rest of the request. Outside a request
    (commands, shells) every call checks the revision."""
    cached = g.get(_CACHE) if has_request_context() else None
    if cached is None:
        cached = revision.cached("plugins", lambda: frozenset(db.session.execute(_ENABLED).scalars()))
        if has_request_context():
            setattr(g, _CACHE, cached)
    return cached


def is_enabled(plugin_id: str) -> bool:
    return plugin_id in enabled_ids()


def set_enabled(plugin_id: str, enabled: bool, changed_by: str = "") -> bool:
    """Switch ``plugin_id`` on or off and commit; returns whether anything changed. Data is kept."""
    for attempt in range(2):
        row = db.session.get(PluginState, plugin_id)
        if row is not None and row.enabled == enabled:
            return False
        if row is None:
            row = PluginState(id=plugin_id)
            db.session.add(row)
        row.enabled, row.changed_by = enabled, changed_by[:60]
        try:
            db.session.commit()
            break
        except IntegrityError:
            # Someone inserted the row at the same moment: read theirs and apply ours on top.
            db.session.rollback()
            if attempt:
                raise
    if has_request_context():
        g.pop(_CACHE, None)
    return True
