"""点单: turning a resident's validated answers into a stored submission with a tracking number.

This is the seam where the order cycle starts: every path that accepts answers (the resident page,
the station's walk-in page, the JSON API) goes through :func:`accept`.
"""
from __future__ import annotations

import functools
import hmac
import json
import secrets
from datetime import date, datetime
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import String, Text, bindparam, cast, exists, func, insert, literal_column, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from qunti import revision
from qunti.db import core_row, core_set, db, has_changes, run_rendered, statement_alone, utcnow
from qunti.forms.models import FormVersion, Submission

CHANNELS = {"online": "网上", "qr": "扫码", "station": "站点代办", "phone": "电话"}
# No 0/O or 1/I/L: a tracking number is read aloud over the phone and typed on small keyboards.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_tracking_number(now: datetime | None = None) -> str:
    now = now or datetime.now()
    # Six letters drawn as one number below 31**6: one call to the system's random source, not six.
    draw, tail = secrets.randbelow(len(_ALPHABET) ** 6), []
    for _ in range(6):
        draw, index = divmod(draw, len(_ALPHABET))
        tail.append(_ALPHABET[index])
    return f"{current_app.config['TRACKING_PREFIX']}{now:%y%m%d}{''.join(tail)}"


def normalize_phone(phone: Any) -> str:
    """The digits of a phone number as typed (spaces, dashes, +86 and full-width digits aside)."""
    return "".join(ch for ch in str(phone or "") if ch.isdigit())[-11:]


def keyed_hash(message: str) -> str:
    """HMAC-SHA256 of ``message`` under the app's secret key, in hex: for phone numbers kept only
    as hashes. (One call into OpenSSL: a submission hashes its phone twice.)"""
    return hmac.digest(current_app.config["SECRET_KEY"].encode(), message.encode(), "sha256").hex()


def phone_hash(tracking_number: str, phone: str) -> str:
    """Keyed hash of the contact phone, bound to one tracking number (never stored in clear here)."""
    return keyed_hash(f"{tracking_number}:{normalize_phone(phone)}")


def phone_matches(submission: Submission, phone: str) -> bool:
    if not submission.phone_hash or not normalize_phone(phone):
        return False
    return hmac.compare_digest(submission.phone_hash, phone_hash(submission.tracking_number, phone))


_SUBMISSION = Submission.__table__
# Built once per dialect (constructing a statement costs more than running it on this hot path). A
# tracking number already taken inserts nothing and returns no id, so the number is drawn again with
# no SELECT first and no error to recover from: a failed INSERT cannot simply be caught, as on
# SQLite (pysqlite) a SAVEPOINT opened before any write is the outermost transaction and its RELEASE
# commits, which would store the submission even if its order then failed.
_INSERT_SUBMISSION = {
    name: module.insert(_SUBMISSION).on_conflict_do_nothing(index_elements=[_SUBMISSION.c.tracking_number])
    .returning(_SUBMISSION.c.id)
    for name, module in (("postgresql", postgresql), ("sqlite", sqlite))}
_WRITTEN = ("tracking_number", "form_version_id", "service_item_code", "answers", "channel", "phone_hash",
            "created_at")


def _draw_number(submission: Submission, phone: Any, order: Any = None) -> None:
    number = new_tracking_number()
    core_set(submission, tracking_number=number, phone_hash=phone_hash(number, phone) if phone else None)
    if order is not None:
        core_set(order, number=number)  # an order is known by its submission's number


def _insert_submission(submission: Submission, phone: Any, order: Any) -> None:
    """INSERT the new ``submission``, drawing its number again (and its order's) while it is taken;
    then it joins the session as the stored row it is (every column set: nothing to SELECT)."""
    statement = _INSERT_SUBMISSION[db.session.get_bind().dialect.name]
    for _attempt in range(5):
        stored = db.session.execute(statement, {c: getattr(submission, c) for c in _WRITTEN}).scalar()
        if stored is not None:
            _stored(submission, stored)
            return
        _draw_number(submission, phone, order)
    raise RuntimeError("no unused tracking number after 5 draws")


def _stored(row: Any, row_id: int) -> None:
    core_set(row, id=row_id)
    make_transient_to_detached(row)  # columns left to their defaults load when first read
    db.session.add(row)


def _row(row: Any) -> dict[str, Any]:
    """Every column of a new model object but its id, as Core would INSERT it: the value set, else
    the column's default (scalars and plain callables are all these tables have), else NULL (a JSON
    column set to None, too: SQL NULL, where Core would write JSON null; both read back as None)."""
    values = vars(row)
    out = {}
    for key, default in _defaults(type(row)):
        if key in values:
            out[key] = values[key]
        else:
            out[key] = default() if callable(default) else default
    return out


