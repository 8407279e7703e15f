"""Which version of a form residents get now, compiled (and cached) for use."""
from __future__ import annotations

from sqlalchemy import select

from qunti.catalog import state
from qunti.db import db
from qunti.forms.models import Form, FormVersion


def compiled_version(version: FormVersion):
    """The compiled form of ``version``; compiled once per content digest and app."""
    from qunti.forms.compiler import compile_form

    cache = state().compiled
    compiled = cache.get(version.digest)
    if compiled is None:
        compiled = compile_form(version.schema, version.form_id)
        with state().lock:
            cache.setdefault(version.digest, compiled)
    return compiled


def current_version(form_id: str) -> FormVersion | None:
    return db.session.scalar(
        select(FormVersion).join(Form, Form.current_version_id == FormVersion.id).where(Form.id == form_id))


def current_compiled(form_id: str):
    """The compiled current version of ``form_id``, or None if there is no such form."""
    version = current_version(form_id)
    return compiled_version(version) if version is not None else None
