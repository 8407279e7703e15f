"""The electronic member card: issuing, the signed verify token, the status a scan shows, and the
card drawn as one SVG image (what "保存为图片" downloads).

The token names a card row and carries its random nonce, signed with the card key: an altered or
invented token is 无效 without a database read; a genuine one is judged against the database on
every scan, so revoking a membership or transferring it shows at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import segno
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import escape
from sqlalchemy import bindparam, create_engine, select
from sqlalchemy.engine import Compiled, Engine

from qunti.db import db, utcnow
from qunti.masking import mask_id_number, mask_name
from qunti.membership.models import KINDS, MEMBER_WORDS, Member, MemberCard, Membership, Organization

_SALT = "qunti.membership.card"

STATUS_WORDS = {"valid": "有效", "revoked": "已注销", "transferred": "已转出", "expired": "已过期", "invalid": "无效"}


@lru_cache(maxsize=8)
def _serializer_for(configured: str | None, secret: str) -> URLSafeSerializer:
    # Keyed by the settings it is made from, so each app (and each test app) gets its own.
    key = str(configured).encode() if configured else \
        hmac.new(secret.encode(), b"qunti.membership.card-key", hashlib.sha256).digest()
    return URLSafeSerializer(key, salt=_SALT)


def _serializer() -> URLSafeSerializer:
    """Signs with CARD_SIGNING_KEY, or a key derived from SECRET_KEY for this purpose only."""
    config = current_app.config
    return _serializer_for(config.get("CARD_SIGNING_KEY") or None, config["SECRET_KEY"])


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def issue_card(membership: Membership, today: date) -> MemberCard:
    """A new card for ``membership``, valid CARD_VALID_YEARS from ``today`` (added, not committed)."""
    card = MemberCard(membership=membership, nonce=secrets.token_urlsafe(9),
                      expires_on=add_years(today, int(current_app.config["CARD_VALID_YEARS"])))
    db.session.add(card)
    return card


def revoke_cards(membership: Membership) -> None:
    """Every card of ``membership`` stops verifying as 有效 from now on."""
    for card in db.session.scalars(select(MemberCard).where(
            MemberCard.membership_id == membership.id, MemberCard.revoked_at.is_(None))):
        card.revoked_at = utcnow()


def card_token(card: MemberCard) -> str:
    return _serializer().dumps([card.id, card.nonce])


def read_token(token: str) -> tuple[int, str] | None:
    """(card id, nonce) of a genuine token; None if it was altered, truncated or invented."""
    if len(token) > _TOKEN_MAX:  # a genuine one is about 60 characters; keep junk out of the cache
        return None
    return _read(_serializer(), token)


_TOKEN_MAX = 200


@lru_cache(maxsize=4096)
def _read(serializer: URLSafeSerializer, token: str) -> tuple[int, str] | None:
    # What a token says never changes for one key (the serializer), so the same card scanned again
    # skips the HMAC; what the card is worth today is read from the database on every scan.
    try:
        value = serializer.loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)
            and isinstance(value[1], str)):
        return None
    return value[0], value[1]


def status_of(membership_status: str, revoked: bool, expires_on: date, today: date) -> str:
    """valid, revoked, transferred or expired (see STATUS_WORDS) of a genuine card."""
    if membership_status == "transferred":
        return "transferred"
    if membership_status != "active" or revoked:
        return "revoked"
    if expires_on < today:
        return "expired"
    return "valid"


def card_status(card: MemberCard, today: date) -> str:
    return status_of(card.membership.status, card.revoked_at is not None, card.expires_on, today)


@dataclass(frozen=True)
class Verification:
    """What the public verify page may show: never the ID number, the phone or the member number."""

    status: str
    masked_name: str = ""
    organization: str = ""
    kind: str = ""
    expires_on: date | None = None

    @property
    def word(self) -> str:
        return STATUS_WORDS[self.status]


# One statement, built once: the verify page is what gets scanned at every gate and sign-in desk.
_VERIFY = (
    select(MemberCard.nonce, MemberCard.expires_on, MemberCard.revoked_at, Membership.status,
           Membership.kind, Organization.name.label("organization"), Member.name)
    .join(Membership, Membership.id == MemberCard.membership_id)
    .join(Organization, Organization.code == Membership.organization_code)
    .join(Member, Member.id == Membership.member_id)
    .where(MemberCard.id == bindparam("card_id")))


_SCAN_ENGINE = "qunti.membership.scan_engine"
_scan_engine_lock = threading.Lock()


def scan_engine() -> Engine:
    """The engine card scans read through: on a server database a pool of its own, in autocommit and
    without the app pool's ping on checkout (see :func:`_card_row`); on SQLite, which has no round
    trips to save, the app's engine. Kept in ``app.extensions``: each app has its own, disposed
    with its engines."""
    scan = current_app.extensions.get(_SCAN_ENGINE)
    if scan is None:
        with _scan_engine_lock:
            scan = current_app.extensions.get(_SCAN_ENGINE)
            if scan is None:
                engine = db.engine
                scan = engine if engine.dialect.name == "sqlite" else \
                    create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
                current_app.extensions[_SCAN_ENGINE] = scan
    return scan


@lru_cache(maxsize=8)
def _compiled(dialect) -> Compiled:
    return _VERIFY.compile(dialect=dialect)


def _card_row(card_id: int) -> tuple | None:
    """(nonce, expires_on, revoked_at, membership status, kind, organization name, member name).

    The page every gate scans, so this is one round trip with nothing around it: the statement
    compiled once, sent on a pooled DBAPI connection (no ping, no BEGIN, no ROLLBACK on a server
    database, and no SQLAlchemy execution or result machinery: about a third of the time of a Core
    execute). A connection the server dropped (restart, idle timeout) is invalidated and the read
    tried once more on a fresh one.
    """
    engine = scan_engine()
    compiled = _compiled(engine.dialect)
    params = compiled.construct_params({"card_id": card_id})
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    for attempt in (1, 2):
        connection = engine.raw_connection()
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(compiled.string, params)
            row = cursor.fetchone()
        except engine.dialect.loaded_dbapi.Error as exc:
            if attempt == 2 or not engine.dialect.is_disconnect(exc, connection.dbapi_connection, cursor):
                raise
            connection.invalidate(exc)
            continue
        finally:
            connection.close()
        if row is not None and isinstance(row[1], str):  # SQLite keeps dates as ISO text
            row = (row[0], date.fromisoformat(row[1]), *row[2:])
        return row
    return None


def verify(token: str, today: date) -> Verification:
    """What a scan of ``token`` shows today (one query for a genuine token, none for a forged one)."""
    found = read_token(token)
    if found is None:
        return Verification("invalid")
    card_id, nonce = found
    row = _card_row(card_id)
    if row is None:
        return Verification("invalid")
    card_nonce, expires_on, revoked_at, membership_status, kind, organization, name = row
    if not hmac.compare_digest(card_nonce, nonce):
        return Verification("invalid")
    status = status_of(membership_status, revoked_at is not None, expires_on, today)
    return Verification(status, mask_name(name), organization, KINDS.get(kind, kind), expires_on)


def qr_path(data: str) -> tuple[str, int]:
    """An SVG path drawing the QR code of ``data`` (one unit per module) and its size in modules."""
    code = segno.make(data, error="m")
    parts = []
    for y, row in enumerate(code.matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    return "".join(parts), len(code.matrix)


def qr_svg(data: str, *, module: int = 8, border: int = 4) -> str:
    """A standalone SVG of a QR code (posters with a name beneath: :mod:`qunti.membership.posters`)."""
    path, size = qr_path(data)
    side = (size + 2 * border) * module
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
            f'viewBox="0 0 {side} {side}"><rect width="100%" height="100%" fill="#fff"/>'
            f'<g transform="translate({border * module} {border * module}) scale({module})">'
            f'<path d="{path}" fill="#000"/></g></svg>')


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def card_svg(*, name: str, id_number: str, membership: Membership, organization: str, card: MemberCard,
             verify_url: str, photo: tuple[bytes, str] | None = None) -> str:
    """The whole card as one SVG (name, organization, number, dates, photo and verify QR code).
    The ID number is printed masked: a saved picture travels further than the page."""
    kind = membership.kind
    title = f"江北区{'总工会' if kind == 'union' else '共青团'} 电子{MEMBER_WORDS.get(kind, '会员')}证"
    path, size = qr_path(verify_url)
    module = 150 / size
    font = 'font-family="PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif"'
    lines = [("姓名", name), ("组织", organization), ("证号", membership.number),
             ("入会" if kind == "union" else "入团", membership.joined_on.isoformat()),
             ("有效期至", card.expires_on.isoformat()), ("身份证", mask_id_number(id_number))]
    rows = "".join(
        f'<text x="{150 if photo else 32}" y="{112 + i * 34}" font-size="20" {font} fill="#333">'
        f'{escape(label)}：<tspan font-weight="bold" fill="#111">{escape(value)}</tspan></text>'
        for i, (label, value) in enumerate(lines))
    picture = ""
    if photo is not None:
        content, mimetype = photo
        encoded = base64.b64encode(content).decode()
        picture = (f'<image x="32" y="92" width="100" height="130" preserveAspectRatio="xMidYMid slice" '
                   f'href="data:{mimetype};base64,{encoded}"/>')
    color = "#c8161d" if kind == "union" else "#1d4fa3"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="330" viewBox="0 0 640 330">'
            f'<rect width="640" height="330" rx="18" fill="#fffdf8" stroke="{color}" stroke-width="4"/>'
            f'<rect width="640" height="64" rx="18" fill="{color}"/>'
            f'<rect y="40" width="640" height="24" fill="{color}"/>'
            f'<text x="32" y="42" font-size="26" font-weight="bold" fill="#fff" {font}>{escape(title)}</text>'
            f'{picture}{rows}'
            f'<g transform="translate(458 96) scale({module:.4f})"><path d="{path}" fill="#000"/></g>'
            f'<text x="533" y="272" text-anchor="middle" font-size="14" fill="#555" {font}>扫码验证</text>'
            f'<text x="32" y="312" font-size="13" fill="#777" {font}>江北区群团之家 · 以扫码验证结果为准</text>'
            f'</svg>')
