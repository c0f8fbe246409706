"""The running farm's shared parts, built once from the configuration."""

from buildmaster.model.base import utcnow
from buildmaster.runtime.activity import Activity
from buildmaster.slaves.registry import SlaveRegistry
from buildmaster.slaves.callbacks import make_callbacks
from buildmaster.db.engine import make_engine, make_session_factory
from buildmaster.db.threads import DatabaseThreads, pool_size
from buildmaster.slaves.failures import ScanFailures
from buildmaster.librarian.backends import make_storage
from buildmaster.slaves.polling import PollSchedule
from buildmaster.runtime.wakeups import SCAN, Wakeups

DEFAULT_SCAN_INTERVAL = 5


def scan_interval(config):
    """Seconds between full scans: the scanner job's ``mindelay``."""
    return next((job.mindelay for job in config.jobs if job.callable == SCAN),
                DEFAULT_SCAN_INTERVAL)


class FarmContext:
    """Configuration, database engine and sessions, the database threads,
    the librarian store, and what outlives one job run: the mailer, the
    slave clients, the scan failure streaks, the polls due, the
    wake-up board and the build-end call-backs handed out (None when off).
    ``reactor`` times everything (a Clock in tests); ``db`` replaces the
    thread pool (dbthreads.InlineDatabase where no reactor runs)."""

    def __init__(self, config, engine=None, reactor=None, db=None):
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        # When this master started: a job claimed before, whose slave is
        # idle, was claimed by a master that is gone (scanpass.py).
        self.started = utcnow()
        self.engine = engine or make_engine(config.database.url)
        self.sessions = make_session_factory(self.engine)
        self.db = db or DatabaseThreads(self.sessions, pool_size(self.engine), reactor)
        self.librarian = make_storage(config.librarian)
        self.wakeups = Wakeups(reactor)
        self.polls = PollSchedule(reactor, scan_interval(config))
        self.callbacks = make_callbacks(config, self.polls, self.wakeups)
        self.scan_failures = ScanFailures(config.builddmaster.scan_failure_threshold)
        self.slaves = SlaveRegistry(config, reactor)
        # When scans and dispatch passes last completed (the web's health).
        self.activity = Activity(reactor.seconds)
        self._mailer = None

    @property
    def mailer(self):
        """The farm's one BuildMailer, made when first needed: one mailer
        per mail spool, or two would send each spooled message."""
        if self._mailer is None:
            from buildmaster.mail.mailer import BuildMailer
            self._mailer = BuildMailer(self.config)
        return self._mailer

    @mailer.setter
    def mailer(self, mailer):
        """Use ``mailer`` (one on a test's clock, say) as the farm's."""
        self._mailer = mailer

    def close(self):
        if self._mailer is not None and hasattr(self._mailer, "stop"):
            self._mailer.stop()
        self.db.stop()
        self.engine.dispose()