@functools.cache
def _defaults(model: type) -> tuple[tuple[str, Any], ...]:
    """(column key, its default: a value, or a callable of no arguments) for every column but the
    id, worked out once per model (this runs for every row of every submission)."""
    out = []
    for column in model.__table__.columns:
        if column.key == "id":
            continue
        default = column.default
        if default is None:
            out.append((column.key, None))
        elif default.is_callable:
            out.append((column.key, functools.partial(default.arg, None)))  # SQLAlchemy's takes a context
        elif default.is_scalar:
            out.append((column.key, default.arg))
        else:
            raise TypeError(f"{column}: default {default!r} cannot be computed here")
    return tuple(out)


def _json(value: Any) -> str:
    """``value`` (a row of :func:`_row`: answers, dates and times in it) as JSON text."""
    try:
        # Dates and aware times as ISO 8601, which PostgreSQL reads back exactly.
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # What orjson refuses and JSON allows: an integer beyond 64 bits in the answers.
        return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _rows_of(table: Any, parameter: str, name: str, *, many: bool = False) -> Any:
    """The rows of ``table`` given as one JSON parameter, typed by PostgreSQL itself. Columns are
    read by name (no column list after the alias: the table's order in the database is the order
    migrations added them, not the model's); ``ordinality`` numbers the rows of a list."""
    populate = func.jsonb_populate_recordset if many else func.jsonb_populate_record
    rows = populate(literal_column(f"NULL::{table.name}"), cast(bindparam(parameter, type_=Text), JSONB))
    return rows.table_valued(*[c.key for c in table.c], with_ordinality="ordinality" if many else None) \
        .alias(name)


@functools.cache
def _insert_all() -> Any:
    """PostgreSQL: the submission, its order and the order's events in one statement, one round trip
    instead of three. Each table's rows come as one JSON parameter (``submission``, ``order``,
    ``events``; see :func:`_row`) and ``jsonb_populate_record`` gives every value its column's
    type: three parameters, so the driver keeps the statement prepared. A tracking number already
    taken inserts none of them and returns no row (then the number is drawn again, as in
    :func:`_insert_submission`); else one row per event: (submission id, order id, event id). The
    events get their ids in the order given (the 点单 event the smaller one: Order.events is ordered
    by id). A fourth parameter, ``assumed_token``, is the definitions token the rows were worked out
    under when it was not read first (see qunti.revision.optimistic): then nothing is inserted
    unless it is still the current one; NULL checks nothing."""
    from qunti.orders.models import Order, OrderEvent

    order_table, event_table = Order.__table__, OrderEvent.__table__
    given = _rows_of(_SUBMISSION, "submission", "given_submission")
    names = [c.key for c in _SUBMISSION.c if c.key != "id"]
    assumed = cast(bindparam("assumed_token", type_=Text), String)
    current = revision.DefinitionsRevision.__table__
    unchanged = or_(assumed.is_(None),
                    exists().where(current.c.id == literal_column("1"), current.c.token == assumed))
    submission = postgresql.insert(_SUBMISSION).from_select(
        names, select(*[given.c[n] for n in names]).where(unchanged)) \
        .on_conflict_do_nothing(index_elements=[_SUBMISSION.c.tracking_number]) \
        .returning(_SUBMISSION.c.id).cte("new_submission")
    given = _rows_of(order_table, "order", "given_order")
    names = [c.key for c in order_table.c if c.key not in ("id", "submission_id")]
    order = insert(order_table).from_select(
        ["submission_id", *names],
        select(submission.c.id, *[given.c[n] for n in names]).select_from(submission).join(given, true())) \
        .returning(order_table.c.id).cte("new_order")
    given = _rows_of(event_table, "events", "given_events", many=True)
    names = [c.key for c in event_table.c if c.key not in ("id", "order_id")]
    events = insert(event_table).from_select(
        ["order_id", *names], select(order.c.id, *[given.c[n] for n in names]).select_from(order)
        .join(given, true()).order_by(given.c.ordinality)) \
        .returning(event_table.c.id, event_table.c.order_id).cte("new_events")
    return select(submission.c.id, events.c.order_id, events.c.id).select_from(submission).join(events, true())


