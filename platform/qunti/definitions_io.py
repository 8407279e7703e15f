"""``qunti definitions export|import``: what the database runs, as definition files, and back.

Export writes what residents get now: the current version of every form (``forms/<id>.json``), the
service menu from the ServiceItem rows (``forms/menu/service-menu.json``), the rule sets as they run
(``rules/*.json``), and the handling units and holiday calendar as the database has them.

Import checks every file before it changes anything — forms as form files are checked, the menu
against its schema and the forms, rule sets against the imported forms and menu — and changes
nothing when one is wrong. Then, in one transaction, the units and the calendar are upserted, each
form whose content differs becomes a new version (same content: no version), the menu is replaced
and each rule set whose content differs is published as its next version (as the admin console
does), with an audit entry for each change. A published rule set wins over the rules/ file from
then on, so this is how an edited rules file reaches a running system.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from qunti.db import db
from qunti.definitions import DefinitionError, digest, read_json
from qunti.directory.models import CalendarDay, Unit
from qunti.sync import apply_menu, apply_units

MENU_PATH = Path("forms") / "menu" / "service-menu.json"
# Keys that say what a schema is, shown first; everything else keeps its stored order.
_HEAD_KEYS = ("$schema", "$id", "title", "description", "type")
# Where a form document holds more schemas: maps of names to schemas, single schemas, lists.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas", "patternProperties")
_SCHEMA_VALUES = ("items", "if", "then", "else", "not", "contains", "additionalProperties", "propertyNames")
_SCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")


def readable(schema: Any) -> Any:
    """A form document with the same content, keys in reading order: in every schema the head keys
    first, and ``properties`` in display order (``x-ui.order``). PostgreSQL's JSONB does not keep
    key order, so this makes a document read the same from either database; digests ignore order.
    Data inside a schema (``x-ui``, ``examples``, ``default``…) keeps its order."""
    if not isinstance(schema, dict):
        return schema
    ui = schema.get("x-ui")
    order = ui.get("order") if isinstance(ui, dict) and isinstance(ui.get("order"), list) else []
    out = {}
    for key in [k for k in _HEAD_KEYS if k in schema] + [k for k in schema if k not in _HEAD_KEYS]:
        value = schema[key]
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            names = list(value)
            if key == "properties" and order:
                names = [n for n in order if n in value] + [n for n in value if n not in order]
            value = {name: readable(value[name]) for name in names}
        elif key in _SCHEMA_VALUES:
            value = readable(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [readable(item) for item in value]
        out[key] = value
    return out


def dump(document: Any) -> str:
    """Pretty JSON as people read and edit it (UTF-8 text, not \\u escapes)."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def dump_form(schema: Any) -> str:
    """A form document as :func:`dump` writes it, in reading order (:func:`readable`)."""
    return dump(readable(schema))


def menu_document() -> dict[str, Any]:
    """The service menu as the database has it (enabled items in menu order), in the file format."""
    from qunti.menu.models import ServiceItem

    items = db.session.scalars(select(ServiceItem).where(ServiceItem.enabled.is_(True))
                               .order_by(ServiceItem.position, ServiceItem.code))
    # The file format wants a summary; an item saved without one falls back to its name.
    return {"items": [{"code": i.code, "name": i.name, "form": i.form_id, "organization": i.organization,
                       "timeLimitDays": i.time_limit_days, "functions": list(i.functions),
                       "summary": i.summary or i.name} for i in items]}


def rules_documents() -> dict[str, Any]:
    """File name -> document of every rules file: each rule set as it runs now (the newest version
    published from the admin console, else the file), the units and the calendar of the catalog."""
    from qunti.catalog import state
    from qunti.rules.published import current_ruleset

    catalog = state().catalog
    files: dict[str, Any] = {}
    for ruleset_id, ruleset in catalog.rulesets.items():
        running = current_ruleset(ruleset_id) or ruleset
        files[f"{Path(ruleset.source).stem}.json"] = running.document
    files["units.json"] = {"units": _units_now(catalog.units)}
    days = _stored_calendar()
    if days:
        files["calendar.json"] = {"days": days}
    return files


