"""archive usage: builder-seconds per archive, decayed, for fair share

One row per archive whose builds have used builders: the usage as it
stood at ``stamp``, with the archive's owner copied so an owner's usage
is read from this table alone (buildmaster.queue.fairshare).

Revision ID: 0014_archive_usage
Revises: 0013_build_events
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0014_archive_usage'
down_revision = '0013_build_events'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'archive_usage',
        sa.Column('archive_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('stamp', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['archive_id'], ['archive.id']),
        sa.ForeignKeyConstraint(['owner_id'], ['person.id']),
        sa.PrimaryKeyConstraint('archive_id'),
    )


def downgrade():
    op.drop_table('archive_usage')
