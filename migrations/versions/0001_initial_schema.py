"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('binarypackagename',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('component',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('distribution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('displayname', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('libraryfilecontent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('datecreated', sa.DateTime(), nullable=False),
    sa.Column('filesize', sa.BigInteger(), nullable=False),
    sa.Column('sha1', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha1', 'filesize', name='libraryfilecontent__sha1_size__key')
    )
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('displayname', sa.String(length=255), nullable=False),
    sa.Column('preferred_email', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('processor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('sourcepackagename',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('archive',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('distribution_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('PRIMARY', 'PARTNER', 'PPA', 'COPY', name='archivepurpose', native_enum=False, length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('buildd_secret', sa.String(length=255), nullable=True),
    sa.Column('require_virtualized', sa.Boolean(), nullable=False),
    sa.Column('relative_build_score', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['distribution_id'], ['distribution.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('distribution_id', 'owner_id', 'name')
    )
    op.create_table('builder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=255), nullable=False),
    sa.Column('processor_id', sa.Integer(), nullable=False),
    sa.Column('virtualized', sa.Boolean(), nullable=False),
    sa.Column('vm_host', sa.String(length=255), nullable=True),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('builderok', sa.Boolean(), nullable=False),
    sa.Column('failnotes', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['processor_id'], ['processor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('distroseries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('distribution_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('displayname', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('EXPERIMENTAL', 'DEVELOPMENT', 'FROZEN', 'CURRENT', 'SUPPORTED', 'OBSOLETE', 'FUTURE', name='distroseriesstatus', native_enum=False, length=32), nullable=False),
    sa.Column('nominatedarchindep_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['distribution_id'], ['distribution.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('distribution_id', 'name')
    )
    op.create_table('libraryfilealias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('mimetype', sa.String(length=255), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['content_id'], ['libraryfilecontent.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_libraryfilealias_content_id'), 'libraryfilealias', ['content_id'], unique=False)
    op.create_table('archivedependency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('dependency_id', sa.Integer(), nullable=False),
    sa.Column('pocket', sa.Enum('RELEASE', 'SECURITY', 'UPDATES', 'PROPOSED', 'BACKPORTS', name='packagepublishingpocket', native_enum=False, length=32), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=True),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['archive.id'], ),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
    sa.ForeignKeyConstraint(['dependency_id'], ['archive.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('archive_id', 'dependency_id')
    )
    op.create_table('distroarchseries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('distroseries_id', sa.Integer(), nullable=False),
    sa.Column('processor_id', sa.Integer(), nullable=False),
    sa.Column('architecturetag', sa.String(length=32), nullable=False),
    sa.Column('official', sa.Boolean(), nullable=False),
    sa.Column('supports_virtualized', sa.Boolean(), nullable=False),
    sa.Column('chroot_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['chroot_id'], ['libraryfilealias.id'], ),
    sa.ForeignKeyConstraint(['distroseries_id'], ['distroseries.id'], ),
    sa.ForeignKeyConstraint(['processor_id'], ['processor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('distroseries_id', 'architecturetag')
    )
    with op.batch_alter_table('distroseries') as batch_op:
        batch_op.create_foreign_key(
            'distroseries_nominatedarchindep_fkey', 'distroarchseries',
            ['nominatedarchindep_id'], ['id'])
    op.create_table('sourcepackagerelease',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourcepackagename_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=False),
    sa.Column('maintainer_id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=64), nullable=False),
    sa.Column('urgency', sa.Enum('LOW', 'MEDIUM', 'HIGH', 'EMERGENCY', name='sourcepackageurgency', native_enum=False, length=32), nullable=False),
    sa.Column('architecturehintlist', sa.String(length=255), nullable=False),
    sa.Column('builddepends', sa.Text(), nullable=False),
    sa.Column('dsc_format', sa.String(length=16), nullable=False),
    sa.Column('upload_distroseries_id', sa.Integer(), nullable=True),
    sa.Column('dateuploaded', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['maintainer_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['sourcepackagename_id'], ['sourcepackagename.id'], ),
    sa.ForeignKeyConstraint(['upload_distroseries_id'], ['distroseries.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sourcepackagename_id', 'version')
    )
    op.create_table('build',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourcepackagerelease_id', sa.Integer(), nullable=False),
    sa.Column('distroarchseries_id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('pocket', sa.Enum('RELEASE', 'SECURITY', 'UPDATES', 'PROPOSED', 'BACKPORTS', name='packagepublishingpocket', native_enum=False, length=32), nullable=False),
    sa.Column('processor_id', sa.Integer(), nullable=False),
    sa.Column('buildstate', sa.Enum('NEEDSBUILD', 'FULLYBUILT', 'FAILEDTOBUILD', 'MANUALDEPWAIT', 'CHROOTWAIT', 'SUPERSEDED', 'BUILDING', 'FAILEDTOUPLOAD', name='buildstatus', native_enum=False, length=32), nullable=False),
    sa.Column('datecreated', sa.DateTime(), nullable=False),
    sa.Column('datebuilt', sa.DateTime(), nullable=True),
    sa.Column('buildduration', sa.Interval(), nullable=True),
    sa.Column('builder_id', sa.Integer(), nullable=True),
    sa.Column('buildlog_id', sa.Integer(), nullable=True),
    sa.Column('upload_log_id', sa.Integer(), nullable=True),
    sa.Column('dependencies', sa.Text(), nullable=True),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['archive.id'], ),
    sa.ForeignKeyConstraint(['builder_id'], ['builder.id'], ),
    sa.ForeignKeyConstraint(['buildlog_id'], ['libraryfilealias.id'], ),
    sa.ForeignKeyConstraint(['distroarchseries_id'], ['distroarchseries.id'], ),
    sa.ForeignKeyConstraint(['processor_id'], ['processor.id'], ),
    sa.ForeignKeyConstraint(['sourcepackagerelease_id'], ['sourcepackagerelease.id'], ),
    sa.ForeignKeyConstraint(['upload_log_id'], ['libraryfilealias.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('build__buildstate', 'build', ['buildstate'], unique=False)
    op.create_index('build__sourcepackagerelease__distroarchseries__archive', 'build', ['sourcepackagerelease_id', 'distroarchseries_id', 'archive_id'], unique=False)
    op.create_index(op.f('ix_build_archive_id'), 'build', ['archive_id'], unique=False)
    op.create_table('sourcepackagepublishinghistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourcepackagerelease_id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('distroseries_id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=64), nullable=False),
    sa.Column('pocket', sa.Enum('RELEASE', 'SECURITY', 'UPDATES', 'PROPOSED', 'BACKPORTS', name='packagepublishingpocket', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'PUBLISHED', 'SUPERSEDED', 'DELETED', 'OBSOLETE', name='packagepublishingstatus', native_enum=False, length=32), nullable=False),
    sa.Column('datecreated', sa.DateTime(), nullable=False),
    sa.Column('datepublished', sa.DateTime(), nullable=True),
    sa.Column('datesuperseded', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['archive_id'], ['archive.id'], ),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
    sa.ForeignKeyConstraint(['distroseries_id'], ['distroseries.id'], ),
    sa.ForeignKeyConstraint(['sourcepackagerelease_id'], ['sourcepackagerelease.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_sourcepackagepublishinghistory_sourcepackagerelease_id'), 'sourcepackagepublishinghistory', ['sourcepackagerelease_id'], unique=False)
    op.create_index('sourcepackagepublishinghistory__archive__series__status', 'sourcepackagepublishinghistory', ['archive_id', 'distroseries_id', 'status'], unique=False)
    op.create_table('sourcepackagereleasefile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourcepackagerelease_id', sa.Integer(), nullable=False),
    sa.Column('libraryfile_id', sa.Integer(), nullable=False),
    sa.Column('filetype', sa.Enum('DSC', 'ORIG_TARBALL', 'DIFF', 'NATIVE_TARBALL', 'DEBIAN_TARBALL', 'COMPONENT_ORIG_TARBALL', name='sourcepackagefiletype', native_enum=False, length=32), nullable=False),
    sa.ForeignKeyConstraint(['libraryfile_id'], ['libraryfilealias.id'], ),
    sa.ForeignKeyConstraint(['sourcepackagerelease_id'], ['sourcepackagerelease.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_sourcepackagereleasefile_sourcepackagerelease_id'), 'sourcepackagereleasefile', ['sourcepackagerelease_id'], unique=False)
    op.create_table('binarypackagerelease',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('binarypackagename_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.String(length=32), nullable=False),
    sa.Column('architecturespecific', sa.Boolean(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('installedsize', sa.Integer(), nullable=True),
    sa.Column('datecreated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['binarypackagename_id'], ['binarypackagename.id'], ),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('binarypackagename_id', 'version', 'build_id')
    )
    op.create_index(op.f('ix_binarypackagerelease_build_id'), 'binarypackagerelease', ['build_id'], unique=False)
    op.create_table('buildqueue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('builder_id', sa.Integer(), nullable=True),
    sa.Column('processor_id', sa.Integer(), nullable=False),
    sa.Column('virtualized', sa.Boolean(), nullable=False),
    sa.Column('logtail', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('date_started', sa.DateTime(), nullable=True),
    sa.Column('lastscore', sa.Integer(), nullable=False),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.ForeignKeyConstraint(['builder_id'], ['builder.id'], ),
    sa.ForeignKeyConstraint(['processor_id'], ['processor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('build_id')
    )
    op.create_index('buildqueue__pending__score', 'buildqueue', ['processor_id', 'virtualized', 'builder_id', 'lastscore', 'id'], unique=False)
    op.create_index(op.f('ix_buildqueue_builder_id'), 'buildqueue', ['builder_id'], unique=False)
    op.create_table('binarypackagefile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('binarypackagerelease_id', sa.Integer(), nullable=False),
    sa.Column('libraryfile_id', sa.Integer(), nullable=False),
    sa.Column('filetype', sa.Enum('DEB', 'UDEB', 'DDEB', name='binarypackagefiletype', native_enum=False, length=32), nullable=False),
    sa.ForeignKeyConstraint(['binarypackagerelease_id'], ['binarypackagerelease.id'], ),
    sa.ForeignKeyConstraint(['libraryfile_id'], ['libraryfilealias.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_binarypackagefile_binarypackagerelease_id'), 'binarypackagefile', ['binarypackagerelease_id'], unique=False)
    op.create_table('binarypackagepublishinghistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('binarypackagerelease_id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('distroarchseries_id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.String(length=32), nullable=False),
    sa.Column('pocket', sa.Enum('RELEASE', 'SECURITY', 'UPDATES', 'PROPOSED', 'BACKPORTS', name='packagepublishingpocket', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'PUBLISHED', 'SUPERSEDED', 'DELETED', 'OBSOLETE', name='packagepublishingstatus', native_enum=False, length=32), nullable=False),
    sa.Column('datecreated', sa.DateTime(), nullable=False),
    sa.Column('datepublished', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['archive_id'], ['archive.id'], ),
    sa.ForeignKeyConstraint(['binarypackagerelease_id'], ['binarypackagerelease.id'], ),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
    sa.ForeignKeyConstraint(['distroarchseries_id'], ['distroarchseries.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('binarypackagepublishinghistory__archive__das__status', 'binarypackagepublishinghistory', ['archive_id', 'distroarchseries_id', 'status'], unique=False)
    op.create_index(op.f('ix_binarypackagepublishinghistory_binarypackagerelease_id'), 'binarypackagepublishinghistory', ['binarypackagerelease_id'], unique=False)


def downgrade():
    with op.batch_alter_table('distroseries') as batch_op:
        batch_op.drop_constraint(
            'distroseries_nominatedarchindep_fkey', type_='foreignkey')
    op.drop_index(op.f('ix_binarypackagepublishinghistory_binarypackagerelease_id'), table_name='binarypackagepublishinghistory')
    op.drop_index('binarypackagepublishinghistory__archive__das__status', table_name='binarypackagepublishinghistory')
    op.drop_table('binarypackagepublishinghistory')
    op.drop_index(op.f('ix_binarypackagefile_binarypackagerelease_id'), table_name='binarypackagefile')
    op.drop_table('binarypackagefile')
    op.drop_index(op.f('ix_buildqueue_builder_id'), table_name='buildqueue')
    op.drop_index('buildqueue__pending__score', table_name='buildqueue')
    op.drop_table('buildqueue')
    op.drop_index(op.f('ix_binarypackagerelease_build_id'), table_name='binarypackagerelease')
    op.drop_table('binarypackagerelease')
    op.drop_index(op.f('ix_sourcepackagereleasefile_sourcepackagerelease_id'), table_name='sourcepackagereleasefile')
    op.drop_table('sourcepackagereleasefile')
    op.drop_index('sourcepackagepublishinghistory__archive__series__status', table_name='sourcepackagepublishinghistory')
    op.drop_index(op.f('ix_sourcepackagepublishinghistory_sourcepackagerelease_id'), table_name='sourcepackagepublishinghistory')
    op.drop_table('sourcepackagepublishinghistory')
    op.drop_index(op.f('ix_build_archive_id'), table_name='build')
    op.drop_index('build__sourcepackagerelease__distroarchseries__archive', table_name='build')
    op.drop_index('build__buildstate', table_name='build')
    op.drop_table('build')
    op.drop_table('sourcepackagerelease')
    op.drop_table('distroarchseries')
    op.drop_table('archivedependency')
    op.drop_index(op.f('ix_libraryfilealias_content_id'), table_name='libraryfilealias')
    op.drop_table('libraryfilealias')
    op.drop_table('distroseries')
    op.drop_table('builder')
    op.drop_table('archive')
    op.drop_table('sourcepackagename')
    op.drop_table('processor')
    op.drop_table('person')
    op.drop_table('libraryfilecontent')
    op.drop_table('distribution')
    op.drop_table('component')
    op.drop_table('binarypackagename')
