"""Which installed plugins are switched on. A plugin with no row is installed but not enabled."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import db, utcnow


class PluginState(db.Model):
    __tablename__ = "plugin_state"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the manifest id
    enabled: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    changed_by: Mapped[str] = mapped_column(String(60), default="")
