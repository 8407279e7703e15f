"""组织关系转接: a member asks to move to another organization; the request is an S08 order routed by
the dispatch rules to the receiving side, whose handler accepts or refuses it with a reason.

Accepting ends the old membership (``ended_on``, status 已转出, its cards revoked) and starts a new one
with a new card, so the history keeps both with their dates and the old card verifies as 已转出.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qunti import intake
from qunti.accounts.models import User
from qunti.db import db, utcnow
from qunti.forms.models import Submission
from qunti.forms.registry import compiled_version, current_version
from qunti.menu.models import ServiceItem
from qunti.membership import identity
from qunti.membership.cards import issue_card, revoke_cards
from qunti.membership.cycle import DecisionError, close_order, run_decision
from qunti.membership.join import new_member_number, redacted
from qunti.membership.models import MEMBER_WORDS, Membership, Organization, TransferRequest
from qunti.orders import calendar
from qunti.orders.models import Order

TRANSFER_ITEM = "S08"  # 组织关系转接
# The reasons of the S08 form (forms/membership-transfer.json), offered on the member's page.
REASONS = ("工作单位变动", "居住地变动", "升学或毕业", "参军或退役", "其他")
REGION = "重庆市江北区"


class TransferRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def transfer_answers(membership: Membership, to: Organization, reason: str, remarks: str) -> dict[str, Any]:
    """The S08 form's answers for this request, from the member's record."""
    member = membership.member
    answers: dict[str, Any] = {
        "name": member.name, "phone": identity.decrypt(member.phone_enc),
        "community": member.community or REGION, "applicantCategory": member.category or "other",
        "transferType": membership.kind, "direction": "within",
        "idNumber": identity.decrypt(member.id_number_enc),
        "fromOrganization": {"name": membership.organization.name, "region": REGION},
        "toOrganization": {"name": to.name, "region": REGION},
        "reason": reason, "consent": True,
    }
    if membership.kind == "union":
        answers["memberCardNo"] = membership.number
    else:
        answers["leagueJoinDate"] = membership.joined_on.isoformat()
    if remarks:
        answers["remarks"] = remarks
    return answers


def request_transfer(membership: Membership, to_code: str, *, reason: str, remarks: str = "",
                     workplace: str = "", resident_user: User | None = None) -> Submission:
    """Store the request as submission + S08 order + TransferRequest in one transaction;
    TransferRefused (nothing stored) if it cannot be made."""
    word = MEMBER_WORDS[membership.kind]
    if membership.status != "active":
        raise TransferRefused(f"这个{word}身份{membership.status_name}，不能再申请转接。")
    to = db.session.get(Organization, to_code or "")
    if to is None or not to.active or to.kind != membership.kind:
        raise TransferRefused("请选择要转入的组织。")
    if to.code == membership.organization_code:
        raise TransferRefused(f"您已经在“{to.name}”，请选择另一个组织。")
    if reason not in REASONS:
        raise TransferRefused("请选择转接原因。")
    remarks, workplace = (remarks or "").strip(), (workplace or "").strip()
    if len(remarks) > 300 or len(workplace) > 100:
        raise TransferRefused("补充说明不能超过 300 个字，工作单位不能超过 100 个字。")
    pending = db.session.scalar(select(TransferRequest.id).where(
        TransferRequest.membership_id == membership.id, TransferRequest.state == "pending"))
    if pending is not None:
        raise TransferRefused("您已有一份转接申请正在办理，请等办理结果出来后再申请。")
    item = db.session.get(ServiceItem, TRANSFER_ITEM)
    if item is None or not item.enabled:
        raise TransferRefused("组织关系转接暂停网上受理，请到就近的群团服务站办理。")
    version = current_version(item.form_id)
    answers = transfer_answers(membership, to, reason, remarks)
    errors = compiled_version(version).check(answers)
    if errors:
        raise TransferRefused("您的会员资料不完整，无法网上转接：" + "；".join(e.message for e in errors))
    try:
        submission = intake.accept(version, answers, channel="online", service_item_code=TRANSFER_ITEM,
                                   commit=False, resident_user=resident_user)
        order = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
        submission.answers = redacted(answers)
        db.session.add(TransferRequest(order_id=order.id, membership_id=membership.id,
                                       to_organization_code=to.code, workplace=workplace[:100], reason=reason,
                                       remarks=remarks))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TransferRefused("您已有一份转接申请正在办理，请等办理结果出来后再申请。") from None
    except BaseException:
        db.session.rollback()
        raise
    return submission


def _still_pending(transfer: TransferRequest) -> None:
    if transfer.state != "pending":
        raise DecisionError(f"这件转接申请已经处理过（{transfer.state_name}），不能重复处理。")


def accept(transfer: TransferRequest, user: User) -> Membership:
    """接收: close the order, end the old membership, start the new one with a new card. Commits."""
    created: list[Membership] = []

    def decide() -> None:
        _still_pending(transfer)
        old, to = transfer.membership, transfer.to_organization
        if old.status != "active":
            raise DecisionError(f"申请人在原组织的身份{old.status_name}，不能转接，请说明理由后“拒绝”。")
        today = calendar.today()
        number = new_member_number(old.kind, today)
        word = MEMBER_WORDS[old.kind]
        close_order(db.session.get(Order, transfer.order_id), user, goal="办理组织关系转接",
                    task=f"从“{old.organization.name}”转入“{to.name}”",
                    result_note=f"同意转入“{to.name}”，新的{word}证号 {number}，电子会员证已随之更换。")
        old.status, old.ended_on, old.end_reason = "transferred", today, f"转入“{to.name}”"
        revoke_cards(old)
        db.session.flush()  # the old membership ends before the new one starts (one active per kind)
        new = Membership(member_id=old.member_id, organization_code=to.code, kind=old.kind, number=number,
                         joined_on=today, workplace=transfer.workplace or old.workplace)
        db.session.add(new)
        issue_card(new, today)
        transfer.state, transfer.decided_at, transfer.decided_by_user_id = "accepted", utcnow(), user.id
        db.session.flush()
        transfer.new_membership_id = new.id
        created.append(new)

    run_decision(decide)
    return created[0]


def refuse(transfer: TransferRequest, user: User, reason: str) -> None:
    """拒绝, with the reason the member reads on the tracking page. Commits; DecisionError if refused."""
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("请填写拒绝的理由，申请人会在查询进度时看到。", 422)
    if len(reason) > 500:
        raise DecisionError("理由不能超过 500 个字。", 422)

    def decide() -> None:
        _still_pending(transfer)
        to = transfer.to_organization
        close_order(db.session.get(Order, transfer.order_id), user, goal="办理组织关系转接",
                    task=f"从“{transfer.membership.organization.name}”转入“{to.name}”",
                    result_note=f"未同意转入“{to.name}”。理由：{reason}")
        transfer.state, transfer.decided_at, transfer.decided_by_user_id = "refused", utcnow(), user.id
        transfer.refuse_reason = reason

    run_decision(decide)
