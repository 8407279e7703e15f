"""Recording the file catalog in the database.

A definition file is applied only when its content changed since the last sync (tracked in
``synced_file``), so re-running a sync is a no-op and an admin's published edit is not undone by an
unchanged file. Several hosts may sync at once: the unique (form, number) constraint lets only one
insert a version, and the loser simply finds it there on retry.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from qunti.catalog import Catalog
from qunti.db import db
from qunti.definitions import digest
from qunti.directory.models import Unit
from qunti.forms.models import Form, FormVersion, SyncedFile
from qunti.menu.models import ServiceItem


def publish_version(form: Form, schema: dict, digest: str, note: str = "") -> FormVersion:
    """Append a new immutable version of ``form`` and make it current (caller commits)."""
    number = (db.session.scalar(select(func.max(FormVersion.number)).where(FormVersion.form_id == form.id)) or 0) + 1
    version = FormVersion(form_id=form.id, number=number, digest=digest, schema=schema, note=note)
    db.session.add(version)
    db.session.flush()
    form.current_version_id = version.id
    form.title = schema.get("title", form.id)
    return version


def _file_changed(key: str, content_digest: str) -> bool:
    synced = db.session.get(SyncedFile, key)
    if synced is not None and synced.digest == content_digest:
        return False
    if synced is None:
        db.session.add(SyncedFile(key=key, digest=content_digest))
    else:
        synced.digest = content_digest
    return True


def _origin(catalog: Catalog, form_id: str) -> str:
    owner = catalog.plugins.form_owner.get(form_id) if catalog.plugins is not None else None
    return f"plugin:{owner}" if owner else "file"


def _sync_forms(catalog: Catalog) -> int:
    created = 0
    for form_id, document in catalog.forms.items():
        if not _file_changed(f"form:{form_id}", document.digest):
            continue
        form = db.session.get(Form, form_id)
        if form is None:
            form = Form(id=form_id, title=document.title, origin=_origin(catalog, form_id))
            db.session.add(form)
            db.session.flush()
        current = db.session.get(FormVersion, form.current_version_id) if form.current_version_id else None
        if current is None or current.digest != document.digest:
            publish_version(form, document.schema, document.digest, note=f"来自文件 {document.source}")
            created += 1
    return created


def apply_menu(entries: list[dict[str, Any]]) -> None:
    """Make the ServiceItem rows say what the menu ``entries`` say (the caller commits). An item
    not listed is disabled, never deleted: old submissions still point at it."""
    listed = set()
    for position, entry in enumerate(entries):
        listed.add(entry["code"])
        item = db.session.get(ServiceItem, entry["code"]) or ServiceItem(code=entry["code"])
        item.name, item.form_id = entry["name"], entry["form"]
        item.organization, item.time_limit_days = entry["organization"], entry["timeLimitDays"]
        item.functions, item.summary = list(entry["functions"]), entry.get("summary", "")
        item.position, item.enabled = position, True
        db.session.add(item)
    for item in db.session.scalars(select(ServiceItem).where(ServiceItem.code.not_in(listed))):
        item.enabled = False


def _sync_menu(catalog: Catalog) -> None:
    if _file_changed("menu:service-menu", catalog.menu_digest):
        apply_menu(catalog.menu)


def apply_units(units: dict[str, dict[str, Any]]) -> None:
    """Upsert the handling units (the caller commits); never deletes one, since orders and accounts
    point at units, and leaves an admin's switch-off as it is."""
    for code, entry in units.items():
        unit = db.session.get(Unit, code)
        if unit is None:
            db.session.add(Unit(code=code, name=entry["name"], kind=entry["kind"], active=True))
        else:
            unit.name, unit.kind = entry["name"], entry["kind"]


def _sync_units(catalog: Catalog) -> None:
    if _file_changed("units:units", digest(catalog.units)):
        apply_units(catalog.units)


def _sync_calendar(catalog: Catalog) -> None:
    from qunti.orders.calendar import sync_calendar
    days = [{**day, "date": day["date"].isoformat()} for day in catalog.calendar]
    if _file_changed("calendar:calendar", digest(days)):
        sync_calendar(catalog.calendar)


def sync(catalog: Catalog) -> int:
    """Apply changed definition files; returns the number of new form versions."""
    for attempt in range(3):
        try:
            _sync_units(catalog)
            _sync_calendar(catalog)
            created = _sync_forms(catalog)
            _sync_menu(catalog)
            db.session.commit()
            return created
        except IntegrityError:
            # Another host synced the same change at the same moment; start over and find it done.
            db.session.rollback()
            if attempt == 2:
                raise
    return 0
