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
        self._mailer = None

    @property
    def mailer(self):
        """The farm's one BuildMailer, made when first needed: one mailer
        per mail spool, or two would send each spooled message."""
        if self._mailer is None:
            from buildmaster.mail import BuildMailer
            self._mailer = BuildMailer(self.config)
        return self._mailer

    def close(self):
        if self._mailer is not None:
            self._mailer.stop()
        self.engine.dispose()
