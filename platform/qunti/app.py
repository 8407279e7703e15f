"""The application factory."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from qunti import settings


def _instance_path(config: dict[str, Any] | None) -> str:
    path = (config or {}).get("INSTANCE_PATH") or os.environ.get("QUNTI_INSTANCE_PATH") \
        or str(settings.SOURCE_ROOT / "instance")
    os.makedirs(path, exist_ok=True)
    return path


def _secret_key(instance_path: str) -> str:
    # A key kept in the instance folder survives restarts, so sessions and printed QR links stay valid.
    key_file = Path(instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build a Qunti app. ``config`` overrides every other settings layer (used by tests)."""
    instance_path = _instance_path(config)
    app = Flask("qunti", instance_path=instance_path, instance_relative_config=True)
    app.config.update(settings.resolve(instance_path, config))
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or _secret_key(instance_path)
    # Browsers then send the sign-in cookies with no request another site starts but a link
    # followed: the JSON API takes a staff member's session too and, having clients without pages,
    # asks for no CSRF token (it takes only application/json bodies, which no plain form can send).
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SAMESITE="Lax")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"] or \
        "sqlite:///" + str(Path(instance_path) / "qunti.sqlite3")
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith(("sqlite", "postgresql")):
        # A server connection can drop while pooled; a file database cannot, so skip the ping there.
        # PostgreSQL's pool checks each connection by reading the definitions token instead
        # (qunti.revision.read_on_checkout): one round trip that does both.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})

    from qunti import extensions
    extensions.init_app(app)

    from qunti import catalog
    catalog.init_app(app)

    from qunti import web
    web.init_app(app)

    from qunti import plugins
    plugins.init_app(app)
    return app
