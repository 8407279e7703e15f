"""The plugin system, as the rest of Qunti sees it.

Start-up: :func:`qunti.plugins.manager.load_plugins` (called by the catalog) finds and checks every
plugin; :func:`init_app` mounts their blueprints and the guards that hide a disabled plugin.
Run time: which plugins are enabled is read once per request (:mod:`qunti.plugins.state`), and the
functions below give the core only what enabled plugins contribute. Request hooks go through
:meth:`PluginSet.call`, so one plugin raising is logged with its id and never breaks the request.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from flask import Flask, abort, current_app, request, url_for
from werkzeug.routing import BuildError

from qunti.plugins.state import enabled_ids, is_enabled, set_enabled

if TYPE_CHECKING:
    from qunti.plugins.manager import PluginSet

__all__ = ["admin_links", "checklist_items", "current", "enabled_ids", "form_hidden", "form_owner", "init_app",
           "is_enabled", "menu_entries", "order_event", "order_event_listeners", "order_event_snapshot",
           "plugin_name", "set_enabled", "signup_refusal"]

log = logging.getLogger("qunti.plugins")
PAGES_PREFIX = "/p"


def current() -> PluginSet:
    """The installed plugins of the current app (loaded with the catalog)."""
    return current_app.extensions["qunti"].catalog.plugins


def form_owner(form_id: str) -> str | None:
    """The id of the plugin that ships ``form_id``, or None for a core form."""
    return current().form_owner.get(form_id)


def form_hidden(form_id: str) -> bool:
    """Whether ``form_id`` belongs to a plugin that is not enabled (so nobody may see or use it)."""
    owner = form_owner(form_id)
    return owner is not None and owner not in enabled_ids()


def _ordering() -> dict[str, int]:
    # The core first, then plugins in the order they were found, whatever order pluggy called them.
    return {owner: position for position, owner in enumerate(current().plugins, start=1)}


def _link(owner: str, item: Mapping[str, Any], hook: str) -> str | None:
    if "url" in item:
        return item["url"]
    try:
        return url_for(item["endpoint"], **item.get("args", {}))
    except BuildError:
        log.error("插件 %s 的 %s 链接指向不存在的页面 %s，已跳过", owner, hook, item["endpoint"])
        return None


@lru_cache(maxsize=512)
def _entry_problem(text: str) -> str | None:
    # Keyed by the entry's JSON: hooks return the same entries request after request, so each
    # distinct entry is checked against the schema once, not on every page.
    from qunti.plugins import shapes

    error = next(iter(shapes.validator("manifest.schema.json", "menuEntry").iter_errors([json.loads(text)])), None)
    return error.message if error is not None else None


def _valid_entries(owner: str, value: Any) -> list[Mapping[str, Any]]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        try:
            problem = _entry_problem(json.dumps(item, ensure_ascii=False, sort_keys=True))
        except (TypeError, ValueError):
            problem = "不是 JSON 数据"
        if problem:
            log.error("插件 %s 的钩子 qunti_menu_entries 返回了不合格式的内容（%s），已跳过", owner, problem)
            return []
    return items


def plugin_name(owner: str) -> str | None:
    """The display name of installed plugin ``owner`` (None for the core or an unknown id)."""
    plugin = current().get(owner)
    return plugin.name if plugin else None


def menu_entries(user: Any = None) -> list[dict[str, Any]]:
    """Service-menu links from the core and enabled plugins: dicts with title, url, summary, plugin."""
    plugins, enabled = current(), enabled_ids()
    found = [(owner, entry) for owner, entry in plugins.menu_entries if owner in enabled]
    for owner, value in plugins.call("qunti_menu_entries", enabled, user=user):
        found += [(owner, entry) for entry in _valid_entries(owner, value)]
    ordering = _ordering()
    found.sort(key=lambda pair: ordering.get(pair[0], 0))
    entries = []
    for owner, entry in found:
        url = _link(owner, entry, "qunti_menu_entries")
        if url is not None:
            entries.append({"title": entry["title"], "url": url, "summary": entry.get("summary", ""),
                            "plugin": owner if owner in plugins.plugins else None, "plugin_name": plugin_name(owner)})
    return entries


def admin_links(user: Any) -> list[dict[str, str]]:
    """Staff-console links the core and enabled plugins offer to ``user``'s role."""
    role = getattr(user, "role", None)
    plugins, enabled = current(), enabled_ids()
    links = []
    ordering = _ordering()
    for owner, view in sorted(plugins.admin_views, key=lambda pair: ordering.get(pair[0], 0)):
        if owner in plugins.plugins and owner not in enabled or role not in view["roles"]:
            continue
        url = _link(owner, view, "qunti_admin_views")
        if url is not None:
            links.append({"title": view["title"], "url": url})
    return links


