"""The audit log of admin changes: who, when, what, before and after. Append-only."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import db, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    user_label: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))         # create, update, publish, rollback, enable …
    object_type: Mapped[str] = mapped_column(String(40))    # form, service_item, ruleset, user, plugin …
    object_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(_mapper, _connection, target: AuditEntry) -> None:
    raise RuntimeError(f"the audit log is append-only (entry {target.id})")
