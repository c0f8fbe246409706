"""publishing: dateremoved, when a publication left the archive's indexes

The publisher regenerates a suite's indexes when one of its publications
is PENDING, or is no longer live (SUPERSEDED, DELETED, OBSOLETE) while
still in the indexes on disk: published (datepublished set) and not yet
removed (dateremoved NULL).

Revision ID: 0005_publication_dateremoved
Revises: 0004_dispatch_ties
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_publication_dateremoved'
down_revision = '0004_dispatch_ties'
branch_labels = None
depends_on = None

TABLES = ('sourcepackagepublishinghistory', 'binarypackagepublishinghistory')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('dateremoved', sa.DateTime(), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('dateremoved')
