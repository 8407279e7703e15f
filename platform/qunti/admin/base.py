"""The Flask-Admin instance and the role check every admin view inherits.

Views declare which roles may open them (``roles``); each view narrows further by the user's
organization, brand or station where its data has one. Views are registered by the feature
modules through :func:`register` so this file never grows a list of every view.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask import Flask, abort, g, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, BaseView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user

ADMIN_ROLES = ("sys_admin", "org_admin", "brand_lead", "station_staff")


def csp_nonce() -> str:
    """One nonce per request for Flask-Admin's inline scripts; the CSP header names it."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


class RoleMixin:
    """Open to signed-in users whose role is in ``roles``; others get a login page or a 403."""

    roles: tuple[str, ...] = ("sys_admin",)

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active and current_user.role in self.roles)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class HomeView(RoleMixin, AdminIndexView):
    roles = ADMIN_ROLES

    @expose("/")
    def index(self):
        return self.render("admin/home.html")


class RoleView(RoleMixin, BaseView):
    """A custom (non-model) admin page with a role check."""


def init_app(app: Flask, views: Iterable[BaseView] = ()) -> Admin:
    admin = Admin(app, name="群团服务平台管理", url="/admin", theme=Bootstrap4Theme(),
                  index_view=HomeView(name="首页", url="/admin"), csp_nonce_generator=csp_nonce)
    for view in views:
        admin.add_view(view)
    return admin
