"""A service item of the menu, as stored (admins may reorder, disable and retime items)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db
from qunti.forms.models import Form

ORGANIZATIONS = {
    "union": "区总工会",
    "league": "团区委",
    "women": "区妇联",
    "joint": "群团联合",
}


class ServiceItem(db.Model):
    __tablename__ = "service_item"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    form_id: Mapped[str] = mapped_column(ForeignKey("form.id"))
    organization: Mapped[str] = mapped_column(String(16))
    time_limit_days: Mapped[int]
    functions: Mapped[list[Any]]
    summary: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)

    form: Mapped[Form] = relationship()

    @property
    def organization_name(self) -> str:
        return ORGANIZATIONS.get(self.organization, self.organization)
