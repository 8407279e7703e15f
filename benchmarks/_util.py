"""Shared helpers for the benchmark scripts: timing side by side, interleaved, in one process."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Let the scripts run from a checkout without installing (the README's install makes this a no-op).
if str(ROOT / "platform") not in sys.path:
    sys.path.insert(0, str(ROOT / "platform"))


def rate(fn: Callable[[], object], seconds: float = 0.4) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def compare(candidate: Callable[[], object], baseline: Callable[[], object], rounds: int = 5,
            seconds: float = 0.4) -> tuple[float, float]:
    """Best-of-``rounds`` rates of two functions measured alternately, so machine noise hits both."""
    best_c = best_b = 0.0
    for _ in range(rounds):
        best_c = max(best_c, rate(candidate, seconds))
        best_b = max(best_b, rate(baseline, seconds))
    return best_c, best_b


def fresh_postgres(url: str) -> bool:
    """Drop and create the database of ``url``; False (and a line saying why) when no PostgreSQL answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable PostgreSQL here"
        print(f"PostgreSQL not usable ({type(exc).__name__})")
        return False
    finally:
        admin.dispose()
