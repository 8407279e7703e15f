"""The database handle and the declarative base every model uses; and the few tools the submission
hot path uses to talk to the driver more directly (rows for Core, statements run rendered, a lone
statement in autocommit, a connection's liveness without a round trip)."""
from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.orm.attributes import instance_dict

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={datetime: DateTime(timezone=True), dict[str, Any]: JSONType, list[Any]: JSONType})


db = SQLAlchemy(model_class=Base)

M = TypeVar("M")


def core_row(model: type[M], **values: Any) -> M:
    """A new ``model`` object holding ``values``, for a row that is written with Core and then, if
    at all, attached as stored (``make_transient_to_detached``): the submission hot path. Its
    values go straight into the object's dict, without the attribute events (history, backrefs)
    the ORM's constructor runs for each, which a row never flushed by the ORM does not need; they
    cost more than the rest of building an order. A relationship given here is only read back
    (``event.order``): its other side is not filled in, and the ORM would not write it."""
    row = model.__mapper__.class_manager.new_instance()
    instance_dict(row).update(values)
    return row


def core_set(row: Any, **values: Any) -> None:
    """Set ``values`` on a row of :func:`core_row` the same way, straight into its dict: for the
    ids and numbers the submission hot path learns as it writes (an attribute event costs more
    than the rest of setting them)."""
    instance_dict(row).update(values)


def has_changes(session: Any) -> bool:
    """Whether ``session`` may hold unflushed changes: new, deleted or modified objects. Cheap
    (``Session.dirty`` looks at every object); an object changed back to its old value counts."""
    return bool(session.new or session.deleted or session.identity_map.check_modified())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored moment, aware: SQLite hands them back naive even from timezone-aware columns, and
    they were stored as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


_PQTRANS_IDLE = 0  # libpq's PQtransactionStatus: connected, no transaction


def _idle_status(driver_connection: Any) -> bool:
    """Whether a psycopg connection is connected and in no transaction (False for other drivers).
    Asked of its libpq connection: ``connection.info`` builds a new object and an enum each time,
    and this runs several times per submission."""
    pgconn = getattr(driver_connection, "pgconn", None)  # psycopg 3's (psycopg2 has none)
    return pgconn is not None and pgconn.transaction_status == _PQTRANS_IDLE


def _idle(driver_connection: Any) -> bool:
    return _idle_status(driver_connection) and not driver_connection.autocommit


@contextmanager
def statement_alone(dbapi_connection: Any, wanted: bool = True) -> Iterator[bool]:
    """Run the statements of the block in autocommit, each one atomic on its own, when ``wanted``
    and the connection (a DBAPI connection, pooled or not) is psycopg's with no transaction begun:
    then BEGIN and COMMIT are not sent, two round trips of the three a one-statement transaction
    costs. Yields whether it does. The caller's transaction is not affected: SQLAlchemy's commit or
    rollback afterwards finds nothing to end, and the next statement outside the block begins one.
    Use it only where the block's statements need no transaction around them: one statement that
    writes, or reads whose results need not be consistent with each other."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    alone = wanted and _idle(driver)
    if not alone:
        yield False
        return
    driver.autocommit = True
    try:
        yield True
    finally:
        if _idle_status(driver):
            driver.autocommit = False
        # else the connection broke mid-statement; the pool discards it when it is given back


def quiet(dbapi_connection: Any) -> bool:
    """Whether an idle psycopg connection's socket has nothing to read: the server has sent nothing,
    so it has not ended the connection (a restart, an idle timeout and ``pg_terminate_backend`` all
    send an error and close the socket, which makes it readable). No round trip: a local check that
    the connection is not known to be dead. False for other drivers and on any doubt."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if not _idle_status(driver):
        return False
    try:
        socket = driver.pgconn.socket
    except Exception:  # noqa: BLE001 - a closed or broken connection: not quiet
        return False
    poller = select.poll()
    poller.register(socket, select.POLLIN)  # errors and hang-ups are always reported as well
    return not poller.poll(0)


# (statement, driver) -> the statement's SQL as that driver takes it, its fixed parameter values,
# and the parameters' names in order where the driver takes them by position (SQLite's).
_RENDERED: dict[tuple[Any, str], tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}


def run_rendered(connection: Any, statement: Any, parameters: dict[str, Any]) -> list[tuple]:
    """The rows of a Core ``statement`` run on ``connection`` (a SQLAlchemy Connection) by the
    driver's own cursor, its SQL rendered once per driver. For statements built once and run on
    every submission: there SQLAlchemy's execution (the statement's cache key, worked out anew each
    time, its events, its result set-up) costs more than the round trip. Only for parameters and
    results the driver converts itself (text, numbers, None), and no IN with an expanding
    parameter (give it literals). The statement's own values (its literals) come along."""
    dialect = connection.dialect
    key = (statement, dialect.driver)
    if key not in _RENDERED:
        compiled = statement.compile(dialect=dialect)
        fixed = {name: bind.value for bind, name in compiled.bind_names.items() if not bind.required}
        _RENDERED[key] = (str(compiled), fixed, tuple(compiled.positiontup) if compiled.positional else None)
    sql, fixed, positions = _RENDERED[key]
    values = {**fixed, **parameters}
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, values if positions is None else tuple(values[name] for name in positions))
        return cursor.fetchall()
    finally:
        cursor.close()
