"""Fixtures: an app on a real database (SQLite file by default, PostgreSQL when
QUNTI_DATABASE_URL is set), migrated once per session and emptied before each test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qunti import create_app
from qunti.db import db

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def _database_url(tmp_path_factory) -> str:
    return os.environ.get("QUNTI_DATABASE_URL") or \
        "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """One database for the session, upgraded through the real migrations."""
    url = _database_url(tmp_path_factory)
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
                      "SECRET_KEY": "test-secret"})
    with app.app_context():
        from flask_migrate import downgrade, upgrade
        # Start from nothing even when a previous run left tables in a shared PostgreSQL database.
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return url


def empty_database() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # form and form_version point at each other: cut that link, then delete children first.
            connection.execute(text("UPDATE form SET current_version_id = NULL"))
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on the session database with extra settings; the database starts empty."""
    made = []

    def make(*, fresh: bool = True, **overrides):
        """``fresh=False`` builds a second host on the database as it is (nothing emptied or synced);
        either way its connection pool is closed after the test."""
        config = {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "instance"),
                  "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False, "TESTING": True,
                  "SERVER_NAME": "qunti.test"}
        config.update(overrides)
        app = create_app(config)
        if fresh:
            with app.app_context():
                empty_database()
                from qunti.catalog import state
                from qunti.sync import sync
                sync(state().catalog)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
            # Engines a feature keeps beside the app's own (the card scans' pool, say).
            for extension in list(app.extensions.values()):
                if isinstance(extension, Engine):
                    extension.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
