"""The rows of 问题清单库 (problems and the demands linked to them) and 文字资料库 (documents), and
the indexes the ledger lists need on tables other packages own.

需求收集库 and 任务销号库 need no table of their own: they are views of submissions and orders.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow
from qunti.forms.models import Submission
from qunti.orders.models import Order

PROBLEM_STATUSES = {"open": "跟踪中", "proposed": "已提请民生实事", "closed": "已关闭"}
DOCUMENT_TYPES = {"policy": "政策", "minutes": "会议纪要", "photo": "照片", "report": "报告", "other": "其他"}

# Keyset pages of 需求收集库 (each filter by its own index, newest first), of the interconnection API and
# Open311 lists, and of the 任务销号 board (qunti.ledgers.tasks: per state, overdue on top, then by unit
# and deadline). Plain columns, so the same indexes serve SQLite and PostgreSQL.
Index("ix_submission_item_created", Submission.service_item_code, Submission.created_at, Submission.id)
# On PostgreSQL it also carries what the dashboards aggregate, so they read the index alone.
STATS_COLUMNS = ("service_item_code", "station_code", "unit_code", "round", "accept_by", "accepted_at", "deadline",
                 "completed_at")
Index("ix_service_order_created_id", Order.created_at, Order.id, postgresql_include=list(STATS_COLUMNS))
Index("ix_service_order_item_created", Order.service_item_code, Order.created_at, Order.id)
Index("ix_service_order_station_created", Order.station_code, Order.created_at, Order.id)
Index("ix_service_order_community_created", Order.community, Order.created_at, Order.id)
Index("ix_service_order_task_board", Order.state, Order.overdue, Order.unit_code, Order.deadline, Order.id)


class Problem(db.Model):
    """问题清单: related demands grouped by a dispatcher, tracked, and possibly proposed to the
    district as 民生实事 with the evidence (the linked orders, a note, an optional file)."""

    __tablename__ = "problem"
    __table_args__ = (Index("ix_problem_status_created", "status", "created_at", "id"),
                      Index("ix_problem_created_id", "created_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The proposal (提请民生实事): its note, evidence file (original name; random stored path), when.
    proposal_note: Mapped[str | None] = mapped_column(Text)
    proposal_file_name: Mapped[str | None] = mapped_column(String(200))
    proposal_file_path: Mapped[str | None] = mapped_column(String(200))
    proposed_at: Mapped[datetime | None]
    proposed_by: Mapped[str | None] = mapped_column(String(60))
    closed_at: Mapped[datetime | None]
    close_note: Mapped[str | None] = mapped_column(Text)

    links: Mapped[list[ProblemOrder]] = relationship(back_populates="problem", order_by="ProblemOrder.linked_at",
                                                     cascade="all, delete-orphan")

    @property
    def status_name(self) -> str:
        return PROBLEM_STATUSES.get(self.status, self.status)


class ProblemOrder(db.Model):
    """One demand (order) grouped into a problem; an order belongs to at most one problem."""

    __tablename__ = "problem_order"

    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    linked_by: Mapped[str] = mapped_column(String(60), default="")
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="links")
    order: Mapped[Order] = relationship()


class Document(db.Model):
    """文字资料: a file kept outside the web root under a random name, with what people search by."""

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_created_id", "created_at", "id"),
                      Index("ix_document_type_created", "doc_type", "created_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    doc_type: Mapped[str] = mapped_column(String(12))
    organization: Mapped[str] = mapped_column(String(16))
    # "|政策|就业|": every tag between bars, so a tag matches whole with LIKE '%|tag|%'.
    tags: Mapped[str] = mapped_column(String(400), default="|")
    original_name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80))
    extension: Mapped[str] = mapped_column(String(8))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def type_name(self) -> str:
        return DOCUMENT_TYPES.get(self.doc_type, self.doc_type)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split("|") if t]
