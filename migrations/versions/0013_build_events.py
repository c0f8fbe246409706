"""build events: the changes of a build's state no outcome records

One row per attempt's start and return to the queue when the scanner
requeues it, per cancel, and per pending job the dispatcher ends
unbuilt, so a build's history keeps every attempt and cancel through
retries.

Revision ID: 0013_build_events
Revises: 0012_uploads
Create Date: 2026-12-09
"""

from alembic import op
import sqlalchemy as sa


revision = '0013_build_events'
down_revision = '0012_uploads'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'build_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('build_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=32), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('builder_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['build_id'], ['build.id']),
        sa.ForeignKeyConstraint(['builder_id'], ['builder.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_build_event_build_id', 'build_event', ['build_id'])


def downgrade():
    op.drop_index('ix_build_event_build_id', table_name='build_event')
    op.drop_table('build_event')
