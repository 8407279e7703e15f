"""The factory, settings layers, the source-root layout and the migrations."""
from __future__ import annotations

import json
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from qunti import create_app, settings
from qunti.db import db

from conftest import ROOT


def test_standard_library_platform_is_not_shadowed():
    # Run from the repository root, exactly where a shadowing platform/__init__.py would bite.
    code = "import platform, uuid; print(platform.system()); print(uuid.uuid4().version)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [__import__("platform").system(), "4"]
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_importing_qunti_builds_no_app():
    import importlib
    import pkgutil

    from flask import Flask

    import qunti
    # No module of the package holds a Flask app at import time.
    for info in pkgutil.walk_packages(qunti.__path__, "qunti."):
        if info.name.endswith((".cli", "__main__")):
            continue
        module = importlib.import_module(info.name)
        assert not any(isinstance(value, Flask) for value in vars(module).values()), info.name


def test_settings_layers_apply_in_order(tmp_path):
    (tmp_path / "qunti.cfg.json").write_text(json.dumps({"TRACKING_PREFIX": "INST", "MAX_JSON_BODY": 10}))
    env = {"QUNTI_TRACKING_PREFIX": "ENV", "QUNTI_LOAD_DEMO": "false"}
    values = settings.resolve(str(tmp_path), {"MAX_JSON_BODY": 99}, environ=env)
    assert values["TRACKING_PREFIX"] == "ENV"        # environment beats the instance file
    assert values["MAX_JSON_BODY"] == 99             # the test override beats everything
    assert values["LOAD_DEMO"] is False              # typed from the default's type
    assert values["FORMS_DIR"] == settings.SETTINGS[[s.name for s in settings.SETTINGS].index("FORMS_DIR")].default


def test_factory_defaults_to_sqlite_in_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("QUNTI_DATABASE_URL", raising=False)  # the suite may run on PostgreSQL
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + str(tmp_path / "qunti.sqlite3")
    # The generated secret key is kept, so a restart does not invalidate sessions or QR links.
    assert create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_every_setting_has_help_text():
    assert all(s.help for s in settings.SETTINGS)


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == [], "models changed without a migration: run `qunti db migrate`"


def test_check_command_passes_on_shipped_definitions():
    out = subprocess.run([sys.executable, "-m", "qunti.cli", "check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "全部通过" in out.stdout


def test_check_command_fails_with_file_and_path(tmp_path):
    forms = tmp_path / "forms"
    (forms / "menu").mkdir(parents=True)
    for path in (ROOT / "forms").glob("*.json"):
        (forms / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (forms / "menu" / "service-menu.json").write_text(
        (ROOT / "forms" / "menu" / "service-menu.json").read_text(encoding="utf-8"), encoding="utf-8")
    broken = json.loads((forms / "legal-consultation.json").read_text(encoding="utf-8"))
    broken["properties"]["phone"]["x-ui"] = {"widget": "slider"}
    (forms / "legal-consultation.json").write_text(json.dumps(broken), encoding="utf-8")
    env = {**__import__("os").environ, "QUNTI_FORMS_DIR": str(forms)}
    out = subprocess.run([sys.executable, "-m", "qunti.cli", "check"], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert out.returncode == 1
    assert "legal-consultation.json" in out.stderr and "/properties/phone/x-ui/widget" in out.stderr


def test_qunti_run_upgrades_an_empty_database_loads_the_demo_and_serves(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**__import__("os").environ, "QUNTI_INSTANCE_PATH": str(tmp_path)}
    env.pop("QUNTI_DATABASE_URL", None)  # the embedded default: a SQLite file in the instance folder
    server = subprocess.Popen([sys.executable, "-m", "qunti.cli", "run", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    html = response.read().decode("utf-8")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(0.3)
        assert "群团服务菜单" in html and "/services/S01" in html
        assert (tmp_path / "qunti.sqlite3").exists()
    finally:
        server.terminate()
        server.communicate(timeout=10)  # reaps the process and closes its pipe
