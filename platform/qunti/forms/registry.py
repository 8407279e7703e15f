"""Which version of a form residents get now, compiled (and cached) for use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qunti.catalog import state
from qunti.db import db
from qunti.forms.models import Form, FormVersion


@dataclass(frozen=True)
class VersionRef:
    """What a request needs of a version: which one it is. The document itself stays in the
    database until the version is compiled for the first time."""

    id: int
    form_id: str
    number: int
    digest: str


def version_schema(version: VersionRef | FormVersion) -> dict[str, Any]:
    if isinstance(version, FormVersion):
        return version.schema
    return db.session.get(FormVersion, version.id).schema


def compiled_version(version: VersionRef | FormVersion):
    """The compiled form of ``version``; compiled once per content digest and app."""
    from qunti.forms.compiler import compile_form

    cache = state().compiled
    compiled = cache.get(version.digest)
    if compiled is None:
        compiled = compile_form(version_schema(version), version.form_id)
        with state().lock:
            cache.setdefault(version.digest, compiled)
    return compiled


def current_version(form_id: str) -> VersionRef | None:
    row = db.session.execute(
        select(FormVersion.id, FormVersion.form_id, FormVersion.number, FormVersion.digest)
        .join(Form, Form.current_version_id == FormVersion.id).where(Form.id == form_id)).first()
    return VersionRef(*row) if row is not None else None


def current_compiled(form_id: str):
    """The compiled current version of ``form_id``, or None if there is no such form."""
    version = current_version(form_id)
    return compiled_version(version) if version is not None else None
