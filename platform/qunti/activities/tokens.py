"""Signed links for a sign-up: the resident's confirmation page and the check-in QR code.

Both are signed with the app's SECRET_KEY (itsdangerous), each with its own salt so that one can
never be used as the other. The check-in token carries the sign-up's secret nonce as well, so a
sign-up id typed by hand is refused as forged.
"""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from qunti.activities.models import ActivitySignup

_CONFIRMATION = "qunti.activities.confirmation"
_CHECKIN = "qunti.activities.checkin"


class BadToken(Exception):
    """A token that was not issued by this installation (or was altered)."""


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def confirmation_ref(signup: ActivitySignup) -> str:
    return _serializer(_CONFIRMATION).dumps(signup.id)


def read_confirmation_ref(ref: str) -> int:
    try:
        value = _serializer(_CONFIRMATION).loads(ref)
    except BadSignature:
        raise BadToken from None
    if not isinstance(value, int):
        raise BadToken
    return value


def checkin_token(signup: ActivitySignup) -> str:
    return _serializer(_CHECKIN).dumps([signup.id, signup.nonce])


def read_checkin_token(token: str) -> tuple[int, str]:
    """(sign-up id, nonce) from a scanned token; also accepts the whole scanned link."""
    token = token.strip().rstrip("/").rsplit("/", 1)[-1]
    try:
        value = _serializer(_CHECKIN).loads(token)
    except BadSignature:
        raise BadToken from None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        raise BadToken
    return value[0], value[1]
