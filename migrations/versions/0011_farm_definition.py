"""farm definition: what the farm file (buildmaster apply) says beyond the
old tables

A distribution's components and the pockets that take uploads; a
series' parent, its external dependency lines and the Debian suite and
mirror its chroots are made from; an archive's external dependency
lines and its uploaders (per component for a primary archive); people's
OpenPGP and SSH public keys.

Revision ID: 0011_farm_definition
Revises: 0010_operator_actions
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0011_farm_definition'
down_revision = '0010_operator_actions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('distribution') as batch:
        # Ubuntu's four: what every build's sources.list assumed until now.
        batch.add_column(sa.Column('components', sa.JSON(), nullable=False,
                                   server_default='["main", "restricted", "universe", '
                                                  '"multiverse"]'))
        batch.add_column(sa.Column('upload_pockets', sa.JSON(), nullable=False,
                                   server_default='["RELEASE"]'))
    with op.batch_alter_table('distroseries') as batch:
        batch.add_column(sa.Column('parent_series_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('external_dependencies', sa.JSON(), nullable=False,
                                   server_default='[]'))
        batch.add_column(sa.Column('chroot_suite', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('chroot_mirror', sa.String(length=255), nullable=True))
        batch.create_foreign_key('distroseries_parent_series_id_fkey', 'distroseries',
                                 ['parent_series_id'], ['id'])
    with op.batch_alter_table('archive') as batch:
        batch.add_column(sa.Column('external_dependencies', sa.JSON(), nullable=False,
                                   server_default='[]'))
    op.create_table(
        'archiveuploader',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('archive_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('component_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['archive_id'], ['archive.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['component_id'], ['component.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('archive_id', 'person_id', 'component_id'),
    )
    op.create_table(
        'openpgpkey',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('armored', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('fingerprint'),
    )
    op.create_table(
        'sshkey',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('sshkey')
    op.drop_table('openpgpkey')
    op.drop_table('archiveuploader')
    with op.batch_alter_table('archive') as batch:
        batch.drop_column('external_dependencies')
    with op.batch_alter_table('distroseries') as batch:
        batch.drop_constraint('distroseries_parent_series_id_fkey', type_='foreignkey')
        batch.drop_column('chroot_mirror')
        batch.drop_column('chroot_suite')
        batch.drop_column('external_dependencies')
        batch.drop_column('parent_series_id')
    with op.batch_alter_table('distribution') as batch:
        batch.drop_column('upload_pockets')
        batch.drop_column('components')
