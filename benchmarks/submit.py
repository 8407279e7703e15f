"""Submissions per second through the real stack, against a bare insert, side by side in one run.

Both apps run under gunicorn with the same workers on loopback ports: the real Qunti app
(``POST /api/v1/forms/<id>/submissions``: validate, store the submission, create and route its order,
two events, one transaction) and ``bare_insert_app`` (store the body as one row). N client threads
with keep-alive connections send a fixed number of requests to each, in alternating rounds.
Target: real/bare at least 0.5x. Afterwards the number of orders in the database must equal the
number of 201 answers, or the script exits non-zero.

Usage: python benchmarks/submit.py [--database-url URL] [--requests 400] [--rounds 4] [--threads 8] [--workers 2]
Without --database-url it uses a fresh database ``qunti_bench`` on the local PostgreSQL when one
answers, a SQLite file in a temporary folder otherwise. Everything stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _util
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

import bare_insert_app

ROOT = _util.ROOT
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/qunti_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qunti(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "qunti.cli", *args], env=env, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


class Server:
    """One gunicorn on a free loopback port, stopped by ``stop`` (always called)."""

    def __init__(self, app: str, env: dict[str, str], workers: int, chdir: Path | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                   "--log-level", "warning", "--timeout", "60"]
        if chdir is not None:
            command += ["--chdir", str(chdir)]
        self.process = subprocess.Popen([*command, app], env=env, start_new_session=True)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", path)
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def drive(port: int, requests: list[tuple[str, bytes]], threads: int) -> tuple[float, dict[int, int]]:
    """Send ``requests`` (path, JSON body) from ``threads`` keep-alive clients; (seconds, status counts)."""
    feed = iter(requests)
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        while True:
            with lock:
                item = next(feed, None)
            if item is None:
                break
            path, body = item
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()  # the server closed the connection: count it, open a new one
                status = 0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(600)
    return time.perf_counter() - start, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=400, help="requests per round and app")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4, help="the best round of each app counts")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="qunti-submit-bench-"))
    url = args.database_url or (PG_DEFAULT if _util.fresh_postgres(PG_DEFAULT) else
                                "sqlite:///" + str(scratch / "bench.sqlite3"))
    env = {**os.environ, "QUNTI_DATABASE_URL": url, "QUNTI_INSTANCE_PATH": str(scratch / "instance"),
           "QUNTI_SECRET_KEY": "benchmark-secret", "QUNTI_LOAD_DEMO": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")])}
    servers: list[Server] = []
    engine = bare_insert_app.engine_for(url)
    try:
        qunti(env, "db", "upgrade")
        qunti(env, "sync")
        bare_insert_app.metadata.create_all(engine)
        with engine.connect() as connection:
            orders_before = connection.execute(text("SELECT count(*) FROM service_order")).scalar_one()

        # One request per menu item's shipped example, round robin, each with its own phone.
        from qunti import catalog, settings
        loaded = catalog.load(settings.resolve(env["QUNTI_INSTANCE_PATH"]))
        examples = [(item["form"], loaded.forms[item["form"]].schema["examples"][0]) for item in loaded.menu]
        phones = (f"139{n:08d}" for n in itertools.count())

        def bodies(count: int) -> list[tuple[str, bytes]]:
            chosen = itertools.islice(itertools.cycle(examples), count)
            return [(form, json.dumps({**answers, "phone": next(phones)}, ensure_ascii=False).encode())
                    for form, answers in chosen]

        real = Server("qunti:create_app()", env, args.workers)
        servers.append(real)
        bare = Server("bare_insert_app:create_app()", env, args.workers, chdir=ROOT / "benchmarks")
        servers.append(bare)
        real.wait_ready("/api/v1/forms")
        bare.wait_ready("/")

        created, best_real, best_bare = 0, 0.0, 0.0
        for _ in range(args.rounds):
            batch = bodies(args.requests)
            seconds, statuses = drive(real.port, [(f"/api/v1/forms/{f}/submissions", b) for f, b in batch],
                                      args.threads)
            created += statuses.get(201, 0)
            best_real = max(best_real, args.requests / seconds)
            if set(statuses) != {201}:
                print(f"real app answers: {statuses}")
            seconds, statuses = drive(bare.port, [("/rows", b) for _f, b in batch], args.threads)
            best_bare = max(best_bare, args.requests / seconds)
            if set(statuses) != {201}:
                print(f"bare app answers: {statuses}")

        from qunti.orders.models import Order
        with engine.connect() as connection:
            orders = connection.execute(select(func.count()).select_from(Order.__table__)).scalar_one()
        orders -= orders_before
        dialect = make_url(url).get_backend_name()
        print(f"database: {dialect}; gunicorn -w {args.workers}; {args.threads} client threads; "
              f"{args.rounds} rounds x {args.requests} requests per app")
        print(f"real app (validate + submission + order + dispatch): {best_real:,.0f} requests/s")
        print(f"bare Flask app (one INSERT): {best_bare:,.0f} requests/s")
        print(f"201 answers: {created}; orders in the database: {orders}")
        ratio = best_real / best_bare
        print(f"ratio real/bare: {ratio:.2f}x (target >= 0.5x)")
        if orders != created:
            print("MISMATCH: orders in the database differ from 201 answers")
            return 1
        return 0 if ratio >= 0.5 else 2
    finally:
        for server in servers:
            server.stop()
        engine.dispose()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
