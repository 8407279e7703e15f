"""Printed QR codes for joining (station, workplace and organization filled in) and for activities.

The link carries only the code's id, signed with SECRET_KEY under its own salt, so it stays short
(a small, easily scanned code) and cannot be altered; what it fills in is read from the code's row,
which is also where staff revoke it and where it expires.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from qunti.db import db, utcnow
from qunti.membership.models import JoinCode

_SALT = "qunti.membership.join-code"

FORGED = "二维码无效：链接不完整或被改动过。请重新扫描张贴的二维码，或直接在“网上入会入团”中申请。"
REVOKED = "这个二维码已停用。请联系服务站工作人员获取新的二维码，或直接在“网上入会入团”中申请。"
EXPIRED = "这个二维码已过期（有效期至 {day}）。请联系服务站工作人员获取新的二维码。"


class CodeRefused(Exception):
    """A scanned code that does not work; ``message`` says why in Chinese, ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def token_for(code: JoinCode) -> str:
    return _serializer().dumps(code.id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def default_expiry(days: int | None = None) -> datetime:
    return utcnow() + timedelta(days=days or int(current_app.config["JOIN_CODE_VALID_DAYS"]))


def is_expired(code: JoinCode, now: datetime | None = None) -> bool:
    return code.expires_at is not None and _aware(code.expires_at) <= (now or utcnow())


def code_state(code: JoinCode) -> str:
    if code.revoked_at is not None:
        return "已停用"
    return "已过期" if is_expired(code) else "有效"


def read(token: str) -> JoinCode:
    """The code a scanned token names, if it still works; CodeRefused otherwise."""
    try:
        code_id = _serializer().loads(token)
    except BadSignature:
        raise CodeRefused(FORGED, 400) from None
    code = db.session.get(JoinCode, code_id) if isinstance(code_id, int) else None
    if code is None:
        raise CodeRefused(FORGED, 400)
    if code.revoked_at is not None:
        raise CodeRefused(REVOKED, 410)
    if is_expired(code):
        from qunti.staff.present import local
        raise CodeRefused(EXPIRED.format(day=local(code.expires_at).strftime("%Y-%m-%d")), 410)
    return code
