"""plugins: which plugins are enabled; brand activities and their sign-ups

Revision ID: 0004_plugins
Revises: 0004_order_applicant_key
Create Date: 2026-11-27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_plugins'
down_revision = '0004_order_applicant_key'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('plugin_state',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=60), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plugin_state'))
    )
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plugin_id', sa.String(length=40), nullable=False),
    sa.Column('type_id', sa.String(length=64), nullable=False),
    sa.Column('organization', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signup_deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('station_code', sa.String(length=40), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('taken', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('taken >= 0 AND taken <= capacity', name=op.f('ck_activity_seats')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_activity_created_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['station_code'], ['station.code'], name=op.f('fk_activity_station_code_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_organization'), ['organization', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_plugin_id'), ['plugin_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_status'), ['status', 'starts_at'], unique=False)

    op.create_table('activity_signup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('phone_key', sa.String(length=64), nullable=True),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_signup_activity_id_activity')),
    sa.ForeignKeyConstraint(['checked_in_by_user_id'], ['user_account.id'], name=op.f('fk_activity_signup_checked_in_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_activity_signup_submission_id_submission')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_activity_signup_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_signup')),
    sa.UniqueConstraint('activity_id', 'phone_key', name=op.f('uq_activity_signup_activity_id_phone_key')),
    sa.UniqueConstraint('submission_id', name=op.f('uq_activity_signup_submission_id'))
    )
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_signup_activity_id'), ['activity_id', 'status', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_signup_activity_id'))

    op.drop_table('activity_signup')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_status'))
        batch_op.drop_index(batch_op.f('ix_activity_plugin_id'))
        batch_op.drop_index(batch_op.f('ix_activity_organization'))

    op.drop_table('activity')
    op.drop_table('plugin_state')
