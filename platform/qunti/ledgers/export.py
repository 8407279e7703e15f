"""需求收集库 as a table: the fixed columns, then one column per form field across every version of
the form, for CSV (streamed) and XLSX."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select

from qunti.activities.export import ID_KEYS, PHONE_KEYS
from qunti.db import db
from qunti.forms.models import FormVersion
from qunti.forms.registry import compiled_version
from qunti.masking import mask_id_number, mask_phone

FIXED_COLUMNS = ("受理编号", "提交时间", "类型", "服务事项", "表单版本", "渠道", "状态", "服务站", "社区", "办单单位",
                 "问题清单")
# A cell starting with one of these would run as a formula in Excel or WPS.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def demand_columns(form_id: str) -> list[tuple[str, str]]:
    """(JSON Pointer, title) of every answer column of ``form_id``: the union over all its versions in
    version order. A field keeps the place where it first appeared and the title of the latest
    version that has it; rows of a version without the field leave its column empty."""
    columns: dict[str, str] = {}
    for version in db.session.scalars(select(FormVersion).where(FormVersion.form_id == form_id)
                                      .order_by(FormVersion.number)):
        for pointer, title in compiled_version(version).field_titles():
            columns[pointer] = title  # an existing key keeps its position
    return list(columns.items())


def header(columns: list[tuple[str, str]]) -> list[str]:
    return [*FIXED_COLUMNS, *(title for _, title in columns)]


def value_at(answers: Any, pointer: str) -> Any:
    """The value at a JSON Pointer in ``answers``, or None when any step is missing."""
    value = answers
    for part in pointer.lstrip("/").split("/") if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def cell(value: Any, pointer: str = "") -> str:
    """An answer as spreadsheet text; phones and ID numbers masked (the ledger analyses demand, it
    does not call people)."""
    if value is None:
        return ""
    key = pointer.rsplit("/", 1)[-1]
    if key in PHONE_KEYS:
        value = mask_phone(value)
    elif key in ID_KEYS:
        value = mask_id_number(value)
    if isinstance(value, bool):
        text = "是" if value else "否"
    elif isinstance(value, list):
        text = "；".join(cell(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def answer_cells(answers: Any, columns: list[tuple[str, str]]) -> list[str]:
    return [cell(value_at(answers, pointer), pointer) for pointer, _ in columns]


def stream_csv(columns: list[tuple[str, str]], rows: Iterable[list[str]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (Excel needs it for Chinese), a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header(columns))
    for number, row in enumerate(rows, start=1):
        writer.writerow(row)
        if number % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx(columns: list[tuple[str, str]], rows: Iterable[list[str]], *, title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    # Sheet names may not hold \ / ? * [ ] : and are at most 31 characters long.
    sheet = book.create_sheet(title="".join(ch for ch in title if ch not in "\\/?*[]:")[:31] or "需求台账")
    sheet.append(header(columns))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
