"""build step times: where a build's time went, as its slave's log says

A nullable JSON column on build, {step: seconds} of the step lines the
slave writes into the build log (common/steptimes.py), read by the
master as it collects the log.  Builds before it, and builds of slaves
that write no such line, have none.

Revision ID: 0015_build_step_times
Revises: 0014_archive_usage
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0015_build_step_times'
down_revision = '0014_archive_usage'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('build') as batch:
        batch.add_column(sa.Column('step_times', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('build') as batch:
        batch.drop_column('step_times')
