"""Shared steps of the membership tests: demo organizations, a resident joining through the HTML
form (JavaScript off), a handler deciding, a member proving their tracking number."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from qunti.db import db
from qunti.membership.demo import load_demo_organizations
from qunti.membership.models import JoinApplication, Member, Membership
from qunti.orders.models import Order

from werkzeug.datastructures import MultiDict

from browser import page as browser_page
from users import ensure_station, ensure_unit, forget_request_state, login, logout, make_user

# Valid 居民身份证 numbers (GB 11643 check digit right), and one with a wrong check digit.
ID_A = "500105199204183029"
ID_B = "500105199506234119"
ID_YOUNG = "500112200308120056"  # born 2003-08-12
ID_BAD_CHECK = "500105199204183028"
PHONE_A = "15123456789"
PHONE_B = "13912345678"

UNION_ANSWERS = {"name": "王小芳", "idNumber": ID_A, "phone": PHONE_A, "applicantCategory": "migrant_worker",
                 "employer-name": "重庆港城物流有限公司", "trade": "制造业", "community": "寸滩街道港城社区",
                 "consent": "y"}


def setup_organizations() -> None:
    """The demo stations, the two organization units and the demo grassroots organizations."""
    ensure_station("gangcheng", community="港城社区", lead="union")
    ensure_station("shizishan", community="石子山社区", lead="league")
    ensure_unit("union", kind="organization", name="江北区总工会")
    ensure_unit("league", kind="organization", name="共青团重庆市江北区委员会")
    load_demo_organizations()
    db.session.commit()


def post_form(client, url: str, fill: dict[str, Any], *, status: int | None = None):
    """Open the form page at ``url``, fill it as a browser would and press submit."""
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    parsed = browser_page(html)
    names = {a.get("name") for tag, a in parsed.tags if tag in ("input", "select", "textarea")}
    sent = MultiDict(parsed.sent)
    for name, value in fill.items():
        assert name in names, f"no control {name} on the page"
        sent.setlist(name, [value])  # radios and check boxes are sent only when chosen
    response = client.post(url, data=sent)
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    return response


def join(client, url: str = "/join/union/gangcheng-union", **overrides) -> str:
    """Join through the form at ``url``; the tracking number of the receipt."""
    response = post_form(client, url, {**UNION_ANSWERS, **overrides}, status=303)
    return response.headers["Location"].rsplit("/", 1)[-1]


def application_of(number: str) -> JoinApplication:
    db.session.expire_all()
    return db.session.scalar(select(JoinApplication).join(Order, Order.id == JoinApplication.order_id)
                             .where(Order.number == number))


def union_handler():
    return make_user("handler", unit_code="union")


def decide(client, user, number: str, action: str = "approve", reason: str = ""):
    """``user`` presses 同意 / 不同意 on the application page of ``number``."""
    login(client, user)
    application = application_of(number)
    response = client.post(f"/staff/membership/applications/{application.id}/{action}", data={"reason": reason})
    forget_request_state()
    logout(client)
    return response


def prove(client, number: str, phone: str = PHONE_A):
    """Open the member card page with the tracking number and phone, as a member does."""
    return client.post("/member", data={"number": number, "phone": phone})


def active_membership(id_number: str = ID_A) -> Membership | None:
    from qunti.membership import identity
    db.session.expire_all()
    return db.session.scalar(select(Membership).join(Member, Member.id == Membership.member_id).where(
        Member.person_key == identity.person_key(id_number), Membership.status == "active"))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def body_text(response) -> str:
    """What a person reads in ``response``: the text of a page or CSV, every cell of a workbook."""
    if response.mimetype != XLSX:
        return response.get_data(as_text=True)
    import io

    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row)
                     for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))


def verify_link(html: str) -> str:
    """The verify link printed on a card page."""
    found = re.search(r'https?://[^"<\s]+/verify/[A-Za-z0-9._-]+', html)
    assert found, html
    return found.group(0)
