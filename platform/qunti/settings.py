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
    Setting("CARD_SIGNING_KEY", None,
            "Signs the electronic member cards' verify links. Unset: derived from SECRET_KEY. Changing it "
            "makes every issued card verify as 无效."),
    Setting("CARD_VALID_YEARS", 5, "Years an electronic member card is valid from the day it is issued."),
    Setting("MEMBER_DATA_KEY", None,
            "Fernet key(s) encrypting members' ID numbers and phones, comma separated: the first "
            "encrypts, all decrypt (rotate by putting a new key first). Unset: derived from SECRET_KEY."),
    Setting("MEMBER_HASH_KEY", None,
            "Keys the hashes that find a person by ID number or phone without decrypting. Unset: "
            "derived from SECRET_KEY. Changing it breaks duplicate detection for stored members."),
    Setting("JOIN_CODE_VALID_DAYS", 365, "Days a printed join / activity QR code works unless staff choose otherwise."),
    Setting("MEMBER_PHOTO_MAX_BYTES", 512 * 1024, "Largest member card photo accepted (JPEG or PNG), in bytes."),
    Setting("POSTER_FONT", None,
            "Font file (TTF, TTC or OTF with Chinese glyphs) the PNG QR posters print the station's or "
            "workplace's name in. Unset: the first of qunti.membership.posters.FONT_CANDIDATES found "
            "(Debian: fonts-wqy-microhei); with none the PNG carries the code alone."),
    # 三基四库: the four ledgers, base statistics and the interconnection API (qunti.ledgers,
    # qunti.stats, qunti.integration).
    Setting("LEDGER_PAGE_SIZE", 50, "Rows per page of the ledger lists (keyset pagination)."),
    Setting("LEDGER_SURVEY_FORMS", ["demand-survey"],
            "Forms whose submissions (without an order) are demands in 需求收集库, beside every order."),
    Setting("LEDGER_EXPORT_MAX_ROWS", 200_000,
            "Most rows one CSV or XLSX export of 需求收集库 may hold; narrow the filter beyond that."),
    Setting("DOCUMENT_MAX_BYTES", 10 * 1024 * 1024,
            "Largest file accepted into 文字资料库 and as a 民生实事 proposal's evidence, in bytes. Upload "
            "pages raise the request size limit to this (plus the form fields) for themselves only."),
    Setting("STATS_SETTLE_SECONDS", 300,
            "Longest time an order change may take to commit. The dashboards' daily summary takes in "
            "changes this old; newer ones are counted from the orders themselves until then."),
    Setting("QIYOU_FORM", "station-checklist-qiyou",
            "The form of 七有 station inspections (enabled plugins' checklist items are added to it); the "
            "statistics read the latest inspection per station."),
    Setting("INSPECTION_PHOTO_MAX_BYTES", 5 * 1024 * 1024,
            "Largest photo (JPEG or PNG) accepted for a 七有 inspection, in bytes. The upload page raises "
            "the request size limit to this for itself only."),
    Setting("API_RATE_LIMIT", 120,
            "Requests one API key may make per window (fixed window counted in the database, so the "
            "limit holds across workers and hosts). 0 turns the limit off."),
    Setting("API_RATE_WINDOW_SECONDS", 60, "Length of the API rate-limit window, in seconds."),
    Setting("API_PAGE_SIZE", 50, "Default page size of API and Open311 lists (a client may ask for up to 4×)."),
    Setting("WEBHOOK_ALLOW_PRIVATE_URLS", False,
            "Allow webhook URLs to loopback, private and link-local addresses (tests and closed networks "
            "only: otherwise whoever registers a webhook can make the server call inside the network)."),
    Setting("WEBHOOK_TIMEOUT_SECONDS", 10, "Seconds one webhook delivery attempt may take."),
    Setting("WEBHOOK_MAX_ATTEMPTS", 25,
            "Attempts before a webhook delivery is given up (with the default backoff: about a day)."),
    Setting("WEBHOOK_BACKOFF_SECONDS", 30,
            "Wait after the first failed attempt; it doubles after each failure up to WEBHOOK_BACKOFF_MAX_SECONDS."),
    Setting("WEBHOOK_BACKOFF_MAX_SECONDS", 3600, "Longest wait between two attempts of one delivery."),
    Setting("WEBHOOK_BATCH_SIZE", 10, "Deliveries one host claims at a time during `qunti tick`."),
    Setting("WEBHOOK_TICK_BUDGET_SECONDS", 50,
            "Seconds `qunti tick` spends delivering webhooks before it stops claiming more (run it every minute)."),
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
