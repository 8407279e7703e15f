"""The catalog: every shipped definition (forms, service menu, units, rule sets), loaded and checked
once at start-up, and :func:`sync` which records them as versions in the database.

Start-up refuses a broken definition with a :class:`~qunti.definitions.DefinitionError`; code that
runs later can trust what is here.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from flask import Flask, current_app

from qunti.definitions import DefinitionError, digest, pointer, read_json

MENU_SCHEMA = Path(__file__).parent / "forms" / "schemas" / "service-menu.schema.json"


@dataclass(frozen=True)
class Catalog:
    forms: dict[str, Any]  # form id -> qunti.forms.loader.FormDocument
    menu: list[dict[str, Any]]
    menu_digest: str
    units: dict[str, dict[str, Any]]
    rulesets: dict[str, Any]  # rule set id -> qunti.rules.ruleset.RuleSet
    # Installed plugins (qunti.plugins.manager.PluginSet); their forms are in ``forms`` too.
    plugins: Any = None
    calendar: tuple[dict[str, Any], ...] = ()  # holidays and 调休 days (qunti.orders.calendar)


@dataclass
class State:
    """What one app keeps between requests (``app.extensions["qunti"]``)."""

    catalog: Catalog
    # Compiled forms keyed by content digest. A version never changes, so an entry never goes
    # stale; a new version has a new digest and compiles on first use.
    compiled: dict[str, Any] = field(default_factory=dict)
    # Blank form HTML by (digest, action); see qunti.forms.rendering.
    rendered: dict[tuple[str, str], str] = field(default_factory=dict)
    # Rule sets published from the admin console, compiled, by digest (see qunti.rules.published).
    published: dict[str, Any] = field(default_factory=dict)
    # Definitions admins change at run time (menu, units, calendar…), each with the revision token it
    # was loaded under; see qunti.revision.cached.
    definitions: dict[str, tuple[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rulesets(self) -> dict[str, Any]:
        """The rule sets of the files. What runs is :func:`qunti.rules.published.current_ruleset`."""
        return self.catalog.rulesets


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_forms(forms_dir: Path) -> dict[str, Any]:
    from qunti.forms.loader import load_form

    forms: dict[str, Any] = {}
    for path in sorted(forms_dir.glob("*.json")):
        document = load_form(path, _relative(path))
        if document.id in forms:
            raise DefinitionError(_relative(path), "", f"表单编号 '{document.id}' 重复（另见 {forms[document.id].source}）")
        forms[document.id] = document
    return forms


def load_menu(path: Path, forms: dict[str, Any]) -> list[dict[str, Any]]:
    source = _relative(path)
    if not path.exists():
        raise DefinitionError(source, "", "找不到服务菜单文件")
    menu = read_json(path, source)
    validator = jsonschema.Draft202012Validator(read_json(MENU_SCHEMA))
    for error in sorted(validator.iter_errors(menu), key=lambda e: list(e.absolute_path)):
        raise DefinitionError(source, pointer(error.absolute_path), f"服务菜单不符合格式：{error.message}")
    seen: set[str] = set()
    for index, item in enumerate(menu["items"]):
        if item["code"] in seen:
            raise DefinitionError(source, pointer(["items", index, "code"]), f"服务事项编码 '{item['code']}' 重复")
        seen.add(item["code"])
        if item["form"] not in forms:
            raise DefinitionError(source, pointer(["items", index, "form"]), f"引用的表单 '{item['form']}' 不存在")
    return menu["items"]


def _fingerprint(config: dict[str, Any]) -> tuple:
    """What a loaded catalog depends on: every definition file's name, size and modification time,
    and the plugins installed through entry points."""
    from importlib.metadata import entry_points

    roots = [Path(config["FORMS_DIR"]), Path(config["RULES_DIR"]), *map(Path, config["PLUGINS_DIRS"])]
    files = tuple(
        (str(path), stat.st_mtime_ns, stat.st_size)
        for root in roots if root.exists()
        for path in sorted(root.rglob("*")) if path.is_file() and "__pycache__" not in path.parts
        for stat in [path.stat()])
    plugins = tuple(sorted((ep.name, ep.value) for ep in entry_points(group="qunti.plugins")))
    return tuple(map(str, roots)), files, plugins


# Loaded catalogs by fingerprint: checking every document takes a second or more, and several apps
# in one process (gunicorn preload, tests) load the same files. A changed file changes the key.
_LOADED: dict[tuple, Catalog] = {}


def load(config: dict[str, Any]) -> Catalog:
    """Load and check every definition named by ``config``; raises DefinitionError on the first problem."""
    key = _fingerprint(config)
    catalog = _LOADED.get(key)
    if catalog is None:
        catalog = _load(config)
        if len(_LOADED) > 8:
            _LOADED.clear()
        _LOADED[key] = catalog
    return catalog


def _load(config: dict[str, Any]) -> Catalog:
    from qunti.orders.calendar import load_calendar
    from qunti.plugins.manager import load_plugins
    from qunti.rules.ruleset import load_ruleset, load_units

    forms_dir, rules_dir = Path(config["FORMS_DIR"]), Path(config["RULES_DIR"])
    forms = load_forms(forms_dir)
    menu_path = forms_dir / "menu" / "service-menu.json"
    menu = load_menu(menu_path, forms)
    plugins = load_plugins(config, core_forms=forms)
    units = load_units(rules_dir / "units.json")
    menu_items = {item["code"]: item for item in menu}
    schemas = {form_id: doc.schema for form_id, doc in forms.items()}
    calendar_path = rules_dir / "calendar.json"
    calendar = load_calendar(calendar_path, _relative(calendar_path)) if calendar_path.exists() else ()
    rulesets = {}
    for path in sorted(rules_dir.glob("*.json")):
        if path.name in ("units.json", "calendar.json"):
            continue
        ruleset = load_ruleset(path, forms=schemas, menu_items=menu_items, units=units, source=_relative(path),
                               operations=plugins.operations)
        rulesets[ruleset.id] = ruleset
    return Catalog(forms={**forms, **plugins.forms}, menu=menu, menu_digest=digest(menu), units=units,
                   rulesets=rulesets, calendar=calendar, plugins=plugins)


def init_app(app: Flask) -> None:
    app.extensions["qunti"] = State(catalog=load(app.config))


def state() -> State:
    return current_app.extensions["qunti"]
