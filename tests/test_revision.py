"""The definitions revision: cached definitions follow every change, whoever makes it."""
from __future__ import annotations

import importlib.util
import os

import pytest
from sqlalchemy import event, func, select, text

from qunti import revision
from qunti.catalog import state
from qunti.db import db
from qunti.directory.models import Unit
from qunti.directory.units import units
from qunti.integration import webhooks
from qunti.integration.models import WebhookDelivery
from qunti.orders.models import Order

from conftest import ROOT
from order_helpers import answers_for


def _migration():
    path = ROOT / "migrations" / "versions" / "0013_definitions_revision.py"
    spec = importlib.util.spec_from_file_location("definitions_revision_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _token() -> str:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT token FROM definitions_revision WHERE id = 1")).scalar()


def _write_elsewhere(sql: str) -> None:
    """Commit ``sql`` the way another worker or host would: on a connection whose statements this
    process's SQLAlchemy never sees."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql)
        cursor.close()
        raw.commit()
    finally:
        raw.close()


def _triggers(connection) -> set[tuple[str, str]]:
    """(table, INSERT|UPDATE|DELETE) pairs that have a trigger."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(text(
            "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
            "WHERE trigger_name = 'qunti_definitions_changed'"))
        return {(table, what) for table, what in rows}
    rows = connection.execute(text("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))
    return {(table, what) for table, sql in rows for what in ("INSERT", "UPDATE", "DELETE")
            if "definitions_revision" in sql and f"AFTER {what} " in sql}


def test_every_watched_table_changes_the_token_on_every_write(ctx):
    assert tuple(revision.WATCHED) == tuple(_migration().WATCHED)
    with db.engine.connect() as connection:
        found = _triggers(connection)
    wanted = {(table, what) for table in revision.WATCHED for what in ("INSERT", "UPDATE", "DELETE")}
    assert wanted <= found, f"triggers missing (a migration recreated the table?): {sorted(wanted - found)}"


def test_a_write_changes_the_token_and_a_rollback_does_not(ctx):
    before = _token()
    db.session.get(Unit, "union").name = "区总工会（改）"
    db.session.flush()
    db.session.rollback()
    assert _token() == before
    db.session.get(Unit, "union").name = "区总工会（改）"
    db.session.commit()
    assert _token() != before


def test_a_change_made_elsewhere_is_used_from_the_next_transaction(ctx):
    assert units()["union"].active is True
    _write_elsewhere("UPDATE unit SET active = FALSE WHERE code = 'union'")
    db.session.rollback()  # the request ends; the next one starts
    assert units()["union"].active is False


def test_a_transaction_sees_its_own_change_and_a_rolled_back_one_is_never_served(ctx):
    assert units()["union"].active is True
    db.session.get(Unit, "union").active = False
    assert units()["union"].active is False  # pending, not flushed yet
    db.session.flush()
    assert units()["union"].active is False
    db.session.rollback()
    assert units()["union"].active is True


def test_routing_follows_a_unit_switched_off_on_another_host(app, client):
    def route() -> tuple[str, str | None]:
        response = client.post("/api/v1/forms/skills-training/submissions", json=answers_for(app, "S06"))
        assert response.status_code == 201, response.get_json()
        with app.app_context():
            placed = db.session.get(Order, response.get_json()["id"])
            return placed.state, placed.unit_code

    assert route() == ("dispatched", "union")
    with app.app_context():
        _write_elsewhere("UPDATE unit SET active = FALSE WHERE code = 'union'")
    assert route() == ("awaiting_dispatch", None)


def test_the_form_page_follows_an_item_renamed_on_another_host(app, client):
    assert "<h1>技能培训</h1>" in client.get("/services/S06").get_data(as_text=True)
    with app.app_context():
        _write_elsewhere("UPDATE service_item SET name = '技能提升班' WHERE code = 'S06'")
    page = client.get("/services/S06").get_data(as_text=True)
    assert "<h1>技能提升班</h1>" in page and "<h1>技能培训</h1>" not in page
    with app.app_context():
        _write_elsewhere("UPDATE service_item SET enabled = FALSE WHERE code = 'S06'")
    assert client.get("/services/S06").status_code == 404


def test_a_submission_on_warm_caches_reads_no_definition_table_and_the_token_at_most_once(app, client, monkeypatch):
    answers = answers_for(app, "S06")
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def remember(_connection, _cursor, statement, *_args):
        statements.append(statement)

    tokens_read, read = [], revision._read
    monkeypatch.setattr(revision, "_read", lambda connection: tokens_read.append(1) or read(connection))
    commits = revision._commits.count
    event.listen(engine, "before_cursor_execute", remember)
    try:
        assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and any(f" {table}" in s for table in revision.WATCHED)]
    assert reads == []
    # On PostgreSQL its INSERT checks the token itself (revision.optimistic): nothing reads it.
    assert len(tokens_read) == (0 if engine.dialect.name == "postgresql" else 1)
    # Writing a submission is no change to definitions: other transactions keep their token.
    assert revision._commits.count == commits
    with app.app_context():
        assert state().definitions  # the values are kept per app


# --- PostgreSQL: the token read is the pool's liveness check; a lone INSERT needs no BEGIN -------

needs_postgres = pytest.mark.skipif(not os.environ.get("QUNTI_DATABASE_URL", "").startswith("postgresql"),
                                    reason="needs QUNTI_DATABASE_URL pointing at PostgreSQL")


def _commands(monkeypatch) -> list[bytes]:
    """The transaction commands (BEGIN, COMMIT, ROLLBACK) psycopg sends from now on."""
    import psycopg

    sent: list[bytes] = []
    original = psycopg.Connection._exec_command

    def exec_command(self, command, *args, **kwargs):
        sent.append(bytes(command) if isinstance(command, (bytes, bytearray)) else str(command).encode())
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", exec_command)
    return sent


@pytest.mark.postgres
@needs_postgres
def test_a_pooled_connection_the_server_dropped_is_replaced_when_the_token_is_read(app, client):
    answers = answers_for(app, "S06")
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    with app.app_context():
        url = db.engine.url
    # The server ends every pooled connection (a restart, an idle timeout): the pool still holds them.
    # (Waiting until the backends are gone: a submission then finds their sockets closed, where it
    # skips the read, see revision.read_on_checkout.)
    import psycopg
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
                         autocommit=True) as admin:
        ended = admin.execute("SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert ended >= 1
    response = client.post("/api/v1/forms/skills-training/submissions", json=answers)
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2


@pytest.fixture
def hooked(make_app):
    """An app that may send webhooks to this machine, its client, and answers for S06."""
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True)
    return app, app.test_client(), answers_for(app, "S06")


