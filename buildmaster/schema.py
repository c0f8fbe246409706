"""Schema management: apply and compare the Alembic migrations.

Which revision the database is at and which is the newest are read
without Alembic, by buildmaster.db.revisions; they are named here too.
"""

import os

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext

import migrations
from buildmaster.db.revisions import current_revision, head_revision  # noqa: F401
from buildmaster.model import Base

MIGRATIONS_DIR = os.path.dirname(os.path.abspath(migrations.__file__))


def alembic_config(engine, connection=None):
    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    return config


def upgrade(engine, revision="head"):
    """Bring the database to ``revision`` (the newest by default)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(engine, connection), revision)


def downgrade(engine, revision="base"):
    with engine.begin() as connection:
        command.downgrade(alembic_config(engine, connection), revision)


def differences(engine):
    """What autogenerate would change: empty when models and migrations agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)
