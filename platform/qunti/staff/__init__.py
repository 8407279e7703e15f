"""The staff side of the order cycle: station walk-in, the joint meeting's dispatch queue, the
handler workbench, the public 挂单销号 board and the evaluation report.

Every page here is guarded by :func:`qunti.accounts.access.login_required_role` and reads orders
only through :func:`qunti.accounts.access.scope_orders`.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")


def blueprints() -> list[Blueprint]:
    """The staff blueprint with its routes attached, and the public board."""
    from qunti.staff import actions, present, queue, reports, walkin, workbench  # noqa: F401  (routes)
    from qunti.staff.board import bp as board
    return [bp, board]
