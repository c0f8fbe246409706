"""bug trackers: our bugs, external trackers and the watches between them

bugtracker is someone else's tracker (name, type, base URL, active);
bug is ours, optionally standing for one failed build; bugwatch links a
bug of ours to a remote bug and keeps what checkwatches last learnt of
it (remote status, last check, last change, last error).  The index on
(bugtracker_id, lastchecked) serves "which watches need a check".

Revision ID: 0007_bugtrackers
Revises: 0006_build_health
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_bugtrackers'
down_revision = '0006_build_health'
branch_labels = None
depends_on = None

TRACKER_TYPES = ('BUGZILLA', 'DEBBUGS', 'ROUNDUP', 'TRAC', 'SOURCEFORGE', 'MANTIS',
                 'RT', 'SAVANE')
ERROR_TYPES = ('CONNECTION_ERROR', 'INVALID_BUG_ID', 'TIMEOUT', 'UNPARSABLE_BUG',
               'UNPARSABLE_BUG_TRACKER', 'UNSUPPORTED_BUG_TRACKER', 'BUG_NOT_FOUND',
               'PRIVATE_REMOTE_BUG')


def upgrade():
    op.create_table(
        'bugtracker',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('bugtrackertype', sa.Enum(*TRACKER_TYPES, name='bugtrackertype',
                                            native_enum=False, length=32), nullable=False),
        sa.Column('baseurl', sa.String(length=255), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('contactdetails', sa.Text(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('datecreated', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('baseurl'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'bug',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('datecreated', sa.DateTime(), nullable=False),
        sa.Column('datelastupdated', sa.DateTime(), nullable=False),
        sa.Column('build_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['build_id'], ['build.id']),
        sa.ForeignKeyConstraint(['owner_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('build_id'),
    )
    op.create_table(
        'bugwatch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('bug_id', sa.Integer(), nullable=False),
        sa.Column('bugtracker_id', sa.Integer(), nullable=False),
        sa.Column('remotebug', sa.String(length=255), nullable=False),
        sa.Column('remotestatus', sa.Text(), nullable=True),
        sa.Column('lastchanged', sa.DateTime(), nullable=True),
        sa.Column('lastchecked', sa.DateTime(), nullable=True),
        sa.Column('last_error_type', sa.Enum(*ERROR_TYPES, name='bugwatcherrortype',
                                             native_enum=False, length=32), nullable=True),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('datecreated', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['bug_id'], ['bug.id']),
        sa.ForeignKeyConstraint(['bugtracker_id'], ['bugtracker.id']),
        sa.ForeignKeyConstraint(['owner_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('bugwatch__bugtracker__lastchecked', 'bugwatch',
                    ['bugtracker_id', 'lastchecked'], unique=False)
    op.create_index('ix_bugwatch_bug_id', 'bugwatch', ['bug_id'], unique=False)


def downgrade():
    op.drop_index('ix_bugwatch_bug_id', table_name='bugwatch')
    op.drop_index('bugwatch__bugtracker__lastchecked', table_name='bugwatch')
    op.drop_table('bugwatch')
    op.drop_table('bug')
    op.drop_table('bugtracker')
