"""Keyset pagination: a page is "the next N rows after this sort key", never OFFSET, so the
5,000th page costs what the first does. The cursor is the last row's sort key, opaque to people."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Sequence

from sqlalchemy import Select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from qunti import jsontext


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "d" in value:
        return date.fromisoformat(value["d"])
    return value


def encode(values: Sequence[Any]) -> str:
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None, size: int | None = None) -> list[Any] | None:
    """The sort key in ``cursor`` (of ``size`` values, when given), or None when there is none or
    it is not one of ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = [_typed(v) for v in jsontext.loads(raw)]
    except (ValueError, TypeError):
        return None
    return values if isinstance(values, list) and (size is None or len(values) == size) else None


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None


def page(session, query: Select, key: Sequence[ColumnElement], cursor: str | None, size: int, *,
         descending: bool = False, key_of=None) -> Page:
    """Rows of ``query`` ordered by ``key`` (all ascending or all descending), after ``cursor``.

    ``key_of(row)`` gives a row's sort key (default: the row's attributes named like the key's
    columns). One extra row is read to know whether there is a next page.
    """
    after = decode(cursor, len(key))
    if after is not None:
        # A plain tuple on the right: each value is bound with its column's type.
        compare = tuple_(*key) < tuple(after) if descending else tuple_(*key) > tuple(after)
        query = query.where(compare)
    order = [k.desc() for k in key] if descending else list(key)
    rows = list(session.execute(query.order_by(*order).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode(key_of(rows[-1])) if more and rows else None
    return Page(rows=rows, next_cursor=next_cursor)
