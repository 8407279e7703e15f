"""Card verifications per second over HTTP, against a bare Flask route serving a static page.

One gunicorn (same workers, loopback) serves both: the real Qunti app, where ``GET /verify/<token>``
checks the signature, reads the card, its membership and organization in one query and renders the
page; and, mounted beside it under ``/bare``, a bare Flask app returning that same page as a constant.
N client threads send a fixed number of GETs to each, in alternating rounds; the best round of each
counts. Target: verify/bare at least 0.5x. Every answer must be 200 and say 有效, or the script
exits non-zero.

Usage: python benchmarks/verify.py [--database-url URL] [--requests 1500] [--rounds 5] [--threads 8] [--workers 2]
Without --database-url it uses a fresh database ``qunti_bench_verify`` on the local PostgreSQL when
one answers, a SQLite file in a temporary folder otherwise. Everything stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import _util

ROOT = _util.ROOT
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/qunti_bench_verify"
STATIC_PAGE = "QUNTI_BENCH_STATIC_PAGE"


def served():
    """The WSGI app gunicorn runs: Qunti, with the bare baseline app mounted at /bare."""
    from flask import Flask, Response
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from qunti import create_app

    page = Path(os.environ[STATIC_PAGE]).read_bytes()
    bare = Flask("bare")

    @bare.get("/")
    def static_page():
        return Response(page, mimetype="text/html")

    return DispatcherMiddleware(create_app(), {"/bare": bare})


def prepare_card(env: dict[str, str]) -> tuple[str, bytes]:
    """A member with a valid card in the benchmark database: the verify path and its page."""
    from qunti import create_app
    from qunti.db import db
    from qunti.directory.models import Station
    from qunti.membership import cards, identity
    from qunti.membership.models import Member, Membership, Organization
    from qunti.orders import calendar

    app = create_app({"DATABASE_URL": env["QUNTI_DATABASE_URL"], "INSTANCE_PATH": env["QUNTI_INSTANCE_PATH"],
                      "SECRET_KEY": env["QUNTI_SECRET_KEY"]})
    with app.app_context():
        if db.session.get(Station, "gangcheng") is None:
            db.session.add(Station(code="gangcheng", name="港城工业园区群团服务站", community="港城社区",
                                   lead_organization="union"))
        db.session.add(Organization(code="bench-union", name="港城工业园区联合工会", kind="union",
                                    station_code="gangcheng"))
        id_number, phone = "500105199204183029", "15123456789"
        member = Member(person_key=identity.person_key(id_number), name="王小芳",
                        id_number_enc=identity.encrypt(id_number), phone_enc=identity.encrypt(phone),
                        phone_key=identity.phone_key(phone))
        db.session.add(member)
        db.session.flush()
        today = calendar.today()
        membership = Membership(member_id=member.id, organization_code="bench-union", kind="union",
                                number="GH26BENCH001", joined_on=today)
        db.session.add(membership)
        card = cards.issue_card(membership, today)
        db.session.commit()
        path = f"/verify/{cards.card_token(card)}"
        page = app.test_client().get(path)
        assert page.status_code == 200 and "有效" in page.get_data(as_text=True)
        db.engine.dispose()
        return path, page.data


def drive(port: int, path: str, count: int, threads: int) -> tuple[float, dict[int, int], int]:
    """GET ``path`` ``count`` times from ``threads`` clients; (seconds, status counts, pages without 有效)."""
    lock = threading.Lock()
    left = [count]
    statuses: dict[int, int] = {}
    wrong = [0]
    valid = "有效".encode()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                if response.will_close:
                    connection.close()  # gunicorn's sync workers close after each answer
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status, body = 0, b""
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if valid not in body:
                    wrong[0] += 1
        connection.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(600)
    return time.perf_counter() - start, statuses, wrong[0]


def main() -> int:
    from submit import Server, qunti  # the same gunicorn and database set-up as submit.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=1500, help="requests per round and route")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="qunti-verify-bench-"))
    url = args.database_url or (PG_DEFAULT if _util.fresh_postgres(PG_DEFAULT) else
                                "sqlite:///" + str(scratch / "bench.sqlite3"))
    env = {**os.environ, "QUNTI_DATABASE_URL": url, "QUNTI_INSTANCE_PATH": str(scratch / "instance"),
           "QUNTI_SECRET_KEY": "benchmark-secret", "QUNTI_LOAD_DEMO": "false",
           STATIC_PAGE: str(scratch / "page.html"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT / "benchmarks"),
                                          os.environ.get("PYTHONPATH", "")])}
    server = None
    ok = True
    try:
        qunti(env, "db", "upgrade")
        qunti(env, "sync")
        path, page = prepare_card(env)
        Path(env[STATIC_PAGE]).write_bytes(page)

        server = Server("verify:served()", env, args.workers, chdir=ROOT / "benchmarks")
        server.wait_ready("/bare/")
        best_verify = best_bare = 0.0
        for _ in range(args.rounds):
            for name, target in (("verify", path), ("bare", "/bare/")):
                seconds, statuses, wrong = drive(server.port, target, args.requests, args.threads)
                rate = args.requests / seconds
                if set(statuses) != {200} or wrong:
                    ok = False
                    print(f"{name} answers: {statuses}, {wrong} without 有效")
                if name == "verify":
                    best_verify = max(best_verify, rate)
                else:
                    best_bare = max(best_bare, rate)
        print(f"database: {url.split('://', 1)[0]}, gunicorn workers: {args.workers}, "
              f"client threads: {args.threads}, {args.requests} requests x {args.rounds} rounds per route")
        print(f"card verifications: {best_verify:.0f}/s (GET /verify/<token>: signature, one query, page)")
        print(f"bare static page:   {best_bare:.0f}/s (GET /bare/: constant bytes, same server)")
        print(f"ratio verify/bare: {best_verify / best_bare:.2f}x (target >= 0.5x)")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
