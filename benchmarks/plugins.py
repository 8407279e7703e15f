"""What plugins cost a resident: the resident pages that exist whatever is switched on -- the
service menu ``/`` and a service form ``/services/S05`` -- rendered with every shipped plugin enabled
against all of them disabled, in one process and one app, the two states measured alternately so
machine noise hits both. Target: at least 0.8x.

Enabled, the menu also shows the brands' entries (hooks called per request); both states read the
enabled switch (one query per request) and check the form's owner. The activity list
``/activities/`` is measured too and printed on its own line, not in the target: with every plugin
off it is an empty page, so its ratio is the cost of the 17 activities the plugins add (one of
every activity type), not the plugins' overhead. Rates count CPU time of this process, best of
several alternating rounds, so other work on a shared machine does not decide the ratio.

Usage: python benchmarks/plugins.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from _util import ROOT  # also puts platform/ on sys.path

from qunti import create_app
from qunti.cli import prepare

SHIPPED = [str(ROOT / "plugins" / "brands"), str(ROOT / "plugins" / "stations")]
ACTIVITIES_PER_TYPE = 1
ROUNDS, SECONDS = 7, 0.4


def cpu_rate(fn: Callable[[], object], seconds: float = SECONDS) -> float:
    """Calls of ``fn`` per CPU-second of this process, over about ``seconds`` of CPU time."""
    calls, start = 0, time.process_time()
    while True:
        fn()
        calls += 1
        used = time.process_time() - start
        if used >= seconds:
            return calls / used


def _seed_activities(app) -> int:
    from qunti.activities.models import Activity
    from qunti.db import db

    catalog = app.extensions["qunti"].catalog
    now = datetime.now(timezone.utc)
    count = 0
    for kind in catalog.plugins.activity_types.values():
        plugin = catalog.plugins.get(kind.plugin_id)
        for n in range(ACTIVITIES_PER_TYPE):
            count += 1
            db.session.add(Activity(
                plugin_id=plugin.id, type_id=kind.id, organization=plugin.organization,
                title=f"{plugin.name}·{kind.name}第{n + 1}期", starts_at=now + timedelta(days=3 + count),
                signup_deadline=now + timedelta(days=2 + count), place="江北区群团服务站", capacity=30))
    db.session.commit()
    return count


def main() -> int:
    instance = tempfile.mkdtemp(prefix="qunti-bench-")
    app = create_app({"INSTANCE_PATH": instance, "SERVER_NAME": "bench.local", "PLUGINS_DIRS": SHIPPED})
    from qunti.plugins import set_enabled

    plugin_ids = list(app.extensions["qunti"].catalog.plugins.plugins)
    with app.app_context():
        prepare()
        activities = _seed_activities(app)

    def switch(on: bool) -> None:
        with app.app_context():
            for plugin_id in plugin_ids:
                set_enabled(plugin_id, on, changed_by="benchmark")

    client = app.test_client()
    resident_pages = ("/", "/services/S05")

    def pages() -> None:
        for page in resident_pages:
            assert client.get(page).status_code == 200

    def activity_list() -> None:
        assert client.get("/activities/").status_code == 200

    def sizes() -> list[int]:
        return [len(client.get(page).data) for page in (*resident_pages, "/activities/")]

    switch(True)
    on_sizes = sizes()
    switch(False)
    off_sizes = sizes()

    best = {True: 0.0, False: 0.0}
    best_list = {True: 0.0, False: 0.0}
    for _ in range(ROUNDS):
        for on in (True, False):
            switch(on)
            best[on] = max(best[on], cpu_rate(pages))
            best_list[on] = max(best_list[on], cpu_rate(activity_list))

    print(f"plugins: {len(plugin_ids)} shipped ({', '.join(plugin_ids)}), {activities} activities listed when enabled")
    print("page bytes enabled / disabled: " + "; ".join(
        f"{page} {on:,} / {off:,}" for page, on, off in zip((*resident_pages, "/activities/"), on_sizes, off_sizes)))
    print(f"activity list: {1000 / best_list[True]:.2f} ms with {activities} activities, "
          f"{1000 / best_list[False]:.2f} ms empty (all off) -- the content plugins add, not in the target")
    print(f"all enabled: {best[True]:,.0f} resident page sets/s ({' + '.join(resident_pages)})")
    print(f"all disabled: {best[False]:,.0f} resident page sets/s")
    ratio = best[True] / best[False]
    print(f"ratio enabled/disabled: {ratio:.2f}x (target >= 0.8x)")
    return 0 if ratio >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
