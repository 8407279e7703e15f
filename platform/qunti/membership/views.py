"""The resident's side: join (by choosing an organization or by scanning a code), the electronic
member card, transfer requests, and the public verify page a card's QR code opens.

A visitor sees a member's card when signed in as the resident the member record belongs to, or
after proving a tracking number of theirs with the phone it was filed with (kept in the session, as
the tracking page does).
"""
from __future__ import annotations

import base64
import secrets
from pathlib import Path

from flask import (
    Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for)
from flask_login import current_user
from sqlalchemy import select

from qunti import intake
from qunti.catalog import state
from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.models import Submission
from qunti.forms.registry import compiled_version, current_version
from qunti.membership import cards, codes, identity, join
from qunti.membership.models import (
    JOIN_FORMS, KINDS, MEMBER_WORDS, JoinApplication, Member, MemberCard, Membership, Organization,
    TransferRequest)
from qunti.membership.transfer import REASONS, TransferRefused, request_transfer
from qunti.orders import calendar
from qunti.orders.models import Order
from qunti.resident.views import _remember

bp = Blueprint("membership", __name__, cli_group="membership")

MEMBERS = "member_ids"  # member ids this browser proved, in the session
CARD_CACHE = "private, max-age=60, stale-while-revalidate=604800"
PHOTO_TYPES = {b"\xff\xd8\xff": ("jpg", "image/jpeg"), b"\x89PNG\r\n\x1a\n": ("png", "image/png")}


@bp.cli.command("demo")
def demo_command() -> None:
    """Create the demo grassroots organizations people can join (idempotent)."""
    from qunti.membership.demo import load_demo_organizations
    created = load_demo_organizations()
    db.session.commit()
    print(f"已建演示基层组织 {created} 个。")


def signed_in_resident():
    """The signed-in resident, whose account a join, transfer or sign-up is filed for; else None."""
    return current_user if current_user.is_authenticated and current_user.role == "resident" else None


# --- joining ------------------------------------------------------------------------------------

@bp.get("/join")
def choose():
    return render_template("membership/join_choose.html", kinds=KINDS, words=MEMBER_WORDS)


@bp.get("/join/<kind>")
def organizations(kind: str):
    if kind not in KINDS:
        abort(404)
    found = db.session.scalars(select(Organization).where(
        Organization.kind == kind, Organization.active.is_(True)).order_by(Organization.name)).all()
    return render_template("membership/join_organizations.html", kind=kind, kinds=KINDS,
                           organizations=found, word=MEMBER_WORDS[kind])


@bp.route("/join/<kind>/<code>", methods=["GET", "POST"])
def join_direct(kind: str, code: str):
    organization = db.session.get(Organization, code)
    if organization is None or organization.kind != kind or not organization.active:
        abort(404)
    return _join_page(join.Placement(organization), channel="online")


@bp.route("/j/<token>", methods=["GET", "POST"])
def scanned(token: str):
    """What a printed code opens: the join form filled in and locked, or the activity's page."""
    try:
        code = codes.read(token)
    except codes.CodeRefused as refused:
        return render_template("membership/message.html", title="二维码不可用", message=refused.message), refused.status
    if code.purpose == "activity":
        # The activity's own sign-up form: the activity is fixed by the code, the channel is 扫码.
        return redirect(url_for("activities.signup", activity_id=code.activity_id, via="qr"))
    organization = code.organization
    if organization is None or not organization.active:
        return render_template("membership/message.html", title="二维码不可用",
                               message=codes.REVOKED), 410
    return _join_page(join.Placement(organization, code.station_code, code.workplace, code), channel="qr")


def _join_page(placement: join.Placement, *, channel: str):
    kind = placement.organization.kind
    version = current_version(JOIN_FORMS[kind])
    if version is None:
        abort(404)
    compiled = compiled_version(version)
    locked = placement.locked_answers()
    station = db.session.get(Station, placement.station_code) if placement.station_code else None
    context = {"compiled": compiled, "placement": placement, "station": station, "locked": join.LOCKED_FIELDS,
               "word": MEMBER_WORDS[kind]}
    if request.method == "GET":
        prefill = {**locked, "employer": {"name": placement.workplace}} if placement.workplace else locked
        form = compiled.bind(data=prefill, locked=join.LOCKED_FIELDS)
        return render_template("membership/join_form.html", form=form, **context)
    result = compiled.submit(request.form, data=locked, locked=join.LOCKED_FIELDS)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("membership/join_form.html", form=result.form, **context), status
    try:
        submission = join.submit(version, result.answers, placement, channel=channel,
                                 resident_user=signed_in_resident())
    except join.JoinRefused as refused:
        _show_error(result.form, refused.message, refused.field)
        return render_template("membership/join_form.html", form=result.form, **context), 422
    _remember(submission.tracking_number)
    return redirect(url_for(".joined", number=submission.tracking_number), code=303)


def _show_error(form, message: str, pointer: str) -> None:
    """Put a refusal on its field (or on top of the form) the way the form engine shows its own."""
    name = pointer.lstrip("/")
    field = form[name] if name and name in form else None
    anchor = None
    if field is not None:
        field.errors = [*(field.errors or []), message]
        anchor = field.id
    form.error_summary = [*getattr(form, "error_summary", []), (message, anchor)]


