"""点单: turning a resident's validated answers into a stored submission with a tracking number.

This is the seam where the order cycle starts: every path that accepts answers (the resident page,
the station's walk-in page, the JSON API) goes through :func:`accept`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from qunti.db import db
from qunti.forms.models import FormVersion, Submission

CHANNELS = {"online": "网上", "qr": "扫码", "station": "站点代办", "phone": "电话"}
# No 0/O or 1/I/L: a tracking number is read aloud over the phone and typed on small keyboards.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_tracking_number(now: datetime | None = None) -> str:
    now = now or datetime.now()
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return f"{current_app.config['TRACKING_PREFIX']}{now:%y%m%d}{tail}"


def normalize_phone(phone: str) -> str:
    return "".join(ch for ch in str(phone) if ch.isdigit())[-11:]


def phone_hash(tracking_number: str, phone: str) -> str:
    """Keyed hash of the contact phone, bound to one tracking number (never stored in clear here)."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{tracking_number}:{normalize_phone(phone)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def phone_matches(submission: Submission, phone: str) -> bool:
    if not submission.phone_hash or not normalize_phone(phone):
        return False
    return hmac.compare_digest(submission.phone_hash, phone_hash(submission.tracking_number, phone))


def accept(version: FormVersion, answers: dict[str, Any], *, channel: str = "online",
           service_item_code: str | None = None, commit: bool = True) -> Submission:
    """Store ``answers`` (already validated against ``version``) and return the new submission."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    phone = answers.get("phone")
    for attempt in range(5):
        tracking = new_tracking_number()
        submission = Submission(
            tracking_number=tracking, form_version_id=version.id, service_item_code=service_item_code,
            answers=answers, channel=channel, phone_hash=phone_hash(tracking, phone) if phone else None)
        try:
            # A savepoint: a (very rare) tracking-number collision retries without losing the
            # rest of the caller's transaction.
            with db.session.begin_nested():
                db.session.add(submission)
            break
        except IntegrityError:
            if attempt == 4:
                raise
    if commit:
        db.session.commit()
    return submission
