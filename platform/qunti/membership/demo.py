"""Demo grassroots organizations, one or two per demo station and a few without a station.

Idempotent like the demo accounts: a run creates what is missing and changes nothing that exists.
"""
from __future__ import annotations

from qunti.db import db
from qunti.directory.models import Station
from qunti.membership.models import Organization

# code, name, kind, station
ORGANIZATIONS = (
    ("gangcheng-union", "港城工业园区联合工会", "union", "gangcheng"),
    ("jiangbei-express-union", "江北区快递物流行业联合工会", "union", None),
    ("guanyinqiao-union", "观音桥商圈楼宇联合工会", "union", None),
    ("shizishan-league", "石子山青年创业社区团支部", "league", "shizishan"),
    ("jiangbei-new-youth-league", "江北区新兴领域青年团支部", "league", None),
)


def load_demo_organizations() -> int:
    """Create the demo organizations that are missing (stations that do not exist are left out)."""
    created = 0
    for code, name, kind, station in ORGANIZATIONS:
        if db.session.get(Organization, code) is None:
            if station is not None and db.session.get(Station, station) is None:
                station = None
            db.session.add(Organization(code=code, name=name, kind=kind, station_code=station))
            created += 1
    db.session.flush()
    return created
