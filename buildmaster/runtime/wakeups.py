"""Events that make a job's next run due now, in this master and the others.

What changes the farm wakes the job that acts on it: an upload or a
retried build wakes the dispatcher, a build just started wakes the
scanner a moment later (polling.py), and so on.  A wake-up goes through
the sequencer (``BuildSequencer.wake``), so jobs still run one at a
time; the jobs' own delays stay the net that catches what no event
announced.

::

    this master:     Wakeups.wake(job) ──► subscribers (the sequencer's wake)
    another process: notify(session, job) ─ COMMIT ─► PostgreSQL NOTIFY
                     ──► every master's NotificationListener ──► Wakeups.wake(job)

``notify`` rides in the caller's transaction: the other masters hear of
the change only once it is committed, never before (and never if it is
rolled back).  A notification carries the sender's ``origin`` so a
master ignores its own, which it has already acted on.  SQLite has no
NOTIFY: there a change made in another process waits for the timers.
"""

import logging
import os
import uuid

import sqlalchemy as sa
from twisted.application import service
from twisted.internet import threads
from zope.interface import implementer
from twisted.internet.interfaces import IReadDescriptor

LOG = logging.getLogger("buildmaster.wakeups")

CHANNEL = "buildmaster_wake"
# The jobs events wake, named by the callable they run.
DISPATCH = "buildmaster.jobs:dispatch"
SCAN = "buildmaster.jobs:scan"
UPLOADS = "buildmaster.jobs:process_uploads"
# Seconds between attempts to listen again after the connection broke.
RECONNECT_DELAY = 5.0


class Wakeups:
    """This master's wake-up board: events in, subscribers called."""

    def __init__(self, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.origin = uuid.uuid4().hex[:12]
        self._subscribers = []

    def subscribe(self, callback):
        """Call ``callback(job, after)`` for every wake-up from now on."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback):
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def wake(self, job, after=0):
        """Make ``job``'s next run due in ``after`` seconds (reactor thread)."""
        for callback in list(self._subscribers):
            callback(job, after)

    def wake_from_thread(self, job, after=0):
        """``wake`` from a database thread."""
        self.reactor.callFromThread(self.wake, job, after)


def notify(session, job, origin=""):
    """Tell every master listening on the same PostgreSQL to wake ``job``
    once ``session``'s transaction commits; nothing on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(sa.select(sa.func.pg_notify(CHANNEL, f"{job} {origin}".strip())))


def parse_payload(payload):
    """(job, origin) of a notification's payload."""
    job, _, origin = payload.partition(" ")
    return job, origin


@implementer(IReadDescriptor)
class _Socket:
    """The listening connection's socket, as the reactor watches it: a
    duplicate of its descriptor, so when the server goes away and libpq
    closes its own, the reactor still holds an open one to stop watching
    (an unregister of a closed descriptor fails, and its number may
    already name another file)."""

    def __init__(self, listener, connection):
        self.listener = listener
        self.connection = connection
        self.fd = os.dup(connection.fileno())

    def fileno(self):
        return self.fd

    def close(self):
        os.close(self.fd)

    def doRead(self):
        return self.listener._readable()

    def connectionLost(self, reason):
        self.listener._lost(reason.getErrorMessage())

    def logPrefix(self):
        return "buildmaster-listen"


class NotificationListener(service.Service):
    """LISTENs on PostgreSQL for other processes' wake-ups.

    Its own connection (psycopg2, autocommit) is opened and LISTENed on
    in a thread; then the reactor watches its socket and reads what
    arrives without blocking.  When the connection breaks it is opened
    again ``RECONNECT_DELAY`` seconds later, and every job events wake is
    woken once then, for what was missed meanwhile.
    """

    name = "notification-listener"

    def __init__(self, engine, wakeups, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.engine = engine
        self.wakeups = wakeups
        self.reactor = reactor
        self._socket = None
        self._retry = None
        self.heard = 0

    def startService(self):
        super().startService()
        self._listen()

    def stopService(self):
        super().stopService()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        self._close()

    def _listen(self):
        self._retry = None
        d = threads.deferToThread(_open_listening, self.engine)
        d.addCallbacks(self._listening, self._failed)

    def _listening(self, connection):
        if not self.running:
            connection.close()
            return
        self._socket = _Socket(self, connection)
        self.reactor.addReader(self._socket)
        LOG.info("Listening for wake-ups on channel %s", CHANNEL)
        for job in (DISPATCH, SCAN):
            self.wakeups.wake(job)

    def _failed(self, failure):
        LOG.warning("Cannot listen for wake-ups (%s); the timers carry on, "
                    "trying again in %g s", failure.getErrorMessage().strip(),
                    RECONNECT_DELAY)
        self._again()

    def _again(self):
        if self.running and self._retry is None:
            self._retry = self.reactor.callLater(RECONNECT_DELAY, self._listen)

    def _readable(self):
        connection = self._socket.connection
        try:
            connection.poll()
        except Exception as error:
            self._lost(str(error))
            return None
        while connection.notifies:
            note = connection.notifies.pop(0)
            job, origin = parse_payload(note.payload)
            if origin and origin == self.wakeups.origin:
                continue
            self.heard += 1
            self.wakeups.wake(job)
        return None

    def _lost(self, why):
        if self._socket is None:
            return
        LOG.warning("Lost the wake-up connection (%s); the timers carry on, "
                    "listening again in %g s", why.strip(), RECONNECT_DELAY)
        self._close()
        self._again()

    def _close(self):
        socket, self._socket = self._socket, None
        if socket is None:
            return
        self.reactor.removeReader(socket)
        socket.close()
        try:
            socket.connection.close()
        except Exception:
            pass


def _open_listening(engine):
    """A psycopg2 connection of its own, LISTENing on CHANNEL (in a thread)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    connection = engine.dialect.loaded_dbapi.connect(*args, **kwargs)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANNEL}")
    return connection