@bp.get("/join/receipt/<number>")
def joined(number: str):
    from qunti.orders.resident_views import SEEN
    submission = db.session.scalar(select(Submission).where(Submission.tracking_number == number))
    if submission is None or number not in session.get(SEEN, []):
        abort(404)
    application = db.session.scalar(select(JoinApplication).join(Order, Order.id == JoinApplication.order_id)
                                    .where(Order.number == number))
    return render_template("membership/join_receipt.html", submission=submission, application=application,
                           track_url=url_for("resident.track", number=number, _external=True))


# --- who the visitor is -------------------------------------------------------------------------

def _proved_members() -> list[int]:
    ids = list(session.get(MEMBERS, []))
    resident = signed_in_resident()
    if resident is not None:
        ids += db.session.scalars(select(Member.id).where(Member.resident_user_id == resident.id)).all()
    return list(dict.fromkeys(ids))


def _member_of_number(number: str) -> tuple[Member | None, str | None]:
    """The member behind a join or transfer order number, or (None, what to tell the visitor)."""
    application = db.session.scalar(select(JoinApplication).join(Order, Order.id == JoinApplication.order_id)
                                    .where(Order.number == number))
    if application is not None:
        if application.state == "pending":
            return None, "您的申请正在审核中，审核同意后即可在这里领取电子会员证。"
        if application.state == "declined":
            return None, f"您的申请未获同意。理由：{application.decline_reason}"
        return db.session.scalar(select(Member).where(Member.person_key == application.person_key)), None
    transfer = db.session.scalar(select(TransferRequest).join(Order, Order.id == TransferRequest.order_id)
                                 .where(Order.number == number))
    if transfer is not None:
        return transfer.membership.member, None
    return None, "这个受理编号不是入会入团或组织关系转接的申请。"


@bp.route("/member", methods=["GET", "POST"])
def member_home():
    """Find one's card: by the signed-in account, or by tracking number + phone."""
    if request.method == "GET" and _proved_members():
        return redirect(url_for(".card"))
    error, number = None, (request.form.get("number") or request.args.get("number") or "").strip().upper()
    if request.method == "POST":
        submission = db.session.scalar(select(Submission).where(Submission.tracking_number == number)) \
            if number else None
        if submission is None or not intake.phone_matches(submission, request.form.get("phone", "")):
            error = "受理编号或手机号不正确，请核对后再试。"
        else:
            _remember(number)
            member, error = _member_of_number(number)
            if member is not None:
                session[MEMBERS] = list(dict.fromkeys([*session.get(MEMBERS, []), member.id]))[-5:]
                resident = signed_in_resident()
                if resident is not None and member.resident_user_id is None:
                    member.resident_user_id = resident.id
                    db.session.commit()
                return redirect(url_for(".card"), code=303)
    response = render_template("membership/member_lookup.html", error=error, number=number)
    return response, (422 if error else 200)


def _members() -> list[Member]:
    ids = _proved_members()
    if not ids:
        return []
    return list(db.session.scalars(select(Member).where(Member.id.in_(ids)).order_by(Member.id)))


def _owned_membership(membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.member_id not in _proved_members():
        abort(404)
    return membership


def _current_card(membership: Membership) -> MemberCard | None:
    return db.session.scalar(select(MemberCard).where(MemberCard.membership_id == membership.id)
                             .order_by(MemberCard.id.desc()).limit(1))


def _photo(member: Member) -> tuple[bytes, str] | None:
    if not member.photo_path:
        return None
    path = Path(current_app.instance_path) / member.photo_path
    if not path.is_file():
        return None
    content = path.read_bytes()
    kind = next((v for magic, v in PHOTO_TYPES.items() if content.startswith(magic)), None)
    return (content, kind[1]) if kind else None


def _card_view(membership: Membership, today) -> dict:
    card = _current_card(membership)
    view = {"membership": membership, "card": card, "status": None, "qr": None}
    if card is not None:
        url = url_for(".verify", token=cards.card_token(card), _external=True)
        view.update(status=cards.STATUS_WORDS[cards.card_status(card, today)], verify_url=url,
                    qr=cards.data_uri(cards.qr_svg(url, module=6, border=2)))
    return view


@bp.get("/member/card")
def card():
    members = _members()
    if not members:
        return redirect(url_for(".member_home"))
    today = calendar.today()
    people = []
    for member in members:
        active = [m for m in member.memberships if m.status == "active"]
        photo = _photo(member)
        transfers = db.session.scalars(select(TransferRequest).join(
            Membership, Membership.id == TransferRequest.membership_id).where(
            Membership.member_id == member.id).order_by(TransferRequest.id.desc()).limit(5)).all()
        people.append({
            "member": member, "cards": [_card_view(m, today) for m in active],
            "history": member.memberships, "transfers": transfers,
            "photo": f"data:{photo[1]};base64,{base64.b64encode(photo[0]).decode()}" if photo else None})
    from qunti.membership.info import member_life_posts
    life = member_life_posts([view["membership"].organization_code for p in people for view in p["cards"]])
    response = Response(render_template("membership/card.html", people=people, words=MEMBER_WORDS, kinds=KINDS,
                                        life=life))
    # Kept on the phone for a week: without a signal the stored page still opens; with one, a page
    # older than a minute is refreshed behind the scenes. Private: never in a shared cache. (What a
    # card is worth is always what the verify page says, read from the database on each scan.)
    response.headers["Cache-Control"] = CARD_CACHE
    response.headers["Vary"] = "Cookie"
    return response


@bp.get("/member/card/<int:membership_id>.svg")
def card_image(membership_id: int):
    """保存为图片: the whole card as one SVG file."""
    membership = _owned_membership(membership_id)
    if membership.status != "active":
        # A card of a person who left (transferred or revoked) is not drawn again: a saved picture
        # would look valid to anyone who does not scan it.
        word = MEMBER_WORDS[membership.kind]
        return render_template("membership/message.html", title="不能保存电子会员证", message=(
            f"证号 {membership.number} 的{word}身份{membership.status_name}，这张电子{word}证已失效，"
            "不能再保存为图片。")), 410
    card = _current_card(membership)
    if card is None:
        abort(404)
    member = membership.member
    svg = cards.card_svg(name=member.name, id_number=identity.decrypt(member.id_number_enc),
                         membership=membership, organization=membership.organization.name, card=card,
                         verify_url=url_for(".verify", token=cards.card_token(card), _external=True),
                         photo=_photo(member))
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = CARD_CACHE
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="member-card-{membership.number}.svg"'
    return response


@bp.route("/member/transfer/<int:membership_id>", methods=["GET", "POST"])
def transfer(membership_id: int):
    membership = _owned_membership(membership_id)
    targets = db.session.scalars(select(Organization).where(
        Organization.kind == membership.kind, Organization.active.is_(True),
        Organization.code != membership.organization_code).order_by(Organization.name)).all()
    error = None
    if request.method == "POST":
        try:
            submission = request_transfer(
                membership, request.form.get("to", ""), reason=request.form.get("reason", ""),
                remarks=request.form.get("remarks", ""), workplace=request.form.get("workplace", ""),
                resident_user=signed_in_resident())
        except TransferRefused as refused:
            error = refused.message
        else:
            _remember(submission.tracking_number)
            flash(f"转接申请已提交，受理编号 {submission.tracking_number}。接收方办理后，电子会员证会随之更换。", "success")
            return redirect(url_for(".card"), code=303)
    response = Response(render_template("membership/transfer.html", membership=membership, targets=targets,
                                        reasons=REASONS, error=error, form=request.form),
                        status=422 if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/member/photo", methods=["GET", "POST"])
def photo():
    members = _members()
    if not members:
        return redirect(url_for(".member_home"))
    member = members[0]
    error = None
    if request.method == "POST":
        error = _store_photo(member, request.files.get("photo"))
        if error is None:
            flash("照片已更新。", "success")
            return redirect(url_for(".card"), code=303)
    response = Response(render_template("membership/photo.html", member=member, error=error,
                                        limit_kb=current_app.config["MEMBER_PHOTO_MAX_BYTES"] // 1024),
                        status=422 if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


def _store_photo(member: Member, upload) -> str | None:
    if upload is None or not upload.filename:
        return "请选择一张照片。"
    limit = current_app.config["MEMBER_PHOTO_MAX_BYTES"]
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        return f"照片不能超过 {limit // 1024} KB。"
    kind = next((v for magic, v in PHOTO_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        return "照片只能是 JPG 或 PNG 图片。"
    folder = Path(current_app.instance_path) / "member-photos"
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"member-photos/{secrets.token_hex(16)}.{kind[0]}"
    (Path(current_app.instance_path) / stored).write_bytes(content)
    old, member.photo_path = member.photo_path, stored
    db.session.commit()
    if old:
        (Path(current_app.instance_path) / old).unlink(missing_ok=True)
    return None


@bp.post("/member/forget")
def forget():
    session.pop(MEMBERS, None)
    return redirect(url_for(".member_home"), code=303)


# --- verifying a card -----------------------------------------------------------------------------

@bp.get("/verify/<token>")
def verify(token: str):
    result = cards.verify(token, calendar.today())
    response = Response(_verify_page(result), status=404 if result.status == "invalid" else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


_MAX_PAGES = 2000


def _verify_page(result: cards.Verification) -> str:
    """The page for ``result``. Anonymous scanners all get the same page for the same result, so it
    is rendered once per result; the key is the whole result, so an entry never goes stale."""
    # A visitor with a session (signed in, or with messages pending) sees it in the page's header;
    # only visitors without one share pages, and the check does not even open the session.
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
        return render_template("membership/verify.html", result=result)
    cache, key = state().rendered, ("membership.verify", result)
    page = cache.get(key)
    if page is None:
        page = render_template("membership/verify.html", result=result)
        with state().lock:
            if len(cache) >= _MAX_PAGES:
                cache.clear()
            cache[key] = page
    return page
