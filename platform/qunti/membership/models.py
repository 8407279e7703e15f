"""Members of the union and the youth league: grassroots organizations, people, their memberships and
cards, join applications, transfers, QR join codes, and the information the organizations publish.

A person (:class:`Member`) is stored once, found again by a keyed hash of the ID number; each time
they belong to an organization is a :class:`Membership` row, so the history keeps every membership
with its dates. ID numbers and phones are stored only encrypted (:mod:`qunti.membership.identity`).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qunti.db import db, utcnow

KINDS = {"union": "工会", "league": "共青团"}
MEMBER_WORDS = {"union": "会员", "league": "团员"}
# The join form of each kind, and the organization unit whose handlers decide its applications
# (rules/dispatch.json routes S02 joins and S08 transfers by kind to these units).
JOIN_FORMS = {"union": "union-join", "league": "league-join"}
KIND_UNITS = {"union": "union", "league": "league"}
JOIN_TYPES = {"union": "union_member", "league": "league_member"}  # answers.joinType, read by the rules

# applicantCategory of the join forms.
CATEGORIES = {"employee": "企业职工", "migrant_worker": "农民工", "freelancer": "自由职业者", "youth": "在校学生或待业青年"}
MEMBERSHIP_STATUSES = {"active": "在册", "transferred": "已转出", "revoked": "已注销"}
APPLICATION_STATES = {"pending": "待审核", "approved": "已同意", "declined": "未同意"}
TRANSFER_STATES = {"pending": "待接收", "accepted": "已接收", "refused": "已拒绝"}

_ACTIVE = text("status = 'active'")
_PENDING = text("state = 'pending'")


class Organization(db.Model):
    """A grassroots organization people join (基层工会、团支部), e.g. 港城工业园区联合工会."""

    __tablename__ = "member_organization"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10), index=True)  # union | league
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, self.kind)


class Member(db.Model):
    """One person, whatever organizations they belong or belonged to."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    id_number_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_key: Mapped[str] = mapped_column(String(64), index=True)
    # From the latest application: what a transfer request (S08 form) needs to say about them.
    community: Mapped[str] = mapped_column(String(60), default="")
    category: Mapped[str] = mapped_column(String(20), default="")
    resident_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    photo_path: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="member", order_by="Membership.id", viewonly=True)


class Membership(db.Model):
    """One person in one organization from ``joined_on`` until ``ended_on`` (transfer or revocation).
    The database keeps one active membership per person and kind."""

    __tablename__ = "membership"
    __table_args__ = (
        Index("uq_membership_one_active", "member_id", "kind", unique=True,
              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
        Index("ix_membership_organization_status", "organization_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("member_organization.code"))
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[str] = mapped_column(String(24), unique=True)  # 会员证号 / 团员编号
    joined_on: Mapped[date]
    ended_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(12), default="active")
    end_reason: Mapped[str | None] = mapped_column(Text)
    workplace: Mapped[str] = mapped_column(String(100), default="")
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship()

    @property
    def status_name(self) -> str:
        return MEMBERSHIP_STATUSES.get(self.status, self.status)


class MemberCard(db.Model):
    """An electronic member card of one membership. Its QR code carries a token signed with the card
    key naming this row; the verify page reads the row (and the membership) on every scan."""

    __tablename__ = "member_card"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(24))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_on: Mapped[date]
    revoked_at: Mapped[datetime | None]

    membership: Mapped[Membership] = relationship()


class JoinApplication(db.Model):
    """The membership side of one S02 order: who asks to join which organization, and the decision.
    Identity data is kept here encrypted; the order's submission holds only masked copies."""

    __tablename__ = "join_application"
    __table_args__ = (
        # Two open applications of one person to one organization cannot both be stored.
        Index("uq_join_application_pending", "person_key", "organization_code", unique=True,
              sqlite_where=_PENDING, postgresql_where=_PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    organization_code: Mapped[str] = mapped_column(ForeignKey("member_organization.code"), index=True)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(40))
    id_number_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    community: Mapped[str] = mapped_column(String(60), default="")
    category: Mapped[str] = mapped_column(String(20), default="")
    workplace: Mapped[str] = mapped_column(String(100), default="")
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    join_code_id: Mapped[int | None] = mapped_column(ForeignKey("join_code.id"))
    resident_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    state: Mapped[str] = mapped_column(String(12), default="pending")
    decided_at: Mapped[datetime | None]
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    organization: Mapped[Organization] = relationship()

    @property
    def state_name(self) -> str:
        return APPLICATION_STATES.get(self.state, self.state)


class TransferRequest(db.Model):
    """组织关系转接: the membership side of one S08 order, from a membership to another organization."""

    __tablename__ = "member_transfer"
    __table_args__ = (
        Index("uq_member_transfer_pending", "membership_id", unique=True,
              sqlite_where=_PENDING, postgresql_where=_PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), unique=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    to_organization_code: Mapped[str] = mapped_column(ForeignKey("member_organization.code"), index=True)
    workplace: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(String(40))
    remarks: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(12), default="pending")
    decided_at: Mapped[datetime | None]
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    refuse_reason: Mapped[str | None] = mapped_column(Text)
    new_membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    membership: Mapped[Membership] = relationship(foreign_keys=[membership_id])
    to_organization: Mapped[Organization] = relationship()

    @property
    def state_name(self) -> str:
        return TRANSFER_STATES.get(self.state, self.state)


class JoinCode(db.Model):
    """A printed QR code: joining an organization (with station and workplace filled in) or an
    activity's page. The link is signed; this row lets staff revoke it and sets when it expires."""

    __tablename__ = "join_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10))  # join | activity
    organization_code: Mapped[str | None] = mapped_column(ForeignKey("member_organization.code"))
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"), index=True)
    workplace: Mapped[str] = mapped_column(String(100), default="")
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activity.id"))
    label: Mapped[str] = mapped_column(String(100))  # printed under the code
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    organization: Mapped[Organization | None] = relationship()


INFO_KINDS = {"life": "组织生活", "policy": "政策宣传", "course": "技能培训", "job": "就业信息"}


class InfoPost(db.Model):
    """What an organization publishes: 组织生活, 政策宣传, a training course, a job. A post may link a
    form residents sign up with (a course links its sign-up form)."""

    __tablename__ = "info_post"
    __table_args__ = (Index("ix_info_post_kind_published", "kind", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    organization: Mapped[str] = mapped_column(String(16))  # union | league | women | joint
    member_organization_code: Mapped[str | None] = mapped_column(ForeignKey("member_organization.code"))
    title: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date | None]
    employer: Mapped[str] = mapped_column(String(100), default="")
    pay: Mapped[str] = mapped_column(String(60), default="")
    contact: Mapped[str] = mapped_column(String(60), default="")  # an office's public contact
    form_id: Mapped[str | None] = mapped_column(ForeignKey("form.id"))
    published_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def kind_name(self) -> str:
        return INFO_KINDS.get(self.kind, self.kind)


class InfoSignup(db.Model):
    """A resident's sign-up for a post, made through the post's form (the submission holds it)."""

    __tablename__ = "info_signup"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("info_post.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
