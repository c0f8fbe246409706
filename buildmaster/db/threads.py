"""Database work off the reactor: each transaction in a thread of its own pool.

``DatabaseThreads.run_in_thread(work, *args)`` calls ``work(session, *args)`` in a
thread, on a fresh session closed afterwards, and gives the reactor a
Deferred of what it returns (or raises).  ``work`` commits what it
wants kept; anything left uncommitted is rolled back when the session
closes.  The pool has as many threads as the engine's connection pool
has connections (one for SQLite, whose writers queue anyway), so a
thread never waits for a connection and the reactor never waits at all.

Invariant: a session belongs to one ``work`` call, in one thread; what
crosses back to the reactor is plain data (ids, names, numbers), never
an object of that session.

``InlineDatabase`` runs the same calls in the caller's thread and hands
back a fired Deferred: for a process with no running reactor (a test's
forked master, a script).
"""

from twisted.internet import defer, threads
from twisted.python import threadpool

SQLITE_THREADS = 1


def pool_size(engine):
    """The threads worth having for ``engine``: its connection pool's size."""
    if engine.dialect.name == "sqlite":
        return SQLITE_THREADS
    size = getattr(engine.pool, "size", None)
    return max(1, size()) if callable(size) else SQLITE_THREADS


class DatabaseThreads:
    """A thread pool running database work for the reactor."""

    def __init__(self, sessions, size, reactor=None, name="buildmaster-db"):
        if reactor is None:
            from twisted.internet import reactor
        self.sessions = sessions
        self.reactor = reactor
        self.size = size
        self._pool = threadpool.ThreadPool(minthreads=0, maxthreads=size, name=name)
        self._shutdown_trigger = None

    def run_in_thread(self, work, *args, **kwargs):
        """A Deferred firing with ``work(session, *args, **kwargs)``, run in
        a thread of the pool on a session of its own."""
        self._start()
        return threads.deferToThreadPool(self.reactor, self._pool, _in_session,
                                         self.sessions, work, args, kwargs)

    def _start(self):
        if self._pool.started:
            return
        self._pool.start()
        self._shutdown_trigger = self.reactor.addSystemEventTrigger(
            "during", "shutdown", self.stop)

    def stop(self):
        """Let the running work finish and stop the threads (idempotent)."""
        if self._shutdown_trigger is not None:
            try:
                self.reactor.removeSystemEventTrigger(self._shutdown_trigger)
            except (ValueError, KeyError):
                pass
            self._shutdown_trigger = None
        if self._pool.started:
            self._pool.stop()


class InlineDatabase:
    """The same calls in the calling thread: a fired Deferred."""

    def __init__(self, sessions):
        self.sessions = sessions

    def run_in_thread(self, work, *args, **kwargs):
        return defer.maybeDeferred(_in_session, self.sessions, work, args, kwargs)

    def stop(self):
        pass


def _in_session(sessions, work, args, kwargs):
    with sessions() as session:
        return work(session, *args, **kwargs)
