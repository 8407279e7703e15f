"""Handling units as routing reads them: every unit, cached per definitions revision."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qunti.db import db
from qunti.directory.models import Unit
from qunti.revision import cached


@dataclass(frozen=True)
class UnitRef:
    """A unit as stored, detached from any session."""

    code: str
    name: str
    kind: str
    active: bool


_UNITS = select(Unit.code, Unit.name, Unit.kind, Unit.active)


def units() -> dict[str, UnitRef]:
    """Every unit by code. Cached per app under the definitions revision (``unit`` is a watched
    table, so an admin switching a unit off is seen from the next transaction on; see
    qunti.revision)."""
    return cached("units", lambda: {row.code: UnitRef(*row) for row in db.session.execute(_UNITS)})


def active_unit(code: Any) -> UnitRef | None:
    """The unit ``code`` if it exists and is active."""
    unit = units().get(code) if isinstance(code, str) else None
    return unit if unit is not None and unit.active else None
