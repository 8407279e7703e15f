"""The baseline of ``benchmarks/submit.py``: a bare Flask app that stores each POSTed JSON body as
one row of ``bench_row`` in the same database, served by the same gunicorn with the same workers.

``create_app()`` reads the database from QUNTI_DATABASE_URL; the driver creates the table first.
"""
from __future__ import annotations

import json
import os

from flask import Flask, request
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, event, insert

metadata = MetaData()
rows = Table("bench_row", metadata, Column("id", Integer, primary_key=True), Column("body", Text, nullable=False))


def engine_for(url: str):
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        # The same settings Qunti uses on SQLite, so both sides wait for the writer the same way.
        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
    return engine


def create_app() -> Flask:
    engine = engine_for(os.environ["QUNTI_DATABASE_URL"])
    app = Flask(__name__)

    @app.post("/rows")
    def add_row():
        body = request.get_data(as_text=True)
        json.loads(body)  # the real endpoint parses its body too
        with engine.begin() as connection:
            connection.execute(insert(rows).values(body=body))
        return {"ok": True}, 201

    return app
