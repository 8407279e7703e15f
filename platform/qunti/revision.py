"""The definitions revision: definitions admins change at run time, cached per app and checked with
one small read per transaction.

Service items, the forms' current versions, published rule sets, units, the holiday calendar,
webhook subscriptions and plugin switches are read by every submission but change only when someone
edits them. Every change to one of their tables (``WATCHED``) replaces a random token in the single
row of ``definitions_revision``; database triggers do it (migration 0013), in the writing
transaction, whoever writes: the admin console, ``qunti sync``, a definitions import, SQL by hand.

:func:`cached` keeps a value with the token it was loaded under and hands it out only while the
database still shows that token, so a change committed on one host is used by every host from its
next transaction on. Why that is safe:

- the token is read before the value it guards, so a value is never older than its token says;
- the token is random, so a rolled-back change never names anything another transaction sees;
- a transaction that writes a watched table reads the token again (the trigger has replaced it), so
  it sees its own changes, and values it loads are filed under a token nobody else sees unless the
  transaction commits;
- without the row (a database emptied by hand) nothing is cached: every read goes to the tables.

On PostgreSQL a submission need not read the token at all (:func:`optimistic`): it works on the
token this process read last, and its one INSERT checks that token itself, writing nothing when the
definitions changed since; it then runs again on a fresh read. The values it used were then current
when it wrote, which is what reading the token first guarantees too.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import String, TextClause, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import Pool
from sqlalchemy.sql.ddl import ExecutableDDLElement

from qunti.db import db, has_changes, quiet, statement_alone

T = TypeVar("T")

# The tables whose rows the cached values are made of. A migration that recreates one of them on
# SQLite (batch "move and copy") drops its triggers: tests/test_revision.py fails until they are
# created again (see migration 0013).
WATCHED = ("service_item", "form", "ruleset_version", "unit", "calendar_day", "webhook_subscription",
           "plugin_state")
# The token this transaction saw, kept with the DBAPI connection as (the commit count it was read at,
# the token, whether it was read from the database: False for a token assumed by :func:`optimistic`,
# which the transaction's write must check); see the events below. And whether this transaction
# wrote a watched table.
_SEEN = "qunti.definitions_token"
_WROTE = "qunti.definitions_written"
_CONNECTION = "qunti.definitions_connection"  # (session transaction, its connection), in Session.info
_READ = "SELECT token FROM definitions_revision WHERE id = 1"


class DefinitionsRevision(db.Model):
    """One row (id 1) whose token changes with every change to a table of ``WATCHED``."""

    __tablename__ = "definitions_revision"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(40))


def _read(dbapi_connection: Any) -> str | None:
    # A plain DBAPI cursor: one constant statement without parameters, on the hot path of every
    # submission and form page, where SQLAlchemy's statement machinery costs more than the query.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_READ)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return row[0] if row is not None else None


def token(*, in_session: bool = True) -> str | None:
    """The token as this transaction sees it (None: no token row, so nothing may be cached).

    ``in_session``: read it in the request's database session, beginning its transaction (the
    caller goes on to read or write there). ``False`` is for pages that need nothing else from the
    database: unless a transaction is open already, the token is read on a pooled connection of its
    own and no session is started at all.
    """
    return _token(_session(in_session))


def _session(in_session: bool) -> Any:
    """The request's session where the token is to be read in it, else None (see :func:`token`)."""
    registry = db.session.registry
    if in_session:
        return registry()
    session = registry() if registry.has() else None
    return session if session is not None and session.in_transaction() else None


