"""Forms as stored: a form, its immutable versions, and the submissions made with them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow


class Form(db.Model):
    """A form id and which of its versions residents get now."""

    __tablename__ = "form"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # Where the definition comes from: "file", "plugin:<id>" or "admin".
    origin: Mapped[str] = mapped_column(String(80), default="file")
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_version.id", use_alter=True), nullable=True)
    current_version: Mapped[FormVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True)


class FormVersion(db.Model):
    """One distinct content of a form. Never updated: an edit is a new row."""

    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("form_id", "number"), Index(None, "form_id", "digest"))

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(ForeignKey("form.id"))
    number: Mapped[int]
    # sha256 of the canonical JSON; the compile cache is keyed by it.
    digest: Mapped[str] = mapped_column(String(64))
    # Deferred: pages need only the digest (the compiled form is cached by it); the document is
    # read when a version is compiled for the first time, exported or shown to an admin.
    schema: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")

    form: Mapped[Form] = relationship(foreign_keys=[form_id])


class Submission(db.Model):
    """A resident's answers, bound for ever to the form version they were given."""

    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(32), unique=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id"), index=True)
    service_item_code: Mapped[str | None] = mapped_column(ForeignKey("service_item.code"), index=True)
    answers: Mapped[dict[str, Any]]
    # Where it came in: online, qr, station, phone.
    channel: Mapped[str] = mapped_column(String(16), default="online")
    # Salted hash of the contact phone: tracking needs it, the board must never show it.
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    form_version: Mapped[FormVersion] = relationship()


class SyncedFile(db.Model):
    """The digest of each definition file as last applied, so a sync only acts on real file changes
    and never overwrites what an admin published in between."""

    __tablename__ = "synced_file"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
