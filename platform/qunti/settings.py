"""Every setting Qunti reads, declared once with its default and what it is for.

Order of precedence (later wins): these defaults, ``<instance>/qunti.cfg.json``, environment
variables ``QUNTI_<NAME>``, then the mapping given to ``create_app(config=...)`` (tests).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The repository root: forms/, rules/ and plugins/ ship beside the source root platform/.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL. Unset: a SQLite file qunti.sqlite3 in the instance folder."),
    Setting("SECRET_KEY", None,
            "Signs sessions, CSRF tokens and QR links. Unset: a random key kept in the instance folder."),
    Setting("FORMS_DIR", str(SOURCE_ROOT / "forms"), "Folder of form JSON Schema documents."),
    Setting("RULES_DIR", str(SOURCE_ROOT / "rules"), "Folder of JSON Logic rule sets."),
    Setting("PLUGINS_DIRS", [str(SOURCE_ROOT / "plugins" / "brands"), str(SOURCE_ROOT / "plugins" / "stations")],
            "Folders whose sub-folders are plugins loaded by path."),
    Setting("MAX_CONTENT_LENGTH", 2 * 1024 * 1024, "Largest request body accepted, in bytes."),
    Setting("MAX_JSON_BODY", 256 * 1024, "Largest JSON API body accepted, in bytes."),
    Setting("LOAD_DEMO", True, "`qunti run` loads the demo content into an empty database."),
    Setting("WTF_CSRF_ENABLED", True, "CSRF protection on every HTML form."),
    Setting("BABEL_DEFAULT_LOCALE", "zh_Hans_CN", "UI language."),
    Setting("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai", "Time zone for dates shown to people."),
    Setting("TRACKING_PREFIX", "JB", "Prefix of tracking numbers (受理编号)."),
    Setting("ACCEPT_WITHIN_DAYS", 1,
            "Working days a handling unit has to accept (签收) a dispatched order; sets accept_by."),
    Setting("MAX_ATTACHMENT_BYTES", 1536 * 1024,
            "Largest attachment accepted when an order is closed (销号), in bytes. Keep it below "
            "MAX_CONTENT_LENGTH so the person sees this limit's message, not a bare 413."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(raw: str, default: Any) -> Any:
    """Environment values are strings; read them as the type of the default."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, list):
        return json.loads(raw) if raw.strip().startswith("[") else raw.split(os.pathsep)
    return raw


def resolve(instance_path: str, override: dict[str, Any] | None = None,
            environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the settings mapping for one app, applying the four layers in order."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    instance_file = Path(instance_path) / "qunti.cfg.json"
    if instance_file.exists():
        values.update(json.loads(instance_file.read_text(encoding="utf-8")))
    for name, setting in _BY_NAME.items():
        raw = environ.get(f"QUNTI_{name}")
        if raw is not None:
            values[name] = _coerce(raw, setting.default)
    values.update(override or {})
    return values
