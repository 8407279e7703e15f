"""Order follow-ups that plugins ask for after a transition (qunti_order_event)

Revision ID: 0012_order_followups
Revises: 0011_stations
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0012_order_followups'
down_revision = '0011_stations'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'order_followup',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('plugin_id', sa.String(length=60), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['order_event.id'], ),
        sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], ),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('order_followup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_followup_order_id'), ['order_id'], unique=False)


def downgrade():
    with op.batch_alter_table('order_followup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_followup_order_id'))
    op.drop_table('order_followup')
