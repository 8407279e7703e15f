"""The electronic member card: shown to the member (signed in, or by tracking number + phone),
verified publicly by its QR link (有效 / 已注销 / 已过期 / 无效), saved as a picture, never leaking
the ID number or phone."""
from __future__ import annotations

import os
import string
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from qunti.db import db
from qunti.membership.models import MemberCard

from membership_helpers import (
    ID_A, PHONE_A, active_membership, decide, join, prove, setup_organizations, union_handler, verify_link)
from users import login, make_user


@pytest.fixture
def member(client, ctx):
    """A resident who joined 港城工业园区联合工会 and was approved; their tracking number."""
    setup_organizations()
    number = join(client)
    decide(client, union_handler(), number)
    return number


def card_page(client, number: str) -> str:
    assert prove(client, number).status_code == 303
    response = client.get("/member/card")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_card_shows_name_organization_number_and_a_verify_code(client, app, member):
    html = card_page(client, member)
    membership = active_membership()
    for text in ("王小芳", "港城工业园区联合工会", membership.number, membership.joined_on.isoformat(), "有效"):
        assert text in html
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code travels with the page
    response = client.get("/member/card")
    assert response.headers["Cache-Control"] == "private, max-age=60, stale-while-revalidate=604800"
    assert ID_A not in html and PHONE_A not in html


def test_the_card_is_not_shown_without_proof(app, member):
    stranger = app.test_client()
    assert stranger.get("/member/card").status_code == 302
    wrong = stranger.post("/member", data={"number": member, "phone": "13000000000"})
    assert wrong.status_code == 422 and "受理编号或手机号不正确" in wrong.get_data(as_text=True)
    assert stranger.get("/member/card").status_code == 302
    assert stranger.get(f"/member/card/{active_membership().id}.svg").status_code == 404


def test_a_signed_in_resident_sees_their_card(app, ctx):
    setup_organizations()
    resident = make_user("resident")
    client = app.test_client()
    login(client, resident)
    number = join(client)
    decide(app.test_client(), union_handler(), number)
    login(client, resident)
    html = client.get("/member/card").get_data(as_text=True)
    assert active_membership().number in html


def test_verify_says_valid_with_masked_name_only(client, app, member):
    link = verify_link(card_page(client, member))
    page = app.test_client().get(link.split("qunti.test", 1)[1])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "有效" in html and "王*芳" in html and "港城工业园区联合工会" in html
    assert "王小芳" not in html and ID_A not in html and PHONE_A not in html
    assert active_membership().number not in html
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("change", ["last", "middle", "garbage", "swap-id", "long"])
def test_a_forged_or_altered_token_is_invalid(client, app, member, change):
    token = verify_link(card_page(client, member)).rsplit("/", 1)[1]
    if change == "last":
        # The last base64 letter of the signature carries 2 unused bits: step 4 letters on, so the
        # signature itself changes ("A" for "B" was sometimes the same signature, and valid).
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
        forged = token[:-1] + alphabet[(alphabet.index(token[-1]) + 4) % 64]
    elif change == "middle":
        forged = token[:5] + ("x" if token[5] != "x" else "y") + token[6:]
    elif change == "garbage":
        forged = "WzEsImFiYyJd.bm90LWEtc2lnbmF0dXJl"
    elif change == "long":
        forged = token + "A" * 5000
    else:
        # A token genuinely signed with another key (a forger's) is refused too.
        from itsdangerous import URLSafeSerializer
        forged = URLSafeSerializer("not-our-key", salt="qunti.membership.card").dumps([1, "nonce"])
    page = app.test_client().get(f"/verify/{forged}")
    assert page.status_code == 404 and "无效" in page.get_data(as_text=True)


