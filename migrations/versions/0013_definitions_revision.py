"""definitions revision: one token that database triggers replace whenever a definition table changes

Cached definitions (qunti.revision) are checked against this token, so a change is seen by every
worker and host from its next transaction on, whoever made it. On SQLite, a later migration that
recreates one of these tables (batch "move and copy") drops its triggers: create them again there
with ``_create_triggers`` of this file copied; tests/test_revision.py fails until then.

Revision ID: 0013_definitions_revision
Revises: 0012_order_followups
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0013_definitions_revision'
down_revision = '0012_order_followups'
branch_labels = None
depends_on = None

# Kept here, not imported from qunti.revision: a migration must not change when the code does.
WATCHED = ('service_item', 'form', 'ruleset_version', 'unit', 'calendar_day', 'webhook_subscription',
           'plugin_state')
_PG_TOKEN = "md5(random()::text || clock_timestamp()::text || txid_current()::text)"
_PG_FUNCTION = f"""
CREATE FUNCTION qunti_definitions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO definitions_revision (id, token) VALUES (1, {_PG_TOKEN})
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END
$$
"""
# SQLite runs a trigger's body with the conflict policy of the statement that fired it (an
# INSERT OR IGNORE would ignore ours), so the body is written to have no conflict at all.
_SQLITE_TOKEN = "lower(hex(randomblob(16)))"
_SQLITE_BODY = f"""
    UPDATE definitions_revision SET token = {_SQLITE_TOKEN} WHERE id = 1;
    INSERT INTO definitions_revision (id, token) SELECT 1, {_SQLITE_TOKEN}
        WHERE NOT EXISTS (SELECT 1 FROM definitions_revision WHERE id = 1);
"""


def _create_triggers(table):
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'CREATE TRIGGER qunti_definitions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE '
                   f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION qunti_definitions_changed()')
    else:
        for when in ('INSERT', 'UPDATE', 'DELETE'):
            op.execute(f'CREATE TRIGGER qunti_{table}_{when.lower()}_changes_definitions AFTER {when} '
                       f'ON "{table}" FOR EACH ROW BEGIN {_SQLITE_BODY} END')


def _drop_triggers(table):
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP TRIGGER IF EXISTS qunti_definitions_changed ON "{table}"')
    else:
        for when in ('insert', 'update', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS qunti_{table}_{when}_changes_definitions')


def upgrade():
    op.create_table(
        'definitions_revision',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('token', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_definitions_revision')))
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.execute(f"INSERT INTO definitions_revision (id, token) VALUES (1, {_PG_TOKEN if postgresql else _SQLITE_TOKEN})")
    if postgresql:
        op.execute(_PG_FUNCTION)
    for table in WATCHED:
        _create_triggers(table)


def downgrade():
    for table in WATCHED:
        _drop_triggers(table)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS qunti_definitions_changed()')
    op.drop_table('definitions_revision')
