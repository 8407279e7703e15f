"""Wiring of the web layer: blueprints, error pages, security headers and template helpers."""
from __future__ import annotations

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from qunti import masking
from qunti.api import errors as api_errors
from qunti.extensions import csrf
from qunti.intake import CHANNELS
from qunti.ledgers import uploads

API_V1 = "/api/v1"

# What an HTTP error means to a resident, in their words.
_ERROR_TEXT = {
    400: "请求有误，请返回重试。",
    403: "您没有权限访问这个页面。",
    404: "找不到这个页面，它可能已被删除或链接有误。",
    405: "不支持这种访问方式。",
    413: "提交的内容太大了。",
    415: "提交的内容格式不对。",
    429: "操作太频繁，请稍后再试。",
    500: "系统出了点问题，我们会尽快处理。您的数据没有丢失，请稍后再试。",
}


def _register_blueprints(app: Flask) -> None:
    from qunti.api.forms import bp as api_forms
    from qunti.forms.views import bp as forms_bp
    from qunti.orders.api import bp as orders_api
    from qunti.orders.resident_views import bp as resident_orders
    from qunti.resident.views import bp as resident_bp
    from qunti.rules.api import bp as rules_api

    from qunti.accounts.auth import bp as auth_bp
    from qunti.staff import blueprints as staff_blueprints
    from qunti.membership import blueprints as membership_blueprints

    app.register_blueprint(resident_bp)
    app.register_blueprint(resident_orders)
    app.register_blueprint(forms_bp)
    app.register_blueprint(auth_bp)
    for bp in staff_blueprints():
        app.register_blueprint(bp)
    for bp in membership_blueprints():
        app.register_blueprint(bp)
    # Plugins: the switch page and brand activities (plugins' own pages: qunti.plugins.init_app).
    from qunti.activities.views import bp as activities_bp
    from qunti.plugins.views import bp as plugins_bp
    app.register_blueprint(plugins_bp)
    app.register_blueprint(activities_bp)
    # 三基四库: ledgers, statistics, and the interconnection API (keys, Open311, OpenAPI, admin pages).
    from qunti.integration import blueprints as integration_blueprints
    from qunti.ledgers import blueprints as ledger_blueprints
    from qunti.stats import blueprints as stats_blueprints
    for bp in ledger_blueprints() + stats_blueprints():
        app.register_blueprint(bp)
    # 服务站: profiles and staffing checks (station plugins), 七有 inspections, resource agreements.
    from qunti.stations import blueprints as station_blueprints
    for bp in station_blueprints():
        app.register_blueprint(bp)
    for bp, prefix, is_api in integration_blueprints():
        if is_api:  # authenticated per request by API key, never by a browser session
            csrf.exempt(bp)
        app.register_blueprint(bp, url_prefix=prefix)
    for bp in (api_forms, rules_api, orders_api):
        # Clients without pages, so no CSRF token: they send JSON (refused otherwise, see
        # qunti.api.body), which a page of another site cannot send without the browser asking
        # first (CORS), and the session cookie is SameSite=Lax (qunti.app).
        csrf.exempt(bp)
        app.register_blueprint(bp, url_prefix=API_V1)


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _ERROR_TEXT.get(status, exc.description or "出错了")
        if isinstance(exc, CSRFError):
            message = "页面已过期或来源不明，请刷新页面后重新提交。"
        if api_errors.wants_json():
            return api_errors.error_response(status, message)
        return render_template("error.html", status=status, message=message), status


def _content_security_policy() -> str:
    # No inline script or style, except what carries this request's nonce, and the few exact inline
    # handlers a page lists by hash: Flask-Admin's pages ask for both (qunti.admin.base.csp_nonce,
    # qunti.admin.model_views.allow_inline_handlers); every other page gets neither.
    nonce = g.get("csp_nonce")
    inline = f" 'nonce-{nonce}'" if nonce else ""
    hashes = sorted(g.get("csp_hashes", ()))
    handlers = (" 'unsafe-hashes' " + " ".join(f"'{h}'" for h in hashes)) if hashes else ""
    return ("default-src 'self'; img-src 'self' data:; "
            f"style-src 'self'{inline}; script-src 'self'{inline}{handlers}; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def init_app(app: Flask) -> None:
    from qunti.admin import setup as admin_setup

    api_errors.init_app(app)
    _register_blueprints(app)
    uploads.init_app(app)  # before CSRF protection reads a large upload's body
    admin_setup.init_app(app)
    _register_error_pages(app)
    app.jinja_env.filters.update(
        mask_phone=masking.mask_phone, mask_name=masking.mask_name, mask_id=masking.mask_id_number)
    app.jinja_env.globals.update(channels=CHANNELS)

    @app.after_request
    def _security_headers(response):
        # One pass over the names: Werkzeug's Headers.setdefault raises and catches an HTTP
        # exception for each missing header, on every response (some 60 µs of each card scan).
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        if "content-security-policy" not in present:
            headers["Content-Security-Policy"] = _content_security_policy()
        if "x-content-type-options" not in present:
            headers["X-Content-Type-Options"] = "nosniff"
        if "referrer-policy" not in present:
            headers["Referrer-Policy"] = "same-origin"
        return response
