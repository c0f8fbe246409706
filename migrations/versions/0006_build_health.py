"""build health: outcomes of finished builds, builders' told state, reports

Every finished attempt of a build gets a build_outcome row (its colour,
warnings, times, log and first failure lines), judged once by the master
that claims it (judged_at); builder_health keeps what the farm last said
of each builder; status_report one row per mailed farm report.  Builds
get the count of warnings in their logs.

Revision ID: 0006_build_health
Revises: 0005_publication_dateremoved
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_build_health'
down_revision = '0005_publication_dateremoved'
branch_labels = None
depends_on = None

UNJUDGED = sa.text('judged_at IS NULL')


def upgrade():
    with op.batch_alter_table('build') as batch:
        batch.add_column(sa.Column('warnings', sa.Integer(), nullable=True))
    op.create_table(
        'build_outcome',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('build_id', sa.Integer(), nullable=False),
        sa.Column('buildqueue_id', sa.Integer(), nullable=False),
        sa.Column('sourcepackagename_id', sa.Integer(), nullable=False),
        sa.Column('sourcepackagerelease_id', sa.Integer(), nullable=False),
        sa.Column('archive_id', sa.Integer(), nullable=False),
        sa.Column('distroarchseries_id', sa.Integer(), nullable=False),
        sa.Column('builder_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=32), nullable=False),
        sa.Column('colour', sa.String(length=8), nullable=False),
        sa.Column('warnings', sa.Integer(), nullable=False),
        sa.Column('queued_at', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=False),
        sa.Column('buildlog_id', sa.Integer(), nullable=True),
        sa.Column('excerpt', sa.Text(), nullable=True),
        sa.Column('builder_fault', sa.Boolean(), nullable=False),
        sa.Column('judged_at', sa.DateTime(), nullable=True),
        sa.Column('previous_id', sa.Integer(), nullable=True),
        sa.Column('flaky_of_id', sa.Integer(), nullable=True),
        sa.Column('change', sa.String(length=16), nullable=True),
        sa.Column('mailed', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['archive_id'], ['archive.id']),
        sa.ForeignKeyConstraint(['build_id'], ['build.id']),
        sa.ForeignKeyConstraint(['builder_id'], ['builder.id']),
        sa.ForeignKeyConstraint(['buildlog_id'], ['libraryfilealias.id']),
        sa.ForeignKeyConstraint(['distroarchseries_id'], ['distroarchseries.id']),
        sa.ForeignKeyConstraint(['flaky_of_id'], ['build_outcome.id']),
        sa.ForeignKeyConstraint(['previous_id'], ['build_outcome.id']),
        sa.ForeignKeyConstraint(['sourcepackagename_id'], ['sourcepackagename.id']),
        sa.ForeignKeyConstraint(['sourcepackagerelease_id'], ['sourcepackagerelease.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('buildqueue_id'),
    )
    op.create_index('ix_build_outcome_build_id', 'build_outcome', ['build_id'])
    op.create_index('build_outcome__line', 'build_outcome',
                    ['sourcepackagename_id', 'archive_id', 'distroarchseries_id', 'id'])
    op.create_index('build_outcome__release', 'build_outcome',
                    ['sourcepackagerelease_id', 'id'])
    op.create_index('build_outcome__builder', 'build_outcome', ['builder_id', 'id'])
    op.create_index('build_outcome__finished', 'build_outcome', ['finished_at'])
    op.create_index('build_outcome__unjudged', 'build_outcome', ['id'],
                    postgresql_where=UNJUDGED, sqlite_where=UNJUDGED)
    op.create_table(
        'builder_health',
        sa.Column('builder_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['builder_id'], ['builder.id']),
        sa.PrimaryKeyConstraint('builder_id'),
    )
    op.create_table(
        'status_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slot'),
    )


def downgrade():
    op.drop_table('status_report')
    op.drop_table('builder_health')
    op.drop_table('build_outcome')
    with op.batch_alter_table('build') as batch:
        batch.drop_column('warnings')
