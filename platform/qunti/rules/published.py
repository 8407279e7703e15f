"""Rule sets published from the admin console: immutable versions in the database, and the one
function that says which rule set runs now (:func:`current_ruleset`).

The newest published version of a rule set wins; with none published, the file in ``rules/`` does.
Publishing checks a document exactly as loading a file does (:func:`validate_ruleset`: shape,
operators, fields of the forms, menu items, units, then the rule set's own tests), against what is
in the database now: the service items, the forms' current versions and the units admins edit.

Compiled once per app: ``State.published`` maps a version's digest to its compiled RuleSet. A
digest names one content for ever, so an entry never goes stale; which digest is current is cached
under the definitions revision (qunti.revision), so a publish on one host is used by every host from
its next transaction on.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import String, UniqueConstraint, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from qunti.db import db, utcnow
from qunti.definitions import DefinitionError, digest as content_digest
from qunti import revision
from qunti.rules.ruleset import RuleSet, validate_ruleset

log = logging.getLogger(__name__)

# How long a stored version that no longer passes the checks is left alone before it is tried again
# (someone may put the missing form field or unit back); meanwhile the file rule set runs.
_RETRY_BROKEN_AFTER = 60.0
_CACHE_LIMIT = 32


class RuleSetVersion(db.Model):
    """One published content of a rule set. Never updated, never deleted: a change is a new row."""

    __tablename__ = "ruleset_version"
    __table_args__ = (UniqueConstraint("ruleset_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))
    # Deferred: serving needs only the digest; the document is read once per app when compiled.
    document: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))  # "显示名（用户名）", as in the audit log
    note: Mapped[str] = mapped_column(String(200), default="")


@event.listens_for(RuleSetVersion, "before_update")
@event.listens_for(RuleSetVersion, "before_delete")
def _immutable(_mapper, _connection, target: RuleSetVersion) -> None:
    raise RuntimeError(f"a published rule-set version never changes ({target.ruleset_id} v{target.number})")


class PublishError(Exception):
    """A publish that was refused for a reason other than the document itself (stale base, no change)."""


@dataclass(frozen=True)
class Current:
    """Which content of a rule set runs now: a published version (number > 0) or the file (0)."""

    ruleset_id: str
    number: int
    digest: str

    @property
    def from_file(self) -> bool:
        return self.number == 0


def _state():
    return current_app.extensions["qunti"]


def _file_ruleset(ruleset_id: str) -> RuleSet | None:
    return _state().rulesets.get(ruleset_id)


def latest(ruleset_id: str) -> tuple[int, str] | None:
    """(number, digest) of the newest published version, or None. One indexed query."""
    row = db.session.execute(
        select(RuleSetVersion.number, RuleSetVersion.digest).where(RuleSetVersion.ruleset_id == ruleset_id)
        .order_by(RuleSetVersion.number.desc()).limit(1)).first()
    return (row.number, row.digest) if row is not None else None


_V, _NEWER = RuleSetVersion.__table__.alias("v"), RuleSetVersion.__table__.alias("newer")
# Each rule set's newest version: no newer one of the same rule set exists.
_NEWEST = select(_V.c.ruleset_id, _V.c.number, _V.c.digest).where(
    ~select(_NEWER.c.id).where(_NEWER.c.ruleset_id == _V.c.ruleset_id, _NEWER.c.number > _V.c.number).exists())


def _newest_published() -> dict[str, tuple[int, str]]:
    """(number, digest) of the newest published version of every rule set. Cached per app under the
    definitions revision (``ruleset_version`` is a watched table, so a publish on any host runs from
    the next transaction on; see qunti.revision): the dispatcher asks for every order."""
    return revision.cached("rulesets", lambda: {row.ruleset_id: (row.number, row.digest)
                                                for row in db.session.execute(_NEWEST)})


def current(ruleset_id: str) -> Current | None:
    """What runs now for ``ruleset_id`` (None: no such rule set, neither published nor in a file)."""
    found = latest(ruleset_id)
    if found is not None:
        return Current(ruleset_id, *found)
    ruleset = _file_ruleset(ruleset_id)
    return Current(ruleset_id, 0, ruleset.digest) if ruleset is not None else None


def current_ruleset(ruleset_id: str) -> RuleSet | None:
    """The compiled rule set to run now: the newest published version, else the file one.

    The dispatcher and the evaluate API both ask here, so an order and a trial run of the same
    context never disagree. A stored version that no longer passes the checks (a form field it
    reads was removed since) is logged and the file rule set runs until it is fixed.
    """
    if "sqlalchemy" not in current_app.extensions:  # an app of the rules engine alone (tests)
        return _file_ruleset(ruleset_id)
    found = _newest_published().get(ruleset_id)
    if found is None:
        return _file_ruleset(ruleset_id)
    cached = _state().published.get(found[1])
    if isinstance(cached, RuleSet):
        return cached
    if cached is not None and time.monotonic() - cached[0] < _RETRY_BROKEN_AFTER:
        return _file_ruleset(ruleset_id)
    return _compile_stored(ruleset_id, *found)


def _compile_stored(ruleset_id: str, number: int, digest: str) -> RuleSet | None:
    document = db.session.scalar(select(RuleSetVersion.document).where(
        RuleSetVersion.ruleset_id == ruleset_id, RuleSetVersion.number == number))
    try:
        compiled = validate_ruleset(document, source=f"规则集 {ruleset_id} 第 {number} 版", **checking_context())
    except DefinitionError as exc:
        log.error("已发布的规则集 %s 第 %s 版不再通过检查，暂用文件中的规则集：%s", ruleset_id, number, exc)
        _remember(digest, (time.monotonic(), exc))
        return _file_ruleset(ruleset_id)
    _remember(digest, compiled)
    return compiled


def _remember(digest: str, value: Any) -> None:
    state = _state()
    with state.lock:
        if len(state.published) >= _CACHE_LIMIT:
            state.published.clear()
        state.published[digest] = value


def broken(ruleset_id: str) -> DefinitionError | None:
    """Why the newest published version of ``ruleset_id`` is not running (it fails the checks), or None."""
    found = latest(ruleset_id)
    if found is None:
        return None
    current_ruleset(ruleset_id)
    cached = _state().published.get(found[1])
    return cached[1] if isinstance(cached, tuple) else None


def checking_context() -> dict[str, Any]:
    """What a rule set is checked against: the service items, the forms' current versions and the
    units as they are in the database now, and the JSON Logic operations of installed plugins."""
    from qunti.directory.models import Unit
    from qunti.forms.models import Form, FormVersion
    from qunti.menu.models import ServiceItem

    forms = dict(db.session.execute(
        select(Form.id, FormVersion.schema).join(FormVersion, Form.current_version_id == FormVersion.id)).all())
    menu_items = {code: {"code": code, "form": form_id} for code, form_id in
                  db.session.execute(select(ServiceItem.code, ServiceItem.form_id))}
    units = {code: {"code": code, "name": name, "kind": kind} for code, name, kind in
             db.session.execute(select(Unit.code, Unit.name, Unit.kind))}
    plugins = _state().catalog.plugins
    return {"forms": forms, "menu_items": menu_items, "units": units,
            "operations": plugins.operations if plugins is not None else None}


def check(document: Any, ruleset_id: str, *, with_tests: bool = True, source: str | None = None) -> RuleSet:
    """Check ``document`` as a new content of ``ruleset_id`` against the database; raises DefinitionError.

    ``with_tests=False`` leaves out the rule set's own tests (the admin console's trial runs).
    """
    source = source or f"规则集 {ruleset_id}"
    if isinstance(document, dict) and document.get("id") != ruleset_id:
        raise DefinitionError(source, "/id", f"规则集编号须为 '{ruleset_id}'，不能修改")
    if not with_tests and isinstance(document, dict):
        document = {key: value for key, value in document.items() if key != "tests"}
    return validate_ruleset(document, source=source, **checking_context())


def check_still_valid(ruleset_id: str | None = None) -> DefinitionError | None:
    """Whether the rule sets running now still pass the checks against the database as it is in the
    current transaction (call after flushing a change to service items, units or forms)."""
    ids = [ruleset_id] if ruleset_id else sorted(_state().rulesets)
    for rid in ids:
        running = current_ruleset(rid)
        if running is None:
            continue
        try:
            check(running.document, rid, source=f"正在使用的规则集 {rid}")
        except DefinitionError as exc:
            return exc
    return None


def publish(ruleset_id: str, document: dict[str, Any], *, base_digest: str, note: str, user,
            action: str = "publish", commit: bool = True) -> RuleSetVersion:
    """Check ``document`` and store it as the next version of ``ruleset_id``; it runs from the next
    request on, on every host. Commits, with the audit entry in the same transaction (``commit=False``:
    the caller commits, as ``qunti definitions import`` does for all its files at once).

    ``base_digest`` is the digest the editor started from: if another admin published in between,
    the publish is refused (PublishError) rather than silently overwriting their change. Raises
    DefinitionError if the document fails any check; nothing is stored then.
    """
    from qunti.admin import audit

    running = current(ruleset_id)
    if running is None:
        raise PublishError(f"没有编号为 '{ruleset_id}' 的规则集")
    if base_digest != running.digest:
        raise PublishError(
            f"在您编辑期间，规则集已有新版本（{'文件版本' if running.from_file else f'第 {running.number} 版'}）。"
            "为免覆盖别人的修改，本次没有发布。请重新打开编辑页，在最新版本上再改。")
    compiled = check(document, ruleset_id)
    if compiled.digest == running.digest:
        raise PublishError("规则集与正在使用的版本完全相同，没有需要发布的改动。")
    if running.from_file:
        before = _file_ruleset(ruleset_id).document
    else:
        before = version(ruleset_id, running.number).document
    stored = RuleSetVersion(ruleset_id=ruleset_id, number=running.number + 1, digest=compiled.digest,
                            document=compiled.document, created_by=(f"{user.display_name}（{user.username}）" if user is not None
                                                                 else "系统（定义导入）")[:80],
                            note=note.strip()[:200])
    db.session.add(stored)
    audit.record(action, "ruleset", ruleset_id,
                 before={"version": running.number, "digest": running.digest},
                 after={"version": stored.number, "digest": compiled.digest, "note": stored.note,
                        "changes": changes(before, compiled.document)},
                 user=user)
    if not commit:
        db.session.flush()  # a number another host took since fails here, inside the caller's transaction
        return stored
    try:
        db.session.commit()
    except IntegrityError:
        # Another admin's publish took this number a moment ago.
        db.session.rollback()
        raise PublishError("另一位管理员刚刚发布了新版本，本次没有发布。请重新打开编辑页，在最新版本上再改。") from None
    _remember(compiled.digest, compiled)
    return stored


def changes(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Which rows were added, removed, changed or moved between two documents (for the audit log)."""
    old_rows = {row["id"]: row for row in (old or {}).get("rows", [])}
    new_rows = {row["id"]: row for row in new.get("rows", [])}
    kept_old = [rid for rid in old_rows if rid in new_rows]
    kept_new = [rid for rid in new_rows if rid in old_rows]
    found = {
        "added": [rid for rid in new_rows if rid not in old_rows],
        "removed": [rid for rid in old_rows if rid not in new_rows],
        "changed": [rid for rid in kept_new if content_digest(old_rows[rid]) != content_digest(new_rows[rid])],
        "moved": kept_old != kept_new,
        "tests": len(new.get("tests", [])),
    }
    if (old or {}).get("tests") != new.get("tests"):
        found["testsChanged"] = True
    return found


def versions(ruleset_id: str) -> list[RuleSetVersion]:
    """Every published version of ``ruleset_id``, newest first (documents not loaded)."""
    return list(db.session.scalars(select(RuleSetVersion).where(RuleSetVersion.ruleset_id == ruleset_id)
                                   .order_by(RuleSetVersion.number.desc())))


def version(ruleset_id: str, number: int) -> RuleSetVersion | None:
    return db.session.scalar(select(RuleSetVersion).where(
        RuleSetVersion.ruleset_id == ruleset_id, RuleSetVersion.number == number))
