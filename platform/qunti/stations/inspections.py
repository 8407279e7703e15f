"""七有 inspections: station staff (for their station) and administrators fill in the checklist; each
inspection is kept with its date, inspector, every item's result and note, a score and photos.

The latest inspection of a station is the one with the latest inspection date (then the latest
recorded); the statistics (qunti.stats.figures.qiyou) read it the same way.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from qunti.accounts.access import login_required_role
from qunti.db import db
from qunti.directory.models import Station
from qunti.ledgers import uploads
from qunti.orders.calendar import today
from qunti.stations import bp
from qunti.stations.access import EDIT_ROLES, VIEW_ROLES, may_edit, station_in_scope
from qunti.stations.checklist import Checklist, current_checklist, results_of, score
from qunti.stations.models import Inspection, InspectionItem, InspectionPhoto

PHOTO_FOLDER = "inspections"
MAX_PHOTOS = 10
EARLIEST = date(2000, 1, 1)


def latest_inspection(station_code: str) -> Inspection | None:
    return db.session.scalar(select(Inspection).where(Inspection.station_code == station_code)
                             .order_by(Inspection.inspected_on.desc(), Inspection.id.desc()).limit(1))


def history(station_code: str) -> list[Inspection]:
    return list(db.session.scalars(select(Inspection).where(Inspection.station_code == station_code)
                                   .order_by(Inspection.inspected_on.desc(), Inspection.id.desc())))


def date_problem(text: str | None) -> str | None:
    """Why an inspection date (already a valid YYYY-MM-DD) cannot be taken, or None."""
    day = date.fromisoformat(text or "")
    if day > today():
        return "检查日期不能晚于今天。"
    if day < EARLIEST:
        return f"检查日期不能早于 {EARLIEST.isoformat()}。"
    return None


def record_inspection(station: Station, checklist: Checklist, answers: dict, user=None) -> Inspection:
    """Keep one inspection of ``station`` from checklist ``answers`` (validated by its form); the
    caller commits. ``user`` is the account that saved it (None for demo content)."""
    rows = results_of(checklist.items, answers)
    results = [row["result"] for row in rows]
    inspection = Inspection(
        station_code=station.code, inspected_on=date.fromisoformat(answers["inspectionDate"]),
        inspector=str(answers.get("inspector") or "")[:60], inspector_user_id=getattr(user, "id", None),
        recorded_by=user.signature if user is not None else "演示数据", form_version_id=checklist.version.id,
        answers=answers, items_count=len(rows), passed=results.count("pass"), partial=results.count("partial"),
        score=score(results), overall=answers.get("overall"), notes=str(answers.get("notes") or ""),
        items=[InspectionItem(code=row["code"], position=row["position"], title=row["title"], plugin_id=row["plugin"],
                              result=row["result"], note=row["note"]) for row in rows])
    db.session.add(inspection)
    db.session.flush()
    return inspection


def _checklist() -> Checklist:
    checklist = current_checklist()
    if checklist is None:
        abort(404)
    return checklist


@bp.route("/<code>/inspections/new", methods=["GET", "POST"])
@login_required_role(*EDIT_ROLES)
def new_inspection(code: str):
    station = station_in_scope(code, current_user)
    checklist = _checklist()
    compiled = checklist.compiled
    page = {"station": station, "checklist": checklist, "compiled": compiled}
    if request.method == "GET":
        form = compiled.bind(data={"inspectionDate": today().isoformat(), "inspector": current_user.display_name})
        return render_template("stations/inspection_form.html", form=form, **page)
    result = compiled.submit(request.form)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("stations/inspection_form.html", form=result.form, errors=result.errors, **page), status
    problem = date_problem(result.answers.get("inspectionDate"))
    if problem:
        result.form.form_errors = [problem]
        result.form.error_summary = [(problem, None)]
        return render_template("stations/inspection_form.html", form=result.form, errors=[problem], **page), 422
    inspection = record_inspection(station, checklist, result.answers, current_user)
    db.session.commit()
    missing = len(inspection.missing)
    flash(f"检查记录已保存：得分 {inspection.score:g}，" + (f"{missing} 项未完全符合。" if missing else "各项均符合。")
          + "可以在下面上传现场照片。", "success")
    return redirect(url_for(".inspection", code=station.code, inspection_id=inspection.id), code=303)


def _inspection_or_404(station: Station, inspection_id: int) -> Inspection:
    inspection = db.session.get(Inspection, inspection_id)
    if inspection is None or inspection.station_code != station.code:
        abort(404)
    return inspection


@bp.get("/<code>/inspections/<int:inspection_id>")
@login_required_role(*VIEW_ROLES)
def inspection(code: str, inspection_id: int):
    station = station_in_scope(code, current_user)
    found = _inspection_or_404(station, inspection_id)
    return render_template("stations/inspection.html", station=station, inspection=found, can_edit=may_edit(current_user), max_photos=MAX_PHOTOS,
                           photo_types=uploads.allowed_text(uploads.IMAGES),
                           max_mb=current_app.config["INSPECTION_PHOTO_MAX_BYTES"] / 1024 / 1024)


@bp.post("/<code>/inspections/<int:inspection_id>/photos")
@login_required_role(*EDIT_ROLES)
@uploads.large_body("INSPECTION_PHOTO_MAX_BYTES")
def upload_photo(code: str, inspection_id: int):
    limit = current_app.config["INSPECTION_PHOTO_MAX_BYTES"]
    station = station_in_scope(code, current_user)
    found = _inspection_or_404(station, inspection_id)
    back = redirect(url_for(".inspection", code=station.code, inspection_id=found.id), code=303)
    if len(found.photos) >= MAX_PHOTOS:
        flash(f"每次检查最多上传 {MAX_PHOTOS} 张照片。", "error")
        return back
    try:
        stored = uploads.accept(request.files.get("photo"), PHOTO_FOLDER, allowed=uploads.IMAGES, limit=limit)
    except uploads.UploadRefused as exc:
        flash(exc.message, "error")
        return back
    db.session.add(InspectionPhoto(inspection_id=found.id, original_name=stored.original_name,
                                   stored_name=stored.stored_name, size_bytes=stored.size, sha256=stored.sha256,
                                   uploaded_by_user_id=current_user.id, uploaded_by=current_user.signature))
    uploads.commit_keeping(stored)
    flash(f"照片“{stored.original_name}”已上传。", "success")
    return back


@bp.get("/<code>/inspections/<int:inspection_id>/photos/<int:photo_id>")
@login_required_role(*VIEW_ROLES)
def photo(code: str, inspection_id: int, photo_id: int):
    station = station_in_scope(code, current_user)
    found = _inspection_or_404(station, inspection_id)
    stored = db.session.get(InspectionPhoto, photo_id)
    relative = f"{PHOTO_FOLDER}/{stored.stored_name}" if stored is not None else ""
    if stored is None or stored.inspection_id != found.id or not (Path(current_app.instance_path) / relative).is_file():
        abort(404)  # another inspection's photo, or a file lost from the instance folder
    return uploads.download(relative, stored.original_name, as_attachment=False)
