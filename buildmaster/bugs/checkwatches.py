"""checkwatches: keep the watches on external bug trackers current.

One run visits every tracker, by title:

    not active            "Skipping updating <title> watches."
    no watch due          "No watches to update on <baseurl>"; no request
    no client for it      its due watches get UNSUPPORTED_BUG_TRACKER
    otherwise             one batch of at most the client's batch_size due
                          watches, never-checked and longest-unchecked first

A watch is due when it was never checked, or not in the last
``[checkwatches] interval_hours`` hours (23, so that a daily run never
just misses one).

Invariants.  Each tracker's batch is one transaction: the watches' new
statuses and the retries of the builds whose upstream bug became fixed
are committed together, so a crash loses at most the batch in flight
and a build is never retried without its watch saying why.  A batch
that fails is rolled back whole; then, in a transaction of its own,
each of its watches is marked checked with the error's type, so a dead
tracker is asked again only after interval_hours.  One tracker's
failure, expected or not, never stops the others.

A run holds an exclusive lock on ``[checkwatches] lockfile`` (relative
to the builddmaster root), so the daemon's job and an operator's
``buildmaster checkwatches`` never run at once; the lock goes away with
the process that held it.
"""

import fcntl
import logging
import os
import time

import sqlalchemy as sa
from twisted.internet import threads

from buildmaster.bugs import externalbugtracker, upstream
from buildmaster.db.engine import Transaction
from buildmaster.model import BugTracker, BugTrackerSet, BugWatch, utcnow

LOG = logging.getLogger("buildmaster.checkwatches")

DEFAULT_INTERVAL_HOURS = 23


class AlreadyRunning(Exception):
    """Another checkwatches holds the lock file."""


class BugWatchUpdater:
    """Updates the watches of each tracker through ``transaction``
    (buildmaster.db.engine.Transaction), logging to ``log``."""

    def __init__(self, transaction, log=None, timeout=externalbugtracker.DEFAULT_TIMEOUT,
                 interval_hours=DEFAULT_INTERVAL_HOURS, now=utcnow):
        self.txn = transaction
        self.log = log or LOG
        self.timeout = timeout
        self.interval_hours = interval_hours
        self.now = now

    def _login(self):
        """The seed's updater logged in as its own user before touching
        bugs; the farm has no users, so there is nothing to do."""

    def updateBugTrackers(self):
        """One pass over every tracker, each in its own transaction."""
        session = self.txn.session
        tracker_ids = [tracker.id for tracker in BugTrackerSet(session)]
        for tracker_id in tracker_ids:
            self.txn.begin()
            tracker = session.get(BugTracker, tracker_id)
            if tracker is None:
                continue
            if not tracker.active:
                self.log.info("Skipping updating %s watches.", tracker.title)
                continue
            self.updateBugTracker(tracker)

    def updateBugTracker(self, bug_tracker):
        """Check one batch of ``bug_tracker``'s due watches and commit;
        a failure is logged and recorded on the batch, never raised."""
        baseurl = bug_tracker.baseurl
        try:
            self._updateBugTracker(bug_tracker)
        except Exception:
            self.log.exception("An exception was raised when updating %s", baseurl)
            self.txn.abort()

    def _updateBugTracker(self, bug_tracker):
        now = self.now()
        watches = bug_tracker.getBugWatchesNeedingUpdate(self.interval_hours, now)
        if not watches:
            self.log.info("No watches to update on %s", bug_tracker.baseurl)
            return
        try:
            remote = externalbugtracker.get_external_bugtracker(bug_tracker, self.timeout)
        except externalbugtracker.UnsupportedBugTracker as error:
            self.log.warning(str(error))
            self._recordFailure(watches, error, now)
            return
        batch = externalbugtracker.select_batch(watches, remote.batch_size)
        try:
            changes = remote.updateBugWatches(batch, now)
        except externalbugtracker.BugWatchUpdateError as error:
            self.log.error(str(error))
            self._recordFailure(batch, error, now)
            return
        upstream.retry_fixed_builds(changes, remote, self.log, now)
        self.txn.commit()

    def _recordFailure(self, batch, error, now):
        """Drop whatever the batch changed, then mark its watches checked
        at ``now`` with the error's type, and commit that alone.

        The mark is written by id: a watch the rollback took away (one
        made in the same transaction) is not there to mark, and the
        objects a caller holds show the mark either way."""
        externalbugtracker.record_error(batch, error.error_type, now)
        ids = [watch.id for watch in batch]
        self.txn.abort()
        self.txn.session.execute(
            sa.update(BugWatch).where(BugWatch.id.in_(ids))
            .values(lastchecked=now, last_error_type=error.error_type)
            .execution_options(synchronize_session=False))
        self.txn.commit()


def lock_path(config):
    return os.path.join(config.builddmaster.root, config.checkwatches.lockfile)


class LockFile:
    """An exclusive, non-blocking fcntl lock on ``path`` while in the
    ``with`` block; AlreadyRunning when another process holds it."""

    def __init__(self, path, log=LOG):
        self.path = path
        self.log = log
        self._fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"checkwatches is already running: {self.path} is locked") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        self.log.info("creating lockfile")
        return self

    def __exit__(self, *exc_info):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def check_watches(context, log=LOG, timer=time.monotonic):
    """One checkwatches run over every tracker, under the lock file, on a
    session of its own.  Raises AlreadyRunning."""
    settings = context.config.checkwatches
    with LockFile(lock_path(context.config), log):
        started = timer()
        session = context.sessions()
        try:
            updater = BugWatchUpdater(
                Transaction(session), log, timeout=settings.timeout,
                interval_hours=settings.interval_hours)
            updater.updateBugTrackers()
        finally:
            session.close()
        log.info("Time for this run: %.3f seconds.", timer() - started)


def run_in_thread(context, log=LOG):
    """The sequencer's job: a Deferred firing when a run is over.  The
    run (HTTP and database) happens in a thread from the reactor's pool;
    a run already going on elsewhere makes this one a no-op."""
    def guarded():
        try:
            check_watches(context, log)
        except AlreadyRunning as error:
            log.info("%s; not running again", error)
    return threads.deferToThread(guarded)