def _token(session: Any) -> str | None:
    if session is not None:
        # The connection of this session's transaction, remembered (Session.connection() costs more
        # than the rest of this function, and every cached definition asks here).
        transaction, held = session.get_transaction(), session.info.get(_CONNECTION)
        if transaction is None or held is None or held[0] is not transaction:
            connection = session.connection()
            held = session.info[_CONNECTION] = (session.get_transaction(), connection)
        return _connection_token(held[1])
    dbapi_connection = db.engine.raw_connection()
    try:
        seen = dbapi_connection.info.get(_SEEN)
        if seen is not None and seen[0] == _commits.count:
            return seen[1]  # read as the pool handed the connection out (see read_on_checkout)
        return _read_noting(db.engine, dbapi_connection)[1]
    finally:
        dbapi_connection.close()


def _connection_token(connection: Any) -> str | None:
    """The token as the transaction of ``connection`` (a SQLAlchemy Connection or a
    :class:`PooledConnection`) sees it: noted on the connection, else assumed or read now."""
    info = connection.info
    seen = info.get(_SEEN)
    if seen is None or seen[0] != _commits.count:
        engine = connection.engine
        seen = info[_SEEN] = _assumed(engine, info) or _read_noting(engine, connection.connection)
    return seen[1]


def _read_noting(engine: Engine, dbapi_connection: Any) -> tuple[int, str | None, bool]:
    """Read the token now and note it as the engine's latest: (commit count, token, True).
    One SELECT needs no transaction: none is begun for it where none is open (no BEGIN on
    PostgreSQL, and a submission's INSERT can still run on its own)."""
    with statement_alone(dbapi_connection):
        seen = (_commits.count, _read(dbapi_connection), True)
    if engine in _latest:
        _latest[engine] = seen[:2]
    return seen


# --- optimistic: the write checks the token -------------------------------------------------------

class RunAgain(Exception):
    """Nothing was written: run the attempt again the usual way (see :func:`optimistic`)."""


class Stale(RunAgain):
    """The definitions changed after this process last read the token."""


class PooledConnection:
    """A connection of the pool used outside any session: what a submission in :func:`optimistic`
    works on. It has the few attributes of a SQLAlchemy Connection that path uses (``engine``,
    ``dialect``, ``info``, and ``connection``: the pooled DBAPI connection). Without a session
    transaction and its Connection around the DBAPI connection, a submission costs a seventh less
    CPU: beginning and committing them cost more than the submission's one statement."""

    __slots__ = ("engine", "dialect", "connection", "info")

    def __init__(self, engine: Engine) -> None:
        self.engine, self.dialect = engine, engine.dialect
        self.connection = engine.raw_connection()  # the pool's checkout events run (read_on_checkout)
        self.info = self.connection.info


_OPTIMISTIC: ContextVar[bool] = ContextVar("qunti_definitions_optimistic", default=False)
_OWN: ContextVar[PooledConnection | None] = ContextVar("qunti_own_connection", default=None)
# The token last read on a connection of each engine: (commit count, token). Only engines whose
# writes check an assumed token (PostgreSQL: read_on_checkout enters them) have an entry.
_latest: weakref.WeakKeyDictionary[Engine, tuple[int, str | None]] = weakref.WeakKeyDictionary()
# Per engine, the (commit count, token) under which a submission last needed the session (see
# in_session_only).
_session_needed: weakref.WeakKeyDictionary[Engine, tuple[int, str | None]] = weakref.WeakKeyDictionary()


def optimistic(attempt: Callable[[], T]) -> T:
    """``attempt()`` on the token this process read last, without reading it again first, and on a
    pooled connection outside the session (:func:`connection`). For a request whose only write is a
    submission (:func:`qunti.intake.accept` on PostgreSQL): its INSERT checks the token and raises
    :class:`Stale`, having written nothing, when the definitions changed since; a submission that
    must be written in the session after all raises :class:`RunAgain` before it writes. Either way
    ``attempt`` runs once more the usual way: reading the token first, in the session. ``attempt``
    must have done nothing outside the database before its write (it may run twice)."""
    reset, reset_own, own = _OPTIMISTIC.set(True), _OWN.set(None), None
    try:
        own = _own_connection()  # (checked out in optimistic: the pool may skip its token read)
        _OWN.set(own)
        return attempt()
    except RunAgain:
        pass
    finally:
        _OWN.reset(reset_own)
        _OPTIMISTIC.reset(reset)
        if own is not None:
            own.connection.close()  # back to the pool, which rolls back whatever is left open
    return attempt()


