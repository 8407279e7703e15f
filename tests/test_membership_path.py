"""The whole path through HTTP, as the people involved click it: station staff print a code → a
worker scans it, finds station, workplace and organization filled in and fixed, and joins → the
union's handler approves → the worker opens the electronic member card → a gate scans it and the
verify page says 有效 with the masked name only.

No page of the path shows the ID number or the phone, except the application page of the handler
who decides it (the issue allows exactly that one reader besides the member).
"""
from __future__ import annotations

import html as htmlmod
import re

from browser import elements
from membership_helpers import ID_A, PHONE_A, UNION_ANSWERS, post_form, setup_organizations
from users import PASSWORD, make_user


def sign_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    return client


def href(html: str, pattern: str) -> str:
    found = re.search(rf'(?:href|action|src)="([^"]*{pattern}[^"]*)"', html)
    assert found, pattern
    return htmlmod.unescape(found.group(1)).split("qunti.test", 1)[-1]


def no_identity(page: str, where: str) -> None:
    assert ID_A not in page and PHONE_A not in page, f"identity data on {where}"
    assert ID_A[:14] not in page and ID_A[6:] not in page, f"most of the ID number on {where}"


def test_scan_join_approve_card_verify(app):
    with app.app_context():
        setup_organizations()
        staff_name = make_user("station_staff", station_code="gangcheng").username
        handler_name = make_user("handler", unit_code="union").username

    # Station staff print a code for a workplace in the 港城 station.
    staff = sign_in(app, staff_name)
    codes_page = staff.get("/staff/membership/codes").get_data(as_text=True)
    created = staff.post(href(codes_page, "/staff/membership/codes"), data={
        "purpose": "join", "organization": "gangcheng-union", "workplace": "重庆港城物流有限公司", "days": "30"})
    assert created.status_code == 303
    poster = staff.get(created.headers["Location"]).get_data(as_text=True)
    assert "扫码申请加入港城工业园区联合工会" in poster
    image = staff.get(href(poster, r"/codes/\d+\.svg")).get_data(as_text=True)
    assert "重庆港城物流有限公司</text>" in image
    link = re.search(r"链接：(\S+)</p>", poster).group(1).split("qunti.test", 1)[1]

    # A worker scans it: the form opens with organization, station and workplace filled in and fixed.
    worker = app.test_client()
    form_page = worker.get(link).get_data(as_text=True)
    assert "申请加入：<strong>港城工业园区联合工会</strong>" in form_page
    assert "扫码服务站：gangcheng服务站" in form_page and "扫码单位：重庆港城物流有限公司" in form_page
    for name, value in (("organization", "gangcheng-union"), ("station", "gangcheng"),
                        ("workplace", "重庆港城物流有限公司")):
        control, = elements(form_page, "input", name=name)
        assert control["type"] == "hidden" and control["value"] == value and "readonly" in control, name
    no_identity(form_page, "the join form")
    # Whatever the page is made to send for them, the code's values are what count.
    joined = post_form(worker, link, {**UNION_ANSWERS, "organization": "guanyinqiao-union", "station": "shizishan",
                                      "workplace": "别的单位"}, status=303)
    receipt = worker.get(joined.headers["Location"]).get_data(as_text=True)
    number = joined.headers["Location"].rsplit("/", 1)[1]
    assert number in receipt and "港城工业园区联合工会" in receipt
    no_identity(receipt, "the receipt")
    tracking = worker.get(f"/track/{number}").get_data(as_text=True)
    no_identity(tracking, "the tracking page")

    # The union's handler finds it in the list and approves it.
    handler = sign_in(app, handler_name)
    listing = handler.get("/staff/membership/applications").get_data(as_text=True)
    assert "gangcheng服务站" in listing or "港城工业园区联合工会" in listing
    no_identity(listing, "the applications list")
    application_page = handler.get(href(listing, r"/staff/membership/applications/\d+")).get_data(as_text=True)
    assert "重庆港城物流有限公司" in application_page and "扫码" in application_page
    assert ID_A in application_page and PHONE_A in application_page  # the deciding handler: in full
    approved = handler.post(href(application_page, r"/approve"), follow_redirects=True).get_data(as_text=True)
    assert "已办理" in approved and "已同意" in approved

    # The worker opens the card with the tracking number and phone.
    assert worker.post("/member", data={"number": number, "phone": PHONE_A}).status_code == 303
    card = worker.get("/member/card").get_data(as_text=True)
    assert "王小芳" in card and "港城工业园区联合工会" in card and "有效" in card
    member_number = re.search(r"<dt>证号</dt><dd>(GH\w+)</dd>", card).group(1)
    no_identity(card, "the card page")
    picture = worker.get(href(card, r"/member/card/\d+\.svg")).get_data(as_text=True)
    assert member_number in picture
    no_identity(picture, "the saved card")

    # A gate scans the card's code: 有效, masked name and organization only.
    verify_url = re.search(r'href="(https?://[^"]+/verify/[^"]+)"', card).group(1).split("qunti.test", 1)[1]
    scan = app.test_client().get(verify_url)
    page = scan.get_data(as_text=True)
    assert scan.status_code == 200 and '<p class="verify-status" role="status">有效</p>' in page
    assert "王*芳" in page and "港城工业园区联合工会" in page
    assert "王小芳" not in page and member_number not in page
    no_identity(page, "the verify page")
