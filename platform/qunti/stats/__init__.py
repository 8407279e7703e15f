"""统一的基础信息统计: the district, organization and station dashboards (tables, SVG charts, CSV)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stats", __name__, url_prefix="/stats")


def blueprints() -> list[Blueprint]:
    """The statistics blueprint with its routes attached."""
    from qunti.stats import views  # noqa: F401  (routes)
    return [bp]
