"""The station list and a station's page: profile and staffing check, the latest 七有 inspection and
what it found missing, the inspection history, and the agreements with delivered against promised."""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from qunti.accounts.access import login_required_role
from qunti.db import db
from qunti.menu.models import ORGANIZATIONS
from qunti.stations import bp
from qunti.stations.access import VIEW_ROLES, may_edit, station_in_scope, visible_stations
from qunti.stations.agreements import station_agreements
from qunti.stations.checklist import current_checklist
from qunti.stations.inspections import history
from qunti.stations.models import Agreement, Inspection, latest_inspection_ids
from qunti.stations.profiles import kind_name, staffing_of


@bp.get("/")
@login_required_role(*VIEW_ROLES)
def index():
    if current_user.role == "station_staff":
        return redirect(url_for(".station", code=current_user.station_code), code=303)
    stations = visible_stations(current_user)
    codes = [s.code for s in stations]
    latest = {i.station_code: i for i in db.session.scalars(
        select(Inspection).where(Inspection.id.in_(latest_inspection_ids(codes))))} if codes else {}
    agreements = dict(db.session.execute(select(Agreement.station_code, func.count()).group_by(Agreement.station_code)
                                         .where(Agreement.station_code.in_(codes))).all()) if codes else {}
    rows = [{"station": s, "kind": kind_name(s), "staffing": staffing_of(s), "latest": latest.get(s.code),
             "agreements": agreements.get(s.code, 0)} for s in stations]
    return render_template("stations/index.html", rows=rows, organizations=ORGANIZATIONS)


@bp.get("/<code>")
@login_required_role(*VIEW_ROLES)
def station(code: str):
    found = station_in_scope(code, current_user)
    inspections = history(found.code)
    latest = inspections[0] if inspections else None
    checklist = current_checklist()
    asked = {item.code for item in latest.items} if latest is not None else set()
    # Items on today's checklist that the latest inspection did not ask (a plugin switched on since).
    unchecked = [item for item in (checklist.items if checklist else ()) if latest is not None and item.code not in asked]
    return render_template("stations/station.html", station=found, kind=kind_name(found), staffing=staffing_of(found),
                           latest=latest, unchecked=unchecked, inspections=inspections,
                           agreements=station_agreements(found.code), organizations=ORGANIZATIONS,
                           can_edit=may_edit(current_user))
