"""基础统计的按日汇总表 (placeholder, filled by the statistics work)

Revision ID: 0010_stats_rollup
Revises: 0008_ledgers
Create Date: 2026-11-27
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = '0010_stats_rollup'
down_revision = '0008_ledgers'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
