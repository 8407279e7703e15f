"""The form engine's one endpoint: which fields a half-filled form shows, for visibility.js.

The browser never evaluates JSON Logic; it posts the form here and applies the answer, so the rules
that show a field are the rules that judge the submission.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_wtf.csrf import ValidationError, validate_csrf

bp = Blueprint("forms", __name__, url_prefix="/forms")


@bp.post("/<form_id>/visibility")
def visibility(form_id: str):
    # Imported here: the registry reads form versions from the database, which needs the app.
    from qunti.forms.registry import current_compiled

    compiled = current_compiled(form_id)
    if compiled is None:
        return jsonify(error="没有这个表单"), 404
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.form.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")))
        except ValidationError:
            return jsonify(error="页面已过期，请刷新后重试"), 400
    form = compiled.bind(request.form, meta={"csrf": False})
    return jsonify(visible=compiled.visibility_of(form))
