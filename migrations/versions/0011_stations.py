"""服务站: profiles, 七有 inspections, resource agreements (placeholder, filled by the station work)

Revision ID: 0011_stations
Revises: 0010_stats_rollup
Create Date: 2026-11-27
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = '0011_stations'
down_revision = '0010_stats_rollup'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
