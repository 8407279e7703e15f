"""Finding plugins, checking everything they bring, registering their hooks, and calling hooks safely.

Built like pluggy's eggsample host: add the hook specs, register the core defaults, register every
plugin, then ``check_pending()`` so a hook implementation with no spec stops start-up naming the
plugin. Plugins come from two places, in this order:

- every sub-folder of the folders in the setting ``PLUGINS_DIRS``, loaded by path (its hooks, if
  any, in ``hooks.py``, imported under a module name of its own);
- the entry-point group ``qunti.plugins`` (pip-installed): the entry point's name is the plugin id
  and it names a package holding ``plugin.json`` that implements the hooks itself.

A plugin folder holds ``plugin.json`` (checked against ``schemas/manifest.schema.json``), optional
``forms/*.json`` (checked exactly like core forms) and ``rules/*.json`` (rule sets over its forms:
sign-up eligibility, or a station kind's staffing check).
Everything is checked here, once, at start-up: a DefinitionError names the plugin and the file.
Whether a plugin is *enabled* is a database switch read per request (``qunti.plugins.state``); a
:class:`PluginSet` never changes after it is built.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from flask import Blueprint

from qunti import hookspecs
from qunti.definitions import DefinitionError, digest, pointer, read_json
from qunti.plugins import defaults, eligibility, shapes
from qunti.plugins.manifest import FILE_NAME, Manifest, load_manifest
from qunti.rules.engine import check as check_logic
from qunti.rules.engine import make_engine
from qunti.settings import SOURCE_ROOT

ENTRY_POINT_GROUP = "qunti.plugins"
HOOKS_FILE = "hooks.py"
CORE = defaults.NAME
OPERATION_NAME = "^[a-z][a-z0-9_]*$"

log = logging.getLogger("qunti.plugins")


def display_path(path: Path) -> str:
    """A path as messages show it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(SOURCE_ROOT))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Plugin:
    """One installed plugin. ``source`` says where it was found; ``hooks_source`` where its code is."""

    manifest: Manifest
    source: str
    hooks_source: str
    folder: Path | None
    module: ModuleType | None
    origin: str  # "folder" or "entry point"
    forms: tuple[str, ...] = ()
    rulesets: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def organization(self) -> str:
        return self.manifest.organization

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def description(self) -> str:
        return self.manifest.description


@dataclass(frozen=True)
class ActivityType:
    id: str
    plugin_id: str
    name: str
    form: str
    description: str
    default_capacity: int = 30


@dataclass(frozen=True)
class StationKind:
    """A kind of station (``Station.kind``) a station plugin defines: its staffing model, the form
    of a station's profile, and the plugin's rules over that form, which are the staffing check."""

    code: str
    plugin_id: str
    name: str
    staffing_model: str
    profile_form: str


class PluginSet:
    """Every installed plugin and what it contributes, attributed to its id; built once per app."""

    def __init__(self, *, manager: pluggy.PluginManager, plugins: dict[str, Plugin], forms: dict[str, Any],
                 form_owner: dict[str, str], activity_types: dict[str, ActivityType],
                 rulesets: dict[str, eligibility.RuleSet], operations: dict[str, Callable[..., Any]],
                 blueprints: list[tuple[str, Blueprint]], admin_views: list[tuple[str, dict[str, Any]]],
                 checklist_items: list[tuple[str, dict[str, Any]]], menu_entries: list[tuple[str, dict[str, Any]]],
                 station_kinds: dict[str, StationKind] | None = None):
        self.manager = manager
        self.plugins = plugins
        self.forms = forms
        self.form_owner = form_owner
        self.activity_types = activity_types
        self.rulesets = rulesets
        self.operations = operations
        self.blueprints = blueprints
        self.admin_views = admin_views
        self.checklist_items = checklist_items
        self.menu_entries = menu_entries
        self.station_kinds = station_kinds or {}
        # Who implements qunti_order_event: asked on every order event, fixed once plugins are loaded.
        self.order_event_implementers = frozenset(
            impl.plugin_name for impl in manager.hook.qunti_order_event.get_hookimpls())
        rules: dict[str, list[eligibility.Rule]] = {}
        for ruleset in rulesets.values():
            for rule in ruleset.rules:
                rules.setdefault(rule.form, []).append(rule)
        self._rules = {form: tuple(found) for form, found in rules.items()}

    def __iter__(self):
        return iter(self.plugins.values())

    def __len__(self) -> int:
        return len(self.plugins)

    def get(self, plugin_id: str) -> Plugin | None:
        return self.plugins.get(plugin_id)

    def of_organization(self, organization: str) -> list[Plugin]:
        return [p for p in self.plugins.values() if p.organization == organization]

    def types_of(self, plugin_id: str) -> list[ActivityType]:
        return [t for t in self.activity_types.values() if t.plugin_id == plugin_id]

    def eligibility_rules(self, form_id: str, enabled: Collection[str]) -> list[eligibility.Rule]:
        return [rule for rule in self._rules.get(form_id, ()) if rule.owner in enabled]

    def call(self, hook: str, enabled: Collection[str], **kwargs: Any) -> list[tuple[str, Any]]:
        """Call request hook ``hook`` on the core and the ``enabled`` plugins: (plugin id, result) pairs.

        Each implementation is called on its own, in pluggy's order, so that a disabled plugin is
        skipped and one that raises is logged with its id and skipped while the others (and the
        request) carry on. None results are dropped; a ``firstresult`` spec stops at the first answer.
        """
        caller = getattr(self.manager.hook, hook)
        first = bool(caller.spec is not None and caller.spec.opts.get("firstresult"))
        results = []
        for impl in reversed(caller.get_hookimpls()):
            owner = impl.plugin_name
            if owner != CORE and owner not in enabled:
                continue
            try:
                value = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception:
                log.exception("插件 %s 的钩子 %s 出错，已跳过（请求照常完成）", owner, hook)
                continue
            if value is not None:
                results.append((owner, value))
                if first:
                    break
        return results


