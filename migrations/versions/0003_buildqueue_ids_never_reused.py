"""buildqueue: ids are never reused on SQLite either

A slave knows its job as "<build id>-<queue id>"; if SQLite handed a
deleted queue entry's id to a new one, a slave still holding the old
job would look sane.  PostgreSQL sequences never go back, so only
SQLite changes: the table is rebuilt with AUTOINCREMENT.

Revision ID: 0003_buildqueue_ids
Revises: 0002_dispatch
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_buildqueue_ids'
down_revision = '0002_dispatch'
branch_labels = None
depends_on = None


def _rebuild(autoincrement):
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
            "buildqueue", recreate="always",
            table_kwargs={"sqlite_autoincrement": autoincrement}) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Integer())


def upgrade():
    _rebuild(True)


def downgrade():
    _rebuild(False)
