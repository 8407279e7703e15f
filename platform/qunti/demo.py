"""Demo content for a fresh installation: a few realistic submissions so pages are not empty."""
from __future__ import annotations

from sqlalchemy import func, select

from qunti import intake
from qunti.db import db
from qunti.forms.models import Submission
from qunti.forms.registry import current_version, version_schema
from qunti.menu.queries import enabled_items


def load_demo() -> str:
    """Create demo content once; running it again changes nothing."""
    from qunti.accounts.demo import DEMO_PASSWORD, load_demo_accounts
    from qunti.stations.demo import load_demo_stations
    # Accounts and stations first: they are checked one by one, so an older installation that
    # already has submissions still gets the accounts it lacks.
    accounts = load_demo_accounts()
    db.session.commit()
    stations = load_demo_stations()  # profiles, 七有 inspections and agreements of the demo stations
    db.session.commit()
    note = f"演示账号 {accounts} 个（密码 {DEMO_PASSWORD}）。" if accounts else ""
    note += f"服务站档案、检查和协议 {stations} 项。" if stations else ""
    if db.session.scalar(select(func.count()).select_from(Submission)):
        return ("已补建" + note) if note else "演示数据已存在，未做改动。"
    created = 0
    for item in enabled_items()[:5]:
        version = current_version(item.form_id)
        examples = version_schema(version).get("examples") or []
        if examples:
            intake.accept(version, examples[0], channel="online", service_item_code=item.code, commit=False)
            created += 1
    db.session.commit()
    return f"已载入演示数据：{created} 条服务申请。" + note