def _own_connection() -> PooledConnection | None:
    """A pooled connection for :func:`optimistic` on PostgreSQL, unless the request's session has a
    transaction open already (then the submission joins it) or the last submission under the
    current definitions had to be written in the session."""
    engine = db.engine
    latest = _latest.get(engine)
    if latest is None or (latest[0] == _commits.count and _session_needed.get(engine) == latest):
        return None
    registry = db.session.registry
    if registry.has() and registry().in_transaction():
        return None
    return PooledConnection(engine)


def own_connection() -> PooledConnection | None:
    """In :func:`optimistic`, the pooled connection the submission works on outside the session."""
    return _OWN.get()


def connection() -> Any:
    """The connection a submission's statements run on: in :func:`optimistic`, a pooled connection
    of its own outside the session (:class:`PooledConnection`); else the session's Connection."""
    own = _OWN.get()
    return db.session.connection() if own is None else own


def in_session_only(own: PooledConnection) -> None:
    """The submission being worked out on ``own`` must be written in the session (it has rows for
    the session to write with it: webhook outbox rows): raise :class:`RunAgain`, before anything
    is written. Later submissions go to the session at once while the definitions (and with them
    the webhook subscriptions) stay as they are."""
    seen = own.info.get(_SEEN)
    if seen is not None:
        _session_needed[own.engine] = seen[:2]
    raise RunAgain()


def _assumable(engine: Engine) -> tuple[int, str | None] | None:
    latest = _latest.get(engine) if _OPTIMISTIC.get() else None
    if latest is None or latest[0] != _commits.count or latest[1] is None:
        return None  # nothing read yet, a change committed here since, or no token row at all
    return latest


def _assumed(engine: Engine, info: dict) -> tuple[int, str | None, bool] | None:
    """In :func:`optimistic`: the engine's latest token, marked as assumed, for a transaction that
    has not written a watched table (then only a read tells the token)."""
    latest = _assumable(engine)
    return None if latest is None or info.get(_WROTE) else (latest[0], latest[1], False)


def assumed_token(connection: Any) -> str | None:
    """The token a write on ``connection`` (see :func:`connection`) must check: the one this
    transaction assumed in :func:`optimistic`; None when it read its token (nothing to check)."""
    seen = connection.info.get(_SEEN)
    return seen[1] if seen is not None and not seen[2] else None


def refused(connection: Any, assumed: str) -> None:
    """A write that checked ``assumed`` wrote nothing: raise :class:`Stale` if the token is no
    longer ``assumed`` (else the write had another reason, and the caller deals with it)."""
    seen = connection.info[_SEEN] = _read_noting(connection.engine, connection.connection)
    if seen[1] != assumed:
        raise Stale()


def cached(name: str, load: Callable[[], T], *, in_session: bool = True) -> T:
    """``load()``, kept per app under ``name`` while the definitions revision stays the same.

    ``load`` must read only tables of ``WATCHED`` and return something immutable that holds no ORM
    object (those belong to one session); it runs in the request's session.
    """
    own = _OWN.get()
    session = _session(in_session) if own is None else None
    if session is not None and _changing_definitions(session):
        return load()  # this session is changing them: it reads its own changes, and keeps nothing
    current = _token(session) if own is None else _connection_token(own)
    if current is None:
        return load()
    slots: dict[str, tuple[str, Any]] = current_app.extensions["qunti"].definitions
    slot = slots.get(name)
    if slot is not None and slot[0] == current:
        return slot[1]
    # No autoflush: a flush now could write a watched table after the token was read (nothing is
    # pending for one, checked above), and callers in the middle of a transition expect no flush.
    with db.session.no_autoflush:
        value = load()
    slots[name] = (current, value)  # one assignment: concurrent requests at worst load it twice
    return value


