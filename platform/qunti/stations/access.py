"""Who may open a station's pages, and which station.

Station staff reach their own station only; dispatchers read every station; organization and system
administrators read and change every station (the stations are shared by the three organizations).
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import select

from qunti.accounts.access import forbidden
from qunti.accounts.models import User
from qunti.db import db
from qunti.directory.models import Station

VIEW_ROLES = ("station_staff", "dispatcher", "org_admin", "sys_admin")
# Run inspections, fill in the profile, record agreements and deliveries.
EDIT_ROLES = ("station_staff", "org_admin", "sys_admin")


def station_in_scope(code: str, user: User) -> Station:
    """The station ``code`` if ``user`` may reach it: 404 if there is none, 403 if it is another
    station's (a station account has exactly one)."""
    station = db.session.get(Station, code)
    if station is None:
        abort(404)
    if user.role == "station_staff" and user.station_code != code:
        forbidden("站点工作人员只能查看和管理本服务站。")
    return station


def may_edit(user: User) -> bool:
    return user.role in EDIT_ROLES


def visible_stations(user: User) -> list[Station]:
    query = select(Station).order_by(Station.code)
    if user.role == "station_staff":
        query = query.where(Station.code == user.station_code)
    return list(db.session.scalars(query))

