"""网上入会入团: a join application is an S02 service order like any other, plus the identity data and
the decision kept by :class:`~qunti.membership.models.JoinApplication`.

:func:`submit` checks what the form's JSON Schema cannot (the ID number's check digit, the league's
age limits, a person joining twice), then hands the answers to :func:`qunti.intake.accept` — which
stores the submission, opens the order and routes it in the same transaction. The stored answers
keep only masked copies of the ID number and phone; the clear values are stored encrypted here.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qunti import intake
from qunti.accounts.models import User
from qunti.db import db, utcnow
from qunti.forms.models import Submission
from qunti.masking import mask_id_number, mask_phone
from qunti.menu.models import ServiceItem
from qunti.membership import identity
from qunti.membership.cards import issue_card
from qunti.membership.cycle import DecisionError, close_order, run_decision
from qunti.membership.models import (
    JOIN_TYPES, MEMBER_WORDS, JoinApplication, JoinCode, Member, Membership, Organization)
from qunti.orders import calendar
from qunti.orders.models import Order

JOIN_ITEM = "S02"  # 发展会员(团员)
LEAGUE_AGES = (14, 28)  # 入团: 年满14周岁、不满28周岁
NUMBER_PREFIX = {"union": "GH", "league": "TY"}
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class JoinRefused(Exception):
    """A join that cannot be stored. ``field`` is the answer it is about (a JSON Pointer) or ""."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Placement:
    """Where a join lands: the organization, and the station and workplace of a scanned code."""

    organization: Organization
    station_code: str | None = None
    workplace: str = ""
    code: JoinCode | None = None

    def locked_answers(self) -> dict[str, Any]:
        """The answers the resident cannot change (hidden on the page, forced on submit)."""
        answers: dict[str, Any] = {"organization": self.organization.code,
                                   "joinType": JOIN_TYPES[self.organization.kind]}
        if self.station_code:
            answers["station"] = self.station_code
        if self.workplace:
            answers["workplace"] = self.workplace
        return answers


LOCKED_FIELDS = ("organization", "station", "workplace", "joinType")


def answer_problems(kind: str, answers: dict[str, Any], today: date) -> list[tuple[str, str]]:
    """(JSON Pointer, message) for what the form's schema cannot check."""
    problems = []
    number = answers.get("idNumber")
    reason = identity.id_number_problem(number)
    if reason is not None:
        problems.append(("/idNumber", f"身份证号：{reason}"))
    elif kind == "league":
        age = identity.age_on(number, today)
        low, high = LEAGUE_AGES
        if age is None or not low <= age < high:
            problems.append(("/idNumber", f"身份证号：入团年龄须在{low}周岁以上、{high}周岁以下"
                                          f"（按身份证上的出生日期，您今年{age}周岁）"))
    return problems


def duplicate_problem(kind: str, organization: Organization, key: str) -> str | None:
    """Why this person may not apply to ``organization`` now, or None."""
    word = MEMBER_WORDS[kind]
    current = db.session.execute(
        select(Membership, Organization.name).join(Member, Member.id == Membership.member_id)
        .join(Organization, Organization.code == Membership.organization_code)
        .where(Member.person_key == key, Membership.kind == kind, Membership.status == "active")).first()
    if current is not None:
        membership, name = current
        if membership.organization_code == organization.code:
            return f"您已经是“{name}”的{word}，无需重复申请。"
        return f"您已经是“{name}”的{word}。如需转到“{organization.name}”，请在电子会员证页面申请组织关系转接。"
    pending = db.session.scalar(select(Organization.name).join(
        JoinApplication, JoinApplication.organization_code == Organization.code).where(
        JoinApplication.person_key == key, JoinApplication.kind == kind, JoinApplication.state == "pending"))
    if pending is not None:
        if pending == organization.name:
            return f"您加入“{pending}”的申请正在审核中，请勿重复提交；可凭受理编号和手机号查询进度。"
        return f"您已申请加入“{pending}”，正在审核中；审核有结果前不能再申请加入其他组织。"
    return None