def checklist_items() -> list[dict[str, Any]]:
    """七有 checklist items enabled plugins add (code, title, help, plugin)."""
    plugins, enabled = current(), enabled_ids()
    return [{**item, "plugin": owner} for owner, item in plugins.checklist_items
            if owner not in plugins.plugins or owner in enabled]


_ORDER_FIELDS = ("id", "number", "service_item_code", "state", "community", "applicant_category", "channel",
                 "unit_code", "route_class", "round")
_EVENT_FIELDS = ("id", "action", "from_state", "to_state", "actor_label", "reason")


def order_event_listeners() -> frozenset[str]:
    """The enabled plugins (and the core) that implement qunti_order_event; empty when nobody listens."""
    from qunti.plugins.manager import CORE

    listeners = current().order_event_implementers
    return listeners & (enabled_ids() | {CORE}) if listeners else listeners


def order_event_snapshot(order: Any, event: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The read-only views of an order and one of its events that plugins get (taken before the
    commit expires the objects)."""
    order_view = {name: getattr(order, name, None) for name in _ORDER_FIELDS}
    event_view = {name: getattr(event, name, None) for name in _EVENT_FIELDS}
    at = getattr(event, "at", None)
    event_view["at"] = at.isoformat() if at is not None else None
    return order_view, event_view


def order_event(order: Any, event: Any, enabled: frozenset[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Tell enabled plugins about an order transition (called after it is committed, by
    :mod:`qunti.orders.followups`).

    ``order`` and ``event`` are model objects or the views :func:`order_event_snapshot` made. Plugins
    get copies (``order``: id, number, service_item_code, state, community, applicant_category,
    channel, unit_code, route_class, round; ``event``: id, action, from_state, to_state, actor_label,
    reason, at) and may return follow-ups; the result is a list of (plugin id, {"title", "text"}).
    ``enabled`` is the set of enabled plugins when the transition happened (read from the database
    otherwise; after a commit the session may not run SQL).
    """
    if not isinstance(order, Mapping):
        order, event = order_event_snapshot(order, event)
    plugins = current()
    enabled = enabled_ids() if enabled is None else enabled
    followups = []
    for owner, value in plugins.call("qunti_order_event", enabled, order=dict(order), event=dict(event)):
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("title"), str) and isinstance(item.get("text"), str):
                followups.append((owner, {"title": item["title"], "text": item["text"]}))
            else:
                log.error("插件 %s 的钩子 qunti_order_event 返回了不合格式的内容，已跳过", owner)
    return followups


def signup_refusal(activity: Mapping[str, Any], answers: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first refusal an enabled plugin gives a sign-up: (plugin id, Chinese sentence), or None."""
    plugins, enabled = current(), enabled_ids()
    for owner, value in plugins.call("qunti_signup_refusal", enabled, activity=dict(activity), answers=dict(answers)):
        if isinstance(value, str) and value.strip():
            return owner, value.strip()
        log.error("插件 %s 的钩子 qunti_signup_refusal 返回的不是一句话，已忽略", owner)
    return None


def _guard(plugin_id: str) -> None:
    # Registered before each plugin blueprint's views: a disabled plugin's pages simply do not exist.
    if not is_enabled(plugin_id):
        abort(404)


# Blueprints whose routes name a form (``<form_id>``) for residents and API clients: there a disabled
# plugin's form is 404. Staff pages (the admin console's form editor) keep reaching it: data is kept.
PUBLIC_FORM_BLUEPRINTS = frozenset({"api_forms", "forms"})


def _hide_disabled_forms() -> None:
    if request.blueprint not in PUBLIC_FORM_BLUEPRINTS:
        return
    form_id = (request.view_args or {}).get("form_id")
    if isinstance(form_id, str) and form_hidden(form_id):
        abort(404)


def init_app(app: Flask) -> None:
    """Mount enabled-or-not plugin blueprints under /p/<plugin id> with their guard, hide disabled
    plugins' forms from the public form routes, and give templates the menu and admin links."""
    from qunti.definitions import DefinitionError

    plugins = app.extensions["qunti"].catalog.plugins
    for owner, blueprint in plugins.blueprints:
        try:
            app.register_blueprint(blueprint, url_prefix=f"{PAGES_PREFIX}/{owner}")
        except ValueError as exc:
            plugin = plugins.get(owner)
            raise DefinitionError(f"插件 {owner} · {plugin.hooks_source if plugin else ''}", "",
                                  f"qunti_blueprints() 的蓝图无法注册：{exc}") from None
        app.before_request_funcs.setdefault(blueprint.name, []).append(partial(_guard, owner))
    app.before_request(_hide_disabled_forms)
    app.jinja_env.globals.update(plugin_menu_entries=menu_entries, plugin_admin_links=admin_links)
