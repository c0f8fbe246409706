"""dispatch: partial index of pending queue entries in candidate order

The candidate query orders by lastscore DESC, id ASC.  With the old
index (processor_id, virtualized, builder_id, lastscore, id) PostgreSQL
sorted the whole pending queue for every candidate (the IS NULL test on
a middle column keeps it from walking the index in order).  This index
holds only pending entries, so a backward walk gives the scores in
order and only ties are sorted.

Revision ID: 0002_dispatch
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_dispatch'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('buildqueue__pending__score', table_name='buildqueue')
    op.create_index(
        'buildqueue__pending__score', 'buildqueue',
        ['processor_id', 'virtualized', 'lastscore', 'id'],
        unique=False, postgresql_where=sa.text('builder_id IS NULL'),
        sqlite_where=sa.text('builder_id IS NULL'))


def downgrade():
    op.drop_index('buildqueue__pending__score', table_name='buildqueue')
    op.create_index('buildqueue__pending__score', 'buildqueue',
                    ['processor_id', 'virtualized', 'builder_id', 'lastscore', 'id'],
                    unique=False)
