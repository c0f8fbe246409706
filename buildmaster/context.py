"""The running farm's shared parts, built once from the configuration."""

from buildmaster.database import make_engine, make_session_factory
from buildmaster.librarian.storage import LibrarianStorage


class FarmContext:
    """Configuration, database engine, session factory and librarian store."""

    def __init__(self, config, engine=None):
        self.config = config
        self.engine = engine or make_engine(config.database.url)
        self.sessions = make_session_factory(self.engine)
        self.librarian = LibrarianStorage(config.librarian.storage)

    def close(self):
        self.engine.dispose()
