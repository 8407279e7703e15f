"""四库: 需求收集库 (demands), 问题清单库 (problems), 任务销号库 (tasks) and 文字资料库 (documents).

Staff pages under ``/ledgers``; every page is guarded by
:func:`qunti.accounts.access.login_required_role` and reads orders through
:func:`qunti.accounts.access.scope_orders`. Lists page by keyset (:mod:`qunti.ledgers.keyset`).
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ledgers", __name__, url_prefix="/ledgers")


def blueprints() -> list[Blueprint]:
    """The ledgers blueprint with its routes attached."""
    from qunti.ledgers import demands, documents, problems, tasks, views  # noqa: F401  (routes)
    return [bp]
