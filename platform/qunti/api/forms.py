"""Forms over JSON: list them, read the current schema, submit answers."""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from sqlalchemy import select

from qunti import intake, revision
from qunti.api.body import json_object
from qunti.api.errors import ApiError
from qunti.db import db
from qunti.forms.models import Form
from qunti.forms.registry import compiled_version, version_schema
from qunti.menu.queries import is_public_form, public_form

bp = Blueprint("api_forms", __name__)


def _public_form(form_id: str):
    found = public_form(form_id)
    if found is None:
        raise ApiError(404, f"没有编号为 '{form_id}' 的表单")
    return found


@bp.get("/forms")
def list_forms():
    forms = db.session.scalars(select(Form).where(Form.current_version_id.is_not(None)).order_by(Form.id))
    return jsonify({"forms": [
        {"id": f.id, "title": f.title, "url": url_for(".get_form", form_id=f.id, _external=True)}
        for f in forms if is_public_form(f.id)]})


@bp.get("/forms/<form_id>")
def get_form(form_id: str):
    version, _item = _public_form(form_id)
    return jsonify({"id": form_id, "version": version.number, "digest": version.digest,
                    "schema": version_schema(version)})


@bp.post("/forms/<form_id>/submissions")
def submit(form_id: str):
    answers = json_object()
    # Its one write checks the definitions it was worked out under: no read of the token first.
    return revision.optimistic(lambda: _submit(form_id, answers))


def _submit(form_id: str, answers: dict):
    version, item = _public_form(form_id)
    compiled = compiled_version(version)
    answers, errors = compiled.judge(answers)
    if errors:
        return jsonify({"errors": [{"path": e.path, "message": e.message} for e in errors]}), 422
    submission = intake.accept(version, answers, service_item_code=item.code if item else None)
    body = {"id": submission.id, "trackingNumber": submission.tracking_number, "formVersion": version.number}
    return jsonify(body), 201, {"Location": url_for("resident.track", number=submission.tracking_number)}