def _units_now(from_file: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The units as the database has them (admins rename and add units in the console), keeping
    what only the file says (descriptions) for the units it lists."""
    return [{**from_file.get(unit.code, {}), "code": unit.code, "name": unit.name, "kind": unit.kind}
            for unit in db.session.scalars(select(Unit).order_by(Unit.code))]


@dataclass
class Exported:
    forms: int
    items: int
    rules: list[str]


def export(directory: Path) -> Exported:
    """Write the definitions the database runs into ``directory`` (created if missing)."""
    from qunti.forms.models import Form, FormVersion

    forms_dir = directory / "forms"
    (directory / MENU_PATH).parent.mkdir(parents=True, exist_ok=True)
    rows = db.session.execute(select(Form.id, FormVersion.schema)
                              .join(FormVersion, FormVersion.id == Form.current_version_id).order_by(Form.id))
    count = 0
    for form_id, schema in rows:
        (forms_dir / f"{form_id}.json").write_text(dump_form(schema), encoding="utf-8")
        count += 1
    menu = menu_document()
    (directory / MENU_PATH).write_text(dump(menu), encoding="utf-8")
    rules_dir = directory / "rules"
    rules_dir.mkdir(exist_ok=True)
    rules = rules_documents()
    for name, document in rules.items():
        (rules_dir / name).write_text(dump(document), encoding="utf-8")
    return Exported(forms=count, items=len(menu["items"]), rules=sorted(rules))


@dataclass
class Bundle:
    """An import directory, read and checked."""

    forms: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)   # id -> (source, schema)
    menu: list[dict[str, Any]] | None = None
    rulesets: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id -> (source, document)
    units: dict[str, dict[str, Any]] | None = None
    calendar: tuple[dict[str, Any], ...] | None = None
    problems: list[DefinitionError] = field(default_factory=list)


@dataclass
class Imported:
    published: list[tuple[str, int]]     # (form id, new version number)
    unchanged: int
    menu_changed: bool
    rulesets: list[tuple[str, int]] = field(default_factory=list)  # (rule set id, new version number)
    units_changed: bool = False
    calendar_changed: bool = False


def _source(directory: Path, path: Path) -> str:
    return str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)


def read_bundle(directory: Path) -> Bundle:
    """Read and check every file of an import directory; problems are collected, not raised."""
    from qunti.admin.form_publish import check_form, check_rules
    from qunti.catalog import load_menu, state
    from qunti.forms.models import Form
    from qunti.orders.calendar import load_calendar
    from qunti.rules.ruleset import load_ruleset
    from qunti.rules.units import load_units

    bundle = Bundle()
    forms_dir = directory / "forms"
    if not forms_dir.is_dir():
        bundle.problems.append(DefinitionError(str(directory), "", "找不到 forms 文件夹"))
        return bundle
    for path in sorted(forms_dir.glob("*.json")):
        source = _source(directory, path)
        try:
            schema = read_json(path, source)
            check_form(path.stem, schema, source)
        except DefinitionError as exc:
            bundle.problems.append(exc)
        else:
            bundle.forms[path.stem] = (source, schema)
    known = set(bundle.forms) | set(db.session.scalars(select(Form.id)))
    menu_path = directory / MENU_PATH
    if menu_path.exists():
        try:
            bundle.menu = load_menu(menu_path, dict.fromkeys(known))
        except DefinitionError as exc:
            bundle.problems.append(DefinitionError(_source(directory, menu_path), exc.path, exc.reason))
    if bundle.problems:
        # Rule sets read forms and the menu: checked against broken ones they would only add noise.
        return bundle
    from qunti.rules.published import checking_context

    imported = {form_id: schema for form_id, (_, schema) in bundle.forms.items()}
    context = checking_context()
    forms = {**context["forms"], **imported}
    items = context["menu_items"] if bundle.menu is None else {entry["code"]: entry for entry in bundle.menu}
    catalog = state().catalog
    operations = catalog.plugins.operations if catalog.plugins is not None else None
    rules_dir = directory / "rules"
    units = context["units"]
    if (rules_dir / "units.json").exists():
        try:
            units = bundle.units = load_units(rules_dir / "units.json", _source(directory, rules_dir / "units.json"))
        except DefinitionError as exc:
            bundle.problems.append(exc)
    if (rules_dir / "calendar.json").exists():
        try:
            bundle.calendar = load_calendar(rules_dir / "calendar.json", _source(directory, rules_dir / "calendar.json"))
        except DefinitionError as exc:
            bundle.problems.append(exc)
    for path in sorted(rules_dir.glob("*.json")) if rules_dir.is_dir() else ():
        if path.name in ("units.json", "calendar.json"):
            continue
        source = _source(directory, path)
        try:
            ruleset = load_ruleset(path, forms=forms, menu_items=items, units=units, source=source,
                                   operations=operations)
        except DefinitionError as exc:
            bundle.problems.append(exc)
            continue
        if ruleset.id not in catalog.rulesets:
            # Rule sets are wired into the code (dispatch); a file cannot add a new one.
            bundle.problems.append(DefinitionError(source, "/id", f"没有编号为 '{ruleset.id}' 的规则集，"
                                                   f"可导入的规则集：{'、'.join(sorted(catalog.rulesets))}"))
        elif ruleset.id in bundle.rulesets:
            bundle.problems.append(DefinitionError(source, "/id", f"规则集 '{ruleset.id}' 在 "
                                                   f"{bundle.rulesets[ruleset.id][0]} 中已经出现过"))
        else:
            bundle.rulesets[ruleset.id] = (source, ruleset.document)
    try:
        # The imported rule files are not applied, so the running ones must hold as well.
        check_rules(imported, items if bundle.menu is not None else None,
                    units if (rules_dir / "units.json").exists() else None)
    except DefinitionError as exc:
        bundle.problems.append(exc)
    return bundle


def apply_bundle(bundle: Bundle, user: Any = None) -> Imported:
    """Apply a checked bundle in one transaction: units and calendar, then the changed forms, the
    menu, and last the rule sets (checked again against all of that); all or nothing."""
    from qunti.admin import audit
    from qunti.admin.form_publish import Unchanged, publish
    from qunti.forms.models import Form
    from qunti.orders.calendar import sync_calendar
    from qunti.plugins import form_owner
    from qunti.rules import published as rulesets

    assert not bundle.problems
    published, unchanged = [], 0
    units_changed = calendar_changed = False
    try:
        if bundle.units is not None:
            before = _units_now({})
            apply_units(bundle.units)
            db.session.flush()
            after = _units_now({})
            if after != before:
                units_changed = True
                audit.record("import", "units", "units", user=user, before={"units": len(before)},
                             after={"units": len(after), "digest": digest(after)})
        if bundle.calendar is not None:
            before_days = _stored_calendar()
            sync_calendar(bundle.calendar)
            db.session.flush()
            if _stored_calendar() != before_days:
                calendar_changed = True
                audit.record("import", "calendar", "calendar", user=user, before={"days": len(before_days)},
                             after={"days": len(_stored_calendar())})
        for form_id, (source, schema) in bundle.forms.items():
            form = db.session.get(Form, form_id)
            if form is None:
                owner = form_owner(form_id)
                form = Form(id=form_id, title=schema["title"].strip(), origin=f"plugin:{owner}" if owner else "admin")
                db.session.add(form)
                db.session.flush()
            try:
                version = publish(form, schema, base_number=None, note=f"导入自 {source}", action="import",
                                  user=user, checked=True, commit=False)
            except Unchanged:
                unchanged += 1
            else:
                published.append((form_id, version.number))
        menu_changed = False
        if bundle.menu is not None:
            before = menu_document()["items"]
            if digest(before) != digest(bundle.menu):
                apply_menu(bundle.menu)
                audit.record("import", "service_menu", "service-menu", user=user,
                             before={"digest": digest(before), "items": len(before)},
                             after={"digest": digest(bundle.menu), "items": len(bundle.menu)})
                menu_changed = True
        db.session.flush()
        staged = []
        for ruleset_id, (source, document) in bundle.rulesets.items():
            running = rulesets.current(ruleset_id)
            compiled = rulesets.check(document, ruleset_id, source=source)
            if compiled.digest != running.digest:
                stored = rulesets.publish(ruleset_id, document, base_digest=running.digest, note=f"导入自 {source}",
                                          user=user, action="import", commit=False)
                staged.append((ruleset_id, stored.number))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return Imported(published=published, unchanged=unchanged, menu_changed=menu_changed, rulesets=staged,
                    units_changed=units_changed, calendar_changed=calendar_changed)


def _stored_calendar() -> list[dict[str, Any]]:
    """The holiday calendar as stored now, in the calendar file's shape."""
    return [{"date": row.day.isoformat(), "workday": row.is_workday, "name": row.name}
            for row in db.session.scalars(select(CalendarDay).order_by(CalendarDay.day))]


definitions_group = AppGroup("definitions", help="把数据库中正在使用的表单、服务菜单、规则导出为文件，或从文件导入")


@definitions_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_command(directory: Path) -> None:
    """Write the current forms, the menu and the rules into DIRECTORY."""
    done = export(directory)
    click.echo(f"已导出到 {directory}：{done.forms} 个表单，{done.items} 个服务事项，规则文件 {'、'.join(done.rules)}。")


@definitions_group.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_command(directory: Path) -> None:
    """Check every file in DIRECTORY, then publish changed forms and update the menu (all or nothing)."""
    bundle = read_bundle(directory)
    if bundle.problems:
        for problem in bundle.problems:
            click.echo(f"错误：{problem}", err=True)
        click.echo(f"共 {len(bundle.problems)} 处错误，没有导入任何内容。", err=True)
        sys.exit(1)
    from qunti.admin.form_publish import Refused

    try:
        done = apply_bundle(bundle)
    except Refused as exc:
        click.echo(f"错误：{exc.message}没有导入任何内容。", err=True)
        sys.exit(1)
    for form_id, number in done.published:
        click.echo(f"{form_id}：发布第 {number} 版")
    for ruleset_id, number in done.rulesets:
        click.echo(f"规则集 {ruleset_id}：发布第 {number} 版")
    click.echo(f"已导入：{len(done.published)} 个表单发布了新版本，{done.unchanged} 个没有变化；"
               f"服务菜单{'已更新' if done.menu_changed else '没有变化'}；"
               f"规则集 {len(done.rulesets)} 个发布了新版本；办单单位{'已更新' if done.units_changed else '没有变化'}；"
               f"节假日日历{'已更新' if done.calendar_changed else '没有变化'}。")
