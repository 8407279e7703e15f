"""Flask-Admin in Chinese. Flask-Babel picks the locale (BABEL_DEFAULT_LOCALE, zh_Hans_CN) and
Flask-Admin ships that catalog, but its compiled file lacks the two messages flashed on every
refused save; they are added here, compiled once into the instance folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask

LOCALE = "zh_Hans_CN"
MISSING = {
    "Failed to save record.": "没有保存，请按提示修改。",
    "Failed to create record.": "没有创建，请按提示修改。",
}


def translations_path(app: Flask) -> str:
    """A folder of extra Flask-Admin messages (``Admin.translations_path``); the shipped catalog
    still answers every message it has."""
    root = Path(app.instance_path) / "admin-translations"
    target = root / LOCALE / "LC_MESSAGES" / "admin.mo"
    if not target.exists():
        catalog = Catalog(locale=LOCALE, domain="admin")
        for message, translation in MISSING.items():
            catalog.add(message, translation)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: several workers may start at once.
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog)
        os.replace(temporary, target)
    return str(root)
