"""Demo accounts for every role and the three demo stations of the source report.

Idempotent: a run creates what is missing and changes nothing that exists (a password an admin
changed stays changed). Every demo account has the password :data:`DEMO_PASSWORD`.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from qunti.accounts.models import User
from qunti.db import db
from qunti.directory.models import Station, Unit

DEMO_PASSWORD = "qunti-demo-2016"


@dataclass(frozen=True)
class DemoStation:
    code: str
    name: str
    community: str
    kind: str
    lead_organization: str
    subdistrict_unit: str
    address: str


# The three demo stations named in the source; codes are the ones forms and rules already use.
STATIONS = (
    DemoStation("gangcheng", "港城工业园区群团服务站", "港城社区", "new", "union", "cuntan",
                "江北区寸滩街道港城工业园区"),
    DemoStation("shizishan", "石子山青年创业社区群团服务站", "石子山社区", "new", "league", "wulidian",
                "江北区五里店街道石子山青年创业社区"),
    DemoStation("heyun", "和韵家园群团服务站", "和韵家园社区", "center", "women", "yuzui",
                "江北区鱼嘴镇和韵家园安置房小区党群服务中心"),
)

# Unit kinds whose units get a demo handler: every unit an order can be routed to and worked in.
HANDLER_KINDS = ("organization", "department", "subdistrict", "social", "district")
ORGANIZATION_NAMES = {"union": "区总工会", "league": "团区委", "women": "区妇联"}
BRANDS = {"union": "情系职工", "league": "新青荟", "women": "巾帼桥"}


def _ensure_stations() -> None:
    for s in STATIONS:
        if db.session.get(Station, s.code) is None:
            db.session.add(Station(code=s.code, name=s.name, community=s.community, kind=s.kind,
                                   lead_organization=s.lead_organization, subdistrict_unit=s.subdistrict_unit,
                                   address=s.address))
    db.session.flush()


def demo_accounts() -> list[dict[str, str | None]]:
    """Every demo account as (username, display name, role, binding), stations and units included."""
    accounts: list[dict[str, str | None]] = [
        {"username": "13900000001", "display_name": "演示居民", "role": "resident", "phone": "13900000001"},
        {"username": "admin", "display_name": "系统管理员", "role": "sys_admin"},
        {"username": "dispatcher", "display_name": "联席会派单员", "role": "dispatcher"},
    ]
    for s in STATIONS:
        accounts.append({"username": f"station-{s.code}", "display_name": f"{s.name}工作人员",
                         "role": "station_staff", "station_code": s.code})
    for org, name in ORGANIZATION_NAMES.items():
        accounts.append({"username": f"orgadmin-{org}", "display_name": f"{name}管理员",
                         "role": "org_admin", "organization": org})
        accounts.append({"username": f"brand-{org}", "display_name": f"{BRANDS[org]}品牌负责人",
                         "role": "brand_lead", "organization": org})
    units = db.session.scalars(select(Unit).where(Unit.kind.in_(HANDLER_KINDS)).order_by(Unit.code))
    for unit in units:
        accounts.append({"username": f"handler-{unit.code}", "display_name": f"{unit.name}办单员",
                         "role": "handler", "unit_code": unit.code})
    return accounts


def load_demo_accounts() -> int:
    """Create the demo stations and accounts that are missing; returns accounts created.

    Units come from rules/units.json through ``qunti sync``, which runs first."""
    _ensure_stations()
    existing = set(db.session.scalars(select(User.username)))
    created = 0
    for account in demo_accounts():
        if account["username"] in existing:
            continue
        user = User(**account)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        created += 1
    db.session.flush()
    current_app.logger.info("demo accounts created: %s", created)
    return created
