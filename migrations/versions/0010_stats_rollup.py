"""基础统计的按日汇总表: order_day_summary, order_day_pending, stats_watermark; orders by updated_at

The summary starts empty and without a watermark: the first refresh (a dashboard read or
``qunti tick``) builds it from the orders.

Revision ID: 0010_stats_rollup
Revises: 0008_ledgers
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0010_stats_rollup'
down_revision = '0008_ledgers'
branch_labels = None
depends_on = None

_KEY = ('day', 'service_item_code', 'station_code', 'unit_code')


def _key_columns():
    return [sa.Column('day', sa.Date(), nullable=False),
            sa.Column('service_item_code', sa.String(length=16), nullable=False),
            sa.Column('station_code', sa.String(length=40), nullable=False),
            sa.Column('unit_code', sa.String(length=40), nullable=False)]


def upgrade():
    counts = ('orders', 'with_accept_by', 'responded', 'with_deadline', 'completed_on_time', 'rated', 'satisfied',
              'rating_sum')
    op.create_table(
        'order_day_summary', *_key_columns(),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counts],
        sa.PrimaryKeyConstraint(*_KEY, name=op.f('pk_order_day_summary')))
    with op.batch_alter_table('order_day_summary', schema=None) as batch_op:
        batch_op.create_index('ix_order_day_summary_station_day', ['station_code', 'day'], unique=False)
    op.create_table(
        'order_day_pending', *_key_columns(),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, 'kind', 'due_on', name=op.f('pk_order_day_pending')))
    with op.batch_alter_table('order_day_pending', schema=None) as batch_op:
        batch_op.create_index('ix_order_day_pending_due_day', ['due_on', 'day', 'service_item_code', 'station_code',
                                                               'unit_code', 'kind', 'orders'], unique=False)
    op.create_table(
        'stats_watermark',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('settled_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('build_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('built_through', sa.Date(), nullable=True),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_stats_watermark')))
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.create_index('ix_service_order_updated_at', ['updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.drop_index('ix_service_order_updated_at')
    op.drop_table('stats_watermark')
    with op.batch_alter_table('order_day_pending', schema=None) as batch_op:
        batch_op.drop_index('ix_order_day_pending_due_day')
    op.drop_table('order_day_pending')
    with op.batch_alter_table('order_day_summary', schema=None) as batch_op:
        batch_op.drop_index('ix_order_day_summary_station_day')
    op.drop_table('order_day_summary')
