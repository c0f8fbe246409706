"""uploads: the record of every source upload, from dput or an operator

Revision ID: 0012_uploads
Revises: 0011_farm_definition
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0012_uploads'
down_revision = '0011_farm_definition'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('queue_id', sa.String(length=64), nullable=True),
        sa.Column('date_received', sa.DateTime(), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=False),
        sa.Column('changes_name', sa.String(length=255), nullable=True),
        sa.Column('signer_id', sa.Integer(), nullable=True),
        sa.Column('fingerprint', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=255), nullable=True),
        sa.Column('version', sa.String(length=255), nullable=True),
        sa.Column('archive_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('builds', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['signer_id'], ['person.id']),
        sa.ForeignKeyConstraint(['archive_id'], ['archive.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('queue_id'),
    )


def downgrade():
    op.drop_table('upload')
