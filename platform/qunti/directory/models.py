"""Handling units (办单单位), service stations (服务站) and the holiday calendar."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import db

UNIT_KINDS = {
    "organization": "群团组织",
    "department": "区级部门",
    "subdistrict": "街镇",
    "social": "社会组织",
    "district": "区委区政府",
    "meeting": "群团工作联席会",
}


class Unit(db.Model):
    """A unit orders can be routed to; seeded from rules/units.json, editable by admins."""

    __tablename__ = "unit"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)


class Station(db.Model):
    """A grassroots service station (基层群团服务站)."""

    __tablename__ = "station"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    community: Mapped[str] = mapped_column(String(60))
    # "center": inside a 党群服务中心 (1+3+N); "new": newly built (一家牵头、八家进入).
    kind: Mapped[str] = mapped_column(String(10), default="center")
    lead_organization: Mapped[str] = mapped_column(String(16))
    subdistrict_unit: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(200), default="")


class CalendarDay(db.Model):
    """An exception to the Monday–Friday week: a holiday (is_workday False) or a make-up
    working weekend day (调休, is_workday True)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(String(40), default="")
