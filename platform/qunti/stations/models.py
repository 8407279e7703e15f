"""What a station keeps: its profile (the staffing of its kind), its 七有 inspections (with per-item
results and photos) and its 以空间换资源 / 以资源换资源 agreements with the services delivered.

Profiles and inspections are append-only: a new profile or inspection is a new row, the latest one is
current, and the older ones are the history. Answers stay bound to the form version they were made
with, so old records always render.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow

# 七有 results, as the checklist form's checkItem offers them, and what each counts towards the score.
RESULTS = {"pass": "符合", "partial": "部分符合", "fail": "不符合"}
RESULT_WEIGHTS = {"pass": 1.0, "partial": 0.5, "fail": 0.0}

EXCHANGES = {"space": "以空间换资源", "resource": "以资源换资源"}
PRICING = {"free": "免费", "discount": "优惠"}
# How often the promised number of services falls due; "term" is once for the whole agreement.
FREQUENCIES = {"week": "每周", "month": "每月", "quarter": "每季度", "year": "每年", "term": "协议期内共"}


class StationProfile(db.Model):
    """A station's profile as filled in the profile form of its kind's plugin (staff, liaisons,
    entering units…); the staffing check runs on the latest one."""

    __tablename__ = "station_profile"
    __table_args__ = (Index("ix_station_profile_station_id", "station_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    kind: Mapped[str] = mapped_column(String(10))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id"))
    answers: Mapped[dict[str, Any]]
    saved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    saved_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Inspection(db.Model):
    """One 七有 inspection of a station: when, by whom, every item's result, and the score."""

    __tablename__ = "station_inspection"
    __table_args__ = (Index("ix_station_inspection_latest", "station_code", "inspected_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    inspected_on: Mapped[date]
    inspector: Mapped[str] = mapped_column(String(60))  # the names written on the checklist
    inspector_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_by: Mapped[str] = mapped_column(String(60), default="")  # the account that saved it
    # The 七有 form version the core items came from; plugin items are in ``items`` with their titles.
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id"))
    answers: Mapped[dict[str, Any]]
    items_count: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    partial: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)  # 0–100: 符合 1, 部分符合 ½, 不符合 0, over the items
    overall: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[InspectionItem]] = relationship(back_populates="inspection", order_by="InspectionItem.position",
                                                       cascade="all, delete-orphan")
    photos: Mapped[list[InspectionPhoto]] = relationship(back_populates="inspection", order_by="InspectionPhoto.id",
                                                         cascade="all, delete-orphan")

    @property
    def missing(self) -> list[InspectionItem]:
        """The items not judged 符合: what the station still has to put right."""
        return [item for item in self.items if item.result != "pass"]


class InspectionItem(db.Model):
    """One checklist item of an inspection, with its title as it was asked (core or plugin item)."""

    __tablename__ = "station_inspection_item"

    inspection_id: Mapped[int] = mapped_column(ForeignKey("station_inspection.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(60))
    plugin_id: Mapped[str | None] = mapped_column(String(40))  # None: an item of the 七有 form itself
    result: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")

    inspection: Mapped[Inspection] = relationship(back_populates="items")

    @property
    def result_name(self) -> str:
        return RESULTS.get(self.result, self.result)


class InspectionPhoto(db.Model):
    """A photo taken at an inspection: kept outside the web root under a random name."""

    __tablename__ = "station_inspection_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("station_inspection.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    inspection: Mapped[Inspection] = relationship(back_populates="photos")


class Agreement(db.Model):
    """以空间换资源 / 以资源换资源: what the station gives a social organization (space, or its client
    base) and the service it gets back, on which terms, for how long and how often."""

    __tablename__ = "resource_agreement"
    __table_args__ = (Index("ix_resource_agreement_station_id", "station_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    exchange: Mapped[str] = mapped_column(String(10))
    partner: Mapped[str] = mapped_column(String(100))  # the social organization
    partner_contact: Mapped[str] = mapped_column(String(40), default="")
    partner_phone: Mapped[str] = mapped_column(String(20), default="")
    offered: Mapped[str] = mapped_column(Text)   # the space or resource the station gives
    service: Mapped[str] = mapped_column(Text)   # the service it gets in return
    pricing: Mapped[str] = mapped_column(String(10))
    pricing_note: Mapped[str] = mapped_column(String(100), default="")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    promised_count: Mapped[int] = mapped_column(Integer)  # services promised per ``frequency``
    frequency: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="agreement", order_by=lambda: (Delivery.delivered_on.desc(), Delivery.id.desc()),
        cascade="all, delete-orphan")

    @property
    def exchange_name(self) -> str:
        return EXCHANGES.get(self.exchange, self.exchange)

    @property
    def pricing_name(self) -> str:
        return PRICING.get(self.pricing, self.pricing)

    @property
    def frequency_name(self) -> str:
        return FREQUENCIES.get(self.frequency, self.frequency)


class Delivery(db.Model):
    """Services a partner actually delivered under an agreement, logged by station staff."""

    __tablename__ = "agreement_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("resource_agreement.id"), index=True)
    delivered_on: Mapped[date]
    sessions: Mapped[int] = mapped_column(Integer)  # services (times) delivered that day
    people: Mapped[int] = mapped_column(Integer, default=0)  # residents served
    description: Mapped[str] = mapped_column(String(300))
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agreement: Mapped[Agreement] = relationship(back_populates="deliveries")


def latest_inspection_ids(station_codes: list[str]):
    """A select of the id of each station's latest inspection: the latest inspection date, then the
    latest recorded (served by ix_station_inspection_latest)."""
    rank = func.row_number().over(partition_by=Inspection.station_code,
                                  order_by=(Inspection.inspected_on.desc(), Inspection.id.desc())).label("rank")
    ranked = select(Inspection.id, rank).where(Inspection.station_code.in_(station_codes)).subquery()
    return select(ranked.c.id).where(ranked.c.rank == 1)