def _refusals(monkeypatch) -> list[str]:
    """What each INSERT refused by its token check turned out to be from now on: "stale" (the
    definitions changed: worked out again) or "same" (the tracking number was taken)."""
    outcomes: list[str] = []
    original = revision.refused

    def refused(connection, assumed):
        try:
            original(connection, assumed)
        except revision.Stale:
            outcomes.append("stale")
            raise
        outcomes.append("same")

    monkeypatch.setattr(revision, "refused", refused)
    return outcomes


@pytest.mark.postgres
@needs_postgres
def test_a_submission_on_the_token_assumed_is_refused_after_a_change_and_worked_out_again(app, client, monkeypatch):
    answers = answers_for(app, "S06")
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    with app.app_context():
        _write_elsewhere("UPDATE unit SET active = FALSE WHERE code = 'union'")
    outcomes = _refusals(monkeypatch)
    response = client.post("/api/v1/forms/skills-training/submissions", json=answers)
    assert response.status_code == 201, response.get_json()
    assert outcomes == ["stale"]
    with app.app_context():
        placed = db.session.get(Order, response.get_json()["id"])
        assert (placed.state, placed.unit_code) == ("awaiting_dispatch", None)
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2  # the refused one wrote nothing
    # The token read then is assumed by the next one, which goes through at once.
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    assert outcomes == ["stale"]


@pytest.mark.postgres
@needs_postgres
def test_a_taken_tracking_number_under_the_token_assumed_is_drawn_again_not_worked_out_again(app, client, monkeypatch):
    from qunti import intake

    answers = answers_for(app, "S06")
    taken = client.post("/api/v1/forms/skills-training/submissions", json=answers).get_json()["trackingNumber"]
    draws = iter([taken, "JB999999FRESH0"])
    monkeypatch.setattr(intake, "new_tracking_number", lambda now=None: next(draws))
    outcomes = _refusals(monkeypatch)
    response = client.post("/api/v1/forms/skills-training/submissions", json=answers)
    assert response.status_code == 201 and response.get_json()["trackingNumber"] == "JB999999FRESH0"
    assert outcomes == ["same"]


@pytest.mark.postgres
@needs_postgres
def test_a_submission_is_one_statement_without_begin_or_commit_unless_it_writes_more(hooked, monkeypatch):
    app, client, answers = hooked
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    sent = _commands(monkeypatch)
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    assert b"BEGIN" not in sent and b"COMMIT" not in sent
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2
        # With a receiver subscribed, the outbox rows go in the same transaction as the order.
        webhooks.subscribe("http://127.0.0.1:9/hook", "*")
    sent.clear()
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    assert sent.count(b"BEGIN") == 1 and sent.count(b"COMMIT") == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 3
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2


@pytest.mark.postgres
@needs_postgres
def test_a_submission_works_on_a_pooled_connection_outside_the_session(app, client):
    from sqlalchemy.orm import Session

    answers = answers_for(app, "S06")
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    begun = []

    def listener(session, transaction, connection):
        begun.append(connection)

    event.listen(Session, "after_begin", listener)
    try:
        response = client.post("/api/v1/forms/skills-training/submissions", json=answers)
    finally:
        event.remove(Session, "after_begin", listener)
    assert response.status_code == 201
    assert begun == []  # no session transaction: a connection of its own, given back to the pool
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2


@pytest.mark.postgres
@needs_postgres
def test_a_submission_with_outbox_rows_goes_to_the_session_once_then_directly(hooked, monkeypatch):
    app, client, answers = hooked
    with app.app_context():
        webhooks.subscribe("http://127.0.0.1:9/hook", "*")
    sent_back = []
    original = revision.in_session_only

    def in_session_only(own):
        sent_back.append(own)
        original(own)

    monkeypatch.setattr(revision, "in_session_only", in_session_only)
    for _ in range(2):
        assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    assert len(sent_back) == 1  # the second knew at once, under the same definitions
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 4
        webhooks.subscribe("http://127.0.0.1:9/other", "order.rated")  # the definitions change
    assert client.post("/api/v1/forms/skills-training/submissions", json=answers).status_code == 201
    assert len(sent_back) == 2  # tried outside the session again, and sent back again


@pytest.mark.postgres
@needs_postgres
def test_statement_alone_only_outside_a_transaction_and_it_leaves_autocommit_off(ctx):
    from qunti.db import statement_alone

    connection = db.session.connection().connection
    with statement_alone(connection) as alone:
        assert alone and connection.driver_connection.autocommit
        connection.cursor().execute("SELECT 1")
    assert connection.driver_connection.autocommit is False
    db.session.execute(text("SELECT 1"))  # a transaction is open now
    with statement_alone(connection) as alone:
        assert not alone and not connection.driver_connection.autocommit
    with statement_alone(connection, wanted=False) as alone:
        assert not alone
    db.session.rollback()