def _changing_definitions(session) -> bool:
    """Whether ``session`` holds unflushed changes to rows of a watched table."""
    if not has_changes(session):
        return False  # the usual case, told cheaply
    return any(getattr(type(obj), "__tablename__", None) in WATCHED
               for pending in (session.new, session.dirty, session.deleted) for obj in pending)


# --- when the token a transaction saw goes out of date -------------------------------------------
# A transaction keeps the token it read until it ends, writes a watched table itself, or another
# transaction of this process commits such a write (then it reads the token again, so a change made
# through another session, as tests and commands do, is seen at once; other processes see it from
# their next transaction).

class _Commits:
    """How many transactions of this process committed a write to a watched table."""

    count = 0


_commits = _Commits()


def _forget(info: dict) -> None:
    info.pop(_SEEN, None)


def _writes_watched(context, statement: str) -> bool:
    compiled = getattr(context, "compiled", None)
    element = getattr(compiled, "statement", None)
    if element is None or isinstance(element, (TextClause, ExecutableDDLElement)):
        return statement[:40].lstrip()[:6].upper() != "SELECT"  # it may have written anything
    # A Core or ORM statement: the tables it writes, itself or in a WITH.
    written = [element] if element.is_dml else []
    written += [cte.element for cte in getattr(compiled, "ctes", None) or () if cte.element.is_dml]
    return any(getattr(dml.table, "name", None) in WATCHED for dml in written)


@event.listens_for(Engine, "after_cursor_execute")
def _after_write(connection, _cursor, statement, _parameters, context, _executemany) -> None:
    """A write to a watched table replaced the token (by trigger) in this transaction."""
    if _writes_watched(context, statement):
        info = connection.info
        _forget(info)
        info[_WROTE] = True


@event.listens_for(Engine, "commit")
def _committed(connection) -> None:
    info = connection.info
    if info.pop(_WROTE, False):
        _commits.count += 1
    _forget(info)


@event.listens_for(Engine, "rollback")
@event.listens_for(Engine, "rollback_savepoint")
def _rolled_back(connection, *_args) -> None:
    # After a savepoint's rollback the transaction may still have written before it: keep _WROTE.
    _forget(connection.info)
    if not _args:
        connection.info.pop(_WROTE, None)


@event.listens_for(Pool, "checkout")
def _checked_out(_dbapi_connection, record, _proxy) -> None:
    # Whatever the last user of this connection saw belongs to a transaction that is over.
    _forget(record.info)
    record.info.pop(_WROTE, None)


def read_on_checkout(engine: Engine) -> None:
    """PostgreSQL: read the token each time the pool hands out a connection, in autocommit, as the
    pool's liveness check (instead of ``pool_pre_ping``'s empty statement). A request then needs no
    round trip of its own for the token: a form page makes none. A connection the server dropped
    fails the read and is replaced, as with the ping. Runs after :func:`_checked_out` (listeners on
    the Pool class come before a pool's own).

    In :func:`optimistic` the read is skipped when the connection's socket shows the server has not
    closed it (``qunti.db.quiet``): the request's INSERT checks the token, so its only statement is
    that INSERT."""
    dialect = engine.dialect
    errors = dialect.loaded_dbapi.Error
    _latest[engine] = (-1, None)  # nothing read yet

    @event.listens_for(engine.pool, "checkout")
    def _read_token(dbapi_connection, record, _proxy) -> None:
        if _assumable(engine) is not None and quiet(dbapi_connection):
            return  # the token is assumed when asked for (see _token)
        try:
            record.info[_SEEN] = _read_noting(engine, dbapi_connection)
        except errors as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError() from exc
            # No table yet (a database before its migrations): nothing is cached.
