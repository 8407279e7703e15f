"""服务站: the station pages of station staff and admins -- a station's profile and staffing check
(from its kind's station plugin), its 七有 inspections, and its 以空间换资源 / 以资源换资源 agreements.

Pages under ``/stations``; every one is guarded by :func:`qunti.accounts.access.login_required_role`
and reaches a station only through :func:`qunti.stations.access.station_in_scope`, so a station's
account sees and changes its own station only.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stations", __name__, url_prefix="/stations")


def blueprints() -> list[Blueprint]:
    """The stations blueprint with its routes attached."""
    from qunti.stations import agreements, inspections, profiles, views  # noqa: F401  (routes)
    return [bp]
