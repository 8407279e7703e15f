"""Joining the union or the youth league online: the form, the S02 order, routing, approval and
decline by the handler of the receiving unit, and every refusal leaving the data unchanged."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.forms.models import Submission
from qunti.membership.models import JoinApplication, Member, MemberCard, Membership
from qunti.orders.models import Order, OrderEvent

from membership_helpers import (
    ID_A, ID_B, ID_BAD_CHECK, ID_YOUNG, PHONE_A, PHONE_B, UNION_ANSWERS, active_membership, application_of, decide,
    join, post_form, setup_organizations, union_handler)
from users import login, make_user


@pytest.fixture
def orgs(ctx):
    setup_organizations()


def counts():
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Submission, Order, JoinApplication, Member, Membership, MemberCard, OrderEvent))


def test_a_join_is_an_s02_order_routed_to_the_union(client, orgs):
    number = join(client)
    order = db.session.scalar(select(Order).where(Order.number == number))
    assert order.service_item_code == "S02"
    assert (order.state, order.unit_code, order.rule_row_id) == ("dispatched", "union", "join-union")
    assert order.channel == "online" and order.community == "寸滩街道港城社区"
    application = application_of(number)
    assert application.state == "pending" and application.organization_code == "gangcheng-union"
    # The submission keeps masked copies only; the clear values are encrypted in the application.
    answers = order.submission.answers
    assert ID_A not in str(answers) and PHONE_A not in str(answers)
    assert answers["idNumber"].startswith("500") and "*" in answers["idNumber"]
    assert ID_A not in application.id_number_enc and PHONE_A not in application.phone_enc
    receipt = client.get(f"/join/receipt/{number}").get_data(as_text=True)
    assert number in receipt and "港城工业园区联合工会" in receipt


def test_wrong_check_digit_is_refused_in_chinese_and_nothing_is_stored(client, orgs):
    before = counts()
    response = post_form(client, "/join/union/gangcheng-union", {**UNION_ANSWERS, "idNumber": ID_BAD_CHECK}, status=422)
    html = response.get_data(as_text=True)
    assert "身份证号：校验码不正确" in html
    assert counts() == before


def test_the_pattern_still_guards_the_shape(client, orgs):
    response = post_form(client, "/join/union/gangcheng-union", {**UNION_ANSWERS, "idNumber": "12345"}, status=422)
    assert "身份证号：格式不正确" in response.get_data(as_text=True)


def test_league_age_limits_come_from_the_id_number(client, orgs):
    fill = {"name": "李青", "idNumber": ID_A, "phone": PHONE_A, "applicantCategory": "youth", "school": "重庆某中学",
            "trade": "在校学习", "community": "五里店街道石子山社区", "consent": "y",
            "statement": "我志愿加入中国共产主义青年团，拥护中国共产党的领导，遵守团的章程，履行团员义务。"}
    response = post_form(client, "/join/league/shizishan-league", fill, status=422)
    assert "入团年龄须在14周岁以上、28周岁以下" in response.get_data(as_text=True)


def test_joining_the_league_goes_to_the_league_committee(client, app, orgs):
    fill = {"name": "何雨萱", "idNumber": ID_YOUNG, "phone": PHONE_B, "applicantCategory": "employee",
            "employer-name": "重庆石子山创客空间运营有限公司", "trade": "信息技术和互联网",
            "community": "五里店街道石子山社区", "consent": "y",
            "statement": "我志愿加入中国共产主义青年团，拥护中国共产党的领导，遵守团的章程，履行团员义务。"}
    response = post_form(client, "/join/league/shizishan-league", fill, status=303)
    number = response.headers["Location"].rsplit("/", 1)[1]
    order = db.session.scalar(select(Order).where(Order.number == number))
    assert (order.unit_code, order.rule_row_id) == ("league", "join-league")
    union_refused = decide(client, union_handler(), number)
    assert union_refused.status_code in (403, 404) or application_of(number).state == "pending"
    assert application_of(number).state == "pending"
    decide(client, make_user("handler", unit_code="league"), number)
    membership = active_membership(ID_YOUNG)
    assert membership.kind == "league" and membership.number.startswith("TY")


def test_the_same_person_cannot_apply_twice(client, orgs):
    join(client)
    before = counts()
    again = post_form(client, "/join/union/gangcheng-union", {**UNION_ANSWERS, "phone": "13800001111"}, status=422)
    assert "正在审核中，请勿重复提交" in again.get_data(as_text=True)
    elsewhere = post_form(client, "/join/union/guanyinqiao-union", UNION_ANSWERS, status=422)
    assert "审核有结果前不能再申请加入其他组织" in elsewhere.get_data(as_text=True)
    assert counts() == before


def test_approval_creates_the_member_closes_the_order_and_cannot_be_replayed(client, app, orgs):
    number = join(client)
    handler = union_handler()
    response = decide(client, handler, number)
    assert response.status_code == 303
    membership = active_membership()
    assert membership is not None and membership.organization_code == "gangcheng-union"
    assert membership.number.startswith("GH") and membership.workplace == "重庆港城物流有限公司"
    order = db.session.scalar(select(Order).where(Order.number == number))
    assert order.state == "completed" and membership.number in order.result_note
    assert [e.action for e in order.events] == ["submit", "dispatch", "accept", "plan", "complete"]
    application = application_of(number)
    assert application.state == "approved" and application.membership_id == membership.id

    before = counts()
    client2 = app.test_client()
    login(client2, handler)
    replay = client2.post(f"/staff/membership/applications/{application.id}/approve", follow_redirects=True)
    assert "已经处理过（已同意），不能重复审批" in replay.get_data(as_text=True)
    assert counts() == before


def test_a_member_cannot_join_the_same_organization_again(client, orgs):
    decide(client, union_handler(), join(client))
    before = counts()
    again = post_form(client, "/join/union/gangcheng-union", UNION_ANSWERS, status=422)
    assert "您已经是“港城工业园区联合工会”的会员，无需重复申请" in again.get_data(as_text=True)
    other = post_form(client, "/join/union/guanyinqiao-union", UNION_ANSWERS, status=422)
    assert "请在电子会员证页面申请组织关系转接" in other.get_data(as_text=True)
    assert counts() == before


def test_decline_gives_the_reason_on_the_tracking_page(client, orgs):
    number = join(client)
    handler = union_handler()
    assert decide(client, handler, number, "decline", "").status_code == 303
    assert application_of(number).state == "pending"  # no reason, nothing done
    decide(client, handler, number, "decline", "您填写的工作单位不在本工会覆盖范围内")
    assert application_of(number).state == "declined"
    assert active_membership() is None
    page = client.post("/track", data={"number": number, "phone": PHONE_A}).get_data(as_text=True)
    assert "您填写的工作单位不在本工会覆盖范围内" in page


def test_only_the_receiving_units_handler_decides(client, app, orgs):
    number = join(client)
    application = application_of(number)
    for user in (make_user("handler", unit_code="justice"), make_user("org_admin", organization="union"),
                 make_user("dispatcher"), make_user("handler", unit_code="league")):
        other = app.test_client()
        login(other, user)
        response = other.post(f"/staff/membership/applications/{application.id}/approve")
        assert response.status_code in (403, 404), user.role
    assert application_of(number).state == "pending"


def test_two_people_join_and_both_are_approved(client, app, orgs):
    first = join(client)
    second = join(app.test_client(), url="/join/union/guanyinqiao-union", idNumber=ID_B, phone=PHONE_B,
                  name="张建国")
    handler = union_handler()
    decide(client, handler, first)
    decide(client, handler, second)
    assert active_membership(ID_A).organization_code == "gangcheng-union"
    assert active_membership(ID_B).organization_code == "guanyinqiao-union"


def test_the_join_pages_list_the_organizations(client, orgs):
    assert "加入工会" in client.get("/join").get_data(as_text=True)
    page = client.get("/join/union").get_data(as_text=True)
    assert "港城工业园区联合工会" in page and "石子山青年创业社区团支部" not in page
    assert client.get("/join/union/shizishan-league").status_code == 404
    assert client.get("/join/nothing").status_code == 404


def test_identity_data_appears_only_to_the_member_and_the_approving_handler(app, ctx):
    """Walk the whole path through HTTP as every role and read every response: the full ID number
    and phone appear only to the member and to the handlers deciding the application (any handler
    of the receiving unit while it is open, the one who decided afterwards); everyone else, every
    list and the CSV export see masked values."""
    from qunti.admin.models import AuditEntry
    from qunti.membership import codes as join_codes
    from qunti.membership.models import JoinCode

    from membership_helpers import body_text, verify_link
    from users import forget_request_state

    setup_organizations()
    seen: list[tuple[str, str, str, str]] = []  # (phase, who, what, body)
    phase = "open"

    def look(who, client, method, path, **kwargs):
        forget_request_state()
        response = getattr(client, method)(path, **kwargs)
        seen.append((phase, who, f"{method.upper()} {path}", body_text(response)))
        return response

    people = {"station_staff": make_user("station_staff", station_code="gangcheng"),
              "dispatcher": make_user("dispatcher"), "org_admin": make_user("org_admin", organization="union"),
              "sys_admin": make_user("sys_admin"), "handler": union_handler(),
              "colleague": union_handler(), "other_handler": make_user("handler", unit_code="justice")}
    clients = {}
    for who, user in people.items():
        clients[who] = app.test_client()
        login(clients[who], user)

    # Station staff print a code; a resident scans it and joins.
    look("station_staff", clients["station_staff"], "post", "/staff/membership/codes",
         data={"purpose": "join", "organization": "gangcheng-union", "workplace": "重庆港城物流有限公司"})
    link = "/j/" + join_codes.token_for(db.session.scalar(select(JoinCode)))
    forget_request_state()
    number = join(app.test_client(), url=link)
    application = application_of(number)
    order = db.session.scalar(select(Order).where(Order.number == number))
    pages = ["/staff/membership/", "/staff/membership/applications", "/staff/membership/applications?state=all",
             f"/staff/membership/applications/{application.id}", "/staff/", "/staff/orders",
             f"/staff/orders/{order.id}", f"/api/v1/orders/{number}", f"/api/v1/orders/{number}/events",
             "/board", "/staff/membership/members?status=all", "/staff/membership/members.csv?status=all",
             "/staff/membership/members.xlsx?status=all"]

    def everyone_looks():
        for who, client in clients.items():
            for path in pages:
                look(who, client, "get", path)
        look("public", app.test_client(), "get", f"/track/{number}")

    everyone_looks()
    look("handler", clients["handler"], "post", f"/staff/membership/applications/{application.id}/approve",
         follow_redirects=True)
    phase = "decided"
    everyone_looks()

    # The member: card page, picture, tracking page; the public verify page.
    member = app.test_client()
    look("member", member, "post", "/member", data={"number": number, "phone": PHONE_A})
    card = look("member", member, "get", "/member/card").get_data(as_text=True)
    look("member", member, "get", f"/member/card/{active_membership().id}.svg")
    look("member", member, "get", f"/track/{number}")
    look("public", app.test_client(), "get", verify_link(card).split("qunti.test", 1)[1])

    def allowed(phase_, who):
        return who in ("member", "handler") or (who == "colleague" and phase_ == "open")

    leaks = [(p, who, what) for p, who, what, body in seen
             if not allowed(p, who) and (ID_A in body or PHONE_A in body)]
    assert not leaks, leaks
    assert any(who == "handler" and ID_A in body and PHONE_A in body for _p, who, _w, body in seen)
    assert any(p == "open" and who == "colleague" and ID_A in body for p, who, _w, body in seen)
    csv = next(body for p, who, what, body in seen if p == "decided" and who == "org_admin" and "members.csv" in what)
    assert "王*芳" in csv and "151****6789" in csv and "500***********3029" in csv
    xlsx = next(body for p, who, what, body in seen if p == "decided" and who == "org_admin" and "xlsx" in what)
    assert "王*芳" in xlsx and "151****6789" in xlsx and "500***********3029" in xlsx
    # Only the organization's admin gets the export, and every export is in the audit log.
    assert all("王*芳" not in body for _p, who, what, body in seen if "members.csv" in what and who != "org_admin")
    exports = db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "export"))
    assert exports == 4  # CSV and XLSX, before and after the decision


def test_demo_organizations_are_loaded_once(app, runner):
    first = runner.invoke(args=["membership", "demo"])
    assert first.exit_code == 0 and "已建演示基层组织 5 个" in first.output
    again = runner.invoke(args=["membership", "demo"])
    assert "已建演示基层组织 0 个" in again.output


@pytest.mark.parametrize("id_number,message", [
    (ID_BAD_CHECK, "身份证号：校验码不正确"),
    ("50010519921332302X", "身份证号：出生日期不正确"),  # 13th month, right check character
    ("50010519920418302", "身份证号：格式不正确"),  # 17 digits
    ("5001051992041830X9", "身份证号：格式不正确"),
])
def test_every_wrong_id_number_is_refused_with_its_reason(client, orgs, id_number, message):
    before = counts()
    response = post_form(client, "/join/union/gangcheng-union", {**UNION_ANSWERS, "idNumber": id_number}, status=422)
    assert message in response.get_data(as_text=True)
    assert counts() == before


def test_a_lower_case_x_is_the_same_check_character(client, orgs):
    number = join(client, idNumber="50010519900101003x")
    decide(client, union_handler(), number)
    assert active_membership("50010519900101003X") is not None


def test_a_replayed_join_post_is_refused(client, orgs):
    """The same request sent twice (a double tap, the back button, a replay): one application."""
    page = client.get("/join/union/gangcheng-union")
    assert page.status_code == 200
    from werkzeug.datastructures import MultiDict

    from browser import page as browser_page
    sent = MultiDict(browser_page(page.get_data(as_text=True)).sent)
    for name, value in UNION_ANSWERS.items():
        sent.setlist(name, [value])
    assert client.post("/join/union/gangcheng-union", data=sent).status_code == 303
    before = counts()
    again = client.post("/join/union/gangcheng-union", data=sent)
    assert again.status_code == 422 and "正在审核中，请勿重复提交" in again.get_data(as_text=True)
    assert counts() == before


def test_replayed_and_crossed_decisions_are_refused(client, app, orgs):
    handler = union_handler()
    approved, declined = join(client), join(app.test_client(), idNumber=ID_B, phone=PHONE_B, name="张建国")
    decide(client, handler, approved)
    decide(client, handler, declined, "decline", "不在本工会覆盖范围")
    before = counts()
    states = (application_of(approved).state, application_of(declined).state)
    staff = app.test_client()
    login(staff, handler)
    for number, action, said in ((approved, "decline", "已经处理过（已同意），不能重复审批"),
                                 (declined, "approve", "已经处理过（未同意），不能重复审批"),
                                 (declined, "decline", "已经处理过（未同意），不能重复审批")):
        application = application_of(number)
        response = staff.post(f"/staff/membership/applications/{application.id}/{action}",
                              data={"reason": "再来一次"}, follow_redirects=True)
        assert said in response.get_data(as_text=True), (number, action)
    assert staff.post("/staff/membership/applications/99999/approve").status_code == 404
    assert counts() == before
    assert (application_of(approved).state, application_of(declined).state) == states
    assert application_of(declined).decline_reason == "不在本工会覆盖范围"


def test_a_decline_reason_that_is_too_long_changes_nothing(client, app, orgs):
    number = join(client)
    before = counts()
    staff = app.test_client()
    login(staff, union_handler())
    response = staff.post(f"/staff/membership/applications/{application_of(number).id}/decline",
                          data={"reason": "理" * 501}, follow_redirects=True)
    assert "理由不能超过 500 个字" in response.get_data(as_text=True)
    assert application_of(number).state == "pending" and counts() == before
