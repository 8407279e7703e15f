"""Identity data of members: the 居民身份证 number check, encryption at rest and keyed look-up hashes.

ID numbers and phones are stored only as Fernet tokens (``MEMBER_DATA_KEY``) plus a keyed hash
(``MEMBER_HASH_KEY``) that finds the same person again without decrypting anything. Keys not set
in configuration are derived from SECRET_KEY, each for its own purpose, so one leaked derived key
opens nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from qunti.intake import normalize_phone

# GB 11643-1999: weights of the first 17 digits, and the check character for (sum mod 11).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

CHECKSUM_MESSAGE = "校验码不正确"
BIRTH_DATE_MESSAGE = "出生日期不正确"


def normalize_id(number: str | None) -> str:
    return str(number or "").strip().upper()


def check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def birth_date(number: str) -> date | None:
    """The birth date written in an 18-digit ID number, or None if it is not a real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except (ValueError, IndexError):
        return None


def id_number_problem(number: str | None) -> str | None:
    """Why ``number`` is not a valid 18-digit ID number (after the form's pattern held), or None."""
    value = normalize_id(number)
    if len(value) != 18 or not value[:17].isdigit():
        return "格式不正确"
    if birth_date(value) is None:
        return BIRTH_DATE_MESSAGE
    if check_character(value[:17]) != value[17]:
        return CHECKSUM_MESSAGE
    return None


def age_on(number: str, day: date) -> int | None:
    born = birth_date(normalize_id(number))
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _derived(purpose: str) -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"qunti.membership.{purpose}".encode(), hashlib.sha256).digest()


def _fernet() -> MultiFernet:
    # Several keys, comma separated: the first encrypts, all decrypt (rotate by putting a new key first).
    configured = current_app.config.get("MEMBER_DATA_KEY")
    keys = [k.strip() for k in str(configured).split(",") if k.strip()] if configured else []
    if not keys:
        keys = [base64.urlsafe_b64encode(_derived("data-key")).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str | None) -> str:
    """The clear text of ``token``; "" if it is empty or no configured key opens it."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        current_app.logger.error("a member data token could not be decrypted (MEMBER_DATA_KEY changed?)")
        return ""


def _hash_key() -> bytes:
    configured = current_app.config.get("MEMBER_HASH_KEY")
    return str(configured).encode() if configured else _derived("hash-key")


def person_key(id_number: str) -> str:
    """The same for every record of one person (the ID number decides), and useless without the key."""
    message = f"id:{normalize_id(id_number)}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()


def phone_key(phone: str) -> str:
    return hmac.new(_hash_key(), f"phone:{normalize_phone(phone)}".encode(), hashlib.sha256).hexdigest()