def redacted(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers as stored with the submission: ID number and phone masked."""
    out = dict(answers)
    if "idNumber" in out:
        out["idNumber"] = mask_id_number(out["idNumber"])
    if "phone" in out:
        out["phone"] = mask_phone(out["phone"])
    return out


def _workplace(answers: dict[str, Any], placement: Placement) -> str:
    employer = answers.get("employer") if isinstance(answers.get("employer"), dict) else {}
    return (placement.workplace or employer.get("name") or answers.get("platform") or "")[:100]


def submit(version, answers: dict[str, Any], placement: Placement, *, channel: str,
           resident_user: User | None = None) -> Submission:
    """Store a validated join (answers already passed the form) as submission + S02 order +
    application, in one transaction. JoinRefused, with nothing stored, if it cannot be accepted."""
    organization = placement.organization
    kind = organization.kind
    problems = answer_problems(kind, answers, calendar.today())
    if problems:
        path, message = problems[0]
        raise JoinRefused(message, path)
    if not organization.active:
        raise JoinRefused(f"“{organization.name}”已停止接收{MEMBER_WORDS[kind]}申请。")
    item = db.session.get(ServiceItem, JOIN_ITEM)
    if item is None or not item.enabled:
        raise JoinRefused("网上入会入团暂停受理，请到就近的群团服务站办理。")
    id_number = identity.normalize_id(answers["idNumber"])
    key = identity.person_key(id_number)
    problem = duplicate_problem(kind, organization, key)
    if problem:
        raise JoinRefused(problem)
    clean = {**answers, "idNumber": id_number}
    try:
        submission = intake.accept(version, clean, channel=channel, service_item_code=JOIN_ITEM, commit=False,
                                   station_code=placement.station_code, resident_user=resident_user)
        order = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
        submission.answers = redacted(clean)
        db.session.add(JoinApplication(
            order_id=order.id, kind=kind, organization_code=organization.code, person_key=key,
            name=str(answers["name"]).strip(), id_number_enc=identity.encrypt(id_number),
            phone_enc=identity.encrypt(intake.normalize_phone(answers["phone"])),
            community=str(answers.get("community") or "")[:60],
            category=str(answers.get("applicantCategory") or "")[:20],
            workplace=_workplace(answers, placement), station_code=placement.station_code,
            join_code_id=placement.code.id if placement.code is not None else None,
            resident_user_id=resident_user.id if resident_user is not None else None))
        db.session.commit()
    except IntegrityError:
        # The same person's other tab or a double tap got there first (unique pending application).
        db.session.rollback()
        raise JoinRefused(duplicate_problem(kind, organization, key)
                          or "您的申请已经提交过了，请勿重复提交。") from None
    except BaseException:
        db.session.rollback()
        raise
    return submission


def new_member_number(kind: str, today: date) -> str:
    for _attempt in range(10):
        number = f"{NUMBER_PREFIX[kind]}{today:%y}{''.join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))}"
        if db.session.scalar(select(Membership.id).where(Membership.number == number)) is None:
            return number
    raise RuntimeError("no unused member number after 10 draws")


def _person(application: JoinApplication) -> Member:
    """The application's person: found by the ID number's keyed hash, or created."""
    member = db.session.scalar(select(Member).where(Member.person_key == application.person_key))
    phone = identity.decrypt(application.phone_enc)
    if member is None:
        member = Member(person_key=application.person_key, id_number_enc=application.id_number_enc)
        db.session.add(member)
    # The latest application says how to reach them now.
    member.name, member.phone_enc = application.name, application.phone_enc
    member.phone_key = identity.phone_key(phone)
    member.community, member.category = application.community, application.category
    if application.resident_user_id is not None:
        member.resident_user_id = application.resident_user_id
    return member


def _still_pending(application: JoinApplication) -> None:
    if application.state != "pending":
        raise DecisionError(f"这件申请已经处理过（{application.state_name}），不能重复审批。")


def approve(application: JoinApplication, user: User) -> Membership:
    """同意: close the order, create the membership and its card. Commits; DecisionError if refused."""
    created: list[Membership] = []

    def decide() -> None:
        _still_pending(application)
        order = db.session.get(Order, application.order_id)
        organization = application.organization
        today = calendar.today()
        number = new_member_number(application.kind, today)
        close_order(order, user, goal=f"审核{MEMBER_WORDS[application.kind]}申请",
                    task=f"审核加入“{organization.name}”的申请",
                    result_note=f"同意加入“{organization.name}”，{MEMBER_WORDS[application.kind]}证号 {number}。"
                                "请凭受理编号和手机号领取电子会员证。")
        member = _person(application)
        db.session.flush()
        active = db.session.scalar(select(Membership).where(
            Membership.member_id == member.id, Membership.kind == application.kind, Membership.status == "active"))
        if active is not None:
            raise DecisionError(f"申请人已经是“{active.organization.name}”的{MEMBER_WORDS[application.kind]}，"
                                "不能再加入，请说明理由后“不同意”。")
        membership = Membership(member_id=member.id, organization_code=organization.code, kind=application.kind,
                                number=number, joined_on=today, workplace=application.workplace,
                                station_code=application.station_code)
        db.session.add(membership)
        issue_card(membership, today)
        application.state, application.decided_at, application.decided_by_user_id = "approved", utcnow(), user.id
        db.session.flush()
        application.membership_id = membership.id
        created.append(membership)

    run_decision(decide)
    return created[0]


def decline(application: JoinApplication, user: User, reason: str) -> None:
    """不同意, with the reason the applicant reads on the tracking page. Commits; DecisionError if refused."""
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("请填写不同意的理由，申请人会在查询进度时看到。", 422)
    if len(reason) > 500:
        raise DecisionError("理由不能超过 500 个字。", 422)

    def decide() -> None:
        _still_pending(application)
        order = db.session.get(Order, application.order_id)
        name = application.organization.name
        close_order(order, user, goal=f"审核{MEMBER_WORDS[application.kind]}申请", task=f"审核加入“{name}”的申请",
                    result_note=f"未同意加入“{name}”。理由：{reason}")
        application.state, application.decided_at, application.decided_by_user_id = "declined", utcnow(), user.id
        application.decline_reason = reason

    run_decision(decide)