def _store_all(submission: Submission, phone: Any, order: Any, events: list[Any], *, commit: bool) -> None:
    """Write the new submission, its order and their events with :func:`_insert_all`, on
    :func:`qunti.revision.connection`: the session's, or in ``revision.optimistic`` a pooled
    connection of the submission's own.

    When that statement is all this transaction writes (``commit``: it ends with this submission;
    nothing else written or pending; no webhook outbox row to go with it), it runs in autocommit:
    a single statement is atomic on its own, and BEGIN and COMMIT would be two more round trips.
    The new rows are then not put in the session: the caller commits at once and reads only the
    submission's id and tracking number, which stay set. On a connection of its own the
    submission must be such a statement (else it is written in the session, see
    ``revision.in_session_only``), and it is committed when this returns."""
    from qunti.integration import webhooks
    from qunti.orders.transitions import insert_new_order

    outbox = webhooks.subscribed(event.action for event in events)
    connection = revision.connection()
    own = connection is revision.own_connection()
    alone = commit and not outbox and not (db.session.registry.has() and has_changes(db.session))
    if own and not alone:
        revision.in_session_only(connection)

    order_row, event_rows = _row(order), _json([_row(event) for event in events])
    assumed = revision.assumed_token(connection)
    for _attempt in range(5):
        order_row["number"] = order.number
        with statement_alone(connection.connection, alone) as autocommitted:
            # Its parameters are text, its results plain integers: nothing to convert either way.
            found = run_rendered(connection, _insert_all(), {
                "submission": _json(_row(submission)), "order": _json(order_row), "events": event_rows,
                "assumed_token": assumed})
        if not found and assumed is not None:
            revision.refused(connection, assumed)  # Stale if the definitions changed: written nothing
            assumed = None  # the token was read just now and is the one assumed: the number was taken
        if found:
            if own and not autocommitted:
                connection.connection.commit()  # a transaction was open on it after all: end it here
            submission_id, order_id = found[0][0], found[0][1]
            if alone:
                core_set(submission, id=submission_id)  # committed already: nothing for the session to hold
            else:
                _stored(submission, submission_id)
            core_set(order, id=order_id, submission_id=submission_id)
            for event, event_id in zip(events, sorted(row[2] for row in found), strict=True):
                core_set(event, id=event_id, order_id=order_id)
            insert_new_order(order, events, written=True, attach=not alone, outbox=outbox,
                             committed=own or autocommitted)
            return
        _draw_number(submission, phone, order)
    raise RuntimeError("no unused tracking number after 5 draws")


def accept(version: FormVersion, answers: dict[str, Any], *, channel: str = "online",
           service_item_code: str | None = None, commit: bool = True, station_code: str | None = None,
           filed_by: Any = None, resident_user: Any = None) -> Submission:
    """Store ``answers`` (already validated against ``version``) and return the new submission.

    For a service item the order is created and routed by the dispatch rules in the same
    transaction: a submission is acknowledged only together with its order, never without it.
    ``filed_by`` is the station staff member filing on a resident's behalf, ``resident_user`` the
    resident's own account, if any.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    phone = answers.get("phone")
    own = revision.own_connection() is not None
    if own and service_item_code is None:
        raise revision.RunAgain()  # a submission without an order is written in the session
    try:
        submission = core_row(Submission, form_version_id=version.id, service_item_code=service_item_code,
                              answers=answers, channel=channel, created_at=utcnow())
        _draw_number(submission, phone)
        order, events = (None, []) if service_item_code is None else _open_order(
            submission, answers, station_code=station_code, filed_by=filed_by, resident_user=resident_user)
        # Nothing is written before routing is done: on SQLite the write lock is held from the first
        # INSERT to the commit, so the writes come last and all together.
        if order is not None and (own or db.session.get_bind().dialect.name == "postgresql"):
            _store_all(submission, phone, order, events, commit=commit)
        else:
            _insert_submission(submission, phone, order)
            if order is not None:
                from qunti.orders.transitions import insert_new_order
                insert_new_order(order, events)
        stored_id, submission_number = submission.id, submission.tracking_number
        if not commit:
            db.session.flush()  # the caller's next statements see everything (webhook outbox rows too)
        elif not own:  # (on a connection of its own it is committed already; the session holds nothing)
            db.session.commit()
    except BaseException:
        if commit and not own:
            db.session.rollback()
        raise
    if commit:
        # A submission never changes once written: hand back the id and number it was stored with
        # instead of letting the commit's expiry make the caller's first read SELECT the row again.
        set_committed_value(submission, "id", stored_id)
        set_committed_value(submission, "tracking_number", submission_number)
    return submission


def _open_order(submission: Submission, answers: dict[str, Any], *, station_code: str | None,
                filed_by: Any, resident_user: Any) -> tuple[Any, list[Any]]:
    """The new submission's order, routed by the dispatch rules, and its first two events; none of
    them written yet (see :func:`qunti.orders.transitions.insert_new_order`)."""
    from qunti.menu.queries import menu_item
    from qunti.orders.dispatch import applicant_key, route_new_order
    from qunti.orders.models import Order
    from qunti.orders.transitions import SYSTEM, record_submission, resident_actor, staff_actor

    item = menu_item(submission.service_item_code)
    order = core_row(
        Order, number=submission.tracking_number, submission=submission,
        service_item_code=submission.service_item_code,
        state="submitted", channel=submission.channel, station_code=station_code,
        community=str(answers.get("community") or "")[:60],
        applicant_category=str(answers.get("applicantCategory") or "")[:20],
        applicant_key=applicant_key(answers.get("phone")),
        resident_user_id=resident_user.id if resident_user is not None else None,
        filed_by_user_id=filed_by.id if filed_by is not None else None,
        time_limit_days=item.time_limit_days if item is not None else 10)
    if filed_by is not None:
        actor = staff_actor(filed_by)
    elif resident_user is not None or answers.get("phone"):
        actor = resident_actor(order, resident_user)
    else:
        actor = SYSTEM
    order.updated_by = actor.label[:60]
    events = [record_submission(order, actor)]
    route_new_order(order, item, commit=False, unwritten=events)
    return order, events
