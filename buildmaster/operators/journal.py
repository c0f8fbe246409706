"""The operators' journal: changes made from the command line, told in
the daemon's log.

``record(session, what)`` adds a row naming who (user@host) and what
(the sentence the command printed), in the transaction of the change
itself, so the journal never tells a change that did not happen and
never misses one that did.  The daemon's JournalService reads the rows
added since it started every few seconds, in a thread, and logs each on
one line; a row is told once per running daemon.
"""

import getpass
import logging
import os
import socket

import sqlalchemy as sa
from twisted.application import service
from twisted.internet import task, threads

from buildmaster.model import OperatorAction

logger = logging.getLogger("buildmaster.operator")
POLL_SECONDS = 2.0


def operator_name():
    """'user@host' of whoever runs this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def record(session, what, who=None):
    """Note ``what`` an operator did, with the change (the caller commits)."""
    session.add(OperatorAction(who=who or operator_name(), what=what))


def _newest_id(sessions):
    with sessions() as session:
        return session.scalar(sa.select(sa.func.max(OperatorAction.id))) or 0


def _since(sessions, last_id):
    with sessions() as session:
        return session.execute(
            sa.select(OperatorAction.id, OperatorAction.who, OperatorAction.what)
            .where(OperatorAction.id > last_id).order_by(OperatorAction.id)).all()


class JournalService(service.Service):
    """Logs 'operator USER@HOST: WHAT' for each action recorded while the
    daemon runs, every ``interval`` seconds; a database error is logged
    once and the next poll tries again."""

    name = "journal"

    def __init__(self, context, reactor=None, interval=POLL_SECONDS):
        if reactor is None:
            from twisted.internet import reactor
        self.context, self.reactor, self.interval = context, reactor, interval
        self.last_id = None
        self.failing = False
        self._loop = None

    def startService(self):
        super().startService()
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.reactor
        self._loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def _in_thread(self, function, *args):
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                         function, self.context.sessions, *args)

    def poll(self):
        """A Deferred that never fails: the new actions logged."""
        if self.last_id is None:
            d = self._in_thread(_newest_id)
            d.addCallback(self._started)
        else:
            d = self._in_thread(_since, self.last_id)
            d.addCallback(self._tell)
        return d.addErrback(self._failed)

    def _started(self, newest):
        self.last_id = newest
        self.failing = False

    def _tell(self, rows):
        self.failing = False
        for row in rows:
            logger.info(f"operator {row.who}: {row.what}")
            self.last_id = row.id

    def _failed(self, failure):
        if not self.failing:
            logger.warning(f"operators' journal: cannot read it: "
                           f"{' '.join(failure.getErrorMessage().split())}")
        self.failing = True
