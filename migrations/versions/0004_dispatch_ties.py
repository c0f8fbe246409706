"""dispatch: the pending index in candidate order, ties oldest first

The candidate query orders by lastscore DESC, id ASC.  Walking the
(processor_id, virtualized, lastscore, id) index backwards gave the
scores in order but the ids of equal scores newest first, so PostgreSQL
sorted every entry of the top score: in a real queue, where most
entries share a pocket, component and urgency, that was most of the
queue.  With lastscore descending in the index a forward walk gives
exactly the candidate order.

Revision ID: 0004_dispatch_ties
Revises: 0003_buildqueue_ids
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_dispatch_ties'
down_revision = '0003_buildqueue_ids'
branch_labels = None
depends_on = None

PENDING = sa.text('builder_id IS NULL')


def _recreate(score_column):
    op.drop_index('buildqueue__pending__score', table_name='buildqueue')
    op.create_index(
        'buildqueue__pending__score', 'buildqueue',
        ['processor_id', 'virtualized', score_column, 'id'],
        unique=False, postgresql_where=PENDING, sqlite_where=PENDING)


def upgrade():
    _recreate(sa.desc(sa.column('lastscore')))


def downgrade():
    _recreate('lastscore')