def test_revoking_the_membership_revokes_the_card_at_once(client, app, member):
    link = verify_link(card_page(client, member)).split("qunti.test", 1)[1]
    admin = make_user("org_admin", organization="union")
    staff = app.test_client()
    login(staff, admin)
    membership = active_membership()
    refused = staff.post(f"/staff/membership/members/{membership.id}/revoke", data={"reason": ""},
                         follow_redirects=True)
    assert "请填写注销理由" in refused.get_data(as_text=True)
    assert "有效" in app.test_client().get(link).get_data(as_text=True)
    staff.post(f"/staff/membership/members/{membership.id}/revoke", data={"reason": "本人申请退会"})
    assert active_membership() is None
    html = app.test_client().get(link).get_data(as_text=True)
    assert "已注销" in html and "有效期至" in html
    # The member's page says the card is gone (a card for a person who left), and the picture of it
    # cannot be saved again.
    mine = client.get("/member/card").get_data(as_text=True)
    assert "您目前没有有效的电子会员证" in mine and "已注销" in mine and "本人申请退会" in mine
    assert "保存为图片" not in mine and "/verify/" not in mine
    picture = client.get(f"/member/card/{membership.id}.svg")
    assert picture.status_code == 410 and picture.mimetype == "text/html"
    assert (f"证号 {membership.number} 的会员身份已注销，这张电子会员证已失效，不能再保存为图片"
            in picture.get_data(as_text=True))
    # Revoking twice says so and changes nothing.
    again = staff.post(f"/staff/membership/members/{membership.id}/revoke", data={"reason": "重复"},
                       follow_redirects=True)
    assert "无需再注销" in again.get_data(as_text=True)
    db.session.refresh(membership)
    assert membership.end_reason == "本人申请退会"


def test_another_organizations_admin_cannot_revoke(client, app, member):
    membership = active_membership()
    staff = app.test_client()
    login(staff, make_user("org_admin", organization="league"))
    assert staff.post(f"/staff/membership/members/{membership.id}/revoke", data={"reason": "x"}).status_code == 404
    assert active_membership() is not None


def test_an_expired_card_says_so(client, app, member):
    link = verify_link(card_page(client, member)).split("qunti.test", 1)[1]
    card = db.session.scalar(select(MemberCard))
    card.expires_on = date.today() - timedelta(days=1)
    db.session.commit()
    html = app.test_client().get(link).get_data(as_text=True)
    assert "已过期" in html


def test_the_card_key_signs_the_tokens(client, app, member):
    link = verify_link(card_page(client, member)).split("qunti.test", 1)[1]
    assert app.test_client().get(link).status_code == 200
    app.config["CARD_SIGNING_KEY"] = "a-different-card-key"  # as if the key were changed
    assert app.test_client().get(link).status_code == 404


def test_save_as_picture_is_an_svg_of_the_whole_card(client, member):
    card_page(client, member)
    membership = active_membership()
    response = client.get(f"/member/card/{membership.id}.svg?download=1")
    svg = response.get_data(as_text=True)
    assert response.mimetype == "image/svg+xml" and svg.startswith("<svg")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"].startswith("private")
    for text in ("王小芳", "港城工业园区联合工会", membership.number, "<path"):
        assert text in svg
    assert ID_A not in svg and PHONE_A not in svg and "500***********3029" in svg


def test_a_photo_can_be_added_to_the_card(client, member):
    import io
    card_page(client, member)
    bad = client.post("/member/photo", data={"photo": (io.BytesIO(b"GIF89a..."), "a.gif")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "只能是 JPG 或 PNG" in bad.get_data(as_text=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    ok = client.post("/member/photo", data={"photo": (io.BytesIO(png), "me.png")}, content_type="multipart/form-data")
    assert ok.status_code == 303
    assert 'src="data:image/png;base64,' in client.get("/member/card").get_data(as_text=True)
    svg = client.get(f"/member/card/{active_membership().id}.svg").get_data(as_text=True)
    assert "data:image/png;base64," in svg


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("QUNTI_DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL (QUNTI_DATABASE_URL)")
def test_a_scan_survives_a_connection_the_server_dropped(client, app, member):
    """Card scans read through a pool of their own without the checkout ping; a pooled connection
    the server closed (restart, idle timeout) costs a retry, never an error page."""
    from sqlalchemy import text

    from qunti.membership import cards
    link = verify_link(card_page(client, member)).split("qunti.test", 1)[1]
    assert "有效" in app.test_client().get(link).get_data(as_text=True)
    scan = cards.scan_engine()
    assert scan is not db.engine and scan.pool.checkedin() >= 1
    with scan.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    for _ in range(3):
        page = app.test_client().get(link)
        assert page.status_code == 200 and "有效" in page.get_data(as_text=True)
    # Revocation shows at the next scan through the same pool.
    staff = app.test_client()
    login(staff, make_user("org_admin", organization="union"))
    staff.post(f"/staff/membership/members/{active_membership().id}/revoke", data={"reason": "本人申请退会"})
    assert "已注销" in app.test_client().get(link).get_data(as_text=True)
