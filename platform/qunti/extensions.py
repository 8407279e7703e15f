"""Flask extensions Qunti uses, bound to an app by :func:`init_app` (state lives in app.extensions)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from qunti.db import db
from qunti.settings import SOURCE_ROOT

MIGRATIONS_DIR = SOURCE_ROOT / "migrations"

migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录。"
login_manager.login_message_category = "info"


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the cookie signer for a request that brings
    no session cookie (every API call, a first visit): there is nothing to verify, and the signer is
    still built when a new session has to be saved."""

    def open_session(self, app: Flask, request):
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


@login_manager.user_loader
def _load_user(user_id: str):
    from qunti.accounts.models import User
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite does not enforce foreign keys unless asked, per connection; WAL lets readers and one
    # writer work at once under several gunicorn workers.
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def init_app(app: Flask) -> None:
    # Import every model module so the metadata is complete for migrations and create_all.
    from qunti import models  # noqa: F401
    app.session_interface = CookieSessions()
    db.init_app(app)
    from qunti import revision
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "postgresql":
                revision.read_on_checkout(engine)
    migrate.init_app(app, db, directory=str(Path(MIGRATIONS_DIR)), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    babel.init_app(app)
    login_manager.init_app(app)
