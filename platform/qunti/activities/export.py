"""Sign-up lists for the brand lead: one table, written as CSV or XLSX, personal data masked unless
the reader's role needs it."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook

from qunti.activities.models import Activity, ActivitySignup
from qunti.forms.registry import compiled_version
from qunti.masking import mask_id_number, mask_phone
from qunti.staff.present import local

# Answer keys holding a phone or an ID number (the shipped forms' names for them).
PHONE_KEYS = frozenset({"phone", "contactPhone", "emergencyPhone", "guardianPhone"})
ID_KEYS = frozenset({"idNumber"})
# A cell starting with one of these would run as a formula in Excel or WPS.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def can_see_phone(user: Any, activity: Activity) -> bool:
    """Only the organizing brand's lead calls attendees; everyone else reads masked numbers."""
    return getattr(user, "role", None) == "brand_lead" and user.organization == activity.organization


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "；".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _at(answers: Any, pointer: str) -> Any:
    value = answers
    for part in pointer.strip("/").split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part.replace("~1", "/").replace("~0", "~"))
    return value


def _masked(pointer: str, value: Any, full_phone: bool) -> Any:
    key = pointer.rsplit("/", 1)[-1]
    if key in PHONE_KEYS and not full_phone:
        return mask_phone(value)
    if key in ID_KEYS:
        return mask_id_number(value)
    return value


def table(activity: Activity, signups: Iterable[ActivitySignup], *, full_phone: bool) -> list[list[str]]:
    """Header row and one row per sign-up: status, times, then every answer column of the form."""
    signups = list(signups)
    columns: list[tuple[str, str]] = []
    for signup in signups:  # the newest version's columns, plus any an older version had
        for column in compiled_version(signup.submission.form_version).field_titles():
            if column not in columns:
                columns.append(column)
    header = ["序号", "报名状态", "报名时间", "签到时间", *[title for _, title in columns]]
    rows = [header]
    for number, signup in enumerate(signups, start=1):
        answers = signup.answers
        row = [str(number), signup.status_name, f"{local(signup.created_at):%Y-%m-%d %H:%M}",
               f"{local(signup.checked_in_at):%Y-%m-%d %H:%M}" if signup.checked_in_at else ""]
        row += [_cell(_masked(pointer, _at(answers, pointer), full_phone)) for pointer, _ in columns]
        rows.append([_safe(cell) for cell in row])
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    # The BOM makes Excel on Windows read the file as UTF-8 instead of mangling the Chinese.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def as_xlsx(rows: list[list[str]], title: str) -> bytes:
    book = Workbook(write_only=True)
    # Sheet names may not hold \ / ? * [ ] : and are at most 31 characters long.
    name = "".join(ch for ch in title if ch not in "\\/?*[]:")[:31] or "报名名单"
    sheet = book.create_sheet(title=name)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