def _module_name(plugin_id: str, path: Path) -> str:
    # Unique per file, so two plugins' hooks.py never share (or overwrite) one module.
    tag = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"qunti_plugin_{plugin_id.replace('-', '_')}_{tag}"


def _import_by_path(path: Path, plugin_id: str, source: str) -> ModuleType:
    name = _module_name(plugin_id, path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(source, "", f"插件 {plugin_id}：无法读取钩子模块")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise DefinitionError(source, "", f"插件 {plugin_id}：钩子模块无法导入（{type(exc).__name__}: {exc}）") from exc
    return module


class _Loader:
    def __init__(self, config: Mapping[str, Any], core_forms: Mapping[str, Any]) -> None:
        self.config = config
        self.core_forms = core_forms
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugins: dict[str, Plugin] = {}
        # form id -> where it was defined, core forms first, for duplicate messages.
        self.form_sources: dict[str, str] = {fid: f"核心表单 {getattr(doc, 'source', fid)}"
                                             for fid, doc in core_forms.items()}

    # -- messages -------------------------------------------------------------------------------

    def label(self, plugin_id: str, source: str) -> str:
        return f"插件 {plugin_id} · {source}"

    def hooks_label(self, name: str) -> str:
        plugin = self.plugins.get(name)
        return self.label(name, plugin.hooks_source) if plugin else f"核心 {name}"

    # -- discovery ------------------------------------------------------------------------------

    def discover(self) -> None:
        for folder in self.config.get("PLUGINS_DIRS") or ():
            root = Path(folder)
            if not root.is_dir():
                continue
            for path in sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] not in "._"):
                source = display_path(path / FILE_NAME)
                manifest = load_manifest(path, self.label(path.name, source), expected_id=path.name)
                hooks = path / HOOKS_FILE
                self.add(Plugin(manifest=manifest, source=display_path(path), folder=path, module=None,
                                hooks_source=display_path(hooks) if hooks.is_file() else "", origin="folder"))
        for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            where = f"入口点 {ENTRY_POINT_GROUP}: {entry.name} = {entry.value}"
            try:
                module = entry.load()
            except Exception as exc:
                raise DefinitionError(self.label(entry.name, where), "",
                                      f"无法加载（{type(exc).__name__}: {exc}）") from exc
            location = getattr(module, "__file__", None)
            if not isinstance(module, ModuleType) or not location or Path(location).name != "__init__.py":
                raise DefinitionError(self.label(entry.name, where), "", f"入口点须指向一个包含 {FILE_NAME} 的包")
            folder = Path(location).parent
            manifest = load_manifest(folder, self.label(entry.name, display_path(folder / FILE_NAME)),
                                     expected_id=entry.name)
            self.add(Plugin(manifest=manifest, source=where, folder=folder, module=module,
                            hooks_source=display_path(Path(location)), origin="entry point"))

    def add(self, plugin: Plugin) -> None:
        other = self.plugins.get(plugin.id)
        if other is not None:
            raise DefinitionError(self.label(plugin.id, plugin.source), "/id",
                                  f"插件编号 '{plugin.id}' 重复（另见 {other.source}）")
        self.plugins[plugin.id] = plugin

    # -- hooks ----------------------------------------------------------------------------------

    def register(self) -> None:
        self.manager.add_hookspecs(hookspecs)
        self.manager.register(defaults, name=CORE)
        for plugin in list(self.plugins.values()):
            module = plugin.module
            if module is None and plugin.hooks_source:
                module = _import_by_path(plugin.folder / HOOKS_FILE, plugin.id,
                                         self.label(plugin.id, plugin.hooks_source))
                self.plugins[plugin.id] = plugin = replace(plugin, module=module)
            if module is None:
                continue  # data only
            self._unmarked(plugin, module)
            try:
                self.manager.register(module, name=plugin.id)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise DefinitionError(self.hooks_label(plugin.id), "", f"钩子写法有误：{exc}") from None
            for caller in self.manager.get_hookcallers(module) or ():
                for impl in caller.get_hookimpls():
                    if impl.plugin is module and (impl.wrapper or impl.hookwrapper):
                        raise DefinitionError(self.hooks_label(plugin.id), "",
                                              f"钩子 {caller.name} 不能是 wrapper：插件之间须互不干扰")
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.manager.get_name(exc.plugin) or "?"
            unknown = sorted(hook for hook, caller in vars(self.manager.hook).items()
                             if not hook.startswith("_") and not caller.has_spec()
                             and any(impl.plugin is exc.plugin for impl in caller.get_hookimpls()))
            raise DefinitionError(self.hooks_label(name), "",
                                  f"实现了未声明的钩子 {'、'.join(unknown)}（可用的钩子见 qunti/hookspecs.py）") from None

    def _unmarked(self, plugin: Plugin, module: ModuleType) -> None:
        # A hook function without @hookimpl would be silently ignored by pluggy; say so instead.
        marker = f"{hookspecs.PROJECT}_impl"
        for name, value in vars(module).items():
            if name.startswith("qunti_") and callable(value) and not hasattr(value, marker):
                raise DefinitionError(self.hooks_label(plugin.id), "",
                                      f"函数 {name} 像是钩子，却没有 @hookimpl 标记（from qunti import hookimpl）")

    def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call start-up hook ``hook`` on everyone; a failure stops start-up naming the plugin."""
        results = []
        # Registration order (the core, then plugins as found), so a duplicate blames the newcomer.
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                value = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                raise DefinitionError(self.hooks_label(impl.plugin_name), "",
                                      f"钩子 {hook}() 出错（{type(exc).__name__}: {exc}）") from exc
            if value is not None:
                results.append((impl.plugin_name, value))
        return results

    def listed(self, hook: str, definition: str) -> list[tuple[str, dict[str, Any]]]:
        """A start-up hook returning a list of dicts of one ``$defs`` shape, checked."""
        out = []
        for owner, value in self.collect(hook):
            items = list(value) if isinstance(value, (list, tuple)) else value
            shapes.check(items, shapes.validator("manifest.schema.json", definition), self.hooks_label(owner),
                         f"{hook}() 的返回值", base=[f"{hook}()"])
            out += [(owner, dict(item)) for item in items]
        return out

    # -- contributions --------------------------------------------------------------------------

    def operations(self) -> dict[str, Callable[..., Any]]:
        found: dict[str, Callable[..., Any]] = {}
        owners: dict[str, str] = {}
        for owner, value in self.collect("qunti_jsonlogic_operations"):
            where = self.hooks_label(owner)
            if not isinstance(value, Mapping):
                raise DefinitionError(where, "", "qunti_jsonlogic_operations() 须返回 {名称: 函数}")
            for name, function in value.items():
                if not isinstance(name, str) or not re.match(OPERATION_NAME, name):
                    raise DefinitionError(where, "", f"运算名 {name!r} 须是小写字母、数字和下划线")
                if not callable(function):
                    raise DefinitionError(where, "", f"运算 '{name}' 不是函数")
                if name in found:
                    raise DefinitionError(where, "", f"JSON Logic 运算 '{name}' 重复（另见 {self.hooks_label(owners[name])}）")
                if not any(p.get("code") == "UnknownOperator" for p in check_logic({name: []})):
                    raise DefinitionError(where, "", f"运算 '{name}' 与 JSON Logic 的标准运算符重名")
                found[name], owners[name] = function, owner
        return found

    def forms(self) -> tuple[dict[str, Any], dict[str, str]]:
        from qunti.forms import loader

        forms: dict[str, Any] = {}
        owner_of: dict[str, str] = {}

        def take(plugin: Plugin, document: Any, source: str) -> None:
            other = self.form_sources.get(document.id)
            if other is not None:
                raise DefinitionError(self.label(plugin.id, source), "",
                                      f"表单编号 '{document.id}' 重复（另见 {other}）")
            self.form_sources[document.id] = self.label(plugin.id, source)
            forms[document.id], owner_of[document.id] = document, plugin.id

        def load_file(plugin: Plugin, path: Path) -> Any:
            source = display_path(path)
            try:
                return loader.load_form(path, source)
            except DefinitionError as exc:
                raise DefinitionError(self.label(plugin.id, exc.source), exc.path, exc.reason) from None

        for plugin in self.plugins.values():
            if plugin.folder is not None:
                for path in sorted((plugin.folder / "forms").glob("*.json")):
                    take(plugin, load_file(plugin, path), display_path(path))
        for owner, value in self.collect("qunti_forms"):
            plugin = self.plugins.get(owner)
            if plugin is None:
                continue  # the core's forms come from FORMS_DIR
            for index, item in enumerate(value):
                where = f"{plugin.hooks_source} qunti_forms()[{index}]"
                if isinstance(item, (str, os.PathLike)):
                    path = Path(item) if Path(item).is_absolute() else (plugin.folder or Path.cwd()) / item
                    take(plugin, load_file(plugin, path), display_path(path))
                elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
                    form_id, schema = item[0], copy.deepcopy(item[1])
                    try:
                        loader.validate_form(form_id, schema, where)
                    except DefinitionError as exc:
                        raise DefinitionError(self.label(plugin.id, exc.source), exc.path, exc.reason) from None
                    take(plugin, loader.FormDocument(id=form_id, source=where, schema=schema, digest=digest(schema),
                                                     title=schema["title"].strip()), where)
                else:
                    raise DefinitionError(self.label(plugin.id, where), "", "须是 JSON 文件路径，或 (表单编号, JSON Schema) 二元组")
        for plugin_id in self.plugins:
            self.plugins[plugin_id] = replace(self.plugins[plugin_id],
                                               forms=tuple(f for f, o in owner_of.items() if o == plugin_id))
        return forms, owner_of

    def rulesets(self, forms: Mapping[str, Any], owner_of: Mapping[str, str],
                 operations: Mapping[str, Callable[..., Any]]) -> dict[str, eligibility.RuleSet]:
        engine = make_engine(operations)
        found: dict[str, eligibility.RuleSet] = {}

        def take(plugin: Plugin, document: Any, source: str) -> None:
            label = self.label(plugin.id, source)
            own = {fid: doc.schema for fid, doc in forms.items() if owner_of[fid] == plugin.id}
            ruleset = eligibility.validate_ruleset(document, forms=own, engine=engine, source=label, owner=plugin.id)
            if ruleset.id in found:
                raise DefinitionError(label, "/id", f"规则集编号 '{ruleset.id}' 重复（另见 {found[ruleset.id].source}）")
            found[ruleset.id] = ruleset

        for plugin in self.plugins.values():
            if plugin.folder is not None:
                for path in sorted((plugin.folder / "rules").glob("*.json")):
                    source = display_path(path)
                    take(plugin, read_json(path, self.label(plugin.id, source)), source)
        for owner, value in self.collect("qunti_rules"):
            plugin = self.plugins.get(owner)
            if plugin is None:
                continue
            for index, item in enumerate(value):
                where = f"{plugin.hooks_source} qunti_rules()[{index}]"
                if isinstance(item, (str, os.PathLike)):
                    path = Path(item) if Path(item).is_absolute() else (plugin.folder or Path.cwd()) / item
                    source = display_path(path)
                    take(plugin, read_json(path, self.label(plugin.id, source)), source)
                elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
                    take(plugin, item[1], where)
                else:
                    raise DefinitionError(self.label(plugin.id, where), "", "须是 JSON 文件路径，或 (规则集编号, 文档) 二元组")
        for plugin_id in self.plugins:
            self.plugins[plugin_id] = replace(self.plugins[plugin_id], rulesets=tuple(
                r.id for r in found.values() if r.owner == plugin_id))
        return found

    def activity_types(self, forms: Mapping[str, Any], owner_of: Mapping[str, str]) -> dict[str, ActivityType]:
        declared: list[tuple[str, dict[str, Any], str, str]] = []
        for plugin in self.plugins.values():
            for index, raw in enumerate(plugin.manifest.activity_types):
                declared.append((plugin.id, raw, self.label(plugin.id, display_path(plugin.folder / FILE_NAME)
                                                            if plugin.folder else plugin.source),
                                 pointer(["activityTypes", index])))
        for owner, raw in self.listed("qunti_activity_types", "activityType"):
            if owner in self.plugins:
                declared.append((owner, raw, self.hooks_label(owner), "qunti_activity_types()"))
        found: dict[str, ActivityType] = {}
        for owner, raw, where, at in declared:
            form = raw["form"]
            if form not in self.core_forms and owner_of.get(form) != owner:
                raise DefinitionError(where, f"{at}/form", f"活动类型 '{raw['id']}' 的报名表单 '{form}' 不存在"
                                                          "（须是本插件或核心的表单）")
            if raw["id"] in found:
                raise DefinitionError(where, f"{at}/id", f"活动类型编号 '{raw['id']}' 重复"
                                                        f"（另见插件 {found[raw['id']].plugin_id}）")
            found[raw["id"]] = ActivityType(id=raw["id"], plugin_id=owner, name=raw["name"], form=form,
                                            description=raw["description"],
                                            default_capacity=raw.get("defaultCapacity", 30))
        return found

    def blueprints(self) -> list[tuple[str, Blueprint]]:
        found = []
        for owner, value in self.collect("qunti_blueprints"):
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if not isinstance(item, Blueprint):
                    raise DefinitionError(self.hooks_label(owner), "", "qunti_blueprints() 须返回 flask.Blueprint")
                found.append((owner, item))
        return found

    def checklist_items(self) -> list[tuple[str, dict[str, Any]]]:
        found = self.listed("qunti_station_checklist_items", "checklistItem")
        seen: dict[str, str] = {}
        for owner, item in found:
            if item["code"] in seen:
                raise DefinitionError(self.hooks_label(owner), "", f"检查项编码 '{item['code']}' 重复"
                                                                   f"（另见 {self.hooks_label(seen[item['code']])}）")
            seen[item["code"]] = owner
        return found

    def station_kinds(self, owner_of: Mapping[str, str],
                      rulesets: Mapping[str, eligibility.RuleSet]) -> dict[str, StationKind]:
        found: dict[str, StationKind] = {}
        for plugin in self.plugins.values():
            raw = plugin.manifest.station_kind
            if raw is None:
                continue
            where = self.label(plugin.id, display_path(plugin.folder / FILE_NAME) if plugin.folder else plugin.source)
            form = raw["profileForm"]
            if owner_of.get(form) != plugin.id:
                raise DefinitionError(where, "/stationKind/profileForm",
                                      f"站点档案表单 '{form}' 不存在（须是本插件的表单）")
            if not any(rule.form == form for r in rulesets.values() if r.owner == plugin.id for rule in r.rules):
                raise DefinitionError(where, "/stationKind/profileForm",
                                      f"站点类型须在 rules/ 中带有对表单 '{form}' 的人员配置检查规则")
            if raw["code"] in found:
                raise DefinitionError(where, "/stationKind/code", f"站点类型 '{raw['code']}' 重复"
                                                                  f"（另见插件 {found[raw['code']].plugin_id}）")
            found[raw["code"]] = StationKind(code=raw["code"], plugin_id=plugin.id, name=raw["name"],
                                             staffing_model=raw["staffingModel"], profile_form=form)
        return found

    def load(self) -> PluginSet:
        self.discover()
        self.register()
        operations = self.operations()
        forms, owner_of = self.forms()
        rulesets = self.rulesets(forms, owner_of, operations)
        activity_types = self.activity_types(forms, owner_of)
        return PluginSet(
            manager=self.manager, plugins=dict(self.plugins), forms=forms, form_owner=owner_of,
            activity_types=activity_types, rulesets=rulesets, operations=operations,
            blueprints=self.blueprints(), admin_views=self.listed("qunti_admin_views", "adminView"),
            checklist_items=self.checklist_items(),
            menu_entries=[(p.id, dict(e)) for p in self.plugins.values() for e in p.manifest.menu_entries],
            station_kinds=self.station_kinds(owner_of, rulesets))


def load_plugins(config: Mapping[str, Any], core_forms: Mapping[str, Any] | None = None) -> PluginSet:
    """Find, check and register every installed plugin named by ``config``.

    ``core_forms`` (form id -> document) are the forms of ``FORMS_DIR``, so that a plugin form
    reusing a core id is refused. Raises DefinitionError naming the plugin and file on the first
    problem; code that runs later can trust the returned :class:`PluginSet`.
    """
    return _Loader(config, core_forms or {}).load()


def iter_hook_names() -> Iterable[str]:
    """Every hook declared in :mod:`qunti.hookspecs`."""
    return sorted(name for name in vars(hookspecs) if name.startswith("qunti_"))
