"""组织关系转接: the member asks, the S08 order is routed to the receiving side, whose handler accepts
or refuses with a reason; the history keeps both memberships and the card follows the member."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.membership.models import Membership, TransferRequest
from qunti.orders.models import Order

from membership_helpers import (
    ID_A, PHONE_A, active_membership, decide, join, prove, setup_organizations, union_handler, verify_link)
from users import forget_request_state, login, logout, make_user


@pytest.fixture
def member(client, ctx):
    setup_organizations()
    number = join(client)
    decide(client, union_handler(), number)
    assert prove(client, number).status_code == 303
    return number


def ask(client, to: str, reason: str = "工作单位变动", **extra):
    membership = active_membership()
    return client.post(f"/member/transfer/{membership.id}", data={"to": to, "reason": reason, **extra})


def pending_transfer() -> tuple[TransferRequest, Order]:
    db.session.expire_all()
    return db.session.execute(select(TransferRequest, Order).join(Order, Order.id == TransferRequest.order_id)
                              .where(TransferRequest.state == "pending")).one()


def handle(app, transfer: TransferRequest, action: str, reason: str = ""):
    staff = app.test_client()
    login(staff, union_handler())
    response = staff.post(f"/staff/membership/transfers/{transfer.id}/{action}", data={"reason": reason},
                          follow_redirects=True)
    forget_request_state()
    return response


def test_transfer_both_ways_keeps_the_history_and_moves_the_card(client, app, member):
    old_link = verify_link(client.get("/member/card").get_data(as_text=True)).split("qunti.test", 1)[1]
    first = active_membership()

    assert ask(client, "guanyinqiao-union", workplace="观音桥某商贸公司").status_code == 303
    transfer, order = pending_transfer()
    assert order.service_item_code == "S08" and order.unit_code == "union" and order.rule_row_id == "transfer-union"
    assert ID_A not in str(order.submission.answers) and PHONE_A not in str(order.submission.answers)
    assert order.submission.answers["fromOrganization"]["name"] == "港城工业园区联合工会"
    page = handle(app, transfer, "accept").get_data(as_text=True)
    assert "已办理" in page

    second = active_membership()
    db.session.refresh(first)
    assert second.organization_code == "guanyinqiao-union" and second.workplace == "观音桥某商贸公司"
    assert first.status == "transferred" and first.ended_on is not None and "观音桥商圈楼宇联合工会" in first.end_reason
    assert second.number != first.number
    assert db.session.get(Order, order.id).state == "completed"
    # The old card says 已转出, the new one 有效.
    assert "已转出" in app.test_client().get(old_link).get_data(as_text=True)
    card = client.get("/member/card").get_data(as_text=True)
    new_link = verify_link(card).split("qunti.test", 1)[1]
    assert new_link != old_link
    assert "有效" in app.test_client().get(new_link).get_data(as_text=True)
    assert "观音桥商圈楼宇联合工会" in card and first.number in card and "已转出" in card

    # And back again.
    assert ask(client, "gangcheng-union", reason="居住地变动").status_code == 303
    transfer, _order = pending_transfer()
    handle(app, transfer, "accept")
    third = active_membership()
    assert third.organization_code == "gangcheng-union"
    history = db.session.scalars(select(Membership).order_by(Membership.id)).all()
    assert [(m.organization_code, m.status) for m in history] == [
        ("gangcheng-union", "transferred"), ("guanyinqiao-union", "transferred"), ("gangcheng-union", "active")]
    assert "已转出" in app.test_client().get(new_link).get_data(as_text=True)
    # The cards of the memberships left behind are not drawn again; the current one is.
    assert client.get(f"/member/card/{first.id}.svg").status_code == 410
    assert "身份已转出" in client.get(f"/member/card/{second.id}.svg").get_data(as_text=True)
    assert client.get(f"/member/card/{third.id}.svg").status_code == 200


def test_a_refusal_keeps_the_membership_and_tells_why(client, app, member):
    ask(client, "guanyinqiao-union")
    transfer, order = pending_transfer()
    assert "请填写拒绝的理由" in handle(app, transfer, "refuse", "").get_data(as_text=True)
    handle(app, transfer, "refuse", "接收组织暂不接收外单位职工")
    assert active_membership().organization_code == "gangcheng-union"
    db.session.refresh(transfer)
    assert transfer.state == "refused"
    track = client.get(f"/track/{order.number}").get_data(as_text=True)
    assert "接收组织暂不接收外单位职工" in track
    assert "接收组织暂不接收外单位职工" in client.get("/member/card").get_data(as_text=True)
    # A decided transfer cannot be decided again, either way.
    for action in ("accept", "refuse"):
        again = handle(app, transfer, action, "再来一次").get_data(as_text=True)
        assert "已经处理过（已拒绝），不能重复处理" in again
    assert active_membership().organization_code == "gangcheng-union"
    db.session.refresh(transfer)
    assert (transfer.state, transfer.refuse_reason) == ("refused", "接收组织暂不接收外单位职工")


def test_an_accepted_transfer_cannot_be_replayed(client, app, member):
    ask(client, "guanyinqiao-union")
    transfer, _order = pending_transfer()
    handle(app, transfer, "accept")
    memberships = db.session.scalar(select(func.count()).select_from(Membership))
    for action in ("accept", "refuse"):
        again = handle(app, transfer, action, "再来一次").get_data(as_text=True)
        assert "已经处理过（已接收），不能重复处理" in again
    assert db.session.scalar(select(func.count()).select_from(Membership)) == memberships
    assert active_membership().organization_code == "guanyinqiao-union"


def test_a_transfer_of_a_member_who_left_meanwhile_is_refused_at_decision(client, app, member):
    ask(client, "guanyinqiao-union")
    transfer, _order = pending_transfer()
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="union"))
    admin.post(f"/staff/membership/members/{active_membership().id}/revoke", data={"reason": "退会"})
    page = handle(app, transfer, "accept").get_data(as_text=True)
    assert "申请人在原组织的身份已注销，不能转接" in page
    db.session.refresh(transfer)
    assert transfer.state == "pending" and active_membership() is None


def test_refusals_of_the_request_itself(client, member):
    count = lambda: db.session.scalar(select(func.count()).select_from(TransferRequest))  # noqa: E731
    same = ask(client, "gangcheng-union")
    assert same.status_code == 422 and "您已经在“港城工业园区联合工会”" in same.get_data(as_text=True)
    league = ask(client, "shizishan-league")
    assert league.status_code == 422
    no_reason = ask(client, "guanyinqiao-union", reason="想换")
    assert "请选择转接原因" in no_reason.get_data(as_text=True)
    assert count() == 0
    ask(client, "guanyinqiao-union")
    twice = ask(client, "jiangbei-express-union")
    assert twice.status_code == 422 and "已有一份转接申请正在办理" in twice.get_data(as_text=True)
    assert count() == 1


def test_strangers_cannot_ask_for_someone_elses_transfer(app, member):
    membership = active_membership()
    stranger = app.test_client()
    response = stranger.post(f"/member/transfer/{membership.id}", data={"to": "guanyinqiao-union",
                                                                         "reason": "工作单位变动"})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(TransferRequest)) == 0


def test_only_the_receiving_units_handler_accepts(client, app, member):
    ask(client, "guanyinqiao-union")
    transfer, _order = pending_transfer()
    for user in (make_user("handler", unit_code="league"), make_user("org_admin", organization="union")):
        staff = app.test_client()
        login(staff, user)
        assert staff.post(f"/staff/membership/transfers/{transfer.id}/accept").status_code in (403, 404)
        logout(staff)
    assert active_membership().organization_code == "gangcheng-union"


def test_a_revoked_member_cannot_transfer(client, app, member):
    membership = active_membership()
    admin = app.test_client()
    login(admin, make_user("org_admin", organization="union"))
    admin.post(f"/staff/membership/members/{membership.id}/revoke", data={"reason": "退会"})
    response = client.post(f"/member/transfer/{membership.id}", data={"to": "guanyinqiao-union",
                                                                       "reason": "工作单位变动"})
    assert response.status_code == 422 and "已注销，不能再申请转接" in response.get_data(as_text=True)
