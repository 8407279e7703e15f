"""Binds the admin console to an app: every admin module contributes its views through ``views()``."""
from __future__ import annotations

from importlib import import_module

from flask import Flask

from qunti.admin.base import init_app as init_admin
from qunti.admin.i18n import translations_path

# Each module has ``views() -> list[BaseView]`` and may have ``links() -> list[MenuLink]`` (pages
# outside the console); the order here is the order of the admin menu.
VIEW_MODULES = (
    "qunti.admin.forms_views",      # forms: JSON editor with live preview, simple editor, versions
    "qunti.admin.menu_views",       # service menu, 七有 items, stations, organizations, units, holidays
    "qunti.admin.rules_views",      # dispatch rules: row editor, try-it box, publish with tests
    "qunti.admin.users_views",      # users and roles
    "qunti.admin.audit_views",      # the append-only audit log
)


def init_app(app: Flask) -> None:
    views, links = [], []
    for name in VIEW_MODULES:
        module = import_module(name)
        views.extend(module.views())
        links.extend(getattr(module, "links", list)())
    admin = init_admin(app, views)
    admin.add_links(*links)
    admin.translations_path = translations_path(app)
