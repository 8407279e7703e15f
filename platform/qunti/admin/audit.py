"""Recording an admin change in the audit log, in the caller's transaction."""
from __future__ import annotations

from typing import Any

from flask_login import current_user

from qunti.admin.models import AuditEntry
from qunti.db import db


def record(action: str, object_type: str, object_id: str, *, before: Any = None, after: Any = None,
           user=None) -> AuditEntry:
    """Append one entry; the caller commits it together with the change it describes."""
    user = user if user is not None else (current_user if current_user and current_user.is_authenticated else None)
    entry = AuditEntry(user_id=getattr(user, "id", None),
                       user_label=(f"{user.display_name}（{user.username}）" if user is not None else "系统"),
                       action=action, object_type=object_type, object_id=str(object_id),
                       before=_jsonable(before), after=_jsonable(after))
    db.session.add(entry)
    return entry


def _jsonable(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    return {"value": value}
