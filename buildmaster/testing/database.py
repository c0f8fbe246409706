"""Real test databases: a fresh PostgreSQL database per run, or SQLite.

With ``BUILDMASTER_TEST_DB_URL`` naming a PostgreSQL server (any database
on it), each test run creates its own uniquely named database there,
migrates it, and drops it at the end, so parallel runs never collide.
Without it, the run uses a SQLite file in a temporary directory.
Between tests every table is emptied and its id counter restarted, so
each test sees a clean database and the sample data gets its ids.
"""

import os
import tempfile
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from buildmaster import schema
from buildmaster.db.engine import make_engine
from buildmaster.model import Base

ENV_VAR = "BUILDMASTER_TEST_DB_URL"


class TestDatabase:
    """One migrated database for a whole test run."""

    def __init__(self, server_url=None):
        self.server_url = server_url or os.environ.get(ENV_VAR) or None
        self._tempdir = None
        if self.server_url:
            self.url = self._create_postgresql()
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="buildmaster-test-")
            self.url = f"sqlite:///{self._tempdir.name}/test.db"
        self.engine = make_engine(self.url)
        schema.upgrade(self.engine)

    @property
    def dialect(self):
        return self.engine.dialect.name

    def _admin_engine(self):
        return make_engine(self.server_url, isolation_level="AUTOCOMMIT")

    def _create_postgresql(self):
        url = make_url(self.server_url)
        if not url.drivername.startswith("postgresql"):
            raise RuntimeError(f"{ENV_VAR} must name a PostgreSQL server, not {url}")
        self.name = f"buildmaster_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = self._admin_engine()
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        return url.set(database=self.name).render_as_string(hide_password=False)

    def empty(self):
        """Delete every row and restart every id counter."""
        tables = [table.name for table in Base.metadata.sorted_tables]
        if self.dialect == "postgresql":
            with self.engine.begin() as connection:
                names = ", ".join(f'"{name}"' for name in tables)
                connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        with self.engine.connect() as connection:
            # distroseries and distroarchseries refer to each other; the
            # pragma only takes effect outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                with connection.begin():
                    for name in reversed(tables):
                        connection.execute(sa.text(f'DELETE FROM "{name}"'))
                    if connection.execute(sa.text(
                            "SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")).first():
                        connection.execute(sa.text("DELETE FROM sqlite_sequence"))
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()

    def drop(self):
        self.engine.dispose()
        if self.server_url:
            admin = self._admin_engine()
            with admin.connect() as connection:
                connection.execute(sa.text(
                    f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()
        if self._tempdir is not None:
            self._tempdir.cleanup()


def scratch_database(server_url=None):
    """An empty, unmigrated database for schema tests: (url, drop function)."""
    server_url = server_url or os.environ.get(ENV_VAR)
    if not server_url:
        directory = tempfile.TemporaryDirectory(prefix="buildmaster-scratch-")
        return f"sqlite:///{directory.name}/scratch.db", directory.cleanup
    name = f"buildmaster_scratch_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop
