"""admin catalog: rule-set versions published from the admin console

Revision ID: 0007_admin_catalog
Revises: 0005_audit
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0007_admin_catalog'
down_revision = '0005_audit'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ruleset_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruleset_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruleset_version')),
    # Also the index of "the newest version of a rule set", read on every dispatch.
    sa.UniqueConstraint('ruleset_id', 'number', name=op.f('uq_ruleset_version_ruleset_id_number'))
    )


def downgrade():
    op.drop_table('ruleset_version')
